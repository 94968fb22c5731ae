#!/usr/bin/env bash
# One exporter per shard at --shard.count = 1, 2, 4, each alone, from exec to /readyz
# + 8 s (start-up, then the patterns history it reads in budgeted cycles): database time,
# statements and rows returned from pg_stat_statements (reset before each run; the
# exporter connects as its own role), rows the runs and patterns collectors read, and
# series (sum of agent_exporter_series). Not a test: figures for docs/benchmarks.md.
#
#   bench/shards_exporter.sh ADMIN_URL EXPORTER_ROLE_URL path/to/agent_execution_exporter
set -u
U=${1:?usage: bench/shards_exporter.sh ADMIN_URL EXPORTER_ROLE_URL EXPORTER}; ours=${2:?}; exe=${3:?}; http=19491
echo "N index ready_s db_ms calls rows_returned runs_rows_startup patterns_rows series"
for n in 1 2 4; do for ((i=0;i<n;i++)); do
  psql -Atq "$U" -c "SELECT pg_stat_statements_reset()" >/dev/null
  t0=$(date +%s.%N)
  "$exe" --db.url="$ours" --web.listen-address=127.0.0.1:$http --web.rate-limit=0 --shard.count=$n --shard.index=$i --log.level=error --api.enabled=false &
  pid=$!
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/readyz") == 200 ]]; do sleep 0.05; done
  t1=$(date +%s.%N)
  sleep 8
  m=$(curl -s "http://127.0.0.1:$http/metrics")
  kill $pid; wait $pid 2>/dev/null
  read -r ms calls rows < <(psql -Atq -F' ' "$U" -c "SELECT round(sum(total_exec_time)::numeric,1), sum(calls), sum(rows) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'shard_bench'")
  su=$(awk '/^agent_exporter_rows_read_total\{collector="runs",scan="startup"\}/ {print $2}' <<<"$m")
  pr=$(awk '/^agent_exporter_rows_read_total\{collector="patterns",scan="day"\}/ {print $2}' <<<"$m")
  se=$(awk '/^agent_exporter_series\{/ {s += $2} END {print s}' <<<"$m")
  echo "$n $i $(echo "$t1 - $t0" | bc) $ms $calls $rows $su $pr $se"
done; done
