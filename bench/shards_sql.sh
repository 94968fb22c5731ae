#!/usr/bin/env bash
# Database time per shard at --shard.count = 1, 2, 4 of the two largest reads the
# exporter makes, with the shard predicate the collectors add (collectors/scope.cc
# ShardSql): the patterns history (30 days grouped per day, workspace and hour, as
# kDaysSql reads it slice by slice) and the runs start-up aggregate (today, per agent
# and status). Median of 3 EXPLAIN ANALYZE runs each. Not a test: figures for
# docs/benchmarks.md ("Sharding: what divides").
#
#   bench/shards_sql.sh postgresql://.../db   (a database seeded by agent_platform_sim)
set -euo pipefail
U=${1:?usage: bench/shards_sql.sh DB_URL}
pred() { local n=$1 i=$2 col=$3; if ((n == 1)); then echo TRUE; elif ((i == 0)); then echo "($col IS NULL OR ('x' || substr(md5($col::text), 1, 8))::bit(32)::bigint % $n = 0)"; else echo "(('x' || substr(md5($col::text), 1, 8))::bit(32)::bigint % $n = $i)"; fi; }
run() {  # prints exec ms and rows returned (median of 3)
  local sql=$1
  for k in 1 2 3; do
    psql -Atq "$U" -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | python3 -c '
import json,sys
p=json.load(sys.stdin)[0]
print("%.1f %d" % (p["Execution Time"], p["Plan"]["Actual Rows"]))'
  done | sort -n | sed -n 2p
}
echo "N index history_ms history_groups today_ms today_groups"
for n in 1 2 4; do for ((i=0;i<n;i++)); do
  p=$(pred $n $i workspace_id)
  h="SELECT (finished_at AT TIME ZONE 'UTC')::date, workspace_id::text, extract(hour FROM finished_at AT TIME ZONE 'UTC')::int, count(*), count(*) FILTER (WHERE status = 'completed') FROM agent_runs WHERE finished_at >= now() - interval '30 days' AND finished_at < date_trunc('day', now()) AND workspace_id IS NOT NULL AND status IN ('completed','failed','cancelled') AND $p GROUP BY 1,2,3"
  t="SELECT workspace_id::text, agent_id::text, status, count(*), min(finished_at) FROM agent_runs WHERE finished_at >= date_trunc('day', now()) AND finished_at < date_trunc('day', now()) + interval '1 day' AND $p GROUP BY 1,2,3"
  echo "$n $i $(run "$h") $(run "$t")"
done; done
