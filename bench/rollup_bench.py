#!/usr/bin/env python3
"""Database cost of agent_execution_rollup at a given finished-run rate (docs/rollup.md).

On a PostgreSQL server the caller runs (scripts/pg.sh, with pg_stat_statements preloaded),
it creates a fresh database, loads schema/platform.sql (the simulator's --init-schema) and
schema/analytics.sql, creates the writer's role with exactly the grants docs/rollup.md
lists, starts the simulator's live load at --rate finished runs/s (with its late commits),
starts the rollup under that role, lets its start-up pass, and then over --window seconds
measures, for the rollup's role only:

  db_ms_per_min      summed execution time of its statements (pg_stat_statements) per minute
  calls_per_min      its statements per minute
  rows_per_min       rows it inserted or updated in analytics.* per minute (pg_stat_user_tables)
  cpu_s_per_min      CPU of the rollup process per minute
  runs_per_s         finished runs per second the simulator actually committed in the window

and after the load stops, checks the table against SQL over the raw rows (the runs columns
of every minute the rollup covered): awaiting_sweep_rows when the daemon stopped (minutes
holding a late commit with an application-stamped finished_at, which the next sweep
re-aggregates), and mismatched_rows after one restart pass (--once, which re-reads the
lateness window like a sweep): that must be 0.

Prints one JSON object; bench.py's phase "rollup" calls this and files it in results.jsonl.
Every process started here is stopped here by its pid.

  bench/rollup_bench.py --build build --server postgresql://postgres@127.0.0.1:45432 \\
      --rate 500 --window 300
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE = "bench_rollup"


def log(msg):
    print(f"[rollup-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def with_db(server, db, role=None):
    base, _, _ = server.rpartition("/")
    if role:
        scheme, _, rest = base.partition("://")
        base = f"{scheme}://{role}@{rest.split('@', 1)[-1]}"
    return f"{base}/{db}"


def psql(url, sql=None, file=None):
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url]
    cmd += ["-c", sql] if sql is not None else ["-f", file]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# The runs columns by their definition (docs/rollup.md), as tests/rollup/rollup_test.cc
# writes it: minutes by date_bin, latencies in ms, percentile_cont, rounded, capped.
EXPECTED = """
WITH runs AS (
  SELECT r.workspace_id, date_bin('1 minute', r.finished_at, timestamptz '2000-01-01 00:00:00+00') AS minute, r.status,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL
              THEN 1000 * coalesce(r.queue_wait_seconds, extract(epoch FROM r.started_at - r.queued_at)::float8) END AS q,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL
              THEN 1000 * coalesce(r.runtime_seconds, extract(epoch FROM r.finished_at - r.started_at)::float8) END AS x
  FROM agent_runs r JOIN workspaces w ON w.id = r.workspace_id
  WHERE r.status IN ('completed', 'failed', 'cancelled') AND r.finished_at >= {lo} AND r.finished_at < {hi}
), ok AS (
  SELECT workspace_id, minute, status,
         CASE WHEN q >= 0 AND q <= 1e15 THEN q END AS q, CASE WHEN x >= 0 AND x <= 1e15 THEN x END AS x FROM runs
)
SELECT workspace_id, minute, count(*)::int, (count(*) FILTER (WHERE status = 'completed'))::int,
       (count(*) FILTER (WHERE status = 'failed'))::int,
       least(round(avg(q)::numeric), 2147483647)::int,
       least(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY q))::numeric), 2147483647)::int,
       least(round((percentile_cont(0.95) WITHIN GROUP (ORDER BY q))::numeric), 2147483647)::int,
       least(round(avg(x)::numeric), 2147483647)::int,
       least(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x))::numeric), 2147483647)::int,
       least(round((percentile_cont(0.95) WITHIN GROUP (ORDER BY x))::numeric), 2147483647)::int
FROM ok GROUP BY 1, 2"""

TABLE = """
SELECT workspace_id, minute, total_executions, successful_executions, failed_executions,
       avg_queue_latency, p50_queue_latency, p95_queue_latency,
       avg_execution_latency, p50_execution_latency, p95_execution_latency
FROM analytics.execution_metrics_minute WHERE minute >= {lo} AND minute < {hi}"""


def compare(url):
    """(rows, rows differing from the SQL over the raw rows) of the minutes written."""
    lo = psql(url, "SELECT min(minute) FROM analytics.execution_metrics_minute")
    hi = psql(url, "SELECT aggregated_to FROM analytics.rollup_progress")
    lo_q, hi_q = f"'{lo}'::timestamptz", f"'{hi}'::timestamptz"
    expected, table = EXPECTED.format(lo=lo_q, hi=hi_q), TABLE.format(lo=lo_q, hi=hi_q)
    missing = int(psql(url, f"SELECT count(*) FROM (({expected}) EXCEPT ALL ({table})) d"))
    extra = int(psql(url, f"SELECT count(*) FROM (({table}) EXCEPT ALL ({expected})) d"))
    return int(psql(url, f"SELECT count(*) FROM ({table}) t")), missing + extra


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build directory holding rollup/ and tools/ binaries")
    ap.add_argument("--server", required=True, help="libpq URI of the server as its superuser")
    ap.add_argument("--db", default="bench_rollup")
    ap.add_argument("--rate", type=float, default=500, help="finished runs per second of the simulator")
    ap.add_argument("--window", type=int, default=300, help="measured seconds (default covers one sweep)")
    ap.add_argument("--workspaces", type=int, default=20)
    ap.add_argument("--logs", default=".", help="directory for the simulator's and the rollup's logs")
    a = ap.parse_args()

    rollup_bin = os.path.join(a.build, "rollup", "agent_execution_rollup")
    sim_bin = os.path.join(a.build, "tools", "agent_platform_sim")
    for b in (rollup_bin, sim_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"rollup_bench: {b} missing (build the agent_execution_rollup and agent_platform_sim targets)")
    os.makedirs(a.logs, exist_ok=True)
    admin = with_db(a.server, "postgres")
    psql(admin, f"DROP DATABASE IF EXISTS {a.db} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {a.db}")
    psql(admin, f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
                f"CREATE ROLE {ROLE} LOGIN; END IF; END $$")
    url = with_db(a.server, a.db)
    subprocess.run([sim_bin, f"--db.url={url}", "--init-schema"], check=True, capture_output=True)
    psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    psql(url, file=os.path.join(ROOT, "schema", "analytics.sql"))
    # The grants of docs/rollup.md ("Role and grants"), verbatim.
    psql(url, f"""
      GRANT USAGE ON SCHEMA public TO {ROLE};
      GRANT SELECT ON public.agent_runs, public.execution_queue, public.workers, public.workspaces TO {ROLE};
      GRANT USAGE ON SCHEMA analytics TO {ROLE};
      GRANT SELECT, INSERT, UPDATE ON analytics.execution_metrics_minute, analytics.rollup_progress TO {ROLE};
      GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.rollup_samples, analytics.rollup_sampled_minutes TO {ROLE};
      GRANT pg_read_all_stats TO {ROLE};""")

    slots = max(64, int(a.rate * 4))
    sim = subprocess.Popen([sim_bin, f"--db.url={url}", "--live", "--seed=7", f"--workspaces={a.workspaces}",
                            "--agents-per-workspace=25", f"--rate={a.rate}", f"--workers={slots // 16}",
                            "--worker-slots=16", "--runtime-scale=0.15", "--stats-interval=30s"],
                           stdout=open(os.path.join(a.logs, "rollup-sim.log"), "ab"), stderr=subprocess.STDOUT)
    rollup = None
    try:
        time.sleep(20)  # the simulator's ramp
        rollup = subprocess.Popen([rollup_bin, f"--db.url={with_db(a.server, a.db, ROLE)}", "--log.level=info"],
                                  stdout=open(os.path.join(a.logs, "rollup.log"), "ab"), stderr=subprocess.STDOUT)
        time.sleep(25)  # its start-up pass (the lateness window) is not the steady state
        if rollup.poll() is not None or sim.poll() is not None:
            sys.exit("rollup_bench: the rollup or the simulator exited (see their logs)")
        psql(url, f"SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = '{ROLE}'))")
        rows_sql = ("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
                    "WHERE schemaname = 'analytics'")
        rows0 = int(psql(url, rows_sql))
        cpu0 = cpu_seconds(rollup.pid)
        t0 = psql(url, "SELECT now()")
        log(f"measuring {a.window} s at {a.rate:g} runs/s")
        time.sleep(a.window)
        t1 = psql(url, "SELECT now()")
        cpu1 = cpu_seconds(rollup.pid)
        time.sleep(1)  # pg_stat_user_tables is updated when a backend's transaction ends
        rows1 = int(psql(url, rows_sql))
        stmts = json.loads(psql(url, f"""
          SELECT coalesce(json_agg(json_build_object('q', left(regexp_replace(query, '\\s+', ' ', 'g'), 100),
                                                     'calls', calls, 'ms', round(total_exec_time::numeric, 1),
                                                     'rows', rows) ORDER BY total_exec_time DESC), '[]')
          FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
          WHERE r.rolname = '{ROLE}' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"""))
        finished = int(psql(url, f"SELECT count(*) FROM agent_runs WHERE finished_at >= '{t0}' AND finished_at < '{t1}'"))
        seconds = float(psql(url, f"SELECT extract(epoch FROM '{t1}'::timestamptz - '{t0}'::timestamptz)"))
        minutes = seconds / 60

        stop(sim)
        time.sleep(15)  # a last cycle after the late commits landed
        stop(rollup)
        before = compare(url)
        # A restart pass (--once re-reads the lateness window before the stored progress,
        # as a sweep does): application-stamped late commits that landed after the last
        # sweep are counted now, and every minute must equal the raw rows.
        subprocess.run([rollup_bin, f"--db.url={with_db(a.server, a.db, ROLE)}", "--once"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = compare(url)
        total_ms = sum(s["ms"] for s in stmts)
        out = {
            "rate": a.rate, "workspaces": a.workspaces, "window_s": round(seconds, 1),
            "runs_per_s": round(finished / seconds, 1),
            "db_ms_per_min": round(total_ms / minutes, 1),
            "calls_per_min": round(sum(s["calls"] for s in stmts) / minutes, 1),
            "rows_per_min": round((rows1 - rows0) / minutes, 1),
            "cpu_s_per_min": round((cpu1 - cpu0) / minutes, 3),
            "checked_rows": after[0], "mismatched_rows": after[1],
            # rows a sweep had not corrected yet when the daemon stopped (late commits
            # with application-stamped finished_at, counted by the next sweep)
            "awaiting_sweep_rows": before[1],
            "statements": [dict(s, ms_per_min=round(float(s["ms"]) / minutes, 1)) for s in stmts[:6]],
        }
        print(json.dumps(out))
    finally:
        stop(sim)
        if rollup is not None:
            stop(rollup)


if __name__ == "__main__":
    main()
