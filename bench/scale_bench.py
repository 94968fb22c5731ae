#!/usr/bin/env python3
"""One exporter against four shard exporters at platform scale (issue #16, docs/benchmarks.md
"Scale: 2 000 workspaces, 1 vs 4 shards").

On a PostgreSQL server the caller runs (scripts/pg.sh, with pg_stat_statements preloaded) it
seeds a database once (reused while it holds the same workspaces and at least 95 % of the
history) with the simulator's backfill: --workspaces x --agents agents, --history-runs finished
runs spread over --days days. It starts the simulator's live load at --rate finished runs/s
(its 2 % late commits included), then, against the same database under the same load and at
the same time, one unsharded exporter and --shards exporters with --shard.count=N
--shard.index=0..N-1, each under its own role so pg_stat_statements keeps their statements
apart. After every exporter is ready and has read its start-up history
(agent_exporter_collector_pending_work all 0) it measures, over --window seconds in which
each exporter is scraped every 15 s like a Prometheus would:

  cores            the exporter process's CPU seconds per wall second (/proc/PID/stat)
  rss, hwm         resident memory at the end of the window and its peak (VmRSS, VmHWM)
  db_ms_per_s      its role's summed statement time (pg_stat_statements) per wall second
  db per collector statements classified by their text (CLASSES) into the collector that
                   issues them; ms per cycle of that collector (cycles from its self-metrics)
  rows             rows its statements returned per second (pg_stat_statements), buffers
                   they touched per second, and the rows its collectors report having read
                   (agent_exporter_{runs,models,patterns}_rows_read_total)
  runs_per_s       finished runs the simulator committed in the window, counted in the database

then, one exporter at a time under the same load, /metrics latency with wrk (1 connection,
as Prometheus scrapes) and the series each one exposes (total and sum of
agent_exporter_series). As a check it compares the union of the shards' series with the
unsharded exporter's (names and labels, self-metrics aside) after the load stopped.

That is one pass; --modes runs up to two, in this order, each with its own 1 + N
exporters (the first N+1 ports from --port, then the next N+1):

  polling  the flags above; the database without schema/notify.sql's triggers
  notify   schema/notify.sql installed, the load restarted (with the triggers it pays
           their write cost: a statement trigger per write, a pg_notify per about 90
           changed rows), the exporters with
           --db.notify-channel=agent_execution_events (realtime incremental, 60 s resync);
           also notifications received per second and realtime cycles woken by one.
           The triggers are dropped again at the end (after the load stopped).

Before the polling pass, under the first load and with nothing of ours running,
prometheus-postgres-exporter with bench/peers/queries.yaml (the flags of bench.py's
peers phase) is scraped back to back, one scrape at a time, for --pgexp-duration seconds:
its role's statement time per scrape, and per wall second at a 15 s scrape interval,
divided by each pass's unsharded and summed-shards DB ms per second (the ratio
"postgres_exporter ÷ ours").

Prints the markdown tables, then one JSON object as the last line (the first pass's fields
at the top level as before the notify pass, every pass under "passes", postgres_exporter
under "pgexp", the ratios under "pgexp_ratio"); bench.py's phase "scale" calls this and
files the object in results.jsonl. Every process started here is stopped here by its pid.

  bench/scale_bench.py --build build --server postgresql://postgres@127.0.0.1:45432/postgres
  bench/scale_bench.py --build build --server ... --quick     # tiny sizes: checks the harness in ~3 min
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import CLOSE_LEFTOVERS, DROP_NOTIFY, PEER_SCANS, Proc, parse_metrics, pgexp_argv, proc_stat, run_wrk, wait_http  # noqa: E402  (helpers without globals)
from rollup_bench import with_db  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7

# Statement text -> who issues it (collectors/*.cc), first match wins. "frontier" is the
# oldest-open-transaction read the runs and models collectors share (daily_window.cc),
# "directory" the workspace-name directory (scope.cc), "session" transaction control and
# settings.
CLASSES = [
    ("session", r"^(BEGIN|COMMIT|ROLLBACK|SET |SHOW |RESET |DEALLOCATE|LISTEN|UNLISTEN|DISCARD)"),
    # realtime (collectors/realtime_collector.cc): the full sample ("running AS", after the
    # shard's "owned" CTE when sharded), the rows read at a resync or, in notify mode, only
    # the announced ones ('w'/'r'/'q' rows, announced_runs), the names of agents of
    # announced states, and the trigger check.
    ("realtime", r"\brunning AS \(|announced_runs|'w', w\.id::text|pg_trigger|a\.id::text, a\.name"),
    ("setup", r"to_regclass"),
    ("frontier", r"min\(xact_start\)"),
    ("models", r"model_calls|aee_models_"),
    ("patterns", r"AT TIME ZONE \$|^SELECT id::text FROM \S*workspaces WHERE"),
    ("workers", r"\bworkers\b"),
    ("database", r"pg_stat_database|pg_stat_statements|pg_extension|pg_attribute|pg_stat_activity|pg_database"),
    ("directory", r"^SELECT id::text, coalesce\(name, (''|\$\d+)\) FROM \S*workspaces$"),
    ("info", r"coalesce\(name, (''|\$\d+)\)"),
    ("runs", r"agent_runs|aee_runs_|FROM \S*agents\b"),
]
COLLECTORS = ["realtime", "runs", "models", "workers", "info", "database", "patterns"]


def log(msg):
    print(f"[scale-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)



def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def psql_file(url, path):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", path], check=True, capture_output=True)


def http_get(url, timeout=60):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except OSError:
        return 0, b""


def start(name, argv, logs):
    """A process started here (bench.Proc: stopped by its own pid), logging to logs/scale-NAME.log."""
    return Proc(name, argv, os.path.join(logs, f"scale-{name}.log"), stop_timeout=20)


def classify(query):
    q = re.sub(r"\s+", " ", query).strip()
    for name, pattern in CLASSES:
        if re.search(pattern, q):
            return name
    return "other"


def pgss(url, role):
    rows = json.loads(psql(url, f"""
      SELECT coalesce(json_agg(json_build_object('q', query, 'calls', calls, 'ms', total_exec_time, 'rows', rows,
                                                 'blks', shared_blks_hit + shared_blks_read)), '[]')
      FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
      WHERE r.rolname = '{role}' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"""))
    for r in rows:
        r["who"] = classify(r["q"])
        r["q"] = re.sub(r"\s+", " ", r["q"])[:140]
    return rows


def pgss_reset(url, role):
    psql(url, f"SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = '{role}'))")


def metric_sum(m, name, **want):
    return sum(v for (n, labels), v in m.items()
               if n == name and all(dict(labels).get(k) == w for k, w in want.items()))


def scrape(port):
    s, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=120)
    if s != 200:
        raise RuntimeError(f"/metrics on {port} returned {s}")
    return body.decode(errors="replace")


def series_keys(text):
    """{series: value text} of an exposition, self-metrics aside (those differ between any
    two exporters)."""
    keys = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name_labels, _, value = line.rpartition(" ")
        if name_labels.startswith(("agent_exporter_", "process_", "exposer_")):
            continue
        keys[name_labels] = value
    return keys


def sim_lag(logs, name="sim"):
    """The simulator's last reported write lag (ms behind its schedule), from its stats line."""
    try:
        with open(os.path.join(logs, f"scale-{name}.log")) as f:
            lags = re.findall(r"lag_ms=(\d+)", f.read())
        return int(lags[-1]) if lags else None
    except OSError:
        return None


def ensure_seeded(a, admin):
    db = a.db or f"bench_scale_{a.workspaces}ws_{a.history_runs}"
    url = with_db(a.server, db)
    exists = psql(admin, f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "1"
    finished, workspaces = 0, 0
    if exists:
        try:
            finished = int(psql(url, "SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL"))
            workspaces = int(psql(url, "SELECT count(*) FROM workspaces"))
        except subprocess.CalledProcessError:
            pass
    if finished < 0.95 * a.history_runs or workspaces != a.workspaces:
        if exists:
            log(f"{db} holds {finished} finished runs in {workspaces} workspaces, reseeding")
            psql(admin, f"DROP DATABASE {db} WITH (FORCE)")
        psql(admin, f"CREATE DATABASE {db}")
        rate = a.history_runs / (a.days * 86400)
        log(f"seeding {db}: {a.history_runs} finished runs over {a.days} days "
            f"({a.workspaces} workspaces x {a.agents} agents, {rate:.4f} runs/s)")
        t0 = time.monotonic()
        subprocess.run([a.sim, f"--db.url={url}", "--init-schema", f"--seed={SEED}", f"--workspaces={a.workspaces}",
                        f"--agents-per-workspace={a.agents}", f"--backfill-days={a.days}", f"--rate={rate:.6f}",
                        "--backfill-jobs=2"], check=True, stdout=subprocess.DEVNULL)
        log(f"seeded {db} in {time.monotonic() - t0:.0f} s")
        psql(url, "ANALYZE")
    psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return db, url


def wait_ready(exps, timeout):
    """Every exporter's /readyz, then no collector still reading start-up history."""
    deadline = time.monotonic() + timeout
    for name, port, proc, _ in exps:
        for path, ok in (("/readyz", lambda s, b: s == 200),
                         ("/metrics", lambda s, b: s == 200 and not re.search(
                             rb"^agent_exporter_collector_pending_work\{[^}]*\} 1$", b, re.M))):
            while True:
                if not proc.alive():
                    raise RuntimeError(f"exporter {name} exited (see scale-{name}.log)")
                if ok(*http_get(f"http://127.0.0.1:{port}{path}", timeout=60)):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"exporter {name}: timed out waiting for {path}")
                time.sleep(0.5)


def self_lines(text):
    """The exporter's self-metrics of an exposition: a few hundred of its up to a million lines."""
    return "\n".join(line for line in text.splitlines() if line.startswith("agent_exporter_"))


def snapshot(exps):
    out = {}
    for name, port, proc, _ in exps:
        out[name] = {"proc": proc_stat(proc.pid), "m": parse_metrics(self_lines(scrape(port))), "t": time.monotonic()}
    return out


def sweep_seconds(exporter_args):
    """The longest --collector.{runs,models}.sweep-interval among the exporter flags (5 minutes
    when not given): application-stamped late commits are counted by that sweep, so two
    exporters can differ by the late commits one has swept and the other not until every
    exporter has swept once after the load stopped."""
    longest = 0
    for c in ("runs", "models"):
        m = re.search(rf"--collector\.{c}\.sweep-interval=(\d+)(ms|s|m|h)\b", exporter_args)
        if not m:
            longest = max(longest, 300)
        else:
            longest = max(longest, int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)])
    return longest


NOTIFY_CHANNEL = "agent_execution_events"


def start_load(a, url, name):
    log(f"closed what earlier live loads left in flight: {psql(url, CLOSE_LEFTOVERS)}")
    slots = max(64, int(a.rate * 4))
    return start(name, [a.sim, f"--db.url={url}", "--live", f"--seed={SEED}", f"--workspaces={a.workspaces}",
                        f"--agents-per-workspace={a.agents}", f"--rate={a.rate}", f"--workers={max(1, slots // 16)}",
                        "--worker-slots=16", "--runtime-scale=0.15", "--stats-interval=30s"], a.logs)


def measure_pgexp(a, url, db, role):
    """prometheus-postgres-exporter with bench/peers/queries.yaml (the flags of bench.py's
    measure_pgexp) under the running live load and nothing else of ours: one scrape at a
    time, as Prometheus does, for --pgexp-duration seconds and at least --pgexp-scrapes
    scrapes. Its database time per scrape is its role's statement time over the scrapes
    (each one runs every query of queries.yaml once); per wall second at a 15 s interval."""
    env = dict(os.environ, DATA_SOURCE_NAME=with_db(a.server, db, role) + "?sslmode=disable")
    p = Proc("pgexp", pgexp_argv(a.pgexp_port), os.path.join(a.logs, "scale-pgexp.log"), env=env, stop_timeout=20)
    try:
        metrics = f"http://127.0.0.1:{a.pgexp_port}/metrics"
        # The first scrape runs every query once (and warms the cache like ours did).
        wait_http(metrics, p, timeout=600, ok=lambda s, b: s == 200 and b"agent_running_running" in b, step=1,
                  request_timeout=300)
        pgss_reset(url, role)
        lat, body = [], b""
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.pgexp_duration or len(lat) < a.pgexp_scrapes:
            t = time.monotonic()
            s, body = http_get(metrics, timeout=300)
            if s != 200:
                raise RuntimeError(f"prometheus-postgres-exporter /metrics returned {s}")
            lat.append(time.monotonic() - t)
        wall = time.monotonic() - t0
        st = pgss(url, role)
        text = body.decode(errors="replace")
        lat.sort()
        ms = sum(s["ms"] for s in st)
        finished_24h, running = psql(url, PEER_SCANS).split("|")
        return {"scrapes": len(lat), "finished_24h": int(finished_24h), "running": int(running),
                "window_s": round(wall, 1), "db_ms": ms, "db_ms_per_scrape": ms / len(lat),
                "db_ms_per_s_at_15s": ms / len(lat) / 15.0, "scrape_p50_s": lat[len(lat) // 2],
                "scrape_p99_s": lat[min(len(lat) - 1, int(0.99 * len(lat)))], "scrape_max_s": lat[-1],
                "series": sum(1 for line in text.splitlines() if line and line[0] != "#"),
                "body_bytes": len(body), "runs_per_s": None,
                "statements": [{k: v for k, v in s.items() if k != "who"}
                               for s in sorted(st, key=lambda s: -s["ms"])[:12]]}
    finally:
        p.stop()


def run_pass(a, exporter, url, db, roles, mode, extra_args, port, live):
    """One pass: 1 + --shards exporters with --exporter-args plus extra_args side by side under
    the live load `live` (started by the caller, stopped here before the union check).
    Returns the pass's fields (the window, the per-exporter rows, the union check)."""
    names = list(roles)
    exporter_args = " ".join([a.exporter_args, *extra_args]).strip()
    procs = []
    try:
        exps = []
        for i, n in enumerate(names):
            url_file = os.path.join(a.logs, f"scale-{mode}-{n}.url")
            with open(url_file, "w") as f:
                f.write(with_db(a.server, db, roles[n]) + "\n")
            shard = [] if n == "1x" else [f"--shard.count={a.shards}", f"--shard.index={int(n.split('-')[1])}"]
            p = start(f"{mode}-{n}", [exporter, f"--db.url-file={url_file}",
                                      f"--web.listen-address=127.0.0.1:{port + i}",
                                      "--web.rate-limit=0", "--log.level=info", *shard, *exporter_args.split()], a.logs)
            procs.append(p)
            exps.append((n, port + i, p, roles[n]))
        t_start = time.monotonic()
        wait_ready(exps, timeout=1800)
        caught_up_s = time.monotonic() - t_start
        log(f"{mode}: all {len(exps)} exporters ready and caught up after {caught_up_s:.0f} s; settling {a.settle} s")
        time.sleep(a.settle)

        # The window: every exporter scraped every 15 s, as Prometheus would.
        for _, _, _, role in exps:
            pgss_reset(url, role)
        committed_sql = "SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL"
        committed0 = int(psql(url, committed_sql))
        t0_db = psql(url, "SELECT now()")
        s0 = snapshot(exps)
        t0 = time.monotonic()
        log(f"{mode}: measuring {a.window} s")
        while time.monotonic() - t0 < a.window:
            time.sleep(min(15, max(0.0, a.window - (time.monotonic() - t0))))
            for _, port_, proc, _ in exps:
                if not proc.alive():
                    raise RuntimeError("an exporter exited during the window")
                scrape(port_)
        s1 = snapshot(exps)
        t1_db = psql(url, "SELECT now()")
        wall = time.monotonic() - t0
        committed1 = int(psql(url, committed_sql))
        seconds = float(psql(url, f"SELECT extract(epoch FROM '{t1_db}'::timestamptz - '{t0_db}'::timestamptz)"))
        # Finished runs committed in the window (what the exporters had to count), and
        # those whose finished_at falls in it: they differ when the simulator's writes lag.
        committed_per_s = (committed1 - committed0) / seconds
        runs_per_s = int(psql(url, f"SELECT count(*) FROM agent_runs WHERE finished_at >= '{t0_db}' "
                                   f"AND finished_at < '{t1_db}'")) / seconds
        in_flight = psql(url, "SELECT (SELECT count(*) FROM agent_runs WHERE finished_at IS NULL), "
                              "(SELECT count(*) FROM execution_queue WHERE status = 'queued')").split("|")

        rows = {}
        for n, port_, proc, role in exps:
            st = pgss(url, role)
            p0, p1, m0, m1 = s0[n]["proc"], s1[n]["proc"], s0[n]["m"], s1[n]["m"]
            d = lambda name, **kw: metric_sum(m1, name, **kw) - metric_sum(m0, name, **kw)  # noqa: E731
            per = {}
            for c in COLLECTORS + ["frontier", "directory", "session", "setup", "other"]:
                mine = [s for s in st if s["who"] == c]
                cycles = d("agent_exporter_collector_cycles_total", collector=c)
                busy = d("agent_exporter_collector_duration_seconds_total", collector=c)
                ms = sum(s["ms"] for s in mine)
                if not mine and not cycles:
                    continue
                per[c] = {"cycles": cycles, "cycle_ms": 1000 * busy / cycles if cycles else None,
                          "woken_cycles": d("agent_exporter_collector_woken_cycles_total", collector=c),
                          "db_ms": ms, "db_ms_per_cycle": ms / cycles if cycles else None,
                          "calls": sum(s["calls"] for s in mine), "rows": sum(s["rows"] for s in mine),
                          "blks": sum(s["blks"] for s in mine)}
            rows[n] = {
                "port": port_, "window_s": wall,
                "cores": (p1["cpu_s"] - p0["cpu_s"]) / wall, "rss_bytes": p1["rss_bytes"], "hwm_bytes": p1["hwm_bytes"],
                "db_ms_per_s": sum(s["ms"] for s in st) / wall, "db_calls_per_s": sum(s["calls"] for s in st) / wall,
                "db_rows_per_s": sum(s["rows"] for s in st) / wall, "db_blks_per_s": sum(s["blks"] for s in st) / wall,
                "runs_rows_read_per_s": d("agent_exporter_rows_read_total", collector="runs") / wall,
                "models_rows_read_per_s": d("agent_exporter_rows_read_total", collector="models") / wall,
                "patterns_rows_read_per_s": d("agent_exporter_rows_read_total", collector="patterns") / wall,
                "notifications_per_s": d("agent_exporter_notifications_total") / wall,
                "notify_listener_up": metric_sum(m1, "agent_exporter_notify_listener_up"),
                "collectors": per,
                "statements": sorted(st, key=lambda s: -s["ms"])[:12],
            }

        # Scrape latency, one exporter at a time under the same load, and the series.
        for n, port_, _, _ in exps:
            text = scrape(port_)
            m = parse_metrics(self_lines(text))
            runs = [run_wrk(f"http://127.0.0.1:{port_}/metrics", 1, a.wrk_duration, threads=1)
                    for _ in range(a.wrk_repeats)]
            rows[n].update({
                "series": sum(1 for line in text.splitlines() if line and line[0] != "#"),
                "series_by_collector": {dict(k[1])["collector"]: v for k, v in m.items()
                                        if k[0] == "agent_exporter_series"},
                "body_bytes": len(text.encode()),
                "scrape_p50_s": sorted(r["p50_s"] for r in runs)[len(runs) // 2],
                "scrape_p99_s": sorted(r["p99_s"] for r in runs)[len(runs) // 2],
                "scrapes": sum(r["requests"] for r in runs),
                "scrape_errors": sum(r["errors"] + r["non2xx"] for r in runs),
            })
        lag = sim_lag(a.logs, live.name)
        # The check: with the load stopped and every counting collector past a sweep of its
        # lateness window and a whole cycle after it, the shards' union holds the unsharded
        # exporter's series, and the same counter values.
        live.stop()
        settled_s = sweep_seconds(exporter_args) + a.quiesce
        log(f"{mode}: load stopped; waiting {settled_s:.0f} s (a sweep interval and a cycle) before the union check")
        time.sleep(settled_s)
        series1, union = {}, {}
        for n, port_, _, _ in exps:
            keys = series_keys(scrape(port_))
            if n == "1x":
                series1 = keys
            else:
                union.update(keys)
        # agent_db_* are the server's own counters (shard 0 only), moving with every statement.
        counters = [k for k in series1 if re.match(r"^\w+_(total|count)\b", k) and not k.startswith("agent_db_")]
        mismatched = [k for k in counters if k in union and union[k] != series1[k]]
        return {
            "mode": mode, "runs_per_s": round(committed_per_s, 1), "finished_at_in_window_per_s": round(runs_per_s, 1),
            "sim_lag_ms": lag, "running": int(in_flight[0]), "queued": int(in_flight[1]),
            "exporter_args": exporter_args, "window_s": round(wall, 1), "caught_up_s": round(caught_up_s, 1),
            "union_missing": len(series1.keys() - union.keys()), "union_extra": len(union.keys() - series1.keys()),
            "union_missing_examples": sorted(series1.keys() - union.keys())[:5],
            "union_extra_examples": sorted(union.keys() - series1.keys())[:5],
            "union_settled_s": settled_s, "union_counters_compared": len(counters), "union_counters_mismatched": len(mismatched),
            "union_counters_mismatched_examples": [(k, series1[k], union[k]) for k in mismatched[:5]],
            "exporters": rows,
        }
    finally:
        for p in reversed(procs):
            p.stop()


def measure(a):
    exporter = a.exporter or os.path.join(a.build, "agent_execution_exporter")
    a.sim = os.path.join(a.build, "tools", "agent_platform_sim")
    for b in (exporter, a.sim):
        if not os.access(b, os.X_OK):
            sys.exit(f"scale_bench: {b} missing (build the agent_execution_exporter and agent_platform_sim targets)")
    modes = a.modes.split()
    if not modes or any(m not in ("polling", "notify") for m in modes):
        sys.exit(f"scale_bench: --modes {a.modes!r}: want polling, notify or both")
    notify_sql = os.path.join(ROOT, "schema", "notify.sql")
    os.makedirs(a.logs, exist_ok=True)
    admin = with_db(a.server, "postgres")
    db, url = ensure_seeded(a, admin)
    names = ["1x"] + [f"{a.shards}x-{i}" for i in range(a.shards)]
    roles = {n: "scale_" + n.replace("-", "_") for n in names}
    for role in list(roles.values()) + ["scale_pgexp"]:
        psql(admin, f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                    f"CREATE ROLE {role} LOGIN IN ROLE pg_monitor; END IF; END $$")
        psql(url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        # the models collector reads new calls by id (docs/configuration.md)
        psql(url, f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    # No triggers left by an interrupted run: the polling pass and postgres_exporter are
    # measured on the platform's tables as they are without schema/notify.sql.
    psql(url, DROP_NOTIFY)
    history = psql(url, "SELECT count(*), min(finished_at)::date, max(finished_at)::date FROM agent_runs "
                        "WHERE finished_at IS NOT NULL").split("|")
    agents = int(psql(url, "SELECT count(*) FROM agents"))

    passes, pgexp, live = {}, None, None
    try:
        # Load 1 (no triggers): postgres_exporter alone, then the polling pass; the pass
        # stops the load before its union check.
        if "polling" in modes or not a.no_pgexp:
            live = start_load(a, url, "sim-polling" if "polling" in modes else "sim-pgexp")
            time.sleep(a.ramp)  # the simulator's ramp
        if not a.no_pgexp:
            log(f"postgres_exporter: {a.pgexp_duration} s of back-to-back scrapes under the load")
            pgexp = measure_pgexp(a, url, db, "scale_pgexp")
            log(f"postgres_exporter: {pgexp['scrapes']} scrapes, {pgexp['db_ms_per_scrape']:.1f} DB ms per scrape "
                f"({pgexp['finished_24h']} runs finished in the last 24 h, {pgexp['running']} running)")
        if "polling" in modes:
            passes["polling"] = run_pass(a, exporter, url, db, roles, "polling", [], a.port, live)
        if live is not None:
            live.stop()
        if "notify" in modes:
            # Load 2, restarted with schema/notify.sql's triggers installed: the notify pass
            # pays (and measures) the write cost its deployment adds.
            psql_file(url, notify_sql)
            live = start_load(a, url, "sim-notify")
            time.sleep(a.ramp)
            passes["notify"] = run_pass(a, exporter, url, db, roles, "notify", [f"--db.notify-channel={NOTIFY_CHANNEL}"],
                                        a.port + len(names), live)
    finally:
        if live is not None:
            live.stop()
        if "notify" in modes:
            try:
                psql(url, DROP_NOTIFY)  # after the load: dropping triggers locks the four tables
            except subprocess.CalledProcessError as e:
                log(f"could not drop schema/notify.sql's triggers: {e.stderr}")
    ratios = {}
    if pgexp:
        for mode, ps in passes.items():
            ex = ps["exporters"]
            one = ex["1x"]["db_ms_per_s"]
            shards = sum(ex[n]["db_ms_per_s"] for n in names[1:])
            ratios[mode] = {"unsharded": pgexp["db_ms_per_s_at_15s"] / one if one else None,
                            "shards_sum": pgexp["db_ms_per_s_at_15s"] / shards if shards else None}
    first = passes[modes[0]]
    # The first pass's fields stay at the top level (the layout of the polling-only runs
    # before the notify pass), every pass under "passes".
    return {
        "db": db, "workspaces": a.workspaces, "agents": agents, "history_runs": int(history[0]),
        "history_from": history[1], "history_to": history[2], "rate_target": a.rate, "shards": a.shards,
        **{k: v for k, v in first.items()},
        "passes": passes, "pgexp": pgexp, "pgexp_ratio": ratios,
        "notify_triggers": ("installed for the notify pass only (load restarted after installing them)"
                            if "notify" in modes else None),
    }


def fmt_bytes(b):
    return f"{b / (1 << 20):.0f} MiB"


def render_pass(r, p):
    """The table of one pass (p: the pass's fields; r: the whole result line)."""
    ex = p["exporters"]
    names = list(ex)
    shards = names[1:]
    mode = p.get("mode", "polling")
    lines = [f"**{mode}** pass: live load {p['runs_per_s']} finished runs/s committed in the window (target "
             f"{r['rate_target']:g}"
             f"{'' if p.get('sim_lag_ms') is None else ', simulator %.1f s behind its schedule at the end' % (p['sim_lag_ms'] / 1000)}), "
             f"{p['running']} running and {p['queued']} queued at the end; window {p['window_s']} s, "
             f"ready and caught up after {p['caught_up_s']} s; exporter flags: "
             f"`{p.get('exporter_args') or '(defaults)'}`.", ""]
    head = [mode, "1 exporter"] + [f"shard {n.split('-')[1]}/{r['shards']}" for n in shards] + [f"{r['shards']} shards, sum"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))

    def row(title, f, total="sum", fmt="{:.0f}"):
        vals = [f(ex[n]) for n in names]
        cells = [fmt.format(v) if v is not None else "–" for v in vals]
        sv = [v for v in vals[1:] if v is not None]
        if total == "sum":
            cells.append(fmt.format(sum(sv)) if sv else "–")
        elif total == "max":
            cells.append(("max " + fmt.format(max(sv))) if sv else "–")
        else:
            cells.append("")
        lines.append("| " + title + " | " + " | ".join(cells) + " |")

    row("series (lines of /metrics)", lambda e: e["series"])
    row("series (sum of agent_exporter_series)", lambda e: sum(e["series_by_collector"].values()))
    row("/metrics bytes", lambda e: e["body_bytes"])
    row("scrape p50 (ms, wrk, 1 connection)", lambda e: 1000 * e["scrape_p50_s"], total="max", fmt="{:.1f}")
    row("scrape p99 (ms)", lambda e: 1000 * e["scrape_p99_s"], total="max", fmt="{:.1f}")
    row("exporter CPU (cores)", lambda e: e["cores"], fmt="{:.3f}")
    row("RSS (MiB)", lambda e: e["rss_bytes"] / (1 << 20))
    row("peak RSS (MiB)", lambda e: e["hwm_bytes"] / (1 << 20))
    row("DB ms per wall second, all statements", lambda e: e["db_ms_per_s"], fmt="{:.1f}")
    for c in ["realtime", "runs", "models", "workers", "info", "database", "patterns"]:
        row(f"— {c}: DB ms per cycle", lambda e, c=c: e["collectors"].get(c, {}).get("db_ms_per_cycle"),
            total="sum", fmt="{:.2f}")
    row("— frontier (pg_stat_activity): DB ms per s",
        lambda e: e["collectors"].get("frontier", {}).get("db_ms", 0) / e["window_s"], fmt="{:.2f}")
    row("realtime cycles in the window", lambda e: e["collectors"].get("realtime", {}).get("cycles"))
    if any("notifications_per_s" in e for e in ex.values()) and mode != "polling":
        row("notifications received per s", lambda e: e.get("notifications_per_s"), fmt="{:.1f}")
        row("— realtime cycles woken by a notification", lambda e: e["collectors"].get("realtime", {}).get("woken_cycles"))
    row("DB rows returned per s", lambda e: e["db_rows_per_s"])
    row("DB buffers touched per s", lambda e: e["db_blks_per_s"])
    row("runs rows read per s (agent_exporter_rows_read_total)", lambda e: e["runs_rows_read_per_s"])
    row("models rows read per s", lambda e: e["models_rows_read_per_s"])
    lines.append("")
    cyc = ", ".join(f"{c} {ex['1x']['collectors'][c]['cycles']:.0f}" for c in COLLECTORS if c in ex["1x"]["collectors"])
    lines.append(f"Cycles in the window (1 exporter): {cyc}. After the load stopped, the union of the shards' "
                 f"series against the unsharded exporter's (self-metrics aside"
                 + (f", {p['union_settled_s']:.0f} s after the load stopped: past every runs and models "
                    "sweep and a cycle" if p.get("union_settled_s") is not None else
                    ", compared before every exporter had swept its lateness window") +
                 f"): {p['union_missing']} missing, "
                 f"{p['union_extra']} extra; {p['union_counters_mismatched']} of {p['union_counters_compared']} "
                 f"counter values differ.")
    return lines


def render(r):
    lines = [f"{r['workspaces']} workspaces x {r['agents'] // max(r['workspaces'], 1)} agents, "
             f"{r['history_runs']:,} finished runs from {r['history_from']} to {r['history_to']}."
             + (f" schema/notify.sql's triggers: {r['notify_triggers']}." if r.get("notify_triggers") else ""), ""]
    passes = r.get("passes") or {r.get("mode", "polling"): r}  # result lines of polling-only runs
    for p in passes.values():
        lines += render_pass(r, p) + [""]
    pg = r.get("pgexp")
    if pg:
        lines.append(f"postgres_exporter (bench/peers/queries.yaml, alone under the same live load before the "
                     f"polling pass, no triggers): {pg['scrapes']} scrapes one at a time in {pg['window_s']} s, "
                     f"{pg['db_ms_per_scrape']:.1f} DB ms per scrape = **{pg['db_ms_per_s_at_15s']:.1f} DB ms per "
                     f"wall second at a 15 s scrape interval**; scrape p50 {1000 * pg['scrape_p50_s']:.0f} ms, "
                     f"max {1000 * pg['scrape_max_s']:.0f} ms"
                     + (" (longer than Prometheus' default 10 s scrape timeout: it would lose these scrapes)"
                        if pg["scrape_p50_s"] > 10 else "") + f"; {pg['series']} series"
                     + (f"; its queries read {pg['finished_24h']} runs finished in the last 24 h and "
                        f"{pg['running']} running." if "finished_24h" in pg else "."))
        lines.append("")
        lines.append("| mode | ours, 1 exporter: DB ms/s | postgres_exporter ÷ 1 exporter | "
                     f"ours, {r['shards']} shards summed: DB ms/s | postgres_exporter ÷ {r['shards']} shards |")
        lines.append("|---|---|---|---|---|")
        for mode, p in passes.items():
            ex = p["exporters"]
            names = list(ex)
            one, sh = ex[names[0]]["db_ms_per_s"], sum(ex[n]["db_ms_per_s"] for n in names[1:])
            ra = r.get("pgexp_ratio", {}).get(mode, {})
            f = lambda v: "–" if v is None else f"{v:.2f}×" if v < 10 else f"{v:.0f}×"  # noqa: E731
            lines.append(f"| {mode} | {one:.2f} | {f(ra.get('unsharded'))} | {sh:.2f} | {f(ra.get('shards_sum'))} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="", help="build directory holding agent_execution_exporter and tools/")
    ap.add_argument("--exporter", default="", help="exporter binary (default BUILD/agent_execution_exporter)")
    ap.add_argument("--exporter-args", default="--no-collector.patterns --collector.runs.timeout=60s "
                                               "--collector.models.timeout=60s",
                    help="flags every exporter gets (default: no patterns collector, whose start-up history read "
                         "at 2 000 workspaces outlasts any window, and 60 s statement timeouts for the runs and "
                         "models start-up aggregates, which exceed the default 10 s on 2 shared cores; "
                         "see docs/benchmarks.md)")
    ap.add_argument("--server", default="", help="libpq URI of the server as its superuser (…/postgres)")
    ap.add_argument("--db", default="", help="database name (default bench_scale_<W>ws_<history>)")
    ap.add_argument("--workspaces", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=20, help="agents per workspace")
    ap.add_argument("--history-runs", type=int, default=3000000, help="finished runs of the backfill")
    ap.add_argument("--days", type=int, default=30, help="days the history spans")
    ap.add_argument("--rate", type=float, default=500, help="finished runs per second of the live load")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--window", type=int, default=300, help="measured seconds")
    ap.add_argument("--quiesce", type=int, default=35,
                    help="seconds after the load stops and the longest sweep interval before the union check "
                         "(past every collector's cycle)")
    ap.add_argument("--ramp", type=int, default=20, help="seconds of live load before the exporters start")
    ap.add_argument("--settle", type=int, default=20, help="seconds after every exporter caught up")
    ap.add_argument("--wrk-duration", type=int, default=10)
    ap.add_argument("--wrk-repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=24411,
                    help="first of 2 x (shards+1) consecutive ports (the polling pass's, then the notify pass's)")
    ap.add_argument("--modes", default="polling notify",
                    help="passes, in this order: polling (no triggers) and/or notify (schema/notify.sql's triggers "
                         f"installed, exporters with --db.notify-channel={NOTIFY_CHANNEL})")
    ap.add_argument("--no-pgexp", action="store_true", help="do not measure prometheus-postgres-exporter")
    ap.add_argument("--pgexp-port", type=int, default=24402, help="prometheus-postgres-exporter's port")
    ap.add_argument("--pgexp-duration", type=int, default=40,
                    help="seconds of back-to-back postgres_exporter scrapes (at least --pgexp-scrapes of them)")
    ap.add_argument("--pgexp-scrapes", type=int, default=3)
    ap.add_argument("--logs", default=".", help="directory for the processes' logs")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes (40 workspaces x 5 agents, 20 000 runs, 20 runs/s, 20 s window)")
    ap.add_argument("--render", metavar="JSON", help="only print the table of a result line (results.jsonl)")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            print(render(json.loads([line for line in f if '"scale"' in line or '"exporters"' in line][-1])))
        return
    if a.quick:
        a.workspaces, a.agents, a.history_runs, a.rate = 40, 5, 20000, 20
        a.window, a.ramp, a.settle, a.wrk_duration, a.wrk_repeats = 20, 5, 3, 2, 1
        a.pgexp_duration = 10
        a.exporter_args += " --collector.runs.sweep-interval=15s --collector.models.sweep-interval=15s"
    if not a.build or not a.server:
        sys.exit("scale_bench: --build and --server are required (or --render JSON)")
    for k in ("workspaces", "agents", "history_runs", "days", "shards", "window", "wrk_duration", "wrk_repeats"):
        if getattr(a, k) < 1:
            sys.exit(f"scale_bench: --{k.replace('_', '-')} must be at least 1")
    if a.shards < 2:
        sys.exit("scale_bench: --shards must be at least 2 (it is compared with one unsharded exporter)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # runs measure()'s finally: stops what it started
    r = measure(a)
    print(render(r))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
