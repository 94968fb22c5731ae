#!/usr/bin/env bash
# The scale-out layout of docs/operations.md ("Scaling out"), end to end with real
# Prometheus 2.42 servers and the files of deploy/scaleout/ as shipped (only hosts, ports
# and intervals substituted), both Prometheus layouts on one stack, one after the other:
#   exporters  shard 0 (×2 replicas), shard 1 (×2)   --shard.count=2 --shard.index=I
#   1. static:  scraped by prometheus-shard0.yml (an HA pair: prom-shard0-a,
#               prom-shard0-b) and prometheus-shard1.yml (prom-shard1-a), which
#               remote-write to prometheus-central.yml (--web.enable-remote-write-receiver)
#   2. hashmod: (the static servers stopped) scraped by prometheus-hashmod.yml loaded by
#               two Prometheus shards (prom-hashmod0-a keeps hash 0, prom-hashmod1-a
#               hash 1 of the same four targets), which remote-write to a fresh server
#               loading prometheus-central.yml
#   each central runs the rule pack alerts/agent_execution.{rules,alerts}.yml.
# A reference Prometheus scrapes one unsharded exporter with the same rule pack. After a
# live load stops and everything caught up, the central's platform-wide and per-workspace
# figures must equal the reference's (exactly for counter totals and gauges, within a
# documented tolerance for rates: scaleout_compare.py), and a broken layout (the
# replica label not dropped, a shard missing) must be caught. Then the hashmod shards
# must split the targets (each on exactly one, the one the hash names) and their central's
# totals, gauges and series must equal the reference's too.
#   scaleout_e2e.sh BUILD_DIR
set -uo pipefail
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(cd "${1:-$SRC_DIR/build}" && pwd)
STACK_STATE=$(mktemp -d /tmp/aee-scaleout.XXXXXX)
chmod 755 "$STACK_STATE"
source "$SRC_DIR/scripts/lib/stack.sh"
# Ports: PostgreSQL, exporters (shard0-a, shard0-b, shard1-a, shard1-b, unsharded),
# Prometheus (shard0-a, shard0-b, shard1-a, central, reference, hashmod shards 0 and 1,
# hashmod central), an Alertmanager nobody listens on (the centrals' alerting section; no
# alert is expected to fire).
# The hashmod layout's split of these ports: Prometheus' hashmod of "127.0.0.1:PORT"
# modulo 2 (hashmod_split below) is 0 for 23110 and 23111, 1 for 23112 and 23113, so each
# hashmod Prometheus shard scrapes both replicas of one exporter shard. With 4 targets and
# modulus 2 the hash may as well put every target on one server (23110, 23111 and 23115 all
# hash to 0): the split check fails then. (Swapping shard0-b and shard1-a would give each
# server one replica of each exporter shard; that also changes the static phase's instance
# labels, and one of three runs then failed its rate comparison: not adopted untested.)
pg_port=23101
ex_s0a=23110 ex_s0b=23111 ex_s1a=23112 ex_s1b=23113 ex_ref=23114
pr_s0a=23120 pr_s0b=23121 pr_s1a=23122 pr_central=23123 pr_ref=23124 am_port=23129
pr_h0=23125 pr_h1=23126 pr_hcentral=23127
source "$SRC_DIR/tests/e2e/stack_test.sh"
die() { echo "scaleout_e2e: $*" >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
# compare SUBCOMMAND ARGS: the static layout's central against the reference;
# compare_hashmod: the hashmod layout's central against the same reference.
compare() { /usr/bin/python3 "$SRC_DIR/tests/e2e/scaleout_compare.py" "$1" "http://127.0.0.1:$pr_central" "http://127.0.0.1:$pr_ref" "${@:2}"; }
compare_hashmod() { /usr/bin/python3 "$SRC_DIR/tests/e2e/scaleout_compare.py" "$1" "http://127.0.0.1:$pr_hcentral" "http://127.0.0.1:$pr_ref" "${@:2}"; }
for p in $pg_port $ex_s0a $ex_s0b $ex_s1a $ex_s1b $ex_ref $pr_s0a $pr_s0b $pr_s1a $pr_central $pr_ref $pr_h0 $pr_h1 $pr_hcentral; do
  require_port "$p" scaleout PORTS || die "port $p is in use"
done

# The layout's files, copied as shipped; substitute hosts (and intervals: seconds, not the
# production 15 s, for a test that must finish). Every substitution must hit: a file that
# drifted from this test fails here instead of silently testing something else.
conf=$STACK_STATE/conf
mkdir -p "$conf"
cp -L -r "$SRC_DIR/deploy/scaleout/." "$conf/"
subst() { # FILE FROM TO
  grep -qF -- "$2" "$1" || die "deploy/scaleout/$(basename "$1") no longer contains '$2'"
  sed -i "s|$2|$3|g" "$1"
}
for f in prometheus-shard0.yml prometheus-shard1.yml; do
  subst "$conf/$f" "scrape_interval: 15s" "scrape_interval: 1s"
  subst "$conf/$f" "evaluation_interval: 15s" "evaluation_interval: 2s"
  subst "$conf/$f" "http://central-prometheus:9090" "http://127.0.0.1:$pr_central"
done
subst "$conf/prometheus-shard0.yml" "agent-exporter-shard0-a:9477" "127.0.0.1:$ex_s0a"
subst "$conf/prometheus-shard0.yml" "agent-exporter-shard0-b:9477" "127.0.0.1:$ex_s0b"
subst "$conf/prometheus-shard1.yml" "agent-exporter-shard1-a:9477" "127.0.0.1:$ex_s1a"
subst "$conf/prometheus-shard1.yml" "agent-exporter-shard1-b:9477" "127.0.0.1:$ex_s1b"
# The hashmod layout: both Prometheus shards load the same file; only the kept hash
# (`regex`), the targets, the intervals and the central's URL differ from the shipped one.
for i in 0 1; do
  f=prometheus-hashmod$i.yml
  cp "$conf/prometheus-hashmod.yml" "$conf/$f"
  subst "$conf/$f" 'regex: "0"' "regex: \"$i\""
  subst "$conf/$f" "scrape_interval: 15s" "scrape_interval: 1s"
  subst "$conf/$f" "evaluation_interval: 15s" "evaluation_interval: 2s"
  subst "$conf/$f" "http://central-prometheus:9090" "http://127.0.0.1:$pr_hcentral"
  subst "$conf/$f" "agent-exporter-shard0-a:9477" "127.0.0.1:$ex_s0a"
  subst "$conf/$f" "agent-exporter-shard0-b:9477" "127.0.0.1:$ex_s0b"
  subst "$conf/$f" "agent-exporter-shard1-a:9477" "127.0.0.1:$ex_s1a"
  subst "$conf/$f" "agent-exporter-shard1-b:9477" "127.0.0.1:$ex_s1b"
done
subst "$conf/prometheus-central.yml" "evaluation_interval: 15s" "evaluation_interval: 2s"
subst "$conf/prometheus-central.yml" "alertmanager:9093" "127.0.0.1:$am_port"
# The reference: one unsharded exporter, the same job, cluster label and rule pack.
cat >"$conf/prometheus-reference.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 2s
rule_files:
  - rules/agent_execution.rules.yml
  - rules/agent_execution.alerts.yml
scrape_configs:
  - job_name: agent_execution_exporter
    static_configs:
      - targets: ["127.0.0.1:$ex_ref"]
        labels: {cluster: prod}
YAML
configs_valid() {
  local f
  for f in prometheus-shard0.yml prometheus-shard1.yml prometheus-central.yml prometheus-reference.yml \
    prometheus-hashmod.yml prometheus-hashmod0.yml prometheus-hashmod1.yml; do
    promtool check config "$conf/$f" >"$STACK_STATE/promtool.out" 2>&1 || { cat "$STACK_STATE/promtool.out"; return 1; }
  done
}
check "deploy/scaleout files valid (promtool check config, rule pack included)" configs_valid
# docs/operations.md shows the files a user copies: each block marked
# <!-- deploy/scaleout/FILE --> must be that file, byte for byte.
docs_show_files() {
  /usr/bin/python3 - "$SRC_DIR" <<'PY'
import re, sys
root = sys.argv[1]
doc = open(f"{root}/docs/operations.md").read()
blocks = re.findall(r"<!-- (deploy/scaleout/[\w.-]+) -->\n```yaml\n(.*?)```\n", doc, re.S)
bad = [p for p, body in blocks if open(f"{root}/{p}").read() != body]
for p in bad:
    print(f"    docs/operations.md shows a {p} that differs from the file")
sys.exit(0 if len(blocks) >= 2 and not bad else 1)
PY
}
check "docs/operations.md shows deploy/scaleout files exactly as shipped" docs_show_files

# Seed: one day of history; the exporters count today's part of it from start-up.
start_postgres $pg_port
run_simulator --init-schema --backfill-days=1 --seed=16 --rate=1 --workspaces=8 --agents-per-workspace=4 ||
  die "simulator backfill failed"

echo "$STACK_DB_URL" >"$STACK_STATE/db_url"
# Short intervals for a test; the sweeps (which count late commits of rows whose
# timestamps the application stamped: the simulator's model calls) every 5 s instead of
# 5 min, so "caught up" comes within the test; workers never go stale once the load stops.
exporter() { # NAME PORT ARGS...
  local name=$1 port=$2; shift 2
  start_bg "$STACK_STATE/exporter-$name.log" "$BUILD_DIR/agent_execution_exporter" --db.url-file="$STACK_STATE/db_url" \
    --web.listen-address="127.0.0.1:$port" --collector.realtime.interval=500ms --collector.runs.interval=1s \
    --collector.workers.interval=1s --collector.models.interval=1s --collector.info.interval=2s \
    --collector.runs.sweep-interval=5s --collector.models.sweep-interval=5s \
    --no-collector.patterns --collector.workers.stale-after=1h "$@"
}
exporter shard0-a $ex_s0a --shard.count=2 --shard.index=0
exporter shard0-b $ex_s0b --shard.count=2 --shard.index=0
exporter shard1-a $ex_s1a --shard.count=2 --shard.index=1
exporter shard1-b $ex_s1b --shard.count=2 --shard.index=1
exporter unsharded $ex_ref
for p in $ex_s0a $ex_s0b $ex_s1a $ex_s1b $ex_ref; do
  wait_http "http://127.0.0.1:$p/healthz" || die "exporter on port $p did not start"
done

prometheus() { # NAME PORT CONFIG [ENV=... and flags]
  local name=$1 port=$2 config=$3; shift 3
  mkdir -p "$STACK_STATE/tsdb-$name"
  start_bg "$STACK_STATE/prometheus-$name.log" env "$@" --config.file="$conf/$config" \
    --storage.tsdb.path="$STACK_STATE/tsdb-$name" --web.listen-address="127.0.0.1:$port" --log.level=warn
}
# The central first: the shard servers write to it from their first scrape on.
static_pids=()  # the static layout's servers, stopped before the hashmod phase
prometheus central $pr_central prometheus-central.yml prometheus --web.enable-remote-write-receiver
static_pids+=("${STACK_PIDS[-1]}")
prometheus reference $pr_ref prometheus-reference.yml prometheus
wait_http "http://127.0.0.1:$pr_central/-/ready" || die "central Prometheus did not start"
shard_server() { # NAME PORT PROMETHEUS_REPLICA FILE
  # (flush-deadline: at the end a shard server gives up on the stopped central at once.)
  prometheus "$1" "$2" "prometheus-$4.yml" PROMETHEUS_REPLICA="$3" prometheus \
    --enable-feature=expand-external-labels --storage.remote.flush-deadline=1s
}
shard_server s0a $pr_s0a prom-shard0-a shard0 && static_pids+=("${STACK_PIDS[-1]}")
shard_server s0b $pr_s0b prom-shard0-b shard0 && static_pids+=("${STACK_PIDS[-1]}")
shard_server s1a $pr_s1a prom-shard1-a shard1 && static_pids+=("${STACK_PIDS[-1]}")
for p in $pr_s0a $pr_s0b $pr_s1a $pr_ref; do
  wait_http "http://127.0.0.1:$p/-/ready" || die "Prometheus on port $p did not start"
done

# Every server's samples reach its central: each shard server's targets are up there.
targets_up() { # CENTRAL_PORT JSON{prometheus_replica: targets up}
  local r
  r=$(prom_query "$1" 'count by (prometheus_replica, job) (up == 1)' 2>/dev/null) || return 1
  /usr/bin/python3 - "$r" "$2" <<'PY'
import json, sys
got = {s["metric"].get("prometheus_replica"): int(s["value"][1]) for s in json.loads(sys.argv[1])
       if s["metric"].get("job") == "agent_execution_exporter"}
sys.exit(0 if got == json.loads(sys.argv[2]) else 1)
PY
}
poll() { local deadline=$((SECONDS + $1)); shift; while ((SECONDS < deadline)); do "$@" && return 0; sleep 1; done; return 1; }
check "the shard servers' targets (2 exporters each) arrive on the central by remote write" \
  poll 45 targets_up $pr_central '{"prom-shard0-a": 2, "prom-shard0-b": 2, "prom-shard1-a": 2}'

# Live load, late commits included; it stops by itself after --duration.
run_simulator --live --seed=16 --rate=12 --workspaces=8 --agents-per-workspace=4 --workers=12 --worker-slots=4 \
  --runtime-scale=0.05 --duration=45s || die "live simulator failed"
echo "    live load done ($SECONDS s); waiting for the exporters, remote write and the rules to catch up"

check "the central's figures settle on the reference's (caught up)" compare wait 90
sleep 6  # at least two more rule evaluations (2 s) on both, with nothing moving
check "exact: counter totals, gauges and their recorded sums (central = reference)" compare exact
check "series for series: the shards' union equals one exporter; one shard per workspace (md5 rule)" \
  compare series "{\"127.0.0.1:$ex_s0a\": 0, \"127.0.0.1:$ex_s0b\": 0, \"127.0.0.1:$ex_s1a\": 1, \"127.0.0.1:$ex_s1b\": 1}"
check "every recording rule: same series on both; exact gauges, rates within 10 %" \
  compare recorded "$conf/rules/agent_execution.rules.yml"
check "negative: a layout that keeps prometheus_replica or loses a shard is caught" compare negative

# Phase 2, the hashmod layout, on the same exporters and database: the static servers
# stop (their checks are done; on a 2-core machine five more Prometheus servers running
# alongside slow every server's scrapes and evaluations), the two hashmod Prometheus
# shards and a fresh central loading prometheus-central.yml start. The load is over, so
# the exporters' figures no longer move: counter totals (today's, absolute), gauges,
# their recorded sums and the raw series must equal the reference's once the first
# scrapes have arrived. The rate-derived rules are not compared here: this central holds
# no window of the load, and they do not depend on how targets are split (phase 1).
echo "    hashmod phase: stopping the static layout's servers ($SECONDS s)"
for p in "${static_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${static_pids[@]}"; do wait "$p" 2>/dev/null; done
prometheus central-hashmod $pr_hcentral prometheus-central.yml prometheus --web.enable-remote-write-receiver
wait_http "http://127.0.0.1:$pr_hcentral/-/ready" || die "hashmod central Prometheus did not start"
shard_server h0 $pr_h0 prom-hashmod0-a hashmod0
shard_server h1 $pr_h1 prom-hashmod1-a hashmod1
for p in $pr_h0 $pr_h1; do
  wait_http "http://127.0.0.1:$p/-/ready" || die "Prometheus on port $p did not start"
done
# hashmod: every exporter target is scraped by exactly one Prometheus shard -- the union of
# both servers' `up` is all four targets, the intersection empty -- and by the one
# Prometheus' hashmod names: md5 of the target's `__address__` ("host:port"), its last
# 8 bytes as a big-endian integer, modulo `modulus` (docs/operations.md). Both shards must
# get targets (see the ports above). Polls until both servers scraped all their targets.
hashmod_last=
hashmod_split() {
  local r0 r1
  r0=$(prom_query $pr_h0 'up{job="agent_execution_exporter"}' 2>/dev/null) || return 1
  r1=$(prom_query $pr_h1 'up{job="agent_execution_exporter"}' 2>/dev/null) || return 1
  hashmod_last=$(/usr/bin/python3 - "$r0" "$r1" "127.0.0.1:$ex_s0a" "127.0.0.1:$ex_s0b" "127.0.0.1:$ex_s1a" "127.0.0.1:$ex_s1b" <<'PY'
import hashlib, json, sys
targets = sys.argv[3:]
def hashmod(address, modulus=2):
    return int.from_bytes(hashlib.md5(address.encode()).digest()[8:], "big") % modulus
got = [{s["metric"]["instance"]: s["value"][1] for s in json.loads(r)} for r in sys.argv[1:3]]
want = [sorted(t for t in targets if hashmod(t) == i) for i in (0, 1)]
print(f"    prom-hashmod0-a scrapes {sorted(got[0])}, prom-hashmod1-a {sorted(got[1])}; the hash names {want}")
ok = (set(got[0]) | set(got[1]) == set(targets) and not set(got[0]) & set(got[1])
      and [sorted(g) for g in got] == want and all(want)
      and all(v == "1" for g in got for v in g.values()))
sys.exit(0 if ok else 1)
PY
)
}
hashmod_split_check() { poll 45 hashmod_split; local rc=$?; echo "$hashmod_last"; return $rc; }
check "hashmod: each exporter target on exactly one Prometheus shard, the one the hash names" hashmod_split_check
check "hashmod: both Prometheus shards' targets arrive on the hashmod central by remote write" \
  poll 45 targets_up $pr_hcentral '{"prom-hashmod0-a": 2, "prom-hashmod1-a": 2}'
check "hashmod: the central's figures settle on the reference's (caught up)" compare_hashmod wait 60
check "hashmod: exact counter totals, gauges and their recorded sums (central = reference)" compare_hashmod exact
check "hashmod: series for series, the shards' union equals one exporter; one shard per workspace" \
  compare_hashmod series "{\"127.0.0.1:$ex_s0a\": 0, \"127.0.0.1:$ex_s0b\": 0, \"127.0.0.1:$ex_s1a\": 1, \"127.0.0.1:$ex_s1b\": 1}"

echo "$passed passed, $failed failed ($SECONDS s)"
[[ $failed -eq 0 ]]
