# Shared by the demo and the end-to-end tests: start the pieces of the stack on
# loopback, remember every process started, stop exactly those.
# Source it, set STACK_STATE (a directory) and BUILD_DIR, then call the start_* functions.
# shellcheck shell=bash

STACK_PIDS=()
SRC_DIR=${SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

stack_log() { echo "stack: $*" >&2; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_port() {
  port_free "$1" || { stack_log "port $1 ($2) is already in use; set ${3} to another port"; return 1; }
}

wait_http() { # URL [TRIES of 0.2 s]
  local tries=${2:-150}
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  stack_log "timed out waiting for $1"
  return 1
}

start_bg() { # LOGFILE CMD...
  local log=$1; shift
  "$@" >>"$log" 2>&1 &
  STACK_PIDS+=($!)
}

stack_stop() {
  local p
  for p in "${STACK_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${STACK_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  STACK_PIDS=()
  [[ -n "${STACK_PG_DIR:-}" ]] && "$SRC_DIR/scripts/pg.sh" stop "$STACK_PG_DIR"
  return 0
}

# start_postgres PORT: a fresh cluster-state in $STACK_STATE/pg, an empty public schema.
start_postgres() {
  STACK_PG_DIR=$STACK_STATE/pg
  STACK_DB_URL=$("$SRC_DIR/scripts/pg.sh" start "$STACK_PG_DIR" "$1")
  psql -q "$STACK_DB_URL" -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;" >/dev/null
}

# start_simulator ARGS...: backfill/live simulator against STACK_DB_URL.
start_simulator() {
  start_bg "$STACK_STATE/simulator.log" "$BUILD_DIR/tools/agent_platform_sim" --db.url="$STACK_DB_URL" "$@"
}

run_simulator() { # foreground (backfill)
  "$BUILD_DIR/tools/agent_platform_sim" --db.url="$STACK_DB_URL" "$@" 2>>"$STACK_STATE/simulator.log"
}

# start_exporter PORT ARGS...
start_exporter() {
  local port=$1; shift
  echo "$STACK_DB_URL" >"$STACK_STATE/db_url"
  start_bg "$STACK_STATE/exporter.log" "$BUILD_DIR/agent_execution_exporter" --db.url-file="$STACK_STATE/db_url" \
    --web.listen-address="127.0.0.1:$port" "$@"
  wait_http "http://127.0.0.1:$port/healthz"
}

# start_webhook PORT: prints alerts; JSON lines in $STACK_STATE/webhook.jsonl
start_webhook() {
  : >"$STACK_STATE/webhook.jsonl"
  "$SRC_DIR/tools/webhook_receiver.py" --port "$1" --log "$STACK_STATE/webhook.jsonl" >"$STACK_STATE/webhook.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_http "http://127.0.0.1:$1/"
}

# start_alertmanager PORT WEBHOOK_PORT
start_alertmanager() {
  mkdir -p "$STACK_STATE/alertmanager"
  cat >"$STACK_STATE/alertmanager.yml" <<YAML
route:
  receiver: webhook
  group_by: [alertname, workspace_id]
  group_wait: 5s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:$2/alerts
        send_resolved: true
YAML
  start_bg "$STACK_STATE/alertmanager.log" prometheus-alertmanager --config.file="$STACK_STATE/alertmanager.yml" \
    --storage.path="$STACK_STATE/alertmanager" --web.listen-address="127.0.0.1:$1" \
    --cluster.listen-address= --log.level=warn
  wait_http "http://127.0.0.1:$1/-/ready"
}

# start_prometheus PORT EXPORTER_PORT ALERTMANAGER_PORT RULES_DIR [INTERVAL]
start_prometheus() {
  local interval=${5:-5s}
  mkdir -p "$STACK_STATE/prometheus"
  cat >"$STACK_STATE/prometheus.yml" <<YAML
global:
  scrape_interval: $interval
  evaluation_interval: $interval
rule_files:
  - $4/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$3"]
scrape_configs:
  - job_name: agent_execution_exporter
    static_configs:
      - targets: ["127.0.0.1:$2"]
YAML
  promtool check config "$STACK_STATE/prometheus.yml" >/dev/null || { stack_log "bad prometheus config"; return 1; }
  start_bg "$STACK_STATE/prometheus.log" prometheus --config.file="$STACK_STATE/prometheus.yml" \
    --storage.tsdb.path="$STACK_STATE/prometheus" --web.listen-address="127.0.0.1:$1" \
    --log.level=warn --web.enable-lifecycle
  wait_http "http://127.0.0.1:$1/-/ready"
}

# prom_query PORT EXPR: prints the JSON result array
prom_query() {
  curl -fsS "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["result"]))'
}
