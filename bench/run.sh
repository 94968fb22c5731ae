#!/usr/bin/env bash
# Benchmarks of agent_execution_exporter against prometheus-postgres-exporter and
# prometheus-sql-exporter on the same database (docs/benchmarks.md). Not part of
# `make test`; `make bench` runs this.
#
#   bench/run.sh            the full run: 1 M and 10 M finished runs (seeded once into
#                           build-bench/state/pg and reused), ~40 minutes on 2 cores
#   bench/run.sh --quick    200 k runs, short windows: checks the harness in ~5 minutes
#   bench/run.sh --render DIR   only re-render the tables and plot of a results directory
#
# Environment (defaults in bench/bench.py): BENCH_SIZES="1000000 10000000",
# BENCH_BUILD=build-bench, BENCH_STATE=$BENCH_BUILD/state, BENCH_PG_PORT=45432,
# BENCH_PORT=45401 (ours), BENCH_PGEXP_PORT=45402, BENCH_SQLEXP_PORT=45403,
# BENCH_WRK_DURATION=5 and BENCH_WRK_REPEATS=5 (seconds, runs per wrk measurement),
# BENCH_WINDOW=60 (quiet window), BENCH_ISO_WINDOW=20 (per-collector window),
# BENCH_PEER_DURATION=40, BENCH_SQLEXP_INTERVAL=15, BENCH_STARTUPS=3,
# BENCH_LIVE_RATE=120 (live finished runs/s), BENCH_FRESHNESS_REPS=30,
# BENCH_FRESHNESS_MODES="polling notify",
# BENCH_FRESHNESS_SIZES (default: the largest size), BENCH_KEEP_PG=1 (leave the cluster up),
# BENCH_EXPORTER (the exporter binary; default $BENCH_BUILD/agent_execution_exporter),
# BENCH_PHASES="default wide nopatterns isolated peers freshness" (a subset re-measures only those;
# "steady" adds the memory under a steady load: BENCH_STEADY_SECONDS=780, BENCH_STEADY_COMPARE="<binary> ...";
# "live" adds the live view's WebSocket (bench/live_subscribers): commit -> message latency with one
# subscriber, BENCH_LIVE_PROBES=60 samples per mode of BENCH_LIVE_MODES="polling notify", then in
# BENCH_LIVE_FANOUT_MODES="notify" windows of BENCH_LIVE_WINDOW=60 s with 0, BENCH_LIVE_SUBSCRIBERS=1000
# on one workspace, as many over BENCH_LIVE_WORKSPACES=20 workspaces, and 0 again: exporter CPU, RSS,
# realtime cycles and database time, latency across subscribers; BENCH_LIVE_SOURCES=N spreads the
# subscribers over 127.0.0.2.. (default 0: all from 127.0.0.1, with --web.max-connections-per-client=0).
# E.g. BENCH_SIZES=10000000 BENCH_PHASES=live bench/run.sh, ~12 minutes on 2 cores.)
# "queries" (not in the default set; needs no database, exporter nor build) measures the spec's
# query-time targets (throughput < 200 ms, latency percentiles < 500 ms, dashboard load < 2 s) on
# a real Prometheus: bench/query_data.py builds a TSDB of simulator-shaped samples of the
# exporter's families plus every recording rule of alerts/agent_execution.rules.yml backfilled
# (promtool), for each WORKSPACES:SPAN_HOURS of BENCH_QUERIES_SIZES="20:26 2000:1.17" (kept in
# $BENCH_STATE/queries-*, rebuilt when missing); bench/query_targets.py then loads every dashboard
# of grafana/dashboards as Grafana does, up to BENCH_QUERIES_REPS=30 times per variant (stopping
# after BENCH_QUERIES_BUDGET=120 s per dashboard and variant once BENCH_QUERIES_MIN_REPS=10 loads are
# done; BENCH_QUERIES_RAW_WARMUP=0 skips the raw variant's warm-up load), with the recording rules
# and with them expanded into raw series, on
# 127.0.0.1:BENCH_QUERIES_PORT=19090 (+8 while building); tables in queries.md.
# E.g. BENCH_PHASES=queries bench/run.sh, ~60 minutes on 2 cores.
# "rollup" (not in the default set) runs bench/rollup_bench.py: agent_execution_rollup under its own
# role at BENCH_ROLLUP_RATE=500 finished runs/s for BENCH_ROLLUP_WINDOW=300 s (its own database
# on the cluster): database ms, statements, rows written and CPU per minute, and its table
# checked against SQL over the raw rows (docs/rollup.md). E.g. BENCH_PHASES=rollup bench/run.sh, ~7 min.
# "scale" (not in the default set) runs bench/scale_bench.py: BENCH_SCALE_WORKSPACES=2000 x
# BENCH_SCALE_AGENTS=20 agents, BENCH_SCALE_HISTORY=3000000 finished runs over 30 days (seeded once
# into its own database, reused), BENCH_SCALE_RATE=500 finished runs/s live; one exporter and
# BENCH_SCALE_SHARDS=4 shard exporters (ports BENCH_SCALE_PORT=24411..) side by side for
# BENCH_SCALE_WINDOW=300 s, exporters with BENCH_SCALE_EXPORTER_ARGS="--no-collector.patterns
# --collector.runs.timeout=60s --collector.models.timeout=60s": series, scrape p50/p99, CPU, RSS, database ms per cycle and rows read,
# in the passes of BENCH_SCALE_MODES="polling notify" (notify: schema/notify.sql's triggers installed for that pass
# only, exporters with --db.notify-channel, ports from BENCH_SCALE_PORT + shards + 1), and prometheus-postgres-exporter
# (bench/peers/queries.yaml, port BENCH_PGEXP_PORT, BENCH_PEER_DURATION s; BENCH_SCALE_PGEXP=0 skips it) with
# the ratio of its database ms per second at a 15 s interval to ours.
# E.g. BENCH_PHASES=scale bench/run.sh, ~30 min on 2 cores (first seeding included; two passes);
# BENCH_PHASES=scale bench/run.sh --quick checks the harness at tiny sizes in ~4 min.
# Results: $BENCH_BUILD/bench-results/<time>/ (results.jsonl, tables.md, the PNG, logs);
# bench-results/latest points at the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD:-build-bench}
export BENCH_BUILD=$BUILD

if [[ "${1:-}" == "--render" ]]; then
  exec python3 bench/render.py "${2:-$BUILD/bench-results/latest}"
fi
if [[ "${1:-}" == "--quick" ]]; then
  export BENCH_QUICK=1
fi
export BENCH_COMMAND=${BENCH_COMMAND:-"bench/run.sh $*"}

scripts/install-deps.sh
bench/install-deps.sh
if [[ "${BENCH_PHASES:-}" == "queries" ]]; then  # Prometheus only: no build, no database
  results=$(python3 bench/bench.py)
  cat "$results/queries.md"
  exit 0
fi
if [[ "${BENCH_PHASES:-}" == "rollup" ]]; then  # the rollup writer alone: no seeded sizes to render
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAEE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target agent_execution_rollup agent_platform_sim >/dev/null
  results=$(python3 bench/bench.py)
  grep '"kind": "rollup"' "$results/results.jsonl"
  exit 0
fi
if [[ "${BENCH_PHASES:-}" == "scale" ]]; then  # its own database: no seeded sizes to render
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAEE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target agent_execution_exporter agent_platform_sim >/dev/null
  results=$(python3 bench/bench.py)
  cat "$results/scale.md"
  exit 0
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAEE_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target agent_execution_exporter agent_platform_sim freshness live_subscribers \
  agent_execution_rollup >/dev/null

results=$(python3 bench/bench.py)
python3 bench/render.py "$results"
