#!/usr/bin/env bash
# The demo, all on loopback: a throwaway PostgreSQL in .state/demo, the reference
# schema, 7 days of simulated history, the live simulator, the exporter, Prometheus
# with every rule file in alerts/, Alertmanager, and a webhook receiver that prints
# alerts. Ctrl-C (or DEMO_SECONDS=N) stops every process this script started.
#   scripts/demo.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$(cd "${1:-build}" && pwd)
STACK_STATE=${DEMO_STATE:-$PWD/.state/demo}
pg_port=${DEMO_PG_PORT:-55490}
exporter_port=${DEMO_EXPORTER_PORT:-9477}
prom_port=${DEMO_PROMETHEUS_PORT:-9090}
am_port=${DEMO_ALERTMANAGER_PORT:-9093}
hook_port=${DEMO_WEBHOOK_PORT:-9095}
mkdir -p "$STACK_STATE"
rm -f "$STACK_STATE"/*.log
source scripts/lib/stack.sh

require_port "$exporter_port" exporter DEMO_EXPORTER_PORT
require_port "$prom_port" Prometheus DEMO_PROMETHEUS_PORT
require_port "$am_port" Alertmanager DEMO_ALERTMANAGER_PORT
require_port "$hook_port" "webhook receiver" DEMO_WEBHOOK_PORT

finish() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping everything it started"
  stack_stop
}
trap finish INT TERM EXIT

echo "demo: PostgreSQL on 127.0.0.1:$pg_port (state in $STACK_STATE)"
start_postgres "$pg_port"
control=$STACK_STATE/scenarios
: >"$control"
echo "demo: loading schema and 7 days of history"
run_simulator --init-schema --backfill-days="${DEMO_BACKFILL_DAYS:-7}" --seed=7 --rate=1
# The optional change notifications: queue and run changes reach /metrics in tens of
# milliseconds instead of up to one collector interval (docs/configuration.md).
psql -q "$STACK_DB_URL" -v ON_ERROR_STOP=1 -f schema/notify.sql >/dev/null
start_simulator --live --seed=7 --rate="${DEMO_RATE:-2}" --workers=8 --worker-slots=4 --runtime-scale=0.5 \
  --control-file="$control" --stats-interval=60s
start_exporter "$exporter_port" --db.notify-channel=agent_execution_events
start_webhook "$hook_port"
start_alertmanager "$am_port" "$hook_port"
start_prometheus "$prom_port" "$exporter_port" "$am_port" "$PWD/alerts" "${DEMO_SCRAPE_INTERVAL:-5s}"
# Alerts the webhook receives are printed here.
tail -n 0 -F "$STACK_STATE/webhook.log" 2>/dev/null &
STACK_PIDS+=($!)

cat <<MSG

  Exporter      http://127.0.0.1:$exporter_port/          (metrics: /metrics, readiness: /readyz)
  Live page     http://127.0.0.1:$exporter_port/live      (running runs and the queue, pushed as they change)
  Prometheus    http://127.0.0.1:$prom_port/           (rules: /rules, alerts: /alerts)
  Alertmanager  http://127.0.0.1:$am_port/
  PostgreSQL    $STACK_DB_URL
  Logs          $STACK_STATE/*.log

  Trigger an anomaly (docs/demo.md):
    echo "failure-surge duration=5m factor=0.6" >> $control
  and watch AgentExecutionFailureSurge reach the webhook below.
  Ctrl-C stops everything this demo started.

MSG

if [[ -n "${DEMO_SECONDS:-}" ]]; then
  sleep "$DEMO_SECONDS" &
  STACK_PIDS+=($!)
  wait $! || true
else
  while sleep 1; do
    for p in "${STACK_PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || { echo "demo: a process exited, see $STACK_STATE/*.log"; exit 1; }
    done
  done
fi
