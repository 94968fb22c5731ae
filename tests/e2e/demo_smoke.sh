#!/usr/bin/env bash
# Demo smoke test: the stack of `make demo` comes up, Prometheus reports the exporter
# target up, a recording rule has a value, and everything shuts down clean.
#   demo_smoke.sh BUILD_DIR
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
state=$(mktemp -d /tmp/aee-demo-smoke.XXXXXX)
chmod 755 "$state"
export DEMO_STATE=$state DEMO_PG_PORT=22494 DEMO_EXPORTER_PORT=22477 DEMO_PROMETHEUS_PORT=22090 \
  DEMO_ALERTMANAGER_PORT=22093 DEMO_WEBHOOK_PORT=22095 DEMO_SECONDS=75 DEMO_SCRAPE_INTERVAL=2s DEMO_BACKFILL_DAYS=2
passed=0; failed=0
check() { local name=$1; shift; if "$@"; then echo "ok   - $name ($SECONDS s)"; passed=$((passed + 1)); else echo "FAIL - $name"; failed=$((failed + 1)); fi; }

"$src/scripts/demo.sh" "$build" >"$state/demo.out" 2>&1 &
demo=$!
poll() { # SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  while ((SECONDS < deadline)); do "$@" && return 0; sleep 1; done
  return 1
}
target_up() {
  curl -fsS "http://127.0.0.1:$DEMO_PROMETHEUS_PORT/api/v1/targets" 2>/dev/null |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; sys.exit(0 if t and all(x["health"]=="up" for x in t) else 1)' 2>/dev/null
}
rule_has_value() {
  curl -fsS "http://127.0.0.1:$DEMO_PROMETHEUS_PORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)' 2>/dev/null
}
check "Prometheus reports the exporter target up" poll 60 target_up
check "recording rule workspace:agent_runs_finished:rate5m has a value" poll 40 rule_has_value 'workspace:agent_runs_finished:rate5m'
check "recording rule workspace_quantile:agent_run_duration_seconds:rate5m has a value" poll 20 rule_has_value 'workspace_quantile:agent_run_duration_seconds:rate5m{quantile="0.5"}'
check "exporter ready" curl -fsS -o /dev/null "http://127.0.0.1:$DEMO_EXPORTER_PORT/readyz"
check "exporter listens for change notifications" \
  bash -c "curl -fsS http://127.0.0.1:$DEMO_EXPORTER_PORT/metrics | grep -x 'agent_exporter_notify_listener_up 1' >/dev/null"
check "notifications start realtime cycles early" \
  bash -c "curl -fsS http://127.0.0.1:$DEMO_EXPORTER_PORT/metrics | grep -E '^agent_exporter_collector_woken_cycles_total\\{collector=\"realtime\"\\} [1-9]'"
check "Alertmanager ready" curl -fsS -o /dev/null "http://127.0.0.1:$DEMO_ALERTMANAGER_PORT/-/ready"
wait $demo; rc=$?
check "demo exits 0 after DEMO_SECONDS" test $rc -eq 0
left=$(pgrep -f "$state" | wc -l)
check "nothing it started is left running ($left)" test "$left" -eq 0
check "ports released" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$DEMO_PROMETHEUS_PORT) 2>/dev/null"
[[ $failed -eq 0 ]] || { echo "--- demo output"; tail -40 "$state/demo.out"; for f in "$state"/*.log; do echo "--- $f"; tail -n 5 "$f"; done; }
rm -rf "$state"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
