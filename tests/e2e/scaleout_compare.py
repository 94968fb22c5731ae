#!/usr/bin/python3
"""Checks of tests/e2e/scaleout_e2e.sh: a central Prometheus fed by per-shard Prometheus
servers (remote write) against a reference Prometheus scraping one unsharded exporter,
both running the rule pack as shipped.

  scaleout_compare.py SUBCOMMAND CENTRAL_URL REFERENCE_URL [ARGS]

  wait TIMEOUT      until every exact query agrees (the exporters and the remote-write
                    pipeline caught up), or TIMEOUT seconds
  exact             recorded gauges and counter totals, value for value
  series SHARDS     the central's deduplicated union of exporter series equals the
                    reference's, series for series; each workspace from one shard only
                    (SHARDS: JSON {"instance": shard index}), by the documented md5 rule
  recorded RULES    every recording rule of RULES has the same series on both; the
                    rate-derived ones agree within the tolerance documented below
  negative          a layout that forgets the replica label or loses a shard is caught
Each prints its findings; the exit status is 0 only when the check holds.
"""
import hashlib
import json
import sys
import time
import urllib.parse
import urllib.request

import yaml

# The rule pack's deduplication (alerts/config.libsonnet replicaLabels).
REPLICA_LABELS = ("instance", "pod", "prometheus_replica")
DEDUP = "max without (%s)" % ", ".join(REPLICA_LABELS)
BROKEN_DEDUP = "max without (instance, pod)"  # forgets the Prometheus pair's label

# Recording rules over gauges that do not move once the load stopped: equal exactly.
EXACT_RULES = [
    "workspace:agent_runs_running:sum",
    "workspace:agent_queue_depth:sum",
    "workspace:agent_runs_overdue:sum",
    ":agent_runs_running:sum",
    ":agent_queue_depth:sum",
    ":agent_worker_slots:sum",
    ":agent_capacity_utilisation:ratio",
]


def totals(dedup):
    """Counter totals (today's, per workspace, status, agent, bucket) and gauges, summed
    across shards after deduplicating replicas, the way the recording rules do."""
    return [
        f"sum by (cluster, job, workspace_id, status) ({dedup} (agent_runs_finished_total))",
        f"sum by (cluster, job, status) ({dedup} (agent_runs_finished_total))",
        f"sum by (cluster, job, workspace_id, agent_id, status) ({dedup} (agent_runs_finished_total))",
        f"sum by (cluster, job, workspace_id, le) ({dedup} (agent_run_duration_seconds_bucket))",
        f"sum by (cluster, job, le) ({dedup} (agent_run_queue_wait_seconds_bucket))",
        f"sum by (cluster, job, workspace_id) ({dedup} (agent_run_end_to_end_seconds_count))",
        f"sum by (cluster, job, workspace_id, model) ({dedup} (agent_model_calls_total))",
        f"sum by (cluster, job, workspace_id, state) ({dedup} (agent_workers))",
        f"sum by (cluster, job) ({dedup} (agent_runs_running))",
        f"sum by (cluster, job) ({dedup} (agent_queue_depth))",
        # No series double counted: as many series per workspace as one exporter has.
        f"count by (cluster, job, workspace_id) ({dedup} (agent_runs_finished_total))",
    ]


EXACT_QUERIES = EXACT_RULES + totals(DEDUP)

# Rate-derived rules (rate, increase, quantiles of rates) depend on when each server
# scraped and evaluated: Prometheus extrapolates a window's increase from its first and
# last samples, and the shard servers, the two servers of a pair and the reference scrape
# at different phases. All servers start before the live load, so a window of 5 minutes
# or more holds the same counter movement on every server and only the extrapolation
# differs (a few %): those agree within this relative tolerance.
RATE_TOLERANCE = 0.10
# Rules compared by their series (label sets) only, never by value:
#  - max_over_time peaks (…:peak_1d, …:max1d) keep the largest value any evaluation saw.
#    While runs finish, a gauge deduplicated with `max` over replicas that sampled at
#    different instants, or a histogram whose bucket series arrived in two remote-write
#    batches, is briefly off; a peak keeps that for a day.
#  - 1-minute windows straddle the end of the load, so each server's window starts at a
#    different point of the load: the counts in it differ by what finished in between.
#  (Histogram rules — quantiles, the duration distribution's bands, max5m, the means —
#  used to be reported here and not failed: they deduplicated each bucket with `max` on
#  its own, so replicas scraped at different phases mixed within one histogram (seen:
#  0.13 runs in "60s+" vs 0, max5m 180 s vs 5 s). The rule pack now takes every series of
#  a histogram from one replica per workspace (alerts/tests/ha_histogram_phase_test.yml),
#  so they are compared within RATE_TOLERANCE like the other rate rules.)
#  - the longest run of the last 5 minutes (histogram_quantile(1, …)) is the upper bound
#    of the highest bucket that moved: one run finishing on one side of a server's window
#    edge moves it a whole bucket (5 s to 60 s), never a few %.
#  (The share of cancelled runs that had started, a difference of two rates over a third,
#  small one, was here too while it took each rate's max over replicas: that amplified
#  a few % of phase into tens of % (0.61 against 1), and so did every rule built on it
#  (workspace_agent:agent_runs_with_runtime:rate5m, the average runtime per agent). It
#  now takes all three from one replica (alerts/tests/ha_cancelled_ratio_test.yml).)
SERIES_ONLY_RULES = {"workspace:agent_run_duration_seconds:max5m"}


def series_only(rule):
    return ("max_over_time(" in rule["expr"] or "[1m]" in rule["expr"]
            or rule["record"] in SERIES_ONLY_RULES)


# Families of the raw union whose values move with the clock (compared as series only).
CLOCK_FAMILIES = ("agent_run_elapsed_seconds", "agent_queue_wait_seconds_avg", "agent_queue_oldest_age_seconds")
# Per-run families (top-N running runs, label run_id) are left out of the union: their
# series come and go with each run, and a finished run's series leaves the central server
# only once every copy's staleness marker arrived; on a starved machine (load average 40
# on 2 cores) that outlasted the retries below although the counts and sums agreed.
PER_RUN_FAMILIES = ("agent_run_elapsed_seconds", "agent_run_estimated_runtime_seconds")


def query(url, expr):
    data = urllib.parse.urlencode({"query": expr}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/query", data, timeout=20) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query failed on {url}: {expr}: {body}")
    return body["data"]["result"]


def key(metric, drop=()):
    return tuple(sorted((k, v) for k, v in metric.items() if k not in drop))


def fmt(k):
    return "{" + ", ".join(f'{n}="{v}"' for n, v in k) + "}"


def as_map(result):
    return {key(s["metric"]): float(s["value"][1]) for s in result}


def diff(central, reference, tolerance=0.0):
    """Mismatch lines between two {labels: value} maps ([] when they agree)."""
    out = []
    for k in sorted(set(central) | set(reference)):
        c, r = central.get(k), reference.get(k)
        if c is None or r is None:
            out.append(f"{fmt(k)}: central {c} reference {r}")
        elif c != r and abs(c - r) > tolerance * max(abs(c), abs(r)):
            out.append(f"{fmt(k)}: central {c!r} reference {r!r}")
    return out


def compare(central, reference, exprs, tolerance=0.0, quiet=False):
    bad = 0
    for expr in exprs:
        c, r = as_map(query(central, expr)), as_map(query(reference, expr))
        lines = diff(c, r, tolerance)
        if not c and not r:
            lines = ["no result on either server"]
        if lines:
            bad += 1
            if not quiet:
                print(f"    MISMATCH {expr}")
                for line in lines[:10]:
                    print(f"      {line}")
                if len(lines) > 10:
                    print(f"      ... {len(lines) - 10} more")
    return bad


def cmd_wait(central, reference, timeout):
    deadline = time.time() + float(timeout)
    while True:
        try:
            bad = compare(central, reference, EXACT_QUERIES, quiet=True)
        except Exception as e:  # a server still starting: retry until the deadline
            bad = -1
            err = e
        if bad == 0:
            return 0
        if time.time() > deadline:
            if bad < 0:
                print(f"    {err}")
            else:
                compare(central, reference, EXACT_QUERIES)
            return 1
        time.sleep(2)


def cmd_exact(central, reference):
    bad = compare(central, reference, EXACT_QUERIES)
    print(f"    {len(EXACT_QUERIES) - bad} of {len(EXACT_QUERIES)} queries equal on both servers")
    # Equal zeros would prove nothing: the platform figures must be there and non-zero.
    shown = []
    for name in (":agent_runs_running:sum", ":agent_worker_slots:sum", ":agent_capacity_utilisation:ratio"):
        values = list(as_map(query(central, name)).values())
        shown.append(f"{name} {values}")
        if len(values) != 1 or values[0] <= 0:
            bad += 1
    finished = list(as_map(query(central, EXACT_QUERIES[len(EXACT_RULES) + 1])).values())
    shown.append(f"finished today by status {sorted(finished)}")
    if len(finished) != 3 or min(finished) <= 0:
        bad += 1
    print("    central: " + "; ".join(shown))
    return 1 if bad else 0


def shard_of(workspace_id, count):
    # docs/operations.md: the first 4 bytes of md5 of the id's lowercase text, modulo N.
    return int(hashlib.md5(workspace_id.lower().encode()).hexdigest()[:8], 16) % count


def series_once(central, reference, shards_json):
    shards = json.loads(shards_json)
    count = len(set(shards.values()))
    sel = '{__name__=~"agent_.+", __name__!~"agent_exporter_.+|agent_db_.+|%s"}' % "|".join(PER_RUN_FAMILIES)
    ok = True
    union, origin = {}, {}
    for s in query(central, sel):
        m = s["metric"]
        inst = m.get("instance")
        if inst not in shards:
            print(f"    series from an unknown instance {inst}: {m}")
            ok = False
            continue
        k = key(m, REPLICA_LABELS)
        v = float(s["value"][1])
        origin.setdefault(k, set()).add(shards[inst])
        union.setdefault(k, set()).add(v)
    ref = {key(s["metric"], REPLICA_LABELS): float(s["value"][1]) for s in query(reference, sel)}
    # Replicas of one shard expose identical values; two shards never share a series
    # unless it has no workspace (the same on every shard, e.g. counting_since).
    for k, shard_set in origin.items():
        labels = dict(k)
        if len(shard_set) > 1 and labels.get("workspace_id") is not None:
            print(f"    {fmt(k)} exposed by shards {sorted(shard_set)}")
            ok = False
        ws = labels.get("workspace_id")
        if ws and len(shard_set) == 1 and shard_of(ws, count) not in shard_set:
            print(f"    {fmt(k)} on shard {sorted(shard_set)}, md5 rule says {shard_of(ws, count)}")
            ok = False
        if ws == "" and shard_set != {0}:
            print(f"    shared-pool series {fmt(k)} on shards {sorted(shard_set)}, want shard 0 only")
            ok = False
    missing = sorted(set(ref) - set(union))
    extra = sorted(set(union) - set(ref))
    for k in missing[:10]:
        print(f"    only in the reference: {fmt(k)}")
    for k in extra[:10]:
        print(f"    only in the central: {fmt(k)}")
    ok = ok and not missing and not extra
    unequal = 0
    for k in sorted(set(ref) & set(union)):
        name = dict(k)["__name__"]
        if name in CLOCK_FAMILIES:
            continue
        if union[k] != {ref[k]}:
            unequal += 1
            if unequal <= 10:
                print(f"    {fmt(k)}: central (every replica) {sorted(union[k])} reference {ref[k]!r}")
    ok = ok and unequal == 0
    per_shard = {}
    for k, shard_set in origin.items():
        ws = dict(k).get("workspace_id")
        if ws:
            per_shard.setdefault(min(shard_set), set()).add(ws)
    print(f"    {len(ref)} reference series, {len(union)} deduplicated central series "
          f"({sum(1 for _ in query(central, sel))} before dedup), {unequal} unequal values; "
          f"workspaces per shard: " + ", ".join(f"{s}: {len(w)}" for s, w in sorted(per_shard.items())))
    if len(per_shard) != count:
        print(f"    want workspaces on each of the {count} shards")
        ok = False
    return 0 if ok else 1


def until_holds(check, *args, tries=10):
    """check(*args) until it returns 0, 3 s apart, printing the last attempt's findings
    (and how many attempts it took, when more than one)."""
    import contextlib
    import io
    for attempt in range(tries):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check(*args)
        if rc == 0 or attempt == tries - 1:
            print(out.getvalue(), end="")
            if attempt:
                print(f"    ({'held' if rc == 0 else 'still failing'} at attempt {attempt + 1} of {tries})")
            return rc
        time.sleep(3)


def cmd_series(central, reference, shards_json):
    """series_once until it holds: a series that left the exporters, such as a finished
    run's elapsed time, leaves the central once its staleness marker arrived by remote
    write."""
    return until_holds(series_once, central, reference, shards_json)


def cmd_recorded(central, reference, rules_file):
    """recorded_once until it holds. The exporters may still count a late commit after
    the totals first agreed, and remote write delivers one histogram's bucket series in
    separate batches (each queue shard has its own send deadline, 5 s by default): a rule
    the central evaluated between two such batches combined new and old buckets (seen: a
    p99 of 72.6 s for 1.98, with every bucket's samples equal on both servers moments
    later). The next evaluations, once every batch arrived, agree; a rule that is wrong
    stays wrong on every attempt."""
    return until_holds(recorded_once, central, reference, rules_file)


def recorded_once(central, reference, rules_file):
    rules = yaml.safe_load(open(rules_file))
    classes = {}  # record name -> "exact" | "rate" | "series"
    for g in rules["groups"]:
        for r in g["rules"]:
            if "record" not in r:
                continue
            cls = "exact" if r["record"] in EXACT_RULES else "series" if series_only(r) else "rate"
            if classes.get(r["record"], cls) != cls:  # one name, several rules (quantiles)
                cls = "series"
            classes[r["record"]] = cls
    missing_exact = [n for n in EXACT_RULES if n not in classes]
    if missing_exact:
        print(f"    exact rules not in {rules_file}: {missing_exact}")
        return 1
    bad, present = 0, 0
    for name, cls in sorted(classes.items()):
        expr = '{__name__="%s"}' % name
        c, r = as_map(query(central, expr)), as_map(query(reference, expr))
        present += bool(c or r)
        if cls == "series":
            c, r = dict.fromkeys(c, 0.0), dict.fromkeys(r, 0.0)
        lines = diff(c, r, RATE_TOLERANCE if cls == "rate" else 0.0)
        if lines:
            bad += 1
            print(f"    MISMATCH {name} ({cls})")
            for line in lines[:6]:
                print(f"      {line}")
    count = {k: sum(1 for v in classes.values() if v == k) for k in ("exact", "rate", "series")}
    print(f"    {len(classes)} recording rules ({count['exact']} exact, {count['rate']} within "
          f"{RATE_TOLERANCE:.0%}, {count['series']} series only), "
          f"{present} with series, {bad} differ")
    if present < len(classes) // 2:
        print("    too few rules have series: the comparison would prove little")
        return 1
    return 1 if bad else 0


def cmd_negative(central, reference):
    """The checks above must catch a broken layout: the same comparison, run on what a
    broken layout would record, has to report a mismatch."""
    ok = True
    # 1. replicaLabels without prometheus_replica: the shard-0 pair counts twice.
    broken = totals(BROKEN_DEDUP)[:2]
    if compare(central, reference, broken, quiet=True) != len(broken):
        print("    a rule pack that keeps prometheus_replica was not caught")
        ok = False
    c = as_map(query(central, f"sum by (cluster, job) ({BROKEN_DEDUP} (agent_runs_finished_total))"))
    r = as_map(query(reference, f"sum by (cluster, job) ({DEDUP} (agent_runs_finished_total))"))
    print(f"    without prometheus_replica dropped: central total {sorted(c.values())} vs reference {sorted(r.values())}")
    if not c or not r or sorted(c.values()) == sorted(r.values()):
        ok = False
    # 2. One shard's Prometheus missing: only shard 0's servers reach the central.
    lost = [e.replace("(agent_runs_finished_total)", '(agent_runs_finished_total{prometheus_replica=~".*shard0.*"})')
            for e in totals(DEDUP)[:3]]
    if compare(central, reference, lost, quiet=True) != len(lost):
        print("    a missing shard was not caught")
        ok = False
    c = as_map(query(central, lost[1]))
    print(f"    with shard 1 missing: central totals {sorted(c.values())} vs reference "
          f"{sorted(as_map(query(reference, totals(DEDUP)[1])).values())}")
    return 0 if ok else 1


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 2
    cmd, central, reference, rest = argv[1], argv[2], argv[3], argv[4:]
    fn = {"wait": cmd_wait, "exact": cmd_exact, "series": cmd_series, "recorded": cmd_recorded,
          "negative": cmd_negative}.get(cmd)
    if fn is None:
        print(f"unknown subcommand {cmd!r}\n{__doc__}")
        return 2
    return fn(central, reference, *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
