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
# listening_port LOG: the port an exporter started with --web.listen-address=HOST:0 bound,
# read from its "listening" log line (logfmt); waits up to 5 s, prints nothing if none.
# Port 0 lets the kernel pick a port no socket holds: a fixed port in the ephemeral
# range (32768-60999) can be the local end of someone's outgoing connection.
listening_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(sed -n 's/.*msg=listening.* port=\([0-9]*\).*/\1/p' "$1" | head -n1)
    [[ -n "$p" ]] && { echo "$p"; return 0; }
    sleep 0.1
  done
  return 1
}
