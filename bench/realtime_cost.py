#!/usr/bin/env python3
"""Database time per wall second of the exporter, polling vs the incremental realtime
path (schema/notify.sql's row-id notifications), side by side with postgres_exporter
on the same database under the same live load, in one run (issue #16, "The per-second
sample must not grow with the running set").

Reuses bench.py's cluster, seed, live load and measurement helpers; every BENCH_*
variable of bench.py applies (BENCH_SIZES, BENCH_BUILD, BENCH_PG_PORT, BENCH_PORT, ...).
Windows, in this order, each BENCH_WINDOW seconds (default 60), our exporter scraped
every 15 s as Prometheus would:

  polling      default flags (no LISTEN): every realtime sample reads every running
               and waiting row, every runs cycle reads the agents table
  notify-full  --db.notify-channel with --collector.realtime.resync-interval=0: today's
               event-driven mode (every sample a full read)
  notify       --db.notify-channel, default resync interval: incremental samples
  notify-1s    the same with --db.notify-coalesce=1s: at most about one woken cycle a
               second per collector, i.e. the polling cadence (the default 20 ms wakes
               realtime for nearly every committed change under live load)
  notify-by-created-at
               notify with --no-collector.models.read-by-id: model calls read by
               created_at with a sweep every 5 minutes (BENCH_WINDOW=300 holds one)
  pgexp        prometheus-postgres-exporter with bench/peers/queries.yaml, one scrape
               at a time for BENCH_PEER_DURATION; per wall second at a 15 s interval

BENCH_RT_ARGS adds flags to every window of ours (default --no-collector.patterns: its
start-up pass over 28 days of history would fall into the first windows). BENCH_RT_MODES
picks windows (comma-separated, default all, pgexp last); BENCH_RT_WARMUP is the wait
after /readyz before a window (default 45 s).
Prints one JSON line per window and a table.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import scale_bench  # noqa: E402  (its classification of our statements by collector)

REALTIME_NEEDLES = ("'w', w.id::text", "'r', r.run_id::text", "announced_runs", "pg_trigger",
                    "a.id::text, a.name")  # realtime statements (the last: agent names for announced states)
AGENTS_NEEDLE = "FROM \"public\".agents WHERE"


def split(stats):
    realtime = sum(s["ms"] for s in stats["statements"] if any(n in s["q"] for n in REALTIME_NEEDLES)
                   or "WITH running AS" in s["q"])
    realtime_calls = sum(s["calls"] for s in stats["statements"] if any(n in s["q"] for n in REALTIME_NEEDLES)
                         or "WITH running AS" in s["q"])
    agents = sum(s["ms"] for s in stats["statements"] if "agents" in s["q"] and "workspace_id::text, id::text" in s["q"])
    agents_calls = sum(s["calls"] for s in stats["statements"]
                       if "agents" in s["q"] and "workspace_id::text, id::text" in s["q"])
    return realtime, realtime_calls, agents, agents_calls


RT_ARGS = os.environ.get("BENCH_RT_ARGS", "--no-collector.patterns").split()
WARMUP_S = float(os.environ.get("BENCH_RT_WARMUP", "45"))
# The windows to run, in this order (pgexp: postgres_exporter).
MODES = os.environ.get("BENCH_RT_MODES", "polling,notify-full,notify,notify-1s,notify-by-created-at,pgexp").split(",")


def window(size, db, name, args):
    exp = bench.start_exporter(db, f"exporter-{name}-{bench.label(size)}", [*RT_ARGS, *args])
    try:
        bench.wait_http(f"http://127.0.0.1:{bench.PORT}/readyz", exp, timeout=600)
        # Past start-up, the first resync and, when models reads by id, its one sweep
        # after a start-up with transactions open (about 20-30 s in; a sweep every
        # --collector.models.sweep-interval when it reads by created_at: a window of
        # 300 s holds one).
        time.sleep(WARMUP_S)
        bench.pgss_reset(db, "bench_ours")
        t0 = time.monotonic()
        while time.monotonic() - t0 < bench.QUIET_WINDOW:
            time.sleep(min(15, max(0.0, bench.QUIET_WINDOW - (time.monotonic() - t0))))
            bench.http_get(f"http://127.0.0.1:{bench.PORT}/metrics")
        wall = time.monotonic() - t0
        stats = bench.pgss(db, "bench_ours")
        by_collector = {}
        for st in scale_bench.pgss(bench.db_url(db), "bench_ours"):  # full statement texts
            by_collector[st["who"]] = by_collector.get(st["who"], 0.0) + st["ms"] / wall
        rt, rt_calls, ag, ag_calls = split(stats)
        live = float(bench.psql(db, f"SELECT count(*) / {wall:.3f} FROM agent_runs WHERE finished_at > now() - "
                                    f"make_interval(secs => {wall:.3f})"))
        inflight = bench.psql(db, "SELECT (SELECT count(*) FROM agent_runs WHERE status = 'running') || '/' || "
                                  "(SELECT count(*) FROM execution_queue WHERE status = 'queued')")
        row = {"size": size, "who": "ours", "mode": name, "window_s": round(wall, 1),
               "db_ms_per_s": stats["ms"] / wall, "calls_per_s": stats["calls"] / wall,
               "realtime_ms_per_s": rt / wall, "realtime_calls_per_s": rt_calls / wall,
               "realtime_ms_per_call": rt / rt_calls if rt_calls else None,
               "agents_ms_per_s": ag / wall, "agents_calls": ag_calls,
               "live_finished_per_s": round(live, 1), "running/queued": inflight,
               "ms_per_s_by_collector": {k: round(v, 3) for k, v in sorted(by_collector.items())},
               "statements": sorted(stats["statements"], key=lambda s: -s["ms"])[:8]}
        print(json.dumps(row), flush=True)
        return row
    finally:
        exp.stop()


def pgexp(size, db):
    class Res:
        rows = []

        def add(self, size, kind, **fields):
            self.rows.append(dict(kind=kind, **fields))
    res = Res()
    bench.measure_pgexp(size, db, res)
    peer = [r for r in res.rows if r["kind"] == "peer_db"][0]
    scanned = bench.psql(db, bench.PEER_SCANS).replace("|", "/")
    row = {"size": size, "who": "postgres_exporter", "db_ms_per_scrape": peer["db_ms_per_cycle"],
           "db_ms_per_s": peer["db_ms_per_cycle"] / 15.0, "scrapes": peer["cycles"],
           "finished_24h/running": scanned}
    print(json.dumps(row), flush=True)
    return row


def main():
    stamp = time.strftime("%Y%m%dT%H%M%S")
    bench.RESULTS_DIR = os.path.abspath(os.environ.get("BENCH_RESULTS", os.path.join(bench.BUILD, "bench-results",
                                                                                     "realtime-" + stamp)))
    os.makedirs(bench.RESULTS_DIR, exist_ok=True)
    os.makedirs(bench.STATE, exist_ok=True)
    bench.ensure_cluster()
    notify_sql = os.path.join(bench.ROOT, "schema", "notify.sql")
    out = []
    try:
        for size in bench.SIZES:
            db, finished, _ = bench.ensure_seeded(size)
            live = bench.start_live(db)
            try:
                time.sleep(5)
                flag = f"--db.notify-channel={bench.NOTIFY_CHANNEL}"
                args = {"polling": [],
                        "notify-full": [flag, "--collector.realtime.resync-interval=0"],
                        "notify": [flag],
                        "notify-1s": [flag, "--db.notify-coalesce=1s"],
                        "notify-by-created-at": [flag, "--no-collector.models.read-by-id"]}
                for mode in MODES:
                    if mode == "pgexp":
                        out.append(pgexp(size, db))
                        continue
                    if mode != "polling":
                        bench.psql(db, open(notify_sql).read())  # idempotent
                    out.append(window(size, db, mode, args[mode]))
            finally:
                live.stop()
            # After the live load: dropping triggers locks all four tables at once.
            bench.psql(db, bench.DROP_NOTIFY)
    finally:
        bench.stop_all()
    print("| size | who | mode | DB ms/s | realtime ms/s (calls/s, ms/call) | agents reads | ratio to postgres_exporter |")
    print("|---|---|---|---|---|---|---|")
    for size in bench.SIZES:
        peer = [r for r in out if r["size"] == size and r["who"] == "postgres_exporter"]
        peer_ms = peer[0]["db_ms_per_s"] if peer else None
        for r in out:
            if r["size"] != size or r["who"] != "ours":
                continue
            ratio = f"{peer_ms / r['db_ms_per_s']:.0f}×" if peer_ms and r["db_ms_per_s"] else "-"
            rt = r["realtime_ms_per_call"]
            print(f"| {bench.label(size)} | ours | {r['mode']} | {r['db_ms_per_s']:.2f} | {r['realtime_ms_per_s']:.3f} "
                  f"({r['realtime_calls_per_s']:.1f}, {rt if rt is None else round(rt, 3)}) | {r['agents_calls']} | {ratio} |")
        if peer:
            print(f"| {bench.label(size)} | postgres_exporter | 15 s ({peer[0]['finished_24h/running']} "
                  f"finished in 24 h/running) | {peer_ms:.2f} | | | 1× |")
    # DB ms per wall second by collector (statements classified as in scale_bench.py).
    names = sorted({k for r in out if r["who"] == "ours" for k in r["ms_per_s_by_collector"]})
    print("\n| size | mode | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for r in out:
        if r["who"] == "ours":
            print(f"| {bench.label(r['size'])} | {r['mode']} | " +
                  " | ".join(f"{r['ms_per_s_by_collector'].get(n, 0):.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
