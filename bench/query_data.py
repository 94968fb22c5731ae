#!/usr/bin/env python3
"""Builds the Prometheus TSDB that bench/query_targets.py queries (phase "queries").

  query_data.py build DIR --workspaces N --span-hours H [--interval S] [--seed K]

1. Writes simulator-shaped samples of the exporter's real families and labels
   (docs/metrics.md: runs, realtime, info, workers, models, patterns, database and the
   exporter's own collector families, with the `job`/`instance` labels a scrape adds) as
   OpenMetrics text, one sample per series every --interval seconds over --span-hours
   ending at the current minute, and turns it into blocks with
   `promtool tsdb create-blocks-from openmetrics` (54 h blocks), --piece-hours of samples
   at a time (the text is ~180 bytes a sample: 30 days of 20 workspaces would be ~100 GB
   in one file).
2. Backfills every recording rule of alerts/agent_execution.rules.yml over the same span
   with `promtool tsdb create-blocks-from rules` against a Prometheus serving DIR, one
   dependency level at a time (a rule is evaluated only after every recorded series it
   reads has been backfilled: promtool cannot backfill rules that read each other in one
   pass), each rule at --interval, as a Prometheus with evaluation_interval = --interval
   would have recorded it. Alerting rules are not evaluated (promtool cannot), so ALERTS
   and ALERTS_FOR_STATE are absent.
3. Writes DIR/meta.json (what was built, the time range, timings).

The shape follows the simulator (docs/simulator.md): 5 agents per workspace, workspaces
busy in proportion to a lognormal weight, a diurnal and a weekday/weekend cycle, ~90 %
completed / 7 % failed / 3 % cancelled, lognormal queue waits and runtimes observed into
the exporter's buckets, counters that restart at 00:00 UTC (as the exporter's do), the
top-3 longest-running runs of each workspace (their `run_id` changes every 30 minutes),
3 of the simulator's 5 models per workspace, one shared worker pool.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "alerts", "agent_execution.rules.yml")
BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120,
           180, 300, 450, 600, 900, 1200, 1800, 2700, 3600]
LE = ["%g" % b for b in BUCKETS] + ["+Inf"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "claude-3-haiku", "llama-3-70b"]
STATUSES = (("completed", 0.90), ("failed", 0.07), ("cancelled", 0.03))
AGENTS = 5
TOP_RUNS = 3
JOB = 'job="agent_execution_exporter",instance="exporter:9469"'
BLOCK = "54h"  # 2h * 3^3: promtool's and Prometheus' block ranges line up


def log(msg):
    print(time.strftime("%H:%M:%S"), "query_data:", msg, file=sys.stderr, flush=True)


def uid(*parts):
    h = hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def lognorm_cdf(x, median, sigma):
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def diurnal(hour):
    """Busier in the (UTC) working day, as the simulator's arrival profile."""
    return 0.35 + 0.65 * math.exp(-((hour - 14) / 4.5) ** 2)


class Workspace:
    """Per-minute arrivals of one workspace and the day-cumulative counts derived from them."""

    def __init__(self, i, seed, ts):
        rnd = random.Random(f"{seed}/{i}")
        self.id = uid("ws", seed, i)
        self.name = f"workspace-{i:04d}"
        self.rate = min(400.0, 8.0 * math.exp(rnd.gauss(0, 1)))  # runs/min at the daily peak
        self.agents = [uid("agent", seed, i, a) for a in range(AGENTS)]
        w = [rnd.uniform(0.3, 1.0) for _ in range(AGENTS)]
        self.agent_share = [x / sum(w) for x in w]
        fail = rnd.uniform(0.02, 0.12)
        self.status_share = {"completed": 0.97 - fail, "failed": fail, "cancelled": 0.03}
        self.wait_median, self.wait_sigma = rnd.uniform(0.5, 5), rnd.uniform(0.8, 1.4)
        self.run_median, self.run_sigma = rnd.uniform(3, 20), rnd.uniform(0.4, 1.0)
        self.models = rnd.sample(MODELS, 3)
        self.model_median = {m: rnd.uniform(0.4, 4) for m in self.models}
        self.n = []       # runs finished in the minute before each sample
        self.cum = []     # runs finished since 00:00 UTC at each sample
        c = 0
        for t in ts:
            day_s = t % 86400
            wd = (t // 86400 + 3) % 7  # 0 = Monday
            mu = self.rate * diurnal(day_s / 3600) * (0.45 if wd >= 5 else 1.0) * (ts[1] - ts[0]) / 60
            k = max(0, int(round(mu + math.sqrt(mu) * rnd.gauss(0, 1))))
            if day_s < ts[1] - ts[0]:
                c = 0  # the exporter's counters restart at 00:00 UTC
            c += k
            self.n.append(k)
            self.cum.append(c)
        self.rnd = rnd

    def window(self, i0, i1):
        """This workspace over samples i0 .. i1 - 1 only (one piece of a long span)."""
        piece = copy.copy(self)
        piece.n, piece.cum = self.n[i0:i1], self.cum[i0:i1]
        return piece

    def cdf(self, median, sigma):
        return [lognorm_cdf(b, median, sigma) for b in BUCKETS] + [1.0]


class Writer:
    def __init__(self, f, ts):
        self.f = f
        self.ts = [" %d" % t for t in ts]
        self.samples = 0
        self.series = 0

    def family(self, name, kind):
        self.f.write(f"# TYPE {name} {kind}\n")

    def series_(self, name, labels, values, first=0):
        prefix = name + "{" + (labels + "," if labels else "") + JOB + "} "
        ts = self.ts
        self.f.write("\n".join(prefix + v + ts[first + i] for i, v in enumerate(values)))
        self.f.write("\n")
        self.samples += len(values)
        self.series += 1


def fmt_int(values):
    return [str(v) for v in values]


def fmt(values):
    return ["%.6g" % v for v in values]


def cum_split(cum, share):
    return [str(int(c * share + 0.5)) for c in cum]


def write_openmetrics(path, wss, ts, seed):
    """Every family of a real scrape with its real labels, family by family, over ts
    (wss: the workspaces' arrivals at ts)."""
    step = ts[1] - ts[0]
    n_ws = len(wss)
    T = len(ts)
    with open(path, "w", buffering=1 << 22) as f:
        w = Writer(f, ts)
        # --- runs collector -------------------------------------------------------------
        w.family("agent_runs_finished", "counter")
        for ws in wss:
            for a, agent in enumerate(ws.agents):
                for status, _ in STATUSES:
                    share = ws.agent_share[a] * ws.status_share[status]
                    w.series_("agent_runs_finished_total",
                              f'workspace_id="{ws.id}",agent_id="{agent}",status="{status}"',
                              cum_split(ws.cum, share))
        w.family("agent_run_runtime_seconds", "counter")
        for ws in wss:
            mean = ws.run_median * math.exp(ws.run_sigma ** 2 / 2)
            for a, agent in enumerate(ws.agents):
                share = ws.agent_share[a] * (1 - ws.status_share["cancelled"] / 2)
                w.series_("agent_run_runtime_seconds_total",
                          f'workspace_id="{ws.id}",agent_id="{agent}"',
                          ["%.3f" % (c * share * mean) for c in ws.cum])
        for fam in ("queue_wait", "duration", "end_to_end"):
            name = f"agent_run_{fam}_seconds"
            w.family(name, "histogram")
            for ws in wss:
                if fam == "queue_wait":
                    med, sig = ws.wait_median, ws.wait_sigma
                elif fam == "duration":
                    med, sig = ws.run_median, ws.run_sigma
                else:
                    med, sig = ws.wait_median + ws.run_median, 0.9
                cdf = ws.cdf(med, sig)
                observed = [c * (1 - ws.status_share["cancelled"] / 2) for c in ws.cum]
                for le, p in zip(LE, cdf):
                    w.series_(name + "_bucket", f'workspace_id="{ws.id}",le="{le}"',
                              [str(int(o * p + 0.5)) for o in observed])
                mean = med * math.exp(sig ** 2 / 2)
                w.series_(name + "_sum", f'workspace_id="{ws.id}"', ["%.3f" % (o * mean) for o in observed])
                w.series_(name + "_count", f'workspace_id="{ws.id}"', [str(int(o + 0.5)) for o in observed])
        w.family("agent_runs_counting_since_timestamp_seconds", "gauge")
        w.series_("agent_runs_counting_since_timestamp_seconds", "", [str(t - t % 86400) for t in ts])
        # --- realtime collector ---------------------------------------------------------
        realtime = {}
        for ws in wss:
            rnd = random.Random(ws.id)
            mean_run = ws.run_median * math.exp(ws.run_sigma ** 2 / 2)
            running = [max(0, int(k / step * mean_run + rnd.gauss(0, 1))) for k in ws.n]
            depth = [max(0, int(rnd.expovariate(1.0) * k / 20)) for k in ws.n]
            wait = [rnd.uniform(0.5, 2) * ws.wait_median if d else 0 for d in depth]
            oldest = [x * rnd.uniform(2, 6) for x in wait]
            overdue = [1 if rnd.random() < 0.02 and r else 0 for r in running]
            realtime[ws.id] = (running, depth, wait, oldest, overdue)
        for k, name in enumerate(("agent_runs_running", "agent_queue_depth", "agent_queue_wait_seconds_avg",
                                  "agent_queue_oldest_age_seconds", "agent_runs_overdue")):
            w.family(name, "gauge")
            for ws in wss:
                vals = realtime[ws.id][k]
                w.series_(name, f'workspace_id="{ws.id}"', fmt_int(vals) if k in (0, 1, 4) else fmt(vals))
        slot = 1800 // step  # the longest-running runs change every 30 minutes
        for name in ("agent_run_elapsed_seconds", "agent_run_estimated_runtime_seconds"):
            w.family(name, "gauge")
            for ws in wss:
                rnd = random.Random(ws.id + name[:12])
                for s0 in range(0, T, slot):
                    s1 = min(T, s0 + slot)
                    for r in range(TOP_RUNS):
                        agent = ws.agents[(s0 // slot + r) % AGENTS]
                        rid = uid("run", ws.id, s0, r)
                        est = 60 * (1 + r) * ws.run_median
                        if name == "agent_run_elapsed_seconds":
                            vals = ["%.3f" % (est * 0.8 + (i - s0) * step) for i in range(s0, s1)]
                        else:
                            vals = ["%g" % est] * (s1 - s0)
                        w.series_(name, f'workspace_id="{ws.id}",agent_id="{agent}",run_id="{rid}"', vals, s0)
        # --- info collector -------------------------------------------------------------
        w.family("agent_workspace_info", "gauge")
        for ws in wss:
            w.series_("agent_workspace_info", f'workspace_id="{ws.id}",workspace_name="{ws.name}"', ["1"] * T)
        w.family("agent_info", "gauge")
        for ws in wss:
            for a, agent in enumerate(ws.agents):
                w.series_("agent_info", f'workspace_id="{ws.id}",agent_id="{agent}",agent_name="agent-{a}"',
                          ["1"] * T)
        # --- workers collector: one shared pool (workspace_id=""), as the simulator -----
        n_workers = max(8, n_ws // 10)
        slots = 4
        total_running = [sum(realtime[ws.id][0][i] for ws in wss) for i in range(T)]
        busy = [min(n_workers, (r + slots - 1) // slots) for r in total_running]
        rnd = random.Random(seed)
        offline = [1 if rnd.random() < 0.01 else 0 for _ in range(T)]
        pool = {
            ("agent_workers", 'state="busy"'): fmt_int(busy),
            ("agent_workers", 'state="idle"'): fmt_int([n_workers - b - o for b, o in zip(busy, offline)]),
            ("agent_workers", 'state="offline"'): fmt_int(offline),
            ("agent_worker_slots", ""): [str(n_workers * slots)] * T,
        }
        util = [b / n_workers for b in busy]
        for res, scale in (("cpu", 0.8), ("memory", 0.6), ("gpu", 0.3)):
            pool[(f"agent_worker_{res}_usage_ratio_avg", "")] = fmt([u * scale for u in util])
            pool[(f"agent_worker_{res}_usage_ratio_max", "")] = fmt([min(1.0, u * scale * 1.4 + 0.05) for u in util])
        last = None
        for (name, extra), vals in pool.items():
            if name != last:
                w.family(name, "gauge")
                last = name
            w.series_(name, 'workspace_id=""' + ("," + extra if extra else ""), vals)
        workers = [uid("worker", seed, k) for k in range(n_workers)]
        w.family("agent_worker_state", "gauge")
        for k, wid in enumerate(workers):
            is_busy = [1 if k < b else 0 for b in busy]
            is_off = [1 if (o and k == n_workers - 1) else 0 for o in offline]
            for state in ("busy", "idle", "offline"):
                if state == "busy":
                    vals = [b and not o for b, o in zip(is_busy, is_off)]
                elif state == "idle":
                    vals = [not b and not o for b, o in zip(is_busy, is_off)]
                else:
                    vals = is_off
                w.series_("agent_worker_state", f'workspace_id="",worker_id="{wid}",state="{state}"',
                          ["1" if v else "0" for v in vals])
        w.family("agent_worker_capacity_slots", "gauge")
        for wid in workers:
            w.series_("agent_worker_capacity_slots", f'workspace_id="",worker_id="{wid}"', [str(slots)] * T)
        for res, scale in (("cpu", 0.8), ("memory", 0.6), ("gpu", 0.3)):
            name = f"agent_worker_{res}_usage_ratio"
            w.family(name, "gauge")
            for k, wid in enumerate(workers):
                w.series_(name, f'workspace_id="",worker_id="{wid}"',
                          fmt([scale * (0.9 if k < b else 0.05) for b in busy]))
        w.family("agent_worker_last_heartbeat_timestamp_seconds", "gauge")
        for wid in workers:
            w.series_("agent_worker_last_heartbeat_timestamp_seconds", f'workspace_id="",worker_id="{wid}"',
                      [str(t - 1) for t in ts])
        # --- models collector -----------------------------------------------------------
        calls_share = (0.5, 0.3, 0.2)
        for name, kind in (("agent_model_calls", "counter"), ("agent_model_tokens", "counter"),
                           ("agent_model_cost_dollars", "counter")):
            w.family(name, kind)
            for ws in wss:
                for m, share in zip(ws.models, calls_share):
                    calls = [c * 1.8 * share for c in ws.cum]
                    lab = f'workspace_id="{ws.id}",model="{m}"'
                    if name == "agent_model_calls":
                        w.series_(name + "_total", lab, [str(int(c + 0.5)) for c in calls])
                    elif name == "agent_model_tokens":
                        w.series_(name + "_total", lab + ',type="prompt"', [str(int(c * 900)) for c in calls])
                        w.series_(name + "_total", lab + ',type="completion"', [str(int(c * 250)) for c in calls])
                    else:
                        w.series_(name + "_total", lab, ["%.4f" % (c * 0.004) for c in calls])
        name = "agent_model_call_duration_seconds"
        w.family(name, "histogram")
        for ws in wss:
            for m, share in zip(ws.models, calls_share):
                calls = [c * 1.8 * share for c in ws.cum]
                med = ws.model_median[m]
                lab = f'workspace_id="{ws.id}",model="{m}"'
                for le, p in zip(LE, ws.cdf(med, 0.7)):
                    w.series_(name + "_bucket", lab + f',le="{le}"', [str(int(c * p + 0.5)) for c in calls])
                w.series_(name + "_sum", lab, ["%.3f" % (c * med * 1.28) for c in calls])
                w.series_(name + "_count", lab, [str(int(c + 0.5)) for c in calls])
        w.family("agent_model_calls_counting_since_timestamp_seconds", "gauge")
        w.series_("agent_model_calls_counting_since_timestamp_seconds", "", [str(t - t % 86400) for t in ts])
        # --- patterns collector: per-day aggregates, constant through each day ----------
        per_hour = {ws.id: [ws.rate * 60 * diurnal(h + 0.5) for h in range(24)] for ws in wss}
        day_idx = [t // 86400 for t in ts]
        for name in ("agent_executions_hour_of_day_average", "agent_executions_hour_of_day_success_ratio",
                     "agent_executions_hour_of_day_latency_seconds_avg"):
            w.family(name, "gauge")
            for ws in wss:
                for h in range(24):
                    base = per_hour[ws.id][h]
                    if name.endswith("_average"):
                        val = base
                    elif name.endswith("_ratio"):
                        val = ws.status_share["completed"]
                    else:
                        val = ws.wait_median + ws.run_median * 1.3
                    vals = fmt([val * (1 + 0.05 * math.sin(d * 7 + h)) for d in day_idx])
                    w.series_(name, f'workspace_id="{ws.id}",hour="{h}"', vals)
        for name, factor in (("agent_executions_daily_average", 1.0), ("agent_executions_weekday_average", 1.15),
                             ("agent_executions_weekend_average", 0.5)):
            w.family(name, "gauge")
            for ws in wss:
                total = sum(per_hour[ws.id]) * factor
                w.series_(name, f'workspace_id="{ws.id}"', fmt([total * (1 + 0.03 * math.sin(d)) for d in day_idx]))
        for name, rev in (("agent_executions_peak_hour", True), ("agent_executions_quiet_hour", False)):
            w.family(name, "gauge")
            for ws in wss:
                ranked = sorted(range(24), key=lambda h: (-per_hour[ws.id][h] if rev else per_hour[ws.id][h], h))
                for rank, h in enumerate(ranked[:3], 1):
                    w.series_(name, f'workspace_id="{ws.id}",hour="{h}",rank="{rank}"',
                              ["%.6g" % per_hour[ws.id][h]] * T)
        w.family("agent_executions_pattern_window_seconds", "gauge")
        w.series_("agent_executions_pattern_window_seconds", "", [str(7 * 86400)] * T)
        # --- database and the exporter's own families -----------------------------------
        w.family("agent_db_connections", "gauge")
        for state, v in (("active", 6), ("idle", 14), ("idle_in_transaction", 1),
                         ("idle_in_transaction_aborted", 0), ("fastpath_function_call", 0), ("disabled", 0)):
            w.series_("agent_db_connections", f'state="{state}"', [str(v)] * T)
        w.family("agent_db_max_connections", "gauge")
        w.series_("agent_db_max_connections", "", ["100"] * T)
        w.family("agent_db_transactions", "counter")
        all_cum = [0] * T
        acc = 0
        for i in range(T):
            acc += sum(ws.n[i] for ws in wss)
            all_cum[i] = acc
        w.series_("agent_db_transactions_total", 'result="commit"', [str(c * 6 + i * 40) for i, c in enumerate(all_cum)])
        w.series_("agent_db_transactions_total", 'result="rollback"', [str(c // 50 + i) for i, c in enumerate(all_cum)])
        for name, kind in (("agent_exporter_collector_up", "gauge"),
                           ("agent_exporter_collector_duration_seconds", "gauge"),
                           ("agent_exporter_collector_last_success_timestamp_seconds", "gauge")):
            w.family(name, kind)
            for c in ("realtime", "runs", "info", "workers", "models", "patterns", "database"):
                if name.endswith("_up"):
                    vals = ["1"] * T
                elif name.endswith("_seconds") and "timestamp" not in name:
                    vals = ["0.004"] * T
                else:
                    vals = [str(t - 1) for t in ts]
                w.series_(name, f'collector="{c}"', vals)
        f.write("# EOF\n")
    return w.series, w.samples


# --- recording rules ---------------------------------------------------------------------

def load_rules(path=RULES):
    """[(record, labels, expr)] of every recording rule, in file order."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc["groups"]:
        for r in g["rules"]:
            if "record" in r:
                out.append((r["record"], r.get("labels") or {}, r["expr"]))
    return out


def rule_levels(rules):
    """Dependency level of each rule: 0 reads only raw series, n reads level < n."""
    import query_targets  # the PromQL selector scanner lives there
    names = {r[0] for r in rules}
    deps = [{s.name for s in query_targets.selectors(expr) if s.name in names} for _, _, expr in rules]
    level = {}
    pending = list(range(len(rules)))
    while pending:
        progress = False
        for i in list(pending):
            need = [j for j, r in enumerate(rules) if r[0] in deps[i]]
            if all(j in level for j in need):
                level[i] = 1 + max((level[j] for j in need), default=-1)
                pending.remove(i)
                progress = True
        if not progress:
            raise SystemExit(f"query_data: recording rules depend on each other in a cycle: "
                             f"{[rules[i][0] for i in pending]}")
    return [level[i] for i in range(len(rules))]


class Prometheus:
    def __init__(self, data, port, log_path, extra=()):
        self.port = port
        cfg = os.path.join(data, "..", f"prometheus-{port}.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 60s\n  evaluation_interval: 60s\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=400d",
             f"--storage.tsdb.max-block-duration={BLOCK}", "--log.level=warn", *extra],
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 600
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"query_data: prometheus exited ({self.proc.returncode}); see {log_path}")
            if time.time() > deadline:
                self.stop()
                raise SystemExit(f"query_data: prometheus on :{port} not ready after 600 s; see {log_path}")
            time.sleep(0.2)

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            total = 0.0
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    total += float(line.rsplit(" ", 1)[1])
            return total

    def settle(self, quiet=45, limit=1800):
        """Waits until the compactor (first run 1 minute after start) has merged the
        backfilled blocks and stayed idle for `quiet` seconds."""
        t0 = time.time()
        last, since = None, time.time()
        while time.time() - t0 < limit:
            state = (self.metric("prometheus_tsdb_compactions_total"),
                     self.metric("prometheus_tsdb_vertical_compactions_total"),
                     self.metric("prometheus_tsdb_blocks_loaded"))
            if state != last:
                last, since = state, time.time()
            elif time.time() - t0 > 75 and time.time() - since > quiet:
                return last
            time.sleep(5)
        return last

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def move_blocks(src, dst):
    n = 0
    for d in os.listdir(src):
        if os.path.exists(os.path.join(src, d, "meta.json")):
            shutil.move(os.path.join(src, d), os.path.join(dst, d))
            n += 1
    return n


def dashboard_rules(rules):
    """Names of the recorded series the dashboards read, directly or through other rules."""
    import query_targets
    names = {r[0] for r in rules}
    need = set()
    for _, _, _, panels in query_targets.all_dashboards(int(time.time()), 60):
        for p in panels:
            for q in p["queries"]:
                need |= {s.name for s in query_targets.selectors(q["expr"]) if s.name in names}
    todo = list(need)
    while todo:
        n = todo.pop()
        for rec, _, expr in rules:
            if rec == n:
                for s in query_targets.selectors(expr):
                    if s.name in names and s.name not in need:
                        need.add(s.name)
                        todo.append(s.name)
    return need


def backfill_rules(out, data, start, end, interval, port, jobs=1, only_dashboards=False):
    rules = load_rules()
    levels = rule_levels(rules)
    if only_dashboards:
        need = dashboard_rules(rules)
        levels = [l for r, l in zip(rules, levels) if r[0] in need]
        rules = [r for r in rules if r[0] in need]
    took = []
    for lvl in range(max(levels) + 1):
        mine = [r for r, l in zip(rules, levels) if l == lvl]
        if not mine:
            continue
        t0 = time.time()
        # rule backfills at 2 000 workspaces run for minutes per rule on a busy machine
        prom = Prometheus(data, port, os.path.join(out, "prometheus-build.log"),
                          extra=("--query.timeout=30m", "--query.max-samples=1000000000"))
        parts = []
        try:
            # rules of one level are independent: `jobs` promtool processes, each its share
            for j in range(min(jobs, len(mine))):
                path = os.path.join(out, f"rules-level{lvl}-{j}.yml")
                with open(path, "w") as f:
                    yaml.safe_dump({"groups": [{"name": f"level{lvl}-{j}", "interval": f"{interval}s", "rules": [
                        dict({"record": rec, "expr": expr}, **({"labels": lab} if lab else {}))
                        for rec, lab, expr in mine[j::jobs]]}]}, f, sort_keys=False)
                blocks = os.path.join(out, f"rules-level{lvl}-{j}")
                shutil.rmtree(blocks, ignore_errors=True)
                parts.append((blocks, subprocess.Popen(
                    ["promtool", "tsdb", "create-blocks-from", "rules", "--quiet",
                     f"--url=http://127.0.0.1:{port}", f"--start={start}", f"--end={end}",
                     f"--eval-interval={interval}s", f"--max-block-duration={BLOCK}",
                     f"--output-dir={blocks}", path],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(out, "promtool-rules.log"), "ab"))))
            failed = [p.args[-1] for _, p in parts if p.wait() != 0]
            if failed:
                raise SystemExit(f"query_data: promtool could not backfill {failed}; see {out}/promtool-rules.log")
        finally:
            for _, p in parts:
                if p.poll() is None:
                    p.kill()
            prom.stop()
        n = sum(move_blocks(b, data) for b, _ in parts)
        took.append({"level": lvl, "rules": len(mine), "blocks": n, "seconds": round(time.time() - t0, 1)})
        log(f"rules level {lvl}: {len(mine)} rules, {n} blocks, {time.time() - t0:.0f} s")
    return took, len(rules)


def build(out, n_ws, span_hours, interval, seed, port, jobs=1, only_dashboards=False, piece_hours=54):
    os.makedirs(out, exist_ok=True)
    data = os.path.join(out, "data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    end = int(time.time()) // interval * interval
    start = end - int(span_hours * 3600)
    ts = list(range(start + interval, end + 1, interval))
    meta = {"workspaces": n_ws, "span_hours": span_hours, "interval": interval, "seed": seed,
            "start": start, "end": end, "rules_file": os.path.relpath(RULES, ROOT)}
    wss = [Workspace(i, seed, ts) for i in range(n_ws)]
    # The OpenMetrics text is ~180 bytes a sample: a long span is written and imported a
    # piece at a time (each piece's file deleted before the next is written), so the disk
    # holds one piece's text, not the span's. Run ids, random gauges and the database
    # counters restart with each piece; the runs counters do not (they follow ws.cum).
    piece_s = max(4 * interval, int(piece_hours * 3600))
    # Pieces end where Prometheus' blocks do (multiples of piece_s since the epoch, with
    # the default 54 h), so the blocks of two pieces do not overlap.
    # (Neither the first nor the last piece may hold a single sample: a piece needs a step.)
    cuts = [i for i in range(2, len(ts) - 1) if ts[i] % piece_s < interval]
    pieces = list(zip([0] + cuts, cuts + [len(ts)]))
    meta.update(raw_series=0, raw_samples=0, generate_seconds=0.0, openmetrics_bytes=0, raw_blocks=0,
                promtool_openmetrics_seconds=0.0, pieces=0)
    raw_blocks = os.path.join(out, "raw-blocks")
    om = os.path.join(out, "raw.om")
    for i0, i1 in pieces:
        t0 = time.time()
        series, samples = write_openmetrics(om, [ws.window(i0, i1) for ws in wss], ts[i0:i1], seed)
        size = os.path.getsize(om)
        meta["raw_series"] = max(meta["raw_series"], series)
        meta["raw_samples"] += samples
        meta["generate_seconds"] = round(meta["generate_seconds"] + time.time() - t0, 1)
        meta["openmetrics_bytes"] = max(meta["openmetrics_bytes"], size)
        log(f"{n_ws} workspaces, samples {i0}-{i1 - 1} of {len(ts)}: {series} series, {samples} samples, "
            f"{size >> 20} MiB OpenMetrics in {time.time() - t0:.0f} s")
        t0 = time.time()
        shutil.rmtree(raw_blocks, ignore_errors=True)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                        f"--max-block-duration={BLOCK}", om, raw_blocks], check=True, stdout=subprocess.DEVNULL)
        meta["raw_blocks"] += move_blocks(raw_blocks, data)
        meta["promtool_openmetrics_seconds"] = round(meta["promtool_openmetrics_seconds"] + time.time() - t0, 1)
        meta["pieces"] += 1
        os.remove(om)
        log(f"raw blocks in {time.time() - t0:.0f} s")
    meta["rule_levels"], meta["recording_rules"] = backfill_rules(out, data, start, end, interval, port,
                                                                  jobs, only_dashboards)
    meta["rules_backfilled"] = "the dashboards' (and their dependencies)" if only_dashboards else "all"
    meta["tsdb_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["build"])
    ap.add_argument("dir")
    ap.add_argument("--workspaces", type=int, required=True)
    ap.add_argument("--span-hours", type=float, required=True)
    ap.add_argument("--interval", type=int, default=60, help="seconds between samples and rule evaluations")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=19098, help="Prometheus serving the raw data to promtool")
    ap.add_argument("--jobs", type=int, default=1, help="promtool processes backfilling rules at once")
    ap.add_argument("--only-dashboard-rules", action="store_true",
                    help="backfill only the recording rules the dashboards read (and those they read)")
    ap.add_argument("--piece-hours", type=float, default=54,
                    help="hours of samples written and imported at a time (the disk holds one piece's text)")
    ap.add_argument("--rules-only", action="store_true",
                    help="DIR/data already holds the raw blocks (and DIR/meta.json their description): "
                         "only backfill the rules")
    a = ap.parse_args()
    if a.workspaces < 1 or a.span_hours * 3600 < 4 * a.interval or a.interval < 1:
        ap.error("need --workspaces >= 1, --interval >= 1 and a span of at least 4 intervals")
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            sys.exit(f"query_data: {tool} not found (bench/install-deps.sh installs the Debian prometheus package)")
    if a.rules_only:
        out = os.path.abspath(a.dir)
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
        t0 = time.time()
        meta["rule_levels"], meta["recording_rules"] = backfill_rules(
            out, os.path.join(out, "data"), meta["start"], meta["end"], meta["interval"], a.port, a.jobs,
            a.only_dashboard_rules)
        meta["rules_backfilled"] = "the dashboards' (and their dependencies)" if a.only_dashboard_rules else "all"
        meta["rules_seconds"] = round(time.time() - t0, 1)
        meta["tsdb_bytes"] = sum(os.path.getsize(os.path.join(d, f))
                                 for d, _, fs in os.walk(os.path.join(out, "data")) for f in fs)
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(json.dumps(meta))
        return
    print(json.dumps(build(os.path.abspath(a.dir), a.workspaces, a.span_hours, a.interval, a.seed, a.port,
                           a.jobs, a.only_dashboard_rules, a.piece_hours)))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
