#!/usr/bin/env bash
# End-to-end test of the real binary: flags, a real scrape checked by promtool,
# readiness, secrets, a database that is down, and a clean shutdown.
#   exporter_e2e.sh PATH_TO_BINARY SOURCE_DIR    (env AEE_TEST_DB_URL, AEE_TEST_STATE_DIR)
set -uo pipefail
bin=$1; src=$2
state=${AEE_TEST_STATE_DIR:-/tmp}/e2e.$$
mkdir -p "$state"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$state"; }
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- flags -------------------------------------------------------------------
check "--help exits 0 and lists flags" bash -c "'$bin' --help | grep -q -- '--collector.runs.interval'"
check "--version names the version" bash -c "'$bin' --version | grep -q 'agent_execution_exporter version'"
for bad in "--nope" "--collector.runs.interval=5x" "--log.level=loud" "--web.listen-address=bad"; do
  out=$("$bin" "$bad" 2>&1 >/dev/null); rc=$?
  flag=${bad%%=*}
  check "bad flag $bad exits 2 with one line naming it" \
    bash -c "[[ $rc -eq 2 && \$(printf '%s\n' \"\$1\" | wc -l) -eq 1 && \"\$1\" == *\"$flag\"* ]]" _ "$out"
done

# --- a database with data -----------------------------------------------------
db=e2e_$$
psql -q "$AEE_TEST_DB_URL" -c "CREATE DATABASE $db" || { fail "create database"; exit 1; }
base=${AEE_TEST_DB_URL%/*}
url="$base/$db"
psql -q -v ON_ERROR_STOP=1 "$url" -f "$src/schema/platform.sql" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
INSERT INTO workspaces VALUES ('11111111-1111-1111-1111-111111111111', 'Team "A"');
INSERT INTO agents VALUES ('aaaaaaaa-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111', 'summarizer');
INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at)
SELECT gen_random_uuid(), '11111111-1111-1111-1111-111111111111', 'aaaaaaaa-0000-0000-0000-000000000001',
       (ARRAY['completed', 'failed', 'cancelled'])[1 + i % 3], now() - interval '40 s', now() - interval '30 s', now()
FROM generate_series(1, 30) i;
INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at)
VALUES (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', 'aaaaaaaa-0000-0000-0000-000000000001', 'running', now(), now());
INSERT INTO execution_queue (queue_id, workspace_id, agent_id, status, queued_at)
VALUES (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', 'aaaaaaaa-0000-0000-0000-000000000001', 'queued', now());
SQL
# A password in the URL (trust auth ignores it) that must never show up anywhere.
secret_url=$(echo "$url" | sed 's|postgresql://postgres@|postgresql://postgres:Sup3rS3cret@|')
echo "$secret_url" >"$state/db_url"
port=$(free_port)
"$bin" --db.url-file="$state/db_url" --web.listen-address=127.0.0.1:$port --collector.realtime.interval=200ms \
  --collector.runs.interval=500ms --log.format=json >"$state/log" 2>&1 &
pid=$!; pids+=($pid)
check "ready after first samples" wait_http "http://127.0.0.1:$port/readyz" 200 100
curl -s "http://127.0.0.1:$port/metrics" >"$state/metrics"
check "promtool check metrics accepts a real scrape" bash -c "promtool check metrics <'$state/metrics'"
check "finished runs exposed" grep -q 'agent_runs_finished_total{workspace_id="11111111-1111-1111-1111-111111111111",agent_id="aaaaaaaa-0000-0000-0000-000000000001",status="failed"} 10' "$state/metrics"
check "running exposed" grep -q 'agent_runs_running{workspace_id="11111111-1111-1111-1111-111111111111"} 1' "$state/metrics"
check "gzip when asked" bash -c "curl -s -H 'Accept-Encoding: gzip' http://127.0.0.1:$port/metrics | gunzip | grep -q agent_queue_depth"
check "healthz 200" wait_http "http://127.0.0.1:$port/healthz" 200 1
# The live view's documents as the real binary serves them match docs/api/'s schemas
# (GETs of every workspace and the WebSocket's messages).
/usr/bin/python3 "$src/tests/e2e/check_api_schema.py" "http://127.0.0.1:$port" "$src/docs/api" 2 >"$state/schema" 2>&1
schema_rc=$?
check "live API documents match docs/api/*.schema.json ($(grep -c '^ok' "$state/schema") checked)" test "$schema_rc" -eq 0 \
  || cat "$state/schema"
check "the /live page is served" bash -c "curl -s http://127.0.0.1:$port/live | grep -q '<html'"
curl -s "http://127.0.0.1:$port/" >"$state/landing"; curl -s "http://127.0.0.1:$port/readyz" >"$state/ready"
check "password appears in no log, page or metric" bash -c "! grep -q Sup3rS3cret '$state/log' '$state/metrics' '$state/landing' '$state/ready'"
check "json logs parse" bash -c "python3 -c 'import json,sys; [json.loads(l) for l in open(\"$state/log\")]'"
check "process listing holds no password" bash -c "! ps -o args= -p $pid | grep -q Sup3rS3cret"
# A new run becomes visible.
psql -q "$url" -c "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) VALUES (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', 'aaaaaaaa-0000-0000-0000-000000000001', 'completed', now(), now(), now())"
check "new finished run counted" bash -c "for i in \$(seq 50); do curl -s http://127.0.0.1:$port/metrics | grep -q 'status=\"completed\"} 11' && exit 0; sleep 0.1; done; exit 1"
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops it" bash -c "! kill -0 $pid 2>/dev/null"
wait $pid; rc=$?
check "clean exit code" test "$rc" -eq 0

# --- database down at start ------------------------------------------------------
port2=$(free_port)
"$bin" --db.url="postgresql://postgres:Sup3rS3cret@127.0.0.1:1/x" --web.listen-address=127.0.0.1:$port2 >"$state/log2" 2>&1 &
pid2=$!; pids+=($pid2)
check "alive with the database down" wait_http "http://127.0.0.1:$port2/healthz" 200 50
check "not ready with the database down" wait_http "http://127.0.0.1:$port2/readyz" 503 50
check "metrics still answer, collectors down" bash -c "curl -s http://127.0.0.1:$port2/metrics | grep -q 'agent_exporter_collector_up{collector=\"runs\"} 0'"
sleep 0.5
check "warns that --db.url shows the password in listings" grep -q 'db.url-file' "$state/log2"
check "password hidden even in the warning and errors" bash -c "! grep -q Sup3rS3cret '$state/log2'"
collectors=$("$bin" --help | grep -c '(default: enabled)')
check "one error line per collector, not one per retry" bash -c "[[ \$(grep -c 'collector failed' '$state/log2') -eq $collectors ]]"
kill -TERM $pid2; wait $pid2

# --- a connection string libpq cannot parse (issue #17) -----------------------------
# libpq's parse error quotes the offending token, here the password: the exporter used
# to start and repeat it in /readyz and every log line. Now: exit 2, our words only.
AGENT_EXPORTER_DB_URL='postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db' \
  "$bin" --web.listen-address=127.0.0.1:0 >"$state/log_badurl" 2>&1; rc=$?
check "unparsable DB URL: exit 2 ($rc)" test "$rc" -eq 2
check "unparsable DB URL: the message names the problem" grep -q 'AGENT_EXPORTER_DB_URL: libpq cannot parse' "$state/log_badurl"
check "unparsable DB URL: the password appears nowhere" bash -c "! grep -q 'S3cr' '$state/log_badurl'"

# --- port in use -------------------------------------------------------------------
"$bin" --db.url="$url" --web.listen-address=127.0.0.1:$port2 >/dev/null 2>&1 &
p3=$!; pids+=($p3); sleep 0.5
"$bin" --db.url="$url" --web.listen-address=127.0.0.1:$port2 >"$state/log3" 2>&1; rc=$?
check "port in use: exit 1 naming the address" bash -c "[[ $rc -eq 1 ]] && grep -q '127.0.0.1:$port2' '$state/log3'"
kill $p3 2>/dev/null; wait $p3 2>/dev/null

psql -q "$AEE_TEST_DB_URL" -c "DROP DATABASE $db WITH (FORCE)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
