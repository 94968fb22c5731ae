# Shared by the end-to-end tests that run a whole stack (scripts/lib/stack.sh):
# counters, a timed check, and the exit trap that stops the stack and, after a
# failure, shows the tail of every log. Source after setting STACK_STATE.
passed=0; failed=0
check() { local name=$1; shift; if "$@"; then echo "ok   - $name ($SECONDS s)"; passed=$((passed + 1)); else echo "FAIL - $name ($SECONDS s)"; failed=$((failed + 1)); fi; }
finish() {
  stack_stop
  if [[ $failed -gt 0 ]]; then for f in "$STACK_STATE"/*.log; do echo "--- $f"; tail -n 15 "$f"; done; fi
  rm -rf "$STACK_STATE"
}
trap finish EXIT
