#!/usr/bin/env python3
"""The benchmark harness behind bench/run.sh (see docs/benchmarks.md).

For each table size it seeds (once, reused afterwards) a database in a throwaway
PostgreSQL cluster with the simulator's backfill, starts the simulator's live load, and
measures, every process started here and stopped here by its pid:

  startup    time from exec to /readyz 200, each collector's first cycle
  quiet      a window without load: per-collector cycle time (self-metrics), the
             exporter's total database time (pg_stat_statements of its own role), CPU share
  scrape     /metrics under wrk (plain and gzip), bytes and series; again with
             --collector.runs.agent-histograms (many more series)
  isolated   each collector alone under its own role: database time of its first cycle
             and per later cycle (pg_stat_statements keys statements by role, database
             and query, not by application_name, so the split needs one run per collector)
  peers      prometheus-postgres-exporter and prometheus-sql-exporter with the same SQL
             (bench/peers/): scrape latency, database time per scrape / per cycle
  freshness  bench/freshness in polling mode and, when the exporter and schema support
             it, notify mode
  rss        peak RSS (VmHWM) of the default exporter after all of the above
  steady     (phase "steady", not in the default set) RSS every 5 s of an exporter with
             default flags under the live load for BENCH_STEADY_SECONDS, past two sweeps, so
             the exactly-once ledgers hold the whole lateness window; BENCH_STEADY_COMPARE
             names other exporter binaries run alongside, on the same data at the same time
  rollup     (phase "rollup", not in the default set) bench/rollup_bench.py: database time,
             calls, rows written and CPU per minute of agent_execution_rollup under its own
             role at BENCH_ROLLUP_RATE finished runs/s, and its table checked against SQL
  scale      (phase "scale", not in the default set) bench/scale_bench.py: 2 000 workspaces x 20
             agents with 30 days of history under 500 finished runs/s, one unsharded exporter
             and 4 shard exporters side by side: series, scrape p50/p99, CPU, RSS, database
             ms per cycle and rows read of each, in a polling pass and a notify pass
             (schema/notify.sql, --db.notify-channel), and postgres_exporter's database time
             on the same database with the ratio to ours (docs/benchmarks.md "Scale")
  live       (phase "live", not in the default set) the live view's WebSocket
             (GET /api/v1/workspaces/{id}/realtime/ws) with bench/live_subscribers: the time
             from a COMMIT to the first message holding its run_id, one subscriber, polling
             and notify; then, per mode of BENCH_LIVE_FANOUT_MODES (notify), windows with 0,
             BENCH_LIVE_SUBSCRIBERS on one workspace, as many over BENCH_LIVE_WORKSPACES
             workspaces, and 0 again: exporter CPU, RSS, realtime cycles, its database time
             (pg_stat_statements) and the latency across subscribers

Each measurement is appended as one JSON object to RESULTS/results.jsonl; bench/render.py
turns that into the tables of docs/benchmarks.md and the plot.
"""

import json
import os
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_int(name, default):
    return int(os.environ.get(name, default))


QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
BUILD = os.path.abspath(os.environ.get("BENCH_BUILD", os.path.join(ROOT, "build-bench")))
STATE = os.path.abspath(os.environ.get("BENCH_STATE", os.path.join(BUILD, "state")))
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "200000" if QUICK else "1000000 10000000").split()]
PG_PORT = env_int("BENCH_PG_PORT", 45432)
# The cluster is set up like a production server rather than PostgreSQL's 128 MB
# default: shared_buffers holds today's rows of both big tables, in 2 MB huge pages
# when the harness runs as root (BENCH_HUGE_PAGES=off leaves vm.nr_hugepages alone).
# With 4 kB pages every new backend page-faults through the buffers it touches,
# about 0.5 s per collector's start-up aggregate at 10 M runs (docs/benchmarks.md).
PG_SHARED_BUFFERS = os.environ.get("BENCH_PG_SHARED_BUFFERS", "2GB")
HUGE_PAGES = os.environ.get("BENCH_HUGE_PAGES", "auto")
PORT = env_int("BENCH_PORT", 45401)          # ours
PGEXP_PORT = env_int("BENCH_PGEXP_PORT", 45402)
SQLEXP_PORT = env_int("BENCH_SQLEXP_PORT", 45403)
WRK_DURATION = env_int("BENCH_WRK_DURATION", 3 if QUICK else 5)
WRK_REPEATS = env_int("BENCH_WRK_REPEATS", 2 if QUICK else 5)
WRK_CONNECTIONS = env_int("BENCH_WRK_CONNECTIONS", 4)
QUIET_WINDOW = env_int("BENCH_WINDOW", 15 if QUICK else 60)
ISO_WINDOW = env_int("BENCH_ISO_WINDOW", 8 if QUICK else 30)
PEER_DURATION = env_int("BENCH_PEER_DURATION", 10 if QUICK else 40)
SQLEXP_INTERVAL = env_int("BENCH_SQLEXP_INTERVAL", 15)
STARTUPS = env_int("BENCH_STARTUPS", 1 if QUICK else 3)
LIVE_RATE = env_int("BENCH_LIVE_RATE", 120)
FRESH_REPS = env_int("BENCH_FRESHNESS_REPS", 5 if QUICK else 30)
FRESH_MODES = os.environ.get("BENCH_FRESHNESS_MODES", "polling notify").split()
FRESH_SIZES = [int(s) for s in os.environ.get("BENCH_FRESHNESS_SIZES", str(SIZES[-1])).split()]
STEADY_SECONDS = env_int("BENCH_STEADY_SECONDS", 120 if QUICK else 780)
STEADY_COMPARE = os.environ.get("BENCH_STEADY_COMPARE", "")
STEADY_SCRAPES = env_int("BENCH_STEADY_SCRAPES", 20 if QUICK else 200)  # per exporter, in turns, at the end
LIVE_SUBSCRIBERS = env_int("BENCH_LIVE_SUBSCRIBERS", 100 if QUICK else 1000)
LIVE_WORKSPACES = env_int("BENCH_LIVE_WORKSPACES", 20)
LIVE_WINDOW = env_int("BENCH_LIVE_WINDOW", 15 if QUICK else 60)
LIVE_PROBES = env_int("BENCH_LIVE_PROBES", 10 if QUICK else 60)
LIVE_LATENCY_MODES = os.environ.get("BENCH_LIVE_MODES", "polling notify").split()
LIVE_FANOUT_MODES = os.environ.get("BENCH_LIVE_FANOUT_MODES", "notify").split()
LIVE_SOURCES = env_int("BENCH_LIVE_SOURCES", 0)  # 0: every subscriber from 127.0.0.1
WORKSPACES = env_int("BENCH_WORKSPACES", 20)
AGENTS = env_int("BENCH_AGENTS", 25)
DAYS = 30
SEED = 7

EXPORTER = os.path.abspath(os.environ.get("BENCH_EXPORTER", os.path.join(BUILD, "agent_execution_exporter")))
PHASES = os.environ.get("BENCH_PHASES", "default wide nopatterns isolated peers freshness").split()
SIM = os.path.join(BUILD, "tools", "agent_platform_sim")
FRESHNESS = os.path.join(BUILD, "bench", "freshness")
LIVE_SUBS_BIN = os.path.join(BUILD, "bench", "live_subscribers")
COLLECTORS = ["realtime", "runs", "info", "workers", "models", "database", "patterns"]
# Isolated runs: collectors whose default interval is long get a short one, so a window
# holds several cycles (their per-cycle cost does not depend on the interval).
ISO_INTERVALS = {"info": "5s", "patterns": "5s", "database": "5s"}
ROLES = ["bench_ours", "bench_iso", "bench_pgexp", "bench_sqlexp"]
NOTIFY_CHANNEL = "agent_execution_events"
# Removes schema/notify.sql: the trigger function with its triggers (CASCADE), and its helpers.
DROP_NOTIFY = ("DROP FUNCTION IF EXISTS agent_execution_notify() CASCADE; "
               "DROP FUNCTION IF EXISTS agent_execution_notify_entry(text, text, text, jsonb, boolean); "
               "DROP FUNCTION IF EXISTS agent_execution_notify_time(timestamptz)")
# Closes what an earlier live load left in flight. The simulator stops mid-flight: its
# running runs stay 'running' and its waiting queue rows 'queued' in the database. Over
# many loads on one seeded database they pile up (536 to 2 280 running rows over sessions
# 14-16, against the about 200 a steady live load holds) and every reader of the running
# set pays for them: our realtime resync and postgres_exporter's queries alike. Before a
# live load starts the harness ends them the way a platform recovering from a restart
# would: running runs failed, waiting ones cancelled, now. Prints "R runs, Q queue rows".
CLOSE_LEFTOVERS = (
    "WITH q AS (UPDATE execution_queue SET status = 'cancelled' WHERE status = 'queued' RETURNING 1), "
    "r AS (UPDATE agent_runs SET status = CASE status WHEN 'running' THEN 'failed' ELSE 'cancelled' END, "
    "finished_at = now(), "
    "runtime_seconds = extract(epoch FROM now() - started_at), "
    "total_latency_seconds = extract(epoch FROM now() - coalesce(queued_at, started_at)) "
    "WHERE status IN ('queued', 'running') RETURNING 1) "
    "SELECT (SELECT count(*) FROM r) || ' runs, ' || (SELECT count(*) FROM q) || ' queue rows'")
# What postgres_exporter's queries (bench/peers/queries.yaml) scan, and what its cost
# follows (ours does not): the runs finished over the last 24 hours (a seed's last day
# plus whatever live load ran in them) and the running set. Prints "FINISHED_24H|RUNNING".
PEER_SCANS = ("SELECT (SELECT count(*) FROM agent_runs WHERE finished_at > now() - interval '24 hours'), "
              "(SELECT count(*) FROM agent_runs WHERE status = 'running')")
# Phase "queries" (bench/query_targets.py): WORKSPACES:SPAN_HOURS pairs of the Prometheus
# TSDBs it builds (bench/query_data.py, reused from STATE while their meta.json matches).
QUERIES_SIZES = os.environ.get("BENCH_QUERIES_SIZES", "20:26 2000:1.17").split()
QUERIES_REPS = env_int("BENCH_QUERIES_REPS", 30)
QUERIES_MIN_REPS = env_int("BENCH_QUERIES_MIN_REPS", 10)  # loads per variant even past the budget
QUERIES_BUDGET = env_int("BENCH_QUERIES_BUDGET", 120)  # seconds per dashboard and variant
QUERIES_RAW_WARMUP = env_int("BENCH_QUERIES_RAW_WARMUP", 1)  # 0: no warm-up load of the raw variant
QUERIES_PORT = env_int("BENCH_QUERIES_PORT", 19090)
QUERIES_JOBS = env_int("BENCH_QUERIES_JOBS", 2)  # promtool processes backfilling rules at once

# Phase "rollup" (bench/rollup_bench.py): finished runs/s and the measured window.
ROLLUP_RATE = env_int("BENCH_ROLLUP_RATE", 500)
ROLLUP_WINDOW = env_int("BENCH_ROLLUP_WINDOW", 120 if QUICK else 300)

# Phase "scale" (bench/scale_bench.py): platform shape, history, live rate, shards, window.
SCALE_WORKSPACES = env_int("BENCH_SCALE_WORKSPACES", 2000)
SCALE_AGENTS = env_int("BENCH_SCALE_AGENTS", 20)
SCALE_HISTORY = env_int("BENCH_SCALE_HISTORY", 3000000)
SCALE_RATE = env_int("BENCH_SCALE_RATE", 500)
SCALE_SHARDS = env_int("BENCH_SCALE_SHARDS", 4)
SCALE_WINDOW = env_int("BENCH_SCALE_WINDOW", 300)
SCALE_PORT = env_int("BENCH_SCALE_PORT", 24411)  # below Linux's ephemeral ports (32768-60999)
# Passes: polling (no triggers), then notify (schema/notify.sql's triggers installed, the
# exporters with --db.notify-channel); BENCH_SCALE_PGEXP=0 skips postgres_exporter.
SCALE_MODES = os.environ.get("BENCH_SCALE_MODES", "polling notify")
SCALE_PGEXP = env_int("BENCH_SCALE_PGEXP", 1)
SCALE_EXPORTER_ARGS = os.environ.get("BENCH_SCALE_EXPORTER_ARGS", "--no-collector.patterns --collector.runs.timeout=60s "
                                     "--collector.models.timeout=60s")

PROCS = []


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def label(size, millions="m", thousands="k"):
    """1000000 -> "1m", 2000 -> "2k" (other suffixes for prose: " M", " k")."""
    if size % 1000000 == 0:
        return f"{size // 1000000}{millions}"
    if size % 1000 == 0:
        return f"{size // 1000}{thousands}"
    return str(size)


def db_url(db, role="postgres"):
    return f"postgresql://{role}@127.0.0.1:{PG_PORT}/{db}"


def psql(db, sql, role="postgres"):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", db_url(db, role), "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Proc:
    """A process this harness started; stopped by its own pid only."""

    def __init__(self, name, argv, logfile, env=None, stop_timeout=15):
        self.name = name
        self.stop_timeout = stop_timeout  # seconds between SIGTERM and SIGKILL
        self.log = open(logfile, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.started = time.monotonic()
        PROCS.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        if self in PROCS:
            PROCS.remove(self)


def stop_all():
    for p in list(reversed(PROCS)):
        p.stop()


def http_get(url, headers=None, timeout=120):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0, b""


def wait_http(url, proc, timeout, ok=lambda s, b: s == 200, step=0.02, request_timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited (see its log)")
        s, b = http_get(url, timeout=request_timeout)
        if ok(s, b):
            return time.monotonic()
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {url}")



def wait_caught_up(exp):
    """Waits for /readyz, then until no collector still reads start-up history
    (agent_exporter_collector_pending_work all 0); returns the seconds after ready."""
    wait_http(f"http://127.0.0.1:{PORT}/readyz", exp, timeout=600)
    t0 = time.monotonic()
    wait_http(f"http://127.0.0.1:{PORT}/metrics", exp, timeout=1800, step=1,
              ok=lambda st, b: st == 200 and not re.search(rb"^agent_exporter_collector_pending_work\{[^}]*\} 1$", b, re.M))
    return time.monotonic() - t0

def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


def self_metrics(port):
    s, body = http_get(f"http://127.0.0.1:{port}/metrics")
    if s != 200:
        raise RuntimeError(f"/metrics returned {s}")
    m = parse_metrics(body.decode())
    per = {}
    for (name, labels), v in m.items():
        lab = dict(labels)
        if "collector" not in lab:
            continue
        key = {"agent_exporter_collector_cycles_total": "cycles",
               "agent_exporter_collector_duration_seconds_total": "duration_total",
               "agent_exporter_collector_duration_seconds": "duration_last",
               "agent_exporter_collector_up": "up",
               "agent_exporter_collector_errors_total": "errors"}.get(name)
        if key:
            per.setdefault(lab["collector"], {})[key] = v
    return per, m


def scrape_stats(url, headers=None):
    s, body = http_get(url, headers=headers)
    text = body.decode(errors="replace") if not headers else ""
    series = sum(1 for line in text.splitlines() if line and line[0] != "#")
    return {"status": s, "bytes": len(body), "series": series}


def pgss(db, role):
    """Summed execution time (ms) and calls of role's statements in db, and per statement."""
    sql = f"""
      SELECT coalesce(json_agg(json_build_object('q', left(regexp_replace(query, '\\s+', ' ', 'g'), 120),
                                                 'calls', calls, 'ms', total_exec_time,
                                                 'blks', shared_blks_hit + shared_blks_read)), '[]')
      FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
      WHERE r.rolname = '{role}' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"""
    rows = json.loads(psql(db, sql))
    return {"ms": sum(r["ms"] for r in rows), "calls": sum(r["calls"] for r in rows), "statements": rows}


def pgss_reset(db, role):
    psql(db, f"SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = '{role}'))")


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                st[k] = int(v.split()[0]) * 1024
    return {"cpu_s": ticks / os.sysconf("SC_CLK_TCK"), "hwm_bytes": st.get("VmHWM", 0), "rss_bytes": st.get("VmRSS", 0)}


def run_wrk(url, connections, duration, threads=None, headers="", timeout="120s"):
    env = dict(os.environ, WRK_HEADERS=headers)
    threads = threads or min(2, connections)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                          "--timeout", timeout, "-s", os.path.join(ROOT, "bench", "wrk_report.lua"), url],
                         check=True, capture_output=True, text=True, env=env)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


class Results:
    def __init__(self, path):
        self.path = path

    def add(self, size, kind, **fields):
        rec = {"size": size, "kind": kind, **fields}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        brief = {k: v for k, v in fields.items() if not isinstance(v, (list, dict))}
        log(f"{label(size)} {kind}: {json.dumps(brief)[:300]}")


# ---------------------------------------------------------------------------------------
# Cluster and data


def reserve_huge_pages():
    """Reserves enough 2 MB pages for shared_buffers (plus 10 %) when running as root."""
    if HUGE_PAGES == "off" or os.geteuid() != 0:
        return
    units = {"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    m = re.fullmatch(r"(\d+)(kB|MB|GB)", PG_SHARED_BUFFERS)
    if not m:
        sys.exit(f"bench: BENCH_PG_SHARED_BUFFERS={PG_SHARED_BUFFERS}: want a number with kB, MB or GB")
    want = int(int(m.group(1)) * units[m.group(2)] * 1.1) // (2 << 20) + 1
    with open("/proc/sys/vm/nr_hugepages") as f:
        have = int(f.read())
    if have < want:
        with open("/proc/sys/vm/nr_hugepages", "w") as f:
            f.write(str(want))
        log(f"vm.nr_hugepages {have} -> {want} (shared_buffers {PG_SHARED_BUFFERS} in huge pages)")


def ensure_cluster():
    reserve_huge_pages()
    url = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start", os.path.join(STATE, "pg"), str(PG_PORT)],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, PG_SHARED_BUFFERS=PG_SHARED_BUFFERS)).stdout.strip()
    log(f"PostgreSQL {url} (state {STATE}/pg)")
    for role in ROLES:
        psql("postgres", f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                         f"CREATE ROLE {role} LOGIN IN ROLE pg_monitor; END IF; END $$")


def ensure_seeded(size):
    db = f"bench_{label(size)}"
    exists = psql("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "1"
    finished = 0
    if exists:
        try:
            finished = int(psql(db, "SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL"))
        except subprocess.CalledProcessError:
            finished = 0
    if finished < 0.95 * size:
        if exists:
            log(f"{db} holds {finished} finished runs, reseeding")
            psql("postgres", f"DROP DATABASE {db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {db}")
        rate = size / (DAYS * 86400)
        log(f"seeding {db}: {size} finished runs (rate {rate:.4f}/s over {DAYS} days)")
        t0 = time.monotonic()
        subprocess.run([SIM, f"--db.url={db_url(db)}", "--init-schema", f"--seed={SEED}",
                        f"--workspaces={WORKSPACES}", f"--agents-per-workspace={AGENTS}",
                        f"--backfill-days={DAYS}", f"--rate={rate:.6f}", "--backfill-jobs=2"], check=True)
        log(f"seeded {db} in {time.monotonic() - t0:.0f} s")
        finished = int(psql(db, "SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL"))
    psql(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for role in ROLES:
        psql(db, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        # the models collector reads new calls by id (docs/configuration.md)
        psql(db, f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    table = psql(db, "SELECT pg_total_relation_size('agent_runs')")
    return db, finished, int(table)


# ---------------------------------------------------------------------------------------
# Processes


def exporter_help():
    return subprocess.run([EXPORTER, "--help"], capture_output=True, text=True).stdout


def start_exporter(db, name, args=(), role="bench_ours", port=PORT, binary=EXPORTER):
    url_file = os.path.join(STATE, f"{name}.url")
    with open(url_file, "w") as f:
        f.write(db_url(db, role) + "\n")
    argv = [binary, f"--db.url-file={url_file}", f"--web.listen-address=127.0.0.1:{port}",
            "--web.rate-limit=0", "--log.level=info", *args]
    return Proc(name, argv, os.path.join(RESULTS_DIR, f"{name}.log"))


def start_live(db):
    log(f"{db}: closed what earlier live loads left in flight: {psql(db, CLOSE_LEFTOVERS)}")
    argv = [SIM, f"--db.url={db_url(db)}", "--live", f"--seed={SEED}", f"--workspaces={WORKSPACES}",
            f"--agents-per-workspace={AGENTS}", f"--rate={LIVE_RATE}", "--workers=60", "--worker-slots=8",
            "--runtime-scale=0.15", "--stats-interval=30s"]
    return Proc("live", argv, os.path.join(RESULTS_DIR, f"live-{db}.log"))


# ---------------------------------------------------------------------------------------
# Measurements


def measure_startup(size, db, res, args=(), variant="default", repeats=STARTUPS, keep_last=True):
    last = None
    for i in range(repeats):
        exp = start_exporter(db, f"exporter-{variant}-{label(size)}", args)
        t_ready = wait_http(f"http://127.0.0.1:{PORT}/readyz", exp, timeout=600)
        ready_s = t_ready - exp.started
        per, _ = self_metrics(PORT)
        first = {c: v.get("duration_last") for c, v in per.items()}
        res.add(size, "startup", variant=variant, run=i, ready_s=ready_s, first_cycle_s=first)
        if i < repeats - 1 or not keep_last:
            exp.stop()
        else:
            last = exp
    return last


def measure_quiet(size, db, res, exp):
    """Per-collector cycle time, total DB time of the exporter's role, CPU share."""
    time.sleep(3)
    pgss_reset(db, "bench_ours")
    per0, _ = self_metrics(PORT)
    p0 = proc_stat(exp.pid)
    t0 = time.monotonic()
    # Scraped every 15 s meanwhile, like a Prometheus would.
    while time.monotonic() - t0 < QUIET_WINDOW:
        time.sleep(min(15, max(0.0, QUIET_WINDOW - (time.monotonic() - t0))))
        http_get(f"http://127.0.0.1:{PORT}/metrics")
    wall = time.monotonic() - t0
    per1, _ = self_metrics(PORT)
    p1 = proc_stat(exp.pid)
    db_time = pgss(db, "bench_ours")
    cycles = {}
    for c, v1 in per1.items():
        v0 = per0.get(c, {})
        n = v1.get("cycles", 0) - v0.get("cycles", 0)
        d = v1.get("duration_total", 0) - v0.get("duration_total", 0)
        cycles[c] = {"cycles": n, "cycle_s": d / n if n else None, "errors": v1.get("errors", 0) - v0.get("errors", 0)}
    live = float(psql(db, f"SELECT count(*) / {wall:.3f} FROM agent_runs WHERE finished_at > now() - "
                          f"make_interval(secs => {wall:.3f})"))
    res.add(size, "quiet", window_s=wall, collectors=cycles, db_ms=db_time["ms"], db_calls=db_time["calls"],
            db_ms_per_s=db_time["ms"] / wall, cpu_share=(p1["cpu_s"] - p0["cpu_s"]) / wall,
            rss_bytes=p1["rss_bytes"], live_finished_per_s=live, statements=db_time["statements"])


def measure_scrape(size, res, port, who, variant, repeats=WRK_REPEATS, duration=WRK_DURATION, gzip=True,
                   extra=True):
    url = f"http://127.0.0.1:{port}/metrics"
    st = scrape_stats(url)
    st_gz = scrape_stats(url, headers={"Accept-Encoding": "gzip"})
    res.add(size, "series", who=who, variant=variant, bytes=st["bytes"], gzip_bytes=st_gz["bytes"],
            series=st["series"])
    # One connection is how Prometheus scrapes (the latency figure); four show what
    # concurrent scrapers (HA pairs, federation, people) do to it.
    modes = [("plain", "", 1)] + ([("plain", "", WRK_CONNECTIONS)] if extra else []) + \
            ([("gzip", "Accept-Encoding: gzip", 1)] if gzip else [])
    for enc, hdr, conns in modes:
        runs = [run_wrk(url, conns, duration, headers=hdr) for _ in range(repeats)]
        res.add(size, "scrape", who=who, variant=variant, encoding=enc, connections=conns,
                runs=runs, p50_s=statistics.median(r["p50_s"] for r in runs),
                p99_s=statistics.median(r["p99_s"] for r in runs), p99_max_s=max(r["p99_s"] for r in runs),
                requests=sum(r["requests"] for r in runs),
                rps=statistics.median(r["requests"] / r["duration_s"] for r in runs),
                errors=sum(r["errors"] + r["non2xx"] for r in runs))


def measure_isolated(size, db, res):
    for c in COLLECTORS:
        args = [f"--no-collector.{o}" for o in COLLECTORS if o != c]
        if c in ISO_INTERVALS:
            args.append(f"--collector.{c}.interval={ISO_INTERVALS[c]}")
        pgss_reset(db, "bench_iso")
        exp = start_exporter(db, f"iso-{c}-{label(size)}", args, role="bench_iso")
        try:
            t_ready = wait_http(f"http://127.0.0.1:{PORT}/readyz", exp, timeout=600)
            per, _ = self_metrics(PORT)
            first_db = pgss(db, "bench_iso")
            first = per.get(c, {})
            pgss_reset(db, "bench_iso")
            per0 = per
            time.sleep(ISO_WINDOW)
            per1, _ = self_metrics(PORT)
            steady_db = pgss(db, "bench_iso")
            n = per1[c]["cycles"] - per0[c]["cycles"]
            d = per1[c]["duration_total"] - per0[c]["duration_total"]
            # Statements of the window that started before the first snapshot or after the
            # last one blur the count by at most one cycle; the window holds several.
            res.add(size, "isolated", collector=c, ready_s=t_ready - exp.started,
                    first_cycle_s=first.get("duration_last"), first_db_ms=first_db["ms"],
                    cycles=n, cycle_s=d / n if n else None, db_ms_per_cycle=steady_db["ms"] / n if n else None,
                    db_calls_per_cycle=steady_db["calls"] / n if n else None, up=per1[c].get("up"),
                    statements=steady_db["statements"], first_statements=first_db["statements"])
        finally:
            exp.stop()


def statement_cycles(stats, needle="agent_"):
    """Cycles a peer ran in a window: the fewest calls of its platform queries."""
    calls = [s["calls"] for s in stats["statements"] if "agent_runs" in s["q"] or "execution_queue" in s["q"]]
    return min(calls) if calls else 0


def pgexp_argv(port):
    """prometheus-postgres-exporter serving the peers' figures (bench/peers/queries.yaml)
    and nothing else, on 127.0.0.1:port; the database comes from DATA_SOURCE_NAME."""
    return ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}",
            f"--extend.query-path={os.path.join(ROOT, 'bench', 'peers', 'queries.yaml')}",
            "--disable-default-metrics", "--disable-settings-metrics", "--no-collector.database",
            "--no-collector.bgwriter", "--log.level=warn"]


def measure_pgexp(size, db, res):
    env = dict(os.environ, DATA_SOURCE_NAME=db_url(db, "bench_pgexp") + "?sslmode=disable")
    argv = pgexp_argv(PGEXP_PORT)
    p = Proc(f"pgexp-{label(size)}", argv, os.path.join(RESULTS_DIR, f"pgexp-{label(size)}.log"), env=env)
    try:
        url = f"http://127.0.0.1:{PGEXP_PORT}/metrics"
        wait_http(url, p, timeout=300, ok=lambda s, b: s == 200 and b"agent_running_running" in b)
        pgss_reset(db, "bench_pgexp")
        # One scraper at a time, as Prometheus does; the duration bounds the run.
        run = run_wrk(url, 1, PEER_DURATION, threads=1)
        stats = pgss(db, "bench_pgexp")
        n = statement_cycles(stats)
        st = scrape_stats(url)
        res.add(size, "series", who="postgres_exporter", variant="default", bytes=st["bytes"], gzip_bytes=None,
                series=st["series"])
        res.add(size, "scrape", who="postgres_exporter", variant="default", encoding="plain", connections=1,
                runs=[run], p50_s=run["p50_s"], p99_s=run["p99_s"], p99_max_s=run["p99_s"],
                requests=run["requests"], rps=run["requests"] / run["duration_s"], errors=run["errors"] + run["non2xx"])
        # wrk's last request may still be running when it stops; statement calls count
        # the completed ones of every query.
        res.add(size, "peer_db", who="postgres_exporter", per="scrape", cycles=n,
                db_ms_per_cycle=stats["ms"] / n if n else None, statements=stats["statements"])
    finally:
        p.stop()


def measure_sqlexp(size, db, res):
    cfg = open(os.path.join(ROOT, "bench", "peers", "sql_exporter.yml")).read()
    cfg = cfg.replace("@DB_URL@", db_url(db, "bench_sqlexp").replace("postgresql://", "postgres://") +
                      "?sslmode=disable").replace("@INTERVAL@", f"{SQLEXP_INTERVAL}s")
    path = os.path.join(RESULTS_DIR, "sql_exporter.yml")
    with open(path, "w") as f:
        f.write(cfg)
    argv = ["prometheus-sql-exporter", f"-config.file={path}", f"-web.listen-address=127.0.0.1:{SQLEXP_PORT}"]
    p = Proc(f"sqlexp-{label(size)}", argv, os.path.join(RESULTS_DIR, f"sqlexp-{label(size)}.log"),
             env=dict(os.environ, LOGLEVEL="warn"))
    try:
        url = f"http://127.0.0.1:{SQLEXP_PORT}/metrics"
        wait_http(url, p, timeout=300, ok=lambda s, b: s == 200 and b"sql_agent_by_agent_24h" in b, step=0.5)
        measure_scrape(size, res, SQLEXP_PORT, "sql_exporter", "default", gzip=False, extra=False)
        # Its database time is measured apart from the wrk load (which would slow its
        # statements down by competing for the CPUs): a quiet window of several cycles.
        pgss_reset(db, "bench_sqlexp")
        time.sleep(max(PEER_DURATION, 2 * SQLEXP_INTERVAL + 2))
        stats = pgss(db, "bench_sqlexp")
        n = statement_cycles(stats)
        res.add(size, "peer_db", who="sql_exporter", per="cycle", interval_s=SQLEXP_INTERVAL, cycles=n,
                db_ms_per_cycle=stats["ms"] / n if n else None, statements=stats["statements"])
    finally:
        p.stop()


def measure_freshness(size, db, res):
    modes = [("polling", [])] if "polling" in FRESH_MODES else []
    notify_sql = os.path.join(ROOT, "schema", "notify.sql")
    if "--db.notify-channel" not in exporter_help():
        res.add(size, "freshness_skipped", mode="notify",
                reason="the exporter's --help does not list --db.notify-channel")
    elif not os.path.exists(notify_sql):
        res.add(size, "freshness_skipped", mode="notify", reason="schema/notify.sql is missing")
    elif "notify" in FRESH_MODES:
        modes.append(("notify", [f"--db.notify-channel={NOTIFY_CHANNEL}"]))
    for mode, args in modes:
        if mode == "notify":
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db_url(db), "-f", notify_sql], check=True)
        exp = start_exporter(db, f"fresh-{mode}-{label(size)}", args)
        try:
            # Freshness is a steady-state figure: wait until no collector is still
            # reading start-up history (the patterns backlog takes CPU meanwhile).
            res.add(size, "backlog", mode=mode, caught_up_after_ready_s=wait_caught_up(exp))
            out = os.path.join(RESULTS_DIR, f"freshness-{mode}-{label(size)}.tsv")
            if os.path.exists(out):
                os.remove(out)
            r = subprocess.run([FRESHNESS, f"--db.url={db_url(db)}", f"--port={PORT}",
                                f"--repetitions={FRESH_REPS}", "--poll-ms=5", "--max-pause-ms=1000",
                                "--finish-pause-ms=5000", f"--out={out}"],
                               capture_output=True, text=True)
            sys.stderr.write(r.stdout + r.stderr)
            samples = {}
            if os.path.exists(out):
                for line in open(out):
                    ev, s = line.split("\t")
                    samples.setdefault(ev, []).append(float(s))
            for ev, v in sorted(samples.items()):
                v.sort()
                res.add(size, "freshness", mode=mode, event=ev, n=len(v), p50_s=pct(v, 0.5), p99_s=pct(v, 0.99),
                        max_s=v[-1], samples=v)
            if r.returncode != 0:
                res.add(size, "freshness_error", mode=mode, rc=r.returncode, stderr=r.stderr[-2000:])
        finally:
            exp.stop()
            if mode == "notify":
                psql(db, DROP_NOTIFY)


def measure_steady(size, db, res):
    """Resident memory under the live load once the exactly-once ledgers hold the whole
    lateness window: with the default lateness and sweep interval (5 m each) they fill
    until the second sweep, 10 minutes after the start. VmRSS every 5 s; figures from
    the first sweep on (300 s) describe the steady state. Then, for each exporter, the mean
    cycle time per collector over that same stretch (self-metrics) and STEADY_SCRAPES
    sequential /metrics scrapes taken in turns with the others (p50/p99)."""
    runs = [("ours", EXPORTER, PORT)]
    for i, binary in enumerate(STEADY_COMPARE.split()):
        runs.append((f"compare{i + 1}", os.path.abspath(binary), PORT + 20 + i))
    procs = []
    for who, binary, port in runs:
        procs.append((who, binary, port, start_exporter(db, f"exporter-steady-{who}-{label(size)}", port=port,
                                                         binary=binary)))
    for who, binary, port, p in procs:
        wait_http(f"http://127.0.0.1:{port}/readyz", p, timeout=600)
    samples = {who: [] for who, *_ in procs}
    cpu_from = {}  # (t, cpu seconds) at the first sample from 300 s on
    cycles_from = {}  # each exporter's collector self-metrics at that moment
    t0 = time.monotonic()
    while time.monotonic() - t0 < STEADY_SECONDS:
        for who, binary, port, p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited (see its log)")
            t, st = time.monotonic() - t0, proc_stat(p.pid)
            samples[who].append((t, st["rss_bytes"]))
            if t >= 300 and who not in cpu_from:
                cpu_from[who] = (t, st["cpu_s"])
                cycles_from[who] = self_metrics(port)[0]
        time.sleep(5)
    # The same window for every exporter: cycle time per collector from the self-metrics
    # (its queries, mostly), and scrapes taken in turns so machine noise hits all alike.
    cycles_at_end = {who: self_metrics(port)[0] for who, binary, port, p in procs}
    latencies = {who: [] for who, *_ in procs}
    for _ in range(STEADY_SCRAPES):
        for who, binary, port, p in procs:
            t = time.monotonic()
            status, _ = http_get(f"http://127.0.0.1:{port}/metrics")
            if status == 200:
                latencies[who].append(time.monotonic() - t)
    for who, binary, port, p in procs:
        _, m = self_metrics(port)
        steady = sorted(rss for t, rss in samples[who] if t >= 300) or [0]
        cycle_ms = {}
        for collector, now in cycles_at_end[who].items():
            then = cycles_from.get(who, {}).get(collector, {})
            n = now.get("cycles", 0) - then.get("cycles", 0)
            if n > 0:
                cycle_ms[collector] = round(1000 * (now.get("duration_total", 0) - then.get("duration_total", 0)) / n, 3)
        lat = sorted(latencies[who]) or [0]
        st = proc_stat(p.pid)
        t_from, cpu0 = cpu_from.get(who, (0, 0))
        cpu_share = (st["cpu_s"] - cpu0) / max(time.monotonic() - t0 - t_from, 1)
        res.add(size, "steady", who=who, binary=binary, seconds=STEADY_SECONDS, live_rate=LIVE_RATE,
                steady_cpu_share=cpu_share,
                # (binaries before the collector label named it agent_exporter_<collector>_ledger_entries)
                runs_ledger=m.get(("agent_exporter_ledger_entries", frozenset({("collector", "runs")})),
                                  m.get(("agent_exporter_runs_ledger_entries", frozenset()))),
                models_ledger=m.get(("agent_exporter_ledger_entries", frozenset({("collector", "models")})),
                                    m.get(("agent_exporter_models_ledger_entries", frozenset()))),
                rss_median_bytes=steady[len(steady) // 2], rss_max_bytes=steady[-1],
                cycle_ms=cycle_ms, scrapes=len(latencies[who]), scrape_p50_s=pct(lat, 0.5), scrape_p99_s=pct(lat, 0.99),
                samples=[[round(t), rss] for t, rss in samples[who]], **st)
        p.stop()


class LineReader:
    """Lines of a child's stdout, each read with a deadline (the child may hang)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line.decode(errors="replace")
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")


def live_workspaces(db, n):
    """The first n workspaces of the live load (the simulator's; not freshness' own),
    each with its running runs now: the live view lists at most --api.max-executions
    (500) of them, newest last, so a probe's run must fit under that."""
    rows = psql(db, f"""
      SELECT w.id, (SELECT count(*) FROM agent_runs r WHERE r.workspace_id = w.id AND r.status = 'running')
      FROM workspaces w WHERE w.name <> 'bench-freshness' AND EXISTS (SELECT 1 FROM agents a WHERE a.workspace_id = w.id)
      ORDER BY w.id LIMIT {n}""")
    return [(line.split("|")[0], int(line.split("|")[1])) for line in rows.splitlines()]


def run_live_subscribers(name, port, db, workspaces, connections, args, on_ready=None, on_end=None):
    """Runs bench/live_subscribers; calls on_ready() when its subscribers are open
    and on_end() when its probing ends (connections still open). Returns (summary,
    samples): samples are (probe, connection, workspace index, s to the read, s to
    the kernel's receive time)."""
    out = os.path.join(RESULTS_DIR, f"{name}.tsv")
    argv = [LIVE_SUBS_BIN, f"--port={port}", f"--db.url={db_url(db)}", f"--workspaces={','.join(workspaces)}",
            f"--connections={connections}", f"--sources={LIVE_SOURCES}", f"--out={out}", *args]
    log_f = open(os.path.join(RESULTS_DIR, f"{name}.log"), "ab")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_f)
    reader = LineReader(p.stdout)
    summary = None
    try:
        line = reader.readline(timeout=300)
        if line is None or not line.startswith("ready"):
            raise RuntimeError(f"{name}: no 'ready' from live_subscribers (got {line!r}; see {name}.log)")
        ready_open, connect_s = int(line.split()[1]), float(line.split()[2])
        if on_ready:
            on_ready()
        line = reader.readline(timeout=LIVE_WINDOW + LIVE_PROBES * 12 + 120)
        if line is None or not line.startswith("end"):
            raise RuntimeError(f"{name}: no 'end' from live_subscribers (got {line!r})")
        if on_end:
            on_end()
        line = reader.readline(timeout=60)
        summary = json.loads(line) if line else {"error": "no summary"}
        summary.update(ready_open=ready_open, ready_connect_s=connect_s)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log_f.close()
    samples = []
    if os.path.exists(out):
        for line in open(out):
            f = line.split("\t")
            samples.append((int(f[0]), int(f[1]), int(f[2]), float(f[3]), float(f[4])))
    return summary, samples


def latency_fields(samples):
    """p50/p99/max over every (probe, subscriber) pair, at the read and at the kernel's
    receive time; and over probes of the slowest subscriber (the time until all had it)."""
    user = sorted(s[3] for s in samples)
    kern = sorted(s[4] for s in samples if s[4] >= 0)
    last = {}
    for s in samples:
        last[s[0]] = max(last.get(s[0], 0), s[3])
    slowest = sorted(last.values())
    return {"pairs": len(user), "p50_s": pct(user, 0.5), "p99_s": pct(user, 0.99), "max_s": user[-1] if user else None,
            "kernel_p50_s": pct(kern, 0.5), "kernel_p99_s": pct(kern, 0.99),
            "kernel_max_s": kern[-1] if kern else None,
            "all_p50_s": pct(slowest, 0.5), "all_p99_s": pct(slowest, 0.99),
            "all_max_s": slowest[-1] if slowest else None,
            "negative": sum(1 for v in user if v < 0)}


def measure_live(size, db, res):
    """The live view's WebSocket: commit -> message latency and the cost of subscribers."""
    notify_sql = os.path.join(ROOT, "schema", "notify.sql")
    if "--api.max-clients" not in exporter_help():
        res.add(size, "live_skipped", reason="the exporter's --help does not list --api.max-clients")
        return
    # Every subscriber holds a civetweb worker and a descriptor in both processes.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * LIVE_SUBSCRIBERS + 1024))
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    wss = live_workspaces(db, max(LIVE_WORKSPACES, 1))
    res.add(size, "live_workspaces", workspaces=[w for w, _ in wss], running=[n for _, n in wss])
    ids = [w for w, _ in wss]
    modes = sorted(set(LIVE_LATENCY_MODES) | set(LIVE_FANOUT_MODES), key=lambda m: m != "polling")
    for mode in modes:
        args = ["--web.max-connections=%d" % (LIVE_SUBSCRIBERS + 100), f"--api.max-clients={LIVE_SUBSCRIBERS}",
                "--web.max-connections-per-client=0"]
        if mode == "notify":
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db_url(db), "-f", notify_sql], check=True)
            args.append(f"--db.notify-channel={NOTIFY_CHANNEL}")
        exp = start_exporter(db, f"live-{mode}-{label(size)}", args)
        try:
            res.add(size, "backlog", mode=f"live-{mode}", caught_up_after_ready_s=wait_caught_up(exp))
            if mode in LIVE_LATENCY_MODES:
                # One subscriber, probes spaced 0-1 s apart (every phase of the 1 s cycle).
                t_start = time.monotonic()
                summary, samples = run_live_subscribers(
                    f"live-latency-{mode}-{label(size)}", PORT, db, ids[:1], 1,
                    [f"--probes={LIVE_PROBES}", "--max-pause-ms=1000", "--timeout=10", "--linger=0"])
                wall = time.monotonic() - t_start
                res.add(size, "live_latency", mode=mode, subscribers=1, workspace=ids[0], running_in_workspace=wss[0][1],
                        probes=summary.get("probes"), timed_out=summary.get("pairs_timed_out"),
                        client_cpu_share=summary.get("cpu_s", 0) / max(summary.get("window_s", 1), 1e-9),
                        messages=summary.get("messages"), summary=summary, wall_s=wall,
                        samples=[round(s[3], 6) for s in samples], **latency_fields(samples))
            if mode in LIVE_FANOUT_MODES:
                windows = [("none", 0, 1), ("one workspace", LIVE_SUBSCRIBERS, 1),
                           (f"{LIVE_WORKSPACES} workspaces", LIVE_SUBSCRIBERS, LIVE_WORKSPACES),
                           ("none, again", 0, 1)]
                for i, (what, conns, nws) in enumerate(windows):
                    measure_live_window(size, db, res, exp, mode, i, what, conns, ids[:nws])
        finally:
            exp.stop()
            if mode == "notify":
                psql(db, DROP_NOTIFY)


def measure_live_window(size, db, res, exp, mode, i, what, conns, workspaces):
    """One window of the fan-out: the subscribers open, then LIVE_WINDOW seconds of
    probes while the exporter's CPU, realtime cycles and database time are read."""
    snap = {}

    def start():
        pgss_reset(db, "bench_ours")
        snap["t0"] = time.monotonic()
        snap["p0"] = proc_stat(exp.pid)
        snap["m0"] = self_metrics(PORT)

    def end():
        snap["t1"] = time.monotonic()
        snap["p1"] = proc_stat(exp.pid)
        snap["m1"] = self_metrics(PORT)
        snap["db"] = pgss(db, "bench_ours")

    summary, samples = run_live_subscribers(
        f"live-window{i}-{mode}-{label(size)}", PORT, db, workspaces, conns,
        [f"--duration={LIVE_WINDOW}", "--max-pause-ms=1000", "--timeout=10", "--linger=2"], start, end)
    wall = snap["t1"] - snap["t0"]
    (per0, m0), (per1, m1) = snap["m0"], snap["m1"]
    rt0, rt1 = per0.get("realtime", {}), per1.get("realtime", {})
    cycles = rt1.get("cycles", 0) - rt0.get("cycles", 0)
    dur = rt1.get("duration_total", 0) - rt0.get("duration_total", 0)
    metric = lambda m, name: m.get((name, frozenset()), 0)
    realtime_db = [st for st in snap["db"]["statements"] if "running AS" in st["q"]]
    live = float(psql(db, f"SELECT count(*) / {wall:.3f} FROM agent_runs WHERE finished_at > now() - "
                          f"make_interval(secs => {wall:.3f}) AND user_id IS DISTINCT FROM 'bench-live'"))
    res.add(size, "live_fanout", mode=mode, window=i, what=what, subscribers=conns, workspaces=len(workspaces),
            window_s=wall, cpu_share=(snap["p1"]["cpu_s"] - snap["p0"]["cpu_s"]) / wall,
            rss_bytes=snap["p1"]["rss_bytes"], hwm_bytes=snap["p1"]["hwm_bytes"],
            realtime_cycles_per_s=cycles / wall, realtime_cycle_s=dur / cycles if cycles else None,
            realtime_busy_share=dur / wall,
            db_ms_per_s=snap["db"]["ms"] / wall, db_calls_per_s=snap["db"]["calls"] / wall,
            realtime_db_ms_per_s=sum(st["ms"] for st in realtime_db) / wall,
            realtime_db_calls_per_s=sum(st["calls"] for st in realtime_db) / wall,
            # Buffers the realtime statement touched per call: its work, apart from the
            # CPU contention that stretches total_exec_time (wall time).
            realtime_db_blks_per_call=(sum(st.get("blks", 0) for st in realtime_db) /
                                       max(sum(st["calls"] for st in realtime_db), 1)),
            messages_sent_per_s=(metric(m1, "agent_exporter_live_messages_total") -
                                 metric(m0, "agent_exporter_live_messages_total")) / wall,
            dropped=metric(m1, "agent_exporter_live_subscribers_dropped_total") -
            metric(m0, "agent_exporter_live_subscribers_dropped_total"),
            subscribers_gauge=metric(m1, "agent_exporter_live_subscribers"),
            client_cpu_share=summary.get("cpu_s", 0) / max(summary.get("window_s", 1), 1e-9),
            client_messages_per_s=summary.get("messages", 0) / max(summary.get("window_s", 1), 1e-9),
            client_bytes_per_s=summary.get("bytes", 0) / max(summary.get("window_s", 1), 1e-9),
            probes=summary.get("probes"), timed_out=summary.get("pairs_timed_out"), live_finished_per_s=live,
            summary=summary, statements=snap["db"]["statements"], **latency_fields(samples))


def pct(sorted_v, q):
    if not sorted_v:
        return None
    rank = q * (len(sorted_v) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(sorted_v) - 1)
    return sorted_v[lo] + (sorted_v[hi] - sorted_v[lo]) * (rank - lo)


def machine(res):
    def sh(cmd):
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    res.add(0, "machine",
            lscpu=sh("lscpu | grep -E '^(Architecture|CPU\\(s\\)|Model name|Thread|Core|Socket|CPU MHz|L2|L3|Hypervisor)'"),
            memory=sh("free -h | sed -n 2p"), kernel=sh("uname -r"), os=sh(". /etc/os-release; echo $PRETTY_NAME"),
            postgres=psql("postgres", "SHOW server_version"),
            pg_settings=psql("postgres", "SELECT string_agg(name || '=' || current_setting(name), ', ') "
                                         "FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'fsync', "
                                         "'synchronous_commit', 'max_parallel_workers_per_gather', 'jit', 'huge_pages')"),
            huge_pages=sh("grep -E '^HugePages_(Total|Free)' /proc/meminfo | tr -s ' ' | tr '\\n' ' '"),
            exporter=sh(f"{EXPORTER} --version"), revision=sh(f"git -C {ROOT} rev-parse --short=12 HEAD"),
            dirty=sh(f"git -C {ROOT} status --porcelain --untracked-files=no | wc -l"),
            peers=sh("dpkg-query -W -f='${Package} ${Version}\\n' prometheus-postgres-exporter "
                     "prometheus-sql-exporter wrk gnuplot-nox postgresql libcivetweb1 libprometheus-cpp-core1.0 "
                     "2>/dev/null"),
            settings={k: v for k, v in globals().items() if k.isupper() and isinstance(v, (int, str, list))
                      and k not in ("ROOT",)},
            command=os.environ.get("BENCH_COMMAND", "make bench"))


def run_size(size, res):
    db, finished, table_bytes = ensure_seeded(size)
    # The start-up aggregates read today's rows (UTC day), so their count goes with ready_s.
    today = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    res.add(size, "data", db=db, finished_runs=finished, agent_runs_bytes=table_bytes,
            runs_today=int(psql(db, f"SELECT count(*) FROM agent_runs WHERE finished_at >= {today}")),
            model_calls_today=int(psql(db, f"SELECT count(*) FROM model_calls WHERE created_at >= {today}")))
    subprocess.run([FRESHNESS, f"--db.url={db_url(db)}", "--setup"], check=True)
    live = start_live(db)
    try:
        time.sleep(5)
        if "default" in PHASES:
            exp = measure_startup(size, db, res)
            measure_quiet(size, db, res, exp)
            measure_scrape(size, res, PORT, "ours", "default")
            res.add(size, "rss", who="ours", variant="default", **proc_stat(exp.pid))
            exp.stop()
        if "wide" in PHASES:
            wide = measure_startup(size, db, res, ["--collector.runs.agent-histograms"], variant="agent-histograms",
                                   repeats=1)
            measure_scrape(size, res, PORT, "ours", "agent-histograms", gzip=False, extra=False)
            res.add(size, "rss", who="ours", variant="agent-histograms", **proc_stat(wide.pid))
            wide.stop()
        if "nopatterns" in PHASES:
            # /readyz waits for every collector's first cycle, the patterns collector's
            # 28-day aggregate included; this shows the start-up without it.
            measure_startup(size, db, res, ["--no-collector.patterns"], variant="no-patterns", keep_last=False)
        if "isolated" in PHASES:
            measure_isolated(size, db, res)
        if "peers" in PHASES:
            measure_pgexp(size, db, res)
            measure_sqlexp(size, db, res)
        if "freshness" in PHASES and size in FRESH_SIZES:
            measure_freshness(size, db, res)
        if "steady" in PHASES:
            measure_steady(size, db, res)
        if "live" in PHASES:
            measure_live(size, db, res)
    finally:
        live.stop()


RESULTS_DIR = None


def measure_queries(res):
    """Phase "queries": the spec's query-time targets against a real Prometheus holding
    simulator-shaped data and the rule pack (bench/query_targets.py has the method)."""
    py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    outs = []
    for spec in QUERIES_SIZES:
        ws, span = spec.split(":")
        data = os.path.join(STATE, f"queries-{ws}ws-{span}h")
        try:
            with open(os.path.join(data, "meta.json")) as f:
                meta = json.load(f)
            fresh = meta["workspaces"] == int(ws) and meta["span_hours"] == float(span)
        except (OSError, ValueError, KeyError):
            fresh = False
        if not fresh:
            log(f"queries: building {ws} workspaces x {span} h")
            subprocess.run([py, os.path.join(ROOT, "bench", "query_data.py"), "build", data, "--workspaces", ws,
                            "--span-hours", span, "--port", str(QUERIES_PORT + 8), "--jobs", str(QUERIES_JOBS)],
                           check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(RESULTS_DIR, f"queries-{ws}ws.json")
        subprocess.run([py, os.path.join(ROOT, "bench", "query_targets.py"), "run", data, "--out", out,
                        "--reps", str(QUERIES_REPS), "--min-reps", str(QUERIES_MIN_REPS), "--budget", str(QUERIES_BUDGET),
                        "--raw-warmup", str(QUERIES_RAW_WARMUP), "--port", str(QUERIES_PORT)],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            doc = json.load(f)
        for d in doc["dashboards"]:
            res.add(int(ws), "queries", dashboard=d["file"], targets=d["targets"],
                    **{f"{v}_{q}_ms": round(1000 * pct(sorted(d[v]["dashboard_s"]), x), 1)
                       for v in ("rules", "raw") for q, x in (("p50", 0.5), ("p99", 0.99))})
        outs.append(out)
    with open(os.path.join(RESULTS_DIR, "queries.md"), "w") as f:
        subprocess.run([py, os.path.join(ROOT, "bench", "query_targets.py"), "render", *outs], check=True, stdout=f)
    log(f"queries: tables in {RESULTS_DIR}/queries.md")


def measure_rollup(res):
    """Phase "rollup": the per-minute rollup writer's cost (bench/rollup_bench.py)."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "rollup_bench.py"), "--build", BUILD,
                          "--server", db_url("postgres"), "--rate", str(ROLLUP_RATE), "--window", str(ROLLUP_WINDOW),
                          "--workspaces", str(WORKSPACES), "--logs", RESULTS_DIR],
                         check=True, capture_output=True, text=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    res.add(0, "rollup", **doc)  # size 0: not one of the seeded table sizes render.py tabulates


def measure_scale(res):
    """Phase "scale": one exporter against SCALE_SHARDS shard exporters at platform scale
    (bench/scale_bench.py); BENCH_QUICK=1 runs its tiny self-check sizes."""
    argv = [sys.executable, os.path.join(ROOT, "bench", "scale_bench.py"), "--build", BUILD, "--exporter", EXPORTER,
            "--server", db_url("postgres"), "--port", str(SCALE_PORT), "--logs", RESULTS_DIR,
            "--modes", SCALE_MODES, "--pgexp-port", str(PGEXP_PORT)]
    if not SCALE_PGEXP:
        argv.append("--no-pgexp")
    argv.append("--exporter-args=" + SCALE_EXPORTER_ARGS)
    if QUICK:
        argv.append("--quick")
    else:
        argv += ["--workspaces", str(SCALE_WORKSPACES), "--agents", str(SCALE_AGENTS),
                 "--history-runs", str(SCALE_HISTORY), "--rate", str(SCALE_RATE), "--shards", str(SCALE_SHARDS),
                 "--window", str(SCALE_WINDOW), "--wrk-duration", str(WRK_DURATION),
                 "--pgexp-duration", str(PEER_DURATION)]
    # Stopped with SIGTERM (not subprocess.run's SIGKILL) if this harness is: it then stops
    # the exporters and the simulator it started.
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = p.communicate()
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=180)  # it stops six processes, 20 s each at most
    if p.returncode != 0:
        raise RuntimeError(f"bench/scale_bench.py exited with {p.returncode}")
    out = stdout.strip().splitlines()
    with open(os.path.join(RESULTS_DIR, "scale.md"), "w") as f:
        f.write("\n".join(out[:-1]) + "\n")
    res.add(0, "scale", **json.loads(out[-1]))  # size 0: not one of the seeded table sizes


def main():
    global RESULTS_DIR
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR = os.path.abspath(os.environ.get("BENCH_RESULTS", os.path.join(BUILD, "bench-results", stamp)))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    os.makedirs(STATE, exist_ok=True)
    latest = os.path.join(BUILD, "bench-results", "latest")
    if os.path.dirname(RESULTS_DIR) == os.path.dirname(latest):
        if os.path.islink(latest):
            os.remove(latest)
        os.symlink(os.path.basename(RESULTS_DIR), latest)
    # "queries" needs no database nor exporter; "rollup" and "scale" only the cluster (their own databases)
    own_db = [p for p in PHASES if p in ("rollup", "scale")]
    db_phases = [p for p in PHASES if p not in ("queries", "rollup", "scale")]
    for tool in (EXPORTER, SIM, FRESHNESS) + ((LIVE_SUBS_BIN,) if "live" in PHASES else ()):
        if db_phases and not os.access(tool, os.X_OK):
            sys.exit(f"bench: {tool} missing (build {BUILD} first)")
    res = Results(os.path.join(RESULTS_DIR, "results.jsonl"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        if "queries" in PHASES:
            measure_queries(res)
        if db_phases or own_db:
            ensure_cluster()
            machine(res)
        if "rollup" in PHASES:
            measure_rollup(res)
        if "scale" in PHASES:
            measure_scale(res)
        for size in SIZES if db_phases else []:
            log(f"== {label(size)} finished runs ==")
            run_size(size, res)
    finally:
        stop_all()
        if (db_phases or own_db) and os.environ.get("BENCH_KEEP_PG", "0") != "1":
            subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop", os.path.join(STATE, "pg")])
    log(f"results in {RESULTS_DIR}/results.jsonl")
    print(RESULTS_DIR)


if __name__ == "__main__":
    main()
