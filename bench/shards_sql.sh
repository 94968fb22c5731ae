#!/usr/bin/env bash
# Database time per shard at --shard.count = 1, 2, 4 of the largest reads the
# exporter makes, with the two shard predicates side by side (collectors/scope.cc):
#   old  ShardSql: the md5 of every row's workspace_id (what the collectors used
#        before; still used on the workspaces table itself and on reads of a few rows);
#   new  WorkspaceShardSql: EXISTS over the shard's workspaces (the md5 once per
#        workspace, a hashed SubPlan) or, for a row whose workspace_id has no
#        workspaces row, that row's own md5.
# Reads: the patterns history (7 whole days grouped per day, workspace and hour, as
# kDaysSql reads it slice by slice), the runs start-up aggregate (today, per agent and
# status), two whole days of runs read as the runs rows cursor reads them, and the
# agents read of the info/runs collectors. The time bounds are fixed once (today's
# midnight) so every cell reads the same rows. Each cell: median of 3 EXPLAIN ANALYZE runs, in a
# session like the exporter's (jit = off). The rows each pair returns must be equal:
# the script says "MISMATCH" otherwise. Not a test: figures for docs/benchmarks.md
# ("Sharding: what divides").
#
#   bench/shards_sql.sh postgresql://.../db [SCHEMA]   (a database seeded by agent_platform_sim)
set -euo pipefail
U=${1:?usage: bench/shards_sql.sh DB_URL [SCHEMA]}
S=${2:-public}
D=$(psql -Atq "$U" -c "SELECT date_trunc('day', now())")  # today 00:00 in the session's zone
hash() { echo "(('x' || substr(md5($1::text), 1, 8))::bit(32)::bigint % $2 = $3)"; }
old() { local n=$1 i=$2 col=$3; if ((n == 1)); then echo TRUE; elif ((i == 0)); then echo "($col IS NULL OR $(hash "$col" "$n" 0))"; else hash "$col" "$n" "$i"; fi; }
new() {
  local n=$1 i=$2 col=$3
  if ((n == 1)); then echo TRUE; return; fi
  local null=""; ((i == 0)) && null="$col IS NULL OR "
  echo "(${null}EXISTS (SELECT 1 FROM $S.workspaces ow WHERE ow.id = $col AND $(hash ow.id "$n" "$i")) OR (NOT EXISTS (SELECT 1 FROM $S.workspaces aw WHERE aw.id = $col) AND $(hash "$col" "$n" "$i")))"
}
run() {  # prints exec ms and rows returned (median of 3)
  local sql=$1
  for k in 1 2 3; do
    psql -Atq "$U" -c "SET jit = off" -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | python3 -c '
import json,sys
p=json.load(sys.stdin)[0]
print("%.1f %d" % (p["Execution Time"], p["Plan"]["Actual Rows"]))'
  done | sort -n | sed -n 2p
}
q() {  # the read $1 with predicate $2
  local p=$2
  case $1 in
    history) echo "SELECT (finished_at AT TIME ZONE 'UTC')::date, ar.workspace_id::text, extract(hour FROM finished_at AT TIME ZONE 'UTC')::int, count(*), count(*) FILTER (WHERE status = 'completed') FROM $S.agent_runs ar WHERE finished_at >= '$D'::timestamptz - interval '7 days' AND finished_at < '$D'::timestamptz AND ar.workspace_id IS NOT NULL AND status IN ('completed','failed','cancelled') AND $p GROUP BY 1,2,3" ;;
    today) echo "SELECT r.workspace_id::text, r.agent_id::text, r.status, count(*), min(r.finished_at) FROM $S.agent_runs r WHERE r.finished_at >= '$D'::timestamptz AND r.finished_at < '$D'::timestamptz + interval '1 day' AND $p GROUP BY 1,2,3" ;;
    twodays) echo "SELECT r.run_id::text, r.workspace_id::text, r.agent_id::text, r.status FROM $S.agent_runs r WHERE r.finished_at >= '$D'::timestamptz - interval '2 days' AND r.finished_at < '$D'::timestamptz AND $p" ;;
    agents) echo "SELECT a.workspace_id::text, a.id::text, coalesce(a.name, '') FROM $S.agents a WHERE a.workspace_id IS NOT NULL AND $p" ;;
  esac
}
col() { case $1 in history) echo ar.workspace_id ;; agents) echo a.workspace_id ;; *) echo r.workspace_id ;; esac; }
echo "read N index old_ms new_ms rows_old rows_new"
for read in history today twodays agents; do
  for n in 1 2 4; do for ((i = 0; i < n; i++)); do
    c=$(col $read)
    read -r om orows <<<"$(run "$(q $read "$(old $n $i "$c")")")"
    read -r nm nrows <<<"$(run "$(q $read "$(new $n $i "$c")")")"
    flag=""; [[ $orows == "$nrows" ]] || flag=" MISMATCH"
    echo "$read $n $i $om $nm $orows $nrows$flag"
  done; done
done
