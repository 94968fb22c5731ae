#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL in .state/demo, the reference schema with a little
# data, and the exporter in the foreground on http://127.0.0.1:9477/.
# Ctrl-C (or DEMO_SECONDS=N) stops every process this script started, nothing else.
#   scripts/demo.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
state=$PWD/.state/demo
pg_port=${DEMO_PG_PORT:-55490}
exporter_port=${DEMO_EXPORTER_PORT:-9477}
mkdir -p "$state"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/pg.sh stop "$state/pg"
}
trap stop_all INT TERM EXIT

url=$(scripts/pg.sh start "$state/pg" "$pg_port")
psql -q "$url" -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;" >/dev/null
psql -q "$url" -v ON_ERROR_STOP=1 -f schema/platform.sql >/dev/null
psql -q "$url" -v ON_ERROR_STOP=1 -f scripts/demo_data.sql >/dev/null

"$build/agent_execution_exporter" --db.url="$url" --web.listen-address="127.0.0.1:$exporter_port" &
pids+=($!)

cat <<MSG

  PostgreSQL   $url   (state in .state/demo)
  Exporter     http://127.0.0.1:$exporter_port/         metrics: http://127.0.0.1:$exporter_port/metrics

  Try:  curl -s http://127.0.0.1:$exporter_port/metrics | grep ^agent_
        psql $url -c "UPDATE agent_runs SET status='completed', finished_at=now() WHERE status='running'"
  Ctrl-C stops everything this demo started.

MSG

if [[ -n "${DEMO_SECONDS:-}" ]]; then
  sleep "$DEMO_SECONDS" &
  wait $! || true
else
  wait "${pids[0]}" || true
fi
