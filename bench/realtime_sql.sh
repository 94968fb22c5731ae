#!/usr/bin/env bash
# The realtime collector's polling statement, two exporter binaries side by side, at
# --shard.count 1 and 4 (shard 1 of 4): each binary runs alone with only the realtime
# collector for SECONDS against DB_URL, then pg_stat_statements gives that statement's
# calls, mean and standard deviation of its execution time (which includes sending the
# rows) and buffers per call. The database needs pg_stat_statements in
# shared_preload_libraries (scripts/pg.sh sets it); the extension is created if missing.
# Not a test: figures for docs/benchmarks.md ("The realtime statement at 2 000
# workspaces"). Run it on a database without live load so both binaries read the same rows.
#
#   bench/realtime_sql.sh DB_URL OLD_BINARY NEW_BINARY [SECONDS] [PORT]
set -euo pipefail
U=${1:?usage: bench/realtime_sql.sh DB_URL OLD_BINARY NEW_BINARY [SECONDS] [PORT]}
OLD=${2:?old exporter binary}
NEW=${3:?new exporter binary}
SECONDS_EACH=${4:-25}
PORT=${5:-22491}
psql -Atq "$U" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
measure() {  # binary, shard flags
  psql -Atq "$U" -c "SELECT pg_stat_statements_reset()" >/dev/null
  timeout "$SECONDS_EACH" "$1" --db.url="$U" --web.listen-address="127.0.0.1:$PORT" $2 \
    --no-collector.runs --no-collector.models --no-collector.patterns --no-collector.info \
    --no-collector.workers --no-collector.database >/dev/null 2>&1 || true
  psql -Atq -F' | ' "$U" -c "SELECT calls, round(mean_exec_time::numeric, 1), round(stddev_exec_time::numeric, 1),
      (shared_blks_hit + shared_blks_read) / greatest(calls, 1), rows / greatest(calls, 1)
    FROM pg_stat_statements WHERE query LIKE '%running AS (%' AND query LIKE '%execution_queue%'"
}
echo "| shards | binary | calls | mean ms | stddev ms | buffers a call | rows a call |"
echo "|---|---|---|---|---|---|---|"
for flags in "" "--shard.count=4 --shard.index=1"; do
  label=${flags:+"1 of 4"}
  for who in old new; do
    bin=$OLD; [[ $who == new ]] && bin=$NEW
    echo "| ${label:-unsharded} | $who | $(measure "$bin" "$flags") |"
  done
done
