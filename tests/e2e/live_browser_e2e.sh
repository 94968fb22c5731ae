#!/usr/bin/env bash
# End-to-end test of the /live page in a real browser (issue #12): headless Chromium,
# driven by live_browser.py over the DevTools protocol, keeps one page open while this
# script changes the database and stops the exporter. It proves that a run and a queue
# entry committed to PostgreSQL appear on the page by themselves (WebSocket push), that
# a finished run leaves it, that another workspace's run never shows, that a stopped
# exporter shows as a lost connection, and that a workspace token opens its workspace
# and not another one.
#   live_browser_e2e.sh PATH_TO_BINARY SOURCE_DIR    (env AEE_TEST_DB_URL, AEE_TEST_STATE_DIR)
# Needs the Debian packages chromium and python3-websocket (scripts/install-deps.sh).
# Keeps a screenshot in $AEE_TEST_STATE_DIR/artefacts/live-page.png (and, when a check
# on the page fails, live-browser-fail-N.png beside it).
set -uo pipefail
bin=$1; src=$2
root=${AEE_TEST_STATE_DIR:-/tmp}
state=$root/live_browser_e2e.$$
artefacts=$root/artefacts
mkdir -p "$state" "$artefacts"
rm -f "$artefacts"/live-browser-fail-*.png
db=live_browser_$$
db_created=0
pids=()
lb_pid=""; lb_r=""; lb_w=""
source "$(dirname "$0")/lib.sh"

# Bounds. Every wait on the page ends after its own timeout; reading the driver's answer
# allows a little more (a DevTools call can take a few seconds on a loaded machine).
# Chromium's start is bounded by the driver itself (30 s for the browser, 30 s for the
# first load).
APPEAR_S=15        # a committed change reaches the page (realtime interval 500 ms)
STATE_S=15         # a connection state is reached
START_READ_S=75    # the driver prints "ready"
ANSWER_SLACK_S=20

stop_browser() {
  [[ -n "$lb_pid" ]] || return 0
  if kill -0 "$lb_pid" 2>/dev/null; then
    ( trap '' PIPE; echo quit >&"$lb_w" ) 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$lb_pid" 2>/dev/null || break; sleep 0.1; done
    # SIGTERM: the driver kills Chromium's process group on its way out.
    kill -TERM "$lb_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$lb_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$lb_pid" 2>/dev/null
  fi
  wait "$lb_pid" 2>/dev/null
  [[ -n "$lb_w" ]] && exec {lb_w}>&-
  [[ -n "$lb_r" ]] && exec {lb_r}<&-
  lb_pid=""; lb_r=""; lb_w=""
}
cleanup() {
  stop_browser
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  [[ $db_created -eq 1 ]] && psql -q "$AEE_TEST_DB_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites: a missing browser is a failure, not a skip -------------------------
python=/usr/bin/python3
if [[ ! -x /usr/bin/chromium && -z "${CHROMIUM:-}" ]] || ! "$python" -c 'import websocket' 2>/dev/null; then
  fail "chromium and python3-websocket installed (scripts/install-deps.sh)"
  echo "$passed passed, $failed failed"; exit 1
fi

# --- a database with two workspaces ------------------------------------------------------
ws1=11111111-1111-4111-8111-111111111111
ws2=22222222-2222-4222-8222-222222222222
ag1=aaaaaaaa-0000-4000-8000-000000000001   # ws1
ag2=aaaaaaaa-0000-4000-8000-000000000002   # ws1
ag3=bbbbbbbb-0000-4000-8000-000000000003   # ws2
run1=c0ffee00-0000-4000-8000-000000000001  # ws1
run2=c0ffee00-0000-4000-8000-000000000002  # ws2: must never show on ws1's page
queue1=0dd0dd00-0000-4000-8000-000000000001 # ws1
ws2_name="Beta Support Desk"
psql -q "$AEE_TEST_DB_URL" -c "CREATE DATABASE $db" >/dev/null || { fail "create database"; echo "$passed passed, $failed failed"; exit 1; }
db_created=1
url="${AEE_TEST_DB_URL%/*}/$db"
psql -q -v ON_ERROR_STOP=1 "$url" -f "$src/schema/platform.sql" >/dev/null
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL
INSERT INTO workspaces VALUES ('$ws1', 'Acme Research'), ('$ws2', '$ws2_name');
INSERT INTO agents VALUES ('$ag1', '$ws1', 'Invoice extractor'), ('$ag2', '$ws1', 'Code reviewer'),
                          ('$ag3', '$ws2', 'Support triage');
SQL
echo "$url" >"$state/db_url"
sql() { psql -q -v ON_ERROR_STOP=1 "$url" -c "$1" >/dev/null; }

# start_exporter LOG ARGS...: on a port the kernel picks; sets $exporter (pid) and $eport.
# The browser's pipes are not passed on (they are not close-on-exec).
start_exporter() {
  local log=$1; shift
  if [[ -n "$lb_w" ]]; then
    "$bin" --db.url-file="$state/db_url" --web.listen-address=127.0.0.1:0 --log.format=logfmt \
      --collector.realtime.interval=500ms "$@" >"$log" 2>&1 {lb_w}>&- {lb_r}<&- &
  else
    "$bin" --db.url-file="$state/db_url" --web.listen-address=127.0.0.1:0 --log.format=logfmt \
      --collector.realtime.interval=500ms "$@" >"$log" 2>&1 &
  fi
  exporter=$!; pids+=("$exporter")
  eport=$(listening_port "$log") && return 0
  echo "# exporter did not listen; its log ends:"; tail -n 5 "$log" | sed 's/^/#   /'
  return 1
}
# wait_ready PORT [CURL ARGS...]: /readyz answers 200 within 30 s.
wait_ready() {
  local port=$1; shift
  for _ in $(seq 1 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port/readyz") == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# --- the browser: one session of live_browser.py, one page ---------------------------------
# lb_start URL: starts the driver and waits for "ready" (Chromium up, URL loaded).
lb_start() {
  coproc LB { exec "$python" "$src/tests/e2e/live_browser.py" session "$1" --keep-going \
                --idle-timeout 120 --timeout 30 2>"$state/browser.log"; }
  lb_pid=$LB_PID
  # Our own copies: the coproc's variables vanish when it exits.
  exec {lb_r}<&"${LB[0]}" {lb_w}>&"${LB[1]}"
  local line=""
  IFS= read -r -t "$START_READ_S" -u "$lb_r" line
  [[ $line == ready ]] && return 0
  echo "# browser session did not start (got: ${line:-nothing}); driver log:"
  tail -n 20 "$state/browser.log" | sed 's/^/#   /'
  return 1
}
# lb COMMAND READ_TIMEOUT: sends one command, sets $lb_answer; 0 when it answers "ok ...".
# On a failure it prints the driver's report (page text, console errors) and keeps a
# screenshot of the page in the artefacts.
fail_shots=0
gone_reported=0
lb_gone() {
  lb_answer="browser session gone"
  [[ $gone_reported -eq 1 ]] && return
  gone_reported=1
  echo "# the browser session ended; driver log:"
  tail -n 20 "$state/browser.log" 2>/dev/null | sed 's/^/#   /'
}
lb() {
  local cmd=$1 tmo=$2 before
  lb_answer=""
  if [[ -z "$lb_pid" ]] || ! kill -0 "$lb_pid" 2>/dev/null; then lb_gone; return 1; fi
  before=$(wc -l <"$state/browser.log")
  if ! ( trap '' PIPE; printf '%s\n' "$cmd" >&"$lb_w" ) 2>/dev/null; then lb_gone; return 1; fi
  if ! IFS= read -r -t "$tmo" -u "$lb_r" lb_answer; then
    # No answer (or the driver died): a late answer would be taken for the next
    # command's, so this session is over; the remaining page checks fail at once.
    echo "# browser: ${cmd:0:200}"
    echo "#   -> no answer within ${tmo}s${lb_answer:+ ($lb_answer)}; ending the browser session"
    tail -n +"$((before + 1))" "$state/browser.log" | head -n 40 | sed 's/^/#   /'
    stop_browser
    gone_reported=1; lb_answer="browser session gone"
    return 1
  fi
  [[ $lb_answer == ok* ]] && return 0
  echo "# browser: ${cmd:0:200}"
  echo "#   -> $lb_answer"
  tail -n +"$((before + 1))" "$state/browser.log" | head -n 40 | sed 's/^/#   /'
  if [[ $cmd != screenshot* ]]; then
    fail_shots=$((fail_shots + 1))
    local shot=$artefacts/live-browser-fail-$fail_shots.png
    lb "screenshot $shot" 30 >/dev/null && echo "#   screenshot of the page: $shot"
  fi
  return 1
}
# page_wait EXPR TIMEOUT: EXPR (JavaScript, one line) becomes truthy on the page.
page_wait() { lb "wait $1 $2" $(($2 + ANSWER_SLACK_S)); }

state_is() { # JS: #conn-status's data-state is one of the arguments
  local list; list=$(printf "'%s'," "$@")
  echo "[${list%,}].includes(document.getElementById('conn-status').dataset.state)"
}
run_row() { echo "document.querySelector('[data-run-id=\"$1\"]')"; }
queue_row() { echo "document.querySelector('[data-queue-id=\"$1\"]')"; }
text_of() { echo "document.getElementById('$1').textContent.trim()"; }
png_size() { # PATH -> "WIDTHxHEIGHT" from the PNG header
  "$python" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1" 2>/dev/null
}

# === scenario 1: no credentials; one page follows the database ===========================
if ! start_exporter "$state/exporter1.log" || ! wait_ready "$eport"; then
  fail "exporter ready"; tail -n 5 "$state/exporter1.log" | sed 's/^/#   /'
  echo "$passed passed, $failed failed"; exit 1
fi
ok "exporter ready (127.0.0.1:$eport, realtime every 500 ms)"
base="http://127.0.0.1:$eport"
if ! lb_start "$base/live?workspace=$ws1"; then
  fail "headless Chromium opens /live"
  echo "$passed passed, $failed failed"; exit 1
fi
ok "headless Chromium opens /live?workspace=<ws1>"

check "page goes live (#conn-status data-state=live)" page_wait "$(state_is live)" "$STATE_S"
check "body.dataset.lastUpdate is an RFC 3339 UTC time" \
  page_wait "/^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\$/.test(document.body.dataset.lastUpdate || '')" 5
check "nothing running yet (#running-now 0, no run rows)" \
  page_wait "$(text_of running-now) === '0' && !document.querySelector('[data-run-id]')" 5
# Every run row ever added to the list, to prove ws2's run never showed, not even briefly.
check "page watches its run list" lb \
  "eval (window.__runsSeen = [], new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => n.dataset && n.dataset.runId && window.__runsSeen.push(n.dataset.runId)))).observe(document.getElementById('runs-list'), {childList: true}), true)" "$ANSWER_SLACK_S"

# A running run in ws1 and one in ws2, in one transaction: one sample sees both.
sql "BEGIN;
     INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, estimated_runtime)
     VALUES ('$run1', '$ws1', '$ag1', 'running', now() - interval '12 s', now() - interval '10 s', 120),
            ('$run2', '$ws2', '$ag3', 'running', now() - interval '12 s', now() - interval '10 s', 120);
     COMMIT;"
t0=$EPOCHREALTIME
check "a run committed in ws1 appears on the page (<= ${APPEAR_S} s)" page_wait "$(run_row $run1)" "$APPEAR_S"
awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "#   appeared after %.1f s\n", b - a }'
check "#running-now shows 1" page_wait "$(text_of running-now) === '1'" 5
check "the run row names its agent" page_wait "$(run_row $run1).textContent.includes('Invoice extractor')" 5
check "the exporter saw ws2's run (API of ws2)" \
  bash -c "curl -s '$base/api/v1/workspaces/$ws2/realtime' | grep -q '$run2'"

sql "INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at)
     VALUES ('$queue1', '$ws1', '$ag2', 2, 'queued', now() - interval '3 s')"
check "a queue entry committed in ws1 appears on the page" page_wait "$(queue_row $queue1)" "$APPEAR_S"
check "#queue-depth shows 1" page_wait "$(text_of queue-depth) === '1'" 5

shot=$artefacts/live-page.png
rm -f "$shot"
check "screenshot of the live page" lb "screenshot $shot" 40
check "screenshot is a 1280x900 PNG" test "$(png_size "$shot")" == 1280x900
echo "#   screenshot: $shot"

sql "UPDATE agent_runs SET status = 'completed', finished_at = now() WHERE run_id = '$run1'"
check "the run leaves the page once completed" page_wait "!$(run_row $run1)" "$APPEAR_S"
check "#running-now back to 0" page_wait "$(text_of running-now) === '0'" 5
check "ws2's run never appeared on ws1's page" \
  page_wait "Array.isArray(window.__runsSeen) && window.__runsSeen.includes('$run1') && !window.__runsSeen.includes('$run2') && !$(run_row $run2) && !document.body.innerText.includes('Support triage')" 5

kill -TERM "$exporter"
check "page shows the lost connection after SIGTERM (reconnecting or down)" \
  page_wait "$(state_is reconnecting down)" "$STATE_S"
check "... then down, naming the reason (server unreachable)" \
  page_wait "$(state_is down) && document.getElementById('conn-detail').textContent.includes('unreachable')" 20
for _ in $(seq 1 100); do kill -0 "$exporter" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$exporter" 2>/dev/null; then
  fail "exporter stopped on SIGTERM within 10 s"
else
  wait "$exporter"; rc=$?
  check "exporter stopped on SIGTERM, exit code 0 ($rc)" test "$rc" -eq 0
fi

# === scenario 2: a workspace token limited to ws1 ===========================================
token=$(openssl rand -hex 32)
token_sha=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
cat >"$state/tokens.yml" <<YAML
tokens:
  - name: e2e-ws1
    sha256: "$token_sha"
    workspaces: ["$ws1"]
YAML
if start_exporter "$state/exporter2.log" --web.workspace-tokens-file="$state/tokens.yml" \
   && wait_ready "$eport" -H "Authorization: Bearer $token"; then
  ok "exporter with a tokens file ready (127.0.0.1:$eport)"
  base="http://127.0.0.1:$eport"
  check "API refuses ws2 to the token (404)" \
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/v1/workspaces/$ws2/realtime")" == 404
  if lb "goto $base/live?workspace=$ws1" 45; then
    check "without a token: the page asks for one (data-state=auth)" \
      page_wait "$(state_is auth) && !document.getElementById('auth-panel').hidden" "$STATE_S"
  else
    fail "open /live on the token exporter"
  fi
  if lb "goto $base/live?workspace=$ws1#token=$token" 45; then
    check "with #token=: ws1 goes live" page_wait "$(state_is live)" "$STATE_S"
    check "with #token=: ws1's queue entry is shown" page_wait "$(queue_row $queue1)" "$APPEAR_S"
    check "the token left the address bar" page_wait "!location.hash.includes('token')" 5
  else
    fail "open /live?workspace=<ws1>#token=…"
  fi
  if lb "goto $base/live?workspace=$ws2#token=$token" 45; then
    check "with #token=: ws2 shows not found (data-state=down, banner)" \
      page_wait "$(state_is down) && !document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('was not found') && document.getElementById('conn-detail').textContent.includes('not found')" "$STATE_S"
    check "with #token=: nothing of ws2 is shown" \
      page_wait "!document.querySelector('[data-run-id]') && !document.body.dataset.lastUpdate && !document.body.innerText.includes('$ws2_name') && !document.body.innerText.includes('Support triage')" 5
  else
    fail "open /live?workspace=<ws2>#token=…"
  fi
else
  fail "exporter with a tokens file ready"; tail -n 5 "$state/exporter2.log" | sed 's/^/#   /'
fi

stop_browser
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
