#!/usr/bin/env python3
"""Writes a promtool test for AgentRunsStuck under realistic heavy-tailed traffic.

  stuck_runs_gen.py RULES_DIR > stuck_runs_test.yml   (alerts/check.sh runs it)

It simulates a platform the way tools/sim does (each agent: Poisson arrivals, lognormal
runtimes with sigma 0.4-1.0, estimated_runtime = the agent's mean runtime x
U(0.8, 1.25)) and writes what the exporter would expose every minute:
agent_runs_running, agent_runs_overdue (running runs past 3x their estimate), the 10
longest-running runs of each workspace (agent_run_elapsed_seconds,
agent_run_estimated_runtime_seconds, as --collector.realtime.top-runs=10) and the
agent_run_duration_seconds buckets (reset at 00:00 UTC like the exporter's).

Timeline: day 1 (0h-24h) gives Prometheus the day of history the rule's tail reference
(the longest run each workspace finished in the last 1d) has in any Prometheus that has
run for a day; the per-run families start at 24h, and the test checks 24h-28h.
Workspaces:
  busy        100 runs/s, five agents up to median 20 s with sigma 1.0: hundreds of runs
              are always past 3x their estimate (the old alert never cleared). Must
              stay silent.
  busy-hung   the same traffic plus one run that hangs from 24h40m: must fire once that
              run has outlived twice the longest run the workspace finished in a day.
  quiet       one run a minute plus one run that hangs from 25h: must fire once the run
              has been past 3x its estimate for 5 minutes (+ the alert's 1m).
Every run that can be overdue or among the 10 longest running (runtime above 2.4x its
agent's mean, the lowest possible 3x estimate) is simulated one by one; the shorter
ones only as Poisson counts per histogram bucket and minute (checked: the 10 longest
running are always older than any of them).
The expected alert states are computed here from the rules' definition (defaults of
alerts/config.libsonnet: factor 3, window 5m, tail factor 2, tail window 1d, for 1m)
and asserted only at times when the condition has not changed for 3 minutes, so the
order in which Prometheus evaluates rule groups cannot matter. The script fails if the
busy workspace's condition is ever true, or if a hung run never fires.
Deterministic: its own SplitMix64 generator, not Python's random module.
"""
import bisect
import heapq
import math
import statistics
import sys

STEP = 60                      # seconds between samples (scrape and evaluation interval)
DAY = 86400
DURATION = DAY + 4 * 3600      # the last sample
CHECK_FROM = DAY               # per-run families and assertions from here
WARMUP = 2 * 3600              # the platform runs this long before the first sample
TOP_RUNS = 10                  # --collector.realtime.top-runs
FACTOR, WINDOW, TAIL, FOR = 3, 300, 2, 60   # stuckFactor, stuckWindow, stuckTailFactor, stuckFor
BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120,
           180, 300, 450, 600, 900, 1200, 1800, 2700, 3600]
N01 = statistics.NormalDist()


class Rng:
    """SplitMix64 with Box-Muller, like tools/sim/random.h."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def uniform(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * ((self.next() >> 11) / float(1 << 53))

    def normal(self):
        u1 = max(self.uniform(), 1e-300)
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * self.uniform())

    def poisson(self, mean):
        if mean > 50:
            return max(0, int(round(mean + math.sqrt(mean) * self.normal())))
        limit, k, p = math.exp(-mean), 0, self.uniform()
        while p > limit:
            k += 1
            p *= self.uniform()
        return k


# (agent id, share of the workspace's runs, median runtime s, sigma)
BUSY_AGENTS = [("a1", 0.30, 1.5, 0.4), ("a2", 0.25, 4.0, 0.7), ("a3", 0.20, 8.0, 0.85),
               ("a4", 0.15, 20.0, 1.0), ("a5", 0.10, 12.0, 1.0)]
QUIET_AGENTS = [("q1", 1.0, 8.0, 0.7)]
WORKSPACES = [  # id, runs per second, agents, hung run (agent, start s, estimate s) or None
    ("busy", 100.0, BUSY_AGENTS, None),
    ("busy-hung", 100.0, BUSY_AGENTS, ("a4", DAY + 40 * 60, 33.0)),
    ("quiet", 1 / 60, QUIET_AGENTS, ("q1", DAY + 60 * 60, 10.2)),
]


def simulate(index, rate, agents, hung):
    """Returns the runs simulated one by one, as (start, runtime or inf, estimate, agent,
    run id) sorted by start, the counts of the other (short) runs finished per step and
    bucket, and their expected number running."""
    rng = Rng(0x5EED0000 + index)
    n = DURATION // STEP + 1
    runs, short = [], [[0] * (len(BUCKETS) + 1) for _ in range(n)]
    short_running = 0.0
    for agent, share, median, sigma in agents:
        mu, mean = math.log(median), median * math.exp(sigma * sigma / 2)
        lam = rate * share
        # Runs at most this long can neither be overdue (3 x estimate >= 2.4 x mean)
        # nor among the longest running (checked in exporter_view).
        cut = 2.4 * mean if rate > 1 else 0.0
        p_short = N01.cdf((math.log(cut) - mu) / sigma) if cut > 0 else 0.0
        short_running += lam * (mean * N01.cdf((math.log(cut) - mu) / sigma - sigma) if cut > 0 else 0.0)
        bounds = [0.0] + BUCKETS
        p_bucket = []
        for b in range(len(BUCKETS) + 1):
            lo, hi = bounds[b], (BUCKETS[b] if b < len(BUCKETS) else math.inf)
            lo, hi = min(lo, cut), min(hi, cut)
            cdf = lambda x: 0.0 if x <= 0 else (1.0 if x == math.inf else N01.cdf((math.log(x) - mu) / sigma))
            p_bucket.append(max(0.0, cdf(hi) - cdf(lo)))
        for k in range(-(WARMUP // STEP), n):
            t0 = k * STEP
            if k >= 0:
                for b, p in enumerate(p_bucket):
                    if p > 0:
                        short[k][b] += rng.poisson(lam * STEP * p)
            for _ in range(rng.poisson(lam * STEP * (1 - p_short))):
                u = p_short + (1 - p_short) * rng.uniform()
                runtime = math.exp(mu + sigma * N01.inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))
                estimate = round(mean * rng.uniform(0.8, 1.25), 3)
                runs.append((round(t0 + STEP * rng.uniform(), 3), max(0.02, runtime), estimate, agent))
    if hung:
        runs.append((float(hung[1]), math.inf, hung[2], hung[0]))
    runs.sort()
    runs = [(s, x, e, a, "r%06d" % i) for i, (s, x, e, a) in enumerate(runs)]
    cutoff = max(2.4 * median * math.exp(sigma * sigma / 2) for _, _, median, sigma in agents) if rate > 1 else 0.0
    return runs, short, int(round(short_running)), cutoff


def bucket_index(x):
    return bisect.bisect_left(BUCKETS, x)  # len(BUCKETS) = +Inf


def exporter_view(runs, short, short_running, cutoff):
    """Per sample: running, overdue, the top runs [(run id, elapsed)] (from CHECK_FROM),
    the cumulative bucket counts (reset at each 00:00 UTC) and the rule's tail reference:
    the upper bound of the bucket of the longest run finished in the last day, as
    max_over_time(histogram_quantile(1, 5m bucket rates)[1d]) sees it."""
    n = DURATION // STEP + 1
    times = [k * STEP for k in range(n)]

    def sweep(events):
        events.sort()
        out, level, i = [], 0, 0
        for t in times:
            while i < len(events) and events[i][0] <= t:
                level += events[i][1]
                i += 1
            out.append(level)
        return out
    running = [short_running + v for v in
               sweep([(r[0], 1) for r in runs] + [(r[0] + r[1], -1) for r in runs if r[1] != math.inf])]
    over = [r for r in runs if r[1] > FACTOR * r[2]]
    # A run is overdue from start + 3 x estimate (strictly after) until it ends.
    overdue = sweep([(r[0] + FACTOR * r[2] + 1e-9, 1) for r in over] +
                    [(r[0] + r[1], -1) for r in over if r[1] != math.inf])
    # The 10 oldest running runs, ordered by start then run id like the exporter.
    active, ends, top, j = [], [], [], 0
    for t in times:
        while j < len(runs) and runs[j][0] <= t:
            r = runs[j]
            if r[0] + r[1] > t:
                bisect.insort(active, (r[0], r[4]))
                if r[1] != math.inf:
                    heapq.heappush(ends, (r[0] + r[1], r[0], r[4]))
            j += 1
        while ends and ends[0][0] <= t:
            _, st, rid = heapq.heappop(ends)
            del active[bisect.bisect_left(active, (st, rid))]
        if t < CHECK_FROM:
            top.append([])
            continue
        assert cutoff == 0 or (len(active) >= TOP_RUNS and t - active[TOP_RUNS - 1][0] > cutoff), \
            "a short run could be among the longest running at %d: %s" % (t, [t - a[0] for a in active[:TOP_RUNS]])
        top.append([(rid, round(t - st, 3)) for st, rid in active[:TOP_RUNS]])
    # Finishes per step (in (t_k - STEP, t_k]) and bucket.
    per_step = [list(c) for c in short]
    for r in runs:
        if r[1] != math.inf and 0 < r[0] + r[1] <= DURATION:
            per_step[int(math.ceil((r[0] + r[1]) / STEP))][bucket_index(r[1])] += 1
    counts, cum = [], [0] * (len(BUCKETS) + 1)
    for k, t in enumerate(times):
        if t % DAY == 0:
            cum = [0] * (len(BUCKETS) + 1)  # the exporter's counters restart at 00:00 UTC
        else:
            cum = [a + b for a, b in zip(cum, per_step[k])]
        counts.append(cum)
    # Largest bucket with an increase per step (none at a reset: the runs of that
    # minute belong to the day that ended and are never seen), then the 5m windows
    # (samples k-5..k, both ends included: increases of steps k-4..k), then their
    # maximum over 1d.
    top_bucket = [max((b for b, c in enumerate(per_step[k]) if c), default=-1) if times[k] % DAY else -1
                  for k in range(n)]
    window = [max(top_bucket[max(1, k - 4):k + 1], default=-1) if k >= 1 else -1 for k in range(n)]
    bound = [(-1 if b < 0 else BUCKETS[min(b, len(BUCKETS) - 1)]) for b in window]
    per_day = DAY // STEP
    maxbound = []
    for k in range(n):
        seen = [v for v in bound[max(0, k - per_day):k + 1] if v >= 0]
        maxbound.append(max(seen) if seen else 0.0)
    return times, running, overdue, top, counts, maxbound


def compress(values):
    """promtool expanding notation: runs of a constant step become 'a+bxn'."""
    out, i = [], 0
    while i < len(values):
        if values[i] is None:
            k = i
            while k < len(values) and values[k] is None:
                k += 1
            out.append("_x%d" % (k - i) if k - i > 1 else "_")
            i = k
            continue
        k = i + 1
        if k < len(values) and values[k] is not None:
            d = values[k] - values[i]
            while k + 1 < len(values) and values[k + 1] is not None and values[k + 1] - values[k] == d:
                k += 1
            out.append("%s%s%sx%d" % (num(values[i]), "+" if d >= 0 else "-", num(abs(d)), k - i))
            i = k + 1
        else:
            out.append(num(values[i]))
            i += 1
    return " ".join(out)


def num(v):
    return ("%.3f" % v).rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def le_label(b):
    return "%g" % b


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rules = sys.argv[1].rstrip("/")
    n = DURATION // STEP + 1
    series, expect, stats = [], {}, []
    for index, (ws, rate, agents, hung) in enumerate(WORKSPACES):
        runs, short, short_running, cutoff = simulate(index, rate, agents, hung)
        times, running, overdue, top, counts, maxbound = exporter_view(runs, short, short_running, cutoff)
        est = {r[4]: (r[2], r[3]) for r in runs}
        sel = 'workspace_id="%s",instance="exp-a:9477",job="agents"' % ws
        series.append(("agent_runs_running{%s}" % sel, compress(running)))
        series.append(("agent_runs_overdue{%s}" % sel, compress(overdue)))
        spans = {}
        for k, lst in enumerate(top):
            for rid, elapsed in lst:
                spans.setdefault(rid, [k, k, elapsed])[1] = k
        for rid, (k1, k2, e1) in sorted(spans.items()):
            assert all(rid in (x[0] for x in top[k]) for k in range(k1, k2 + 1))
            lab = 'workspace_id="%s",agent_id="%s",run_id="%s",instance="exp-a:9477",job="agents"' % (ws, est[rid][1], rid)
            tail = " stale" if k2 + 1 < n else ""
            pre = ("_x%d " % k1 if k1 > 1 else "_ " if k1 == 1 else "")
            series.append(("agent_run_elapsed_seconds{%s}" % lab, "%s%s+%dx%d%s" % (pre, num(e1), STEP, k2 - k1, tail)))
            series.append(("agent_run_estimated_runtime_seconds{%s}" % lab, "%s%s+0x%d%s" % (pre, num(est[rid][0]), k2 - k1, tail)))
        for b in range(len(BUCKETS) + 1):
            le = le_label(BUCKETS[b]) if b < len(BUCKETS) else "+Inf"
            cumulative = [sum(c[:b + 1]) for c in counts]
            series.append(('agent_run_duration_seconds_bucket{workspace_id="%s",le="%s",instance="exp-a:9477",job="agents"}' % (ws, le),
                           compress(cumulative)))
        # The rule, per sample: a listed run is stuck when elapsed >= 3 x estimate + 5m
        # and elapsed >= 2 x the upper bound of the longest finished run's bucket.
        cond = []
        for k, lst in enumerate(top):
            stuck = [rid for rid, el in lst if el >= FACTOR * est[rid][0] + WINDOW and el >= TAIL * maxbound[k]]
            cond.append(stuck)
        expect[ws] = cond
        k0 = CHECK_FROM // STEP
        stats.append("#   %-9s overdue runs from 24h: %d to %d; tail reference (longest run finished in 1d): %g-%gs" % (
            ws, min(overdue[k0:]), max(overdue[k0:]), min(maxbound[k0:]), max(maxbound[k0:])))
        if hung is None:
            assert not any(cond), "%s: a normal run would page at %s" % (ws, [times[k] for k, c in enumerate(cond) if c])
        else:
            assert any(cond), "%s: the hung run never fires" % ws
    # Assertion times: every 5 minutes, where no workspace's condition changed in the 3
    # minutes before.
    checks = []
    for t in range(CHECK_FROM + 300, DURATION + 1, 300):
        k = t // STEP
        window = range(k - 180 // STEP, k + 1)
        if all(expect[ws][i] == expect[ws][k] for ws in expect for i in window):
            checks.append((t, {ws: expect[ws][k] for ws in expect if expect[ws][k]}))
    fired = {ws for _, f in checks for ws in f}
    assert fired == {"busy-hung", "quiet"}, fired
    first = {ws: next(times[k] for k, c in enumerate(expect[ws]) if c) for ws in fired}

    w = sys.stdout.write
    w("# Generated by alerts/tests/stuck_runs_gen.py (alerts/check.sh runs it); do not edit.\n")
    w("# AgentRunsStuck under 100 runs/s of heavy-tailed traffic (see the script's docstring):\n")
    w("\n".join(stats) + "\n")
    w("#   hung runs stuck from: %s\n" % ", ".join("%s %dh%02dm" % (ws, first[ws] // 3600, first[ws] % 3600 // 60) for ws in sorted(first)))
    w("rule_files:\n  - %s/agent_execution.rules.yml\n  - %s/agent_execution.alerts.yml\n" % (rules, rules))
    w("evaluation_interval: %ds\ntests:\n  - interval: %ds\n    input_series:\n" % (STEP, STEP))
    for name, values in series:
        w("      - series: '%s'\n        values: '%s'\n" % (name, values))
    w("    promql_expr_test:\n")
    # The old condition (any overdue run) holds all the time in the busy workspaces.
    for t in range(CHECK_FROM + 1800, DURATION + 1, 1800):
        k = t // STEP
        w("      - expr: workspace:agent_runs_overdue:sum{workspace_id=\"busy\"} > 0\n")
        w("        eval_time: %s\n        exp_samples:\n" % duration(t))
        w("          - labels: 'workspace:agent_runs_overdue:sum{job=\"agents\",workspace_id=\"busy\"}'\n")
        w("            value: %d\n" % expect_overdue(t, series))
    # Not once in the 4 hours, at any evaluation: no stuck run, no alert, in "busy".
    for expr in ('count_over_time(workspace_agent_run:agent_run_elapsed_seconds:stuck{workspace_id="busy"}[4h])',
                 'count_over_time(ALERTS{alertname="AgentRunsStuck", workspace_id="busy"}[4h])'):
        w("      - expr: '%s'\n        eval_time: %s\n        exp_samples: []\n" % (expr, duration(DURATION)))
    # ...while the hung runs' workspaces fire.
    w("      - expr: 'count by (workspace_id) (max_over_time(ALERTS{alertname=\"AgentRunsStuck\", alertstate=\"firing\"}[4h]))'\n")
    w("        eval_time: %s\n        exp_samples:\n" % duration(DURATION))
    for ws in sorted(fired):
        w("          - labels: '{workspace_id=\"%s\"}'\n            value: 1\n" % ws)
    w("    alert_rule_test:\n")
    for t, firing in checks:
        w("      - eval_time: %s\n        alertname: AgentRunsStuck\n" % duration(t))
        if not firing:
            continue
        w("        exp_alerts:\n")
        for ws in sorted(firing):
            runs = sorted(firing[ws])
            listing = ", ".join("run %s (agent %s)" % (rid, agent_of(series, ws, rid)) for rid in runs)
            w("          - exp_labels:\n              severity: warning\n              job: agents\n              workspace_id: %s\n" % ws)
            w("            exp_annotations:\n")
            w("              summary: \"Runs are stuck: far past their estimated runtime and longer than any usual run of the workspace.\"\n")
            w("              description: \"Workspace %s has %d stuck run(s), past 3 times their estimated runtime for over 5m and running more than 2 times as long as the longest run it finished in the last 1d: %s.\"\n" % (ws, len(runs), listing))
            w("              runbook_url: https://github.com/agent-execution-exporter/agent_execution_exporter/blob/main/docs/runbook.md#agentrunsstuck\n")
            w("              dashboard_url: http://localhost:3000/d/agent-execution-overview?var-cluster=&var-job=agents&var-workspace=%s\n" % ws)
    return 0


def duration(t):
    return "%dh%02dm" % (t // 3600, t % 3600 // 60)


def expect_overdue(t, series):
    for name, values in series:
        if name.startswith('agent_runs_overdue{workspace_id="busy",'):
            return expand(values)[t // STEP]
    raise KeyError(t)


def agent_of(series, ws, rid):
    key = 'agent_run_elapsed_seconds{workspace_id="%s",agent_id="' % ws
    for name, _ in series:
        if name.startswith(key) and 'run_id="%s"' % rid in name:
            return name[len(key):].split('"')[0]
    raise KeyError(rid)


def expand(values):
    out = []
    for tok in values.split():
        if tok.startswith("_"):
            out += [None] * (int(tok[2:]) if "x" in tok else 1)
        elif "x" in tok:
            base, n = tok.rsplit("x", 1)
            sign = "+" if "+" in base[1:] else "-"
            a, d = base[0] + base[1:].split(sign)[0], base[1:].split(sign)[1]
            a, d = float(a), float(d) * (1 if sign == "+" else -1)
            out += [a + i * d for i in range(int(n) + 1)]
        else:
            out.append(float(tok))
    return out


if __name__ == "__main__":
    sys.exit(main())
