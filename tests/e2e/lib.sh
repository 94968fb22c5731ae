# Shared by the end-to-end scripts: TAP-like results and waiting for an endpoint.
# Source it, then end the script with: echo "$passed passed, $failed failed"
passed=0; failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
# check NAME COMMAND...: ok when COMMAND succeeds.
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
wait_http() { # url code [tries of 0.1 s, default 100]
  for _ in $(seq 1 "${3:-100}"); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1") == "$2" ]] && return 0
    sleep 0.1
  done
  return 1
}
