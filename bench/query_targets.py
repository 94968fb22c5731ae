#!/usr/bin/env python3
"""The spec's query-time targets, measured where a user meets them (phase "queries").

Targets (spec): throughput calculation < 200 ms, latency percentiles < 500 ms, dashboard
load < 2 s.

  query_targets.py check [--prometheus-port P]
      every panel query of grafana/dashboards/*.json, variables filled as Grafana fills
      them, and its raw expansion (recording rules replaced by their definitions) must
      parse: `promtool check rules` over a file holding each as a recording rule (~1 s)
  query_targets.py run DATA_DIR --out FILE.json [--reps N] [--port P]
      serves DATA_DIR/data (built by bench/query_data.py) with a real Prometheus, waits
      for its compactor to settle, then loads each dashboard as Grafana does, N times with
      the recording rules and N times with every recorded series expanded into its
      definition: all the dashboard's targets at once, time range = the dashboard's
      default ending at the data's last sample ("now"), step and $__interval from the
      panel width and the scrape interval, $__rate_interval = max(4 x scrape,
      $__interval + scrape), $__range = the range, template variables at their defaults
      (All = their allValue); /api/v1/query_range for range targets, /api/v1/query at
      "now" for instant ones. Wall time per target, per panel (until its last target
      answers) and per dashboard (until the last panel answers).
  query_targets.py render FILE.json...
      markdown tables (per panel and per dashboard, p50/p99, rules vs raw, verdicts)

How a recorded series is expanded (`expand`): its selector is replaced by the rule's
expression (several rules of one name, e.g. one per `quantile`, become an `or` of
label_replace()s adding the rule's static labels; a matcher on such a label picks the
rules); the selector's other matchers and its offset are pushed into every selector of
the expression, recursively, which is exact for the pack's rules because each keeps the
matched label through its aggregations (a matcher on a label only rules create, such as
`quantile`, is not pushed into an exporter series' selector, which never has it); a
range over a recorded series (`rec[1d]`) becomes a subquery at the rule's evaluation
interval. The harness checks the result:
the rules and raw variants of each target must return the same number of series.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARDS = os.path.join(ROOT, "grafana", "dashboards")
RULES = os.path.join(ROOT, "alerts", "agent_execution.rules.yml")
SCREEN_PX = 1920          # dashboard width Grafana lays the 24 grid columns over
TARGET_MS = {"throughput": 200, "latency percentile": 500}
DASHBOARD_TARGET_MS = 2000

# --- a small PromQL scanner: enough to find selectors and their parts --------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "atan2", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile"}
LABEL_LIST_AFTER = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(r"""
    (?P<ws>\s+) | (?P<comment>\#[^\n]*) |
    (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`) |
    (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*) |
    (?P<num>[0-9][0-9A-Za-z_.]*|\.[0-9][0-9A-Za-z_.]*) |
    (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@!])
""", re.X)


class PromQLError(ValueError):
    pass


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise PromQLError(f"cannot read PromQL at {pos}: {expr[pos:pos + 30]!r}")
        if m.lastgroup not in ("ws", "comment"):
            out.append((m.lastgroup, m.group(), m.start(), m.end()))
        pos = m.end()
    return out


class Selector:
    """One vector selector: name{matchers}[range] offset X, with its text span."""

    def __init__(self, name, matchers, rng, offset, start, end):
        self.name, self.matchers, self.range, self.offset = name, matchers, rng, offset
        self.start, self.end = start, end


def parse_matchers(toks, i):
    """toks[i] is '{'; returns ([(label, op, value-literal)], index after '}')."""
    out = []
    i += 1
    while toks[i][1] != "}":
        if toks[i][1] == ",":
            i += 1
            continue
        if toks[i][0] != "ident" or toks[i + 1][0] != "op" or toks[i + 2][0] != "str":
            raise PromQLError(f"bad label matcher near {toks[i][1]!r}")
        out.append((toks[i][1], toks[i + 1][1], toks[i + 2][1]))
        i += 3
    return out, i + 1


def selectors(expr):
    toks = tokens(expr)
    out = []
    i = 0
    label_list_depth = None
    depth = 0
    while i < len(toks):
        kind, text, s, e = toks[i]
        if text == "(":
            depth += 1
            if i > 0 and toks[i - 1][1] in LABEL_LIST_AFTER:
                label_list_depth = depth
        elif text == ")":
            if label_list_depth == depth:
                label_list_depth = None
            depth -= 1
        elif text == "[":  # range / subquery durations
            while toks[i][1] != "]":
                i += 1
        elif kind == "ident" and label_list_depth is None:
            nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
            low = text.lower()
            is_call = nxt == "(" or (low in AGGREGATIONS and nxt in ("by", "without"))
            prev = toks[i - 1][1] if i > 0 else ""
            if not is_call and low not in KEYWORDS and prev != "offset":
                matchers, j = [], i + 1
                if nxt == "{":
                    matchers, j = parse_matchers(toks, i + 1)
                end = toks[j - 1][3]
                rng = offset = None
                if j < len(toks) and toks[j][1] == "[":
                    k = j
                    while toks[k][1] != "]":
                        k += 1
                    rng = expr[toks[j][3]:toks[k][2]].strip()
                    end = toks[k][3]
                    j = k + 1
                if j + 1 < len(toks) and toks[j][1] == "offset":
                    offset = toks[j + 1][1]
                    end = toks[j + 1][3]
                    j += 2
                out.append(Selector(text, matchers, rng, offset, s, end))
                i = j
                continue
        i += 1
    return out


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration):
    total, pos = 0.0, 0
    for m in re.finditer(r"([0-9.]+)(ms|s|m|h|d|w|y)", duration):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    if pos != len(duration) or not duration:
        raise PromQLError(f"bad duration {duration!r}")
    return total


def fmt_seconds(s):
    return f"{int(s)}s" if s == int(s) else f"{int(s * 1000)}ms"


def render_selector(name, matchers, rng, offset_s):
    m = "{" + ", ".join(f"{l}{op}{v}" for l, op, v in matchers) + "}"
    out = name + m
    if rng:
        out += f"[{rng}]"
    if offset_s:
        out += f" offset {fmt_seconds(offset_s)}"
    return out


def matches(matcher, value):
    label, op, lit = matcher
    want = json.loads(lit) if lit.startswith('"') else lit[1:-1]
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    hit = re.fullmatch(want, value) is not None
    return hit if op == "=~" else not hit


def load_rules(path=RULES):
    with open(path) as f:
        doc = yaml.safe_load(f)
    rules, interval = {}, {}
    for g in doc["groups"]:
        for r in g["rules"]:
            if "record" in r:
                rules.setdefault(r["record"], []).append((r.get("labels") or {}, r["expr"]))
                interval[r["record"]] = g.get("interval")
    return rules, interval


def expand(expr, rules, eval_interval, push=(), push_offset=0.0, depth=0, created=None):
    """expr with every recorded series replaced by its definition (see the module doc).
    created: the labels only rules create (their static labels), computed once per call
    from the top and handed down."""
    if depth > 30:
        raise PromQLError("recording rules nest deeper than 30")
    if created is None:
        created = {l for defs in rules.values() for lab, _ in defs for l in lab}
    out, last = [], 0
    for sel in selectors(expr):
        out.append(expr[last:sel.start])
        last = sel.end
        offset = push_offset + (seconds(sel.offset) if sel.offset else 0)
        if sel.name not in rules:
            # A rule's static labels (quantile, bucket) exist on no exporter series: a
            # pushed matcher on one (a ranking rule over quantiles, read by quantile) would
            # empty a raw selector that never had it, e.g. the workspace-name join.
            matchers = list(sel.matchers) + [m for m in push if m[0] not in created]
            out.append(render_selector(sel.name, matchers, sel.range, offset))
            continue
        matchers = list(sel.matchers) + list(push)
        static = {l for lab, _ in rules[sel.name] for l in lab}
        on_static = [m for m in matchers if m[0] in static]
        pushed = [m for m in matchers if m[0] not in static]
        inner_offset = 0.0 if sel.range else offset
        parts = []
        for lab, rexpr in rules[sel.name]:
            if not all(matches(m, lab.get(m[0], "")) for m in on_static):
                continue
            body = "(" + expand(rexpr, rules, eval_interval, pushed, inner_offset, depth + 1, created) + ")"
            for k, v in lab.items():
                body = f'label_replace({body}, "{k}", "{v}", "", "")'
            parts.append(body)
        body = "(" + " or ".join(parts) + ")" if parts else "vector(0) < 0"
        if sel.range:
            body = f"{body}[{sel.range}:{eval_interval}]"
            if offset:
                body += f" offset {fmt_seconds(offset)}"
        out.append(body)
    out.append(expr[last:])
    return "".join(out)


# --- dashboards as Grafana queries them --------------------------------------------------

def round_interval(ms):
    """Grafana's kbn.roundInterval."""
    table = [(15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
             (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
             (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
             (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
             (9000000, 7200000), (16200000, 10800000), (24300000, 21600000), (32400000, 28800000),
             (86400000, 43200000)]
    for bound, val in table:
        if ms < bound:
            return val
    return 86400000


def relative(spec, now):
    if spec == "now":
        return now
    m = re.fullmatch(r"now-(\d+)([smhdwMy])", spec)
    if not m:
        raise SystemExit(f"query_targets: dashboard time {spec!r} is not now or now-<n><unit>")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}[m.group(2)]
    return now - int(m.group(1)) * unit


def variables(dash):
    out = {}
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "datasource":
            continue
        cur = v.get("current") or {}
        val = cur.get("value")
        if v.get("type") == "constant":
            val = v.get("query")
        vals = val if isinstance(val, list) else [val]
        if "$__all" in vals:
            if v.get("allValue") is None:
                raise SystemExit(f"query_targets: {dash['title']}: variable {v['name']} defaults to All "
                                 "without an allValue; give it one")
            out[v["name"]] = v["allValue"]
        elif vals and vals[0] is not None:
            out[v["name"]] = vals[0] if len(vals) == 1 else "(" + "|".join(re.escape(x) for x in vals) + ")"
    return out


def substitute(expr, values):
    for name in sorted(values, key=len, reverse=True):
        val = values[name]
        expr = expr.replace("${" + name + "}", val).replace("[[" + name + "]]", val)
        expr = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _: val, expr)
    if re.search(r"\$[A-Za-z_{]", expr):
        raise SystemExit(f"query_targets: unfilled variable in {expr!r}")
    return expr


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def classify(exprs):
    text = " ".join(exprs)
    if "histogram_quantile" in text or "quantile:" in text:
        return "latency percentile"
    if re.search(r"agent_runs_finished|executions_per_minute|agent_executions_", text):
        return "throughput"
    return "other"


def dashboard_queries(path, now, scrape):
    """[(panel title, panel id, class, [query dict])] of one dashboard, as Grafana issues them."""
    with open(path) as f:
        dash = json.load(f)
    tr = dash.get("time") or {"from": "now-6h", "to": "now"}
    t_from, t_to = relative(tr["from"], now), relative(tr["to"], now)
    rng = t_to - t_from
    values = variables(dash)
    panels = []
    for p in walk_panels(dash.get("panels", [])):
        targets = [t for t in p.get("targets", []) if t.get("expr") and not t.get("hide")]
        if not targets or p.get("type") == "row":
            continue
        width = max(1, round(p.get("gridPos", {}).get("w", 24) / 24 * SCREEN_PX))
        max_points = p.get("maxDataPoints") or width
        min_ms = seconds(p["interval"]) * 1000 if p.get("interval") else scrape * 1000
        interval_ms = max(round_interval(rng * 1000 / max_points), min_ms)
        queries = []
        for t in targets:
            step_ms = interval_ms
            if t.get("interval"):
                step_ms = max(step_ms, seconds(t["interval"].replace("$__interval", "0s") or "0s") * 1000)
            step_ms = max(step_ms, rng * 1000 / 11000)
            step = step_ms / 1000
            vals = dict(values)
            vals.update({"__rate_interval": fmt_seconds(max(4 * scrape, step + scrape)),
                         "__interval": fmt_seconds(step), "__interval_ms": str(int(step_ms)),
                         "__range": fmt_seconds(rng), "__range_s": str(rng), "__range_ms": str(rng * 1000)})
            expr = substitute(t["expr"], vals)
            if t.get("instant") and not t.get("range"):
                queries.append({"kind": "instant", "expr": expr, "time": t_to, "ref": t.get("refId")})
            else:
                start = t_from // step * step
                end = t_to // step * step
                queries.append({"kind": "range", "expr": expr, "start": start, "end": end, "step": step,
                                "ref": t.get("refId")})
        panels.append({"title": p.get("title", ""), "id": p.get("id"), "type": p.get("type"),
                       "class": classify([t["expr"] for t in targets]), "queries": queries})
    return dash.get("title", os.path.basename(path)), tr, panels


def all_dashboards(now, scrape):
    paths = sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")))
    if not paths:
        raise SystemExit(f"query_targets: no dashboards in {DASHBOARDS}")
    return [(os.path.basename(p),) + dashboard_queries(p, now, scrape) for p in paths]


def raw_variant(query, rules, eval_interval):
    q = dict(query)
    q["expr"] = expand(query["expr"], rules, eval_interval)
    return q


# --- check ----------------------------------------------------------------------------------

def check(_args):
    rules, _ = load_rules()
    now = int(time.time()) // 60 * 60
    recs, n, where = [], 0, {}
    for fname, title, _, panels in all_dashboards(now, 15):
        for p in panels:
            for q in p["queries"]:
                for variant, expr in (("rules", q["expr"]), ("raw", expand(q["expr"], rules, "1m"))):
                    if variant == "raw" and any(s.name in rules for s in selectors(expr)):
                        sys.exit(f"query_targets: {fname} / {p['title']}: recorded series left after expansion")
                    n += 1
                    recs.append({"record": f"bench_check:{variant}:q{n}", "expr": expr})
                    where[f"bench_check:{variant}:q{n}"] = f"{fname} / {p['title']} / {q.get('ref')} ({variant})"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "panel_queries.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "panels", "rules": recs}]}, f)
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        if r.returncode != 0:
            out = r.stdout + r.stderr
            for rec in sorted(set(re.findall(r"bench_check:\w+:q\d+", out)), key=lambda x: int(x.rsplit("q", 1)[1])):
                out = out.replace(f'"{rec}"', f'"{rec}" = {where[rec]}')
            sys.stderr.write(out)
            sys.exit("query_targets: a dashboard query does not parse after variable substitution "
                     "or raw expansion (promtool check rules above)")
    print(f"query_targets: {n} panel queries (each dashboard target with recording rules and expanded "
          "to raw series) parse")


# --- run --------------------------------------------------------------------------------------

class Client:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/api/v1/"

    def query(self, q):
        if q["kind"] == "instant":
            params = {"query": q["expr"], "time": q["time"]}
            url = self.base + "query"
        else:
            params = {"query": q["expr"], "start": q["start"], "end": q["end"], "step": q["step"]}
            url = self.base + "query_range"
        body = urllib.parse.urlencode(params).encode()
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=300) as r:
                raw = r.read()
            err = None
        except urllib.error.HTTPError as e:
            raw, err = e.read(), f"HTTP {e.code}"
        except OSError as e:
            raw, err = b"", str(e)
        t_end = time.perf_counter()
        took = t_end - t0
        series = None
        try:
            doc = json.loads(raw)
            if doc.get("status") != "success":
                err = err or doc.get("error", "error")
                err = f"{err}: {doc.get('error', '')}"
            else:
                series = len(doc["data"]["result"]) if isinstance(doc["data"]["result"], list) else 1
        except ValueError:
            err = err or "not JSON"
        return took, series, err, t_end


def load_dashboard(client, panels, pool):
    """All targets of the dashboard at once; returns per-target seconds, per-panel seconds
    (its last target) and the dashboard's (its last panel), plus series counts and errors."""
    flat = [(pi, q) for pi, p in enumerate(panels) for q in p["queries"]]
    t0 = time.perf_counter()
    futures = [pool.submit(client.query, q) for _, q in flat]
    done = [f.result() for f in futures]  # (seconds, series, error, when the body was read)
    panel_end = {}
    for (pi, _), (_, _, _, end) in zip(flat, done):
        panel_end[pi] = max(panel_end.get(pi, 0), end - t0)
    return ([d[:3] for d in done], [panel_end[i] for i in range(len(panels))],
            max(d[3] for d in done) - t0)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = int(k), min(len(v) - 1, int(k) + 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run(args):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import query_data
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    rules, _ = load_rules()
    scrape = meta["interval"]
    now = meta["end"]
    eval_interval = f"{scrape}s"
    prom = query_data.Prometheus(os.path.join(args.data, "data"), args.port,
                                 os.path.join(args.data, "prometheus-query.log"))
    out = {"meta": meta, "reps": args.reps, "dashboards": []}
    try:
        t0 = time.time()
        settled = prom.settle()
        out["settle_seconds"] = round(time.time() - t0, 1)
        out["blocks_loaded"] = settled[2] if settled else None
        out["head_series"] = prom.metric("prometheus_tsdb_head_series")
        client = Client(args.port)
        for fname, title, tr, panels in all_dashboards(now, scrape):
            n_targets = sum(len(p["queries"]) for p in panels)
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=n_targets)
            variants = {"rules": panels,
                        "raw": [dict(p, queries=[raw_variant(q, rules, eval_interval) for q in p["queries"]])
                                for p in panels]}
            rec = {"file": fname, "title": title, "time": tr, "targets": n_targets,
                   "panels": [{"title": p["title"], "id": p["id"], "class": p["class"],
                               "targets": len(p["queries"]),
                               "step": sorted({q.get("step") for q in p["queries"] if q.get("step")}),
                               "instant": all(q["kind"] == "instant" for q in p["queries"])} for p in panels]}
            for variant, vpanels in variants.items():
                if variant not in args.variants.split(","):
                    rec[variant] = {"reps": 0, "dashboard_s": [], "panel_s": [[] for _ in panels],
                                    "panel_errors": [0] * len(panels), "series": None, "errors": []}
                    continue
                if variant == "rules" or args.raw_warmup:
                    load_dashboard(client, vpanels, pool)  # warm-up: caches, mmapped chunks
                dash_s, panel_s, target_s = [], [[] for _ in panels], []
                panel_errors = [0] * len(panels)
                owner = [i for i, p in enumerate(vpanels) for _ in p["queries"]]
                series, errors = None, []
                t_start = time.time()
                cpu0, load0 = cpu_seconds(prom.proc.pid), os.getloadavg()[0]
                reps = 0
                while reps < args.reps and (reps < args.min_reps or time.time() - t_start < args.budget):
                    per_target, per_panel, total = load_dashboard(client, vpanels, pool)
                    dash_s.append(total)
                    for i, s in enumerate(per_panel):
                        panel_s[i].append(s)
                    target_s.append([t for t, _, _ in per_target])
                    series = [s for _, s, _ in per_target]
                    errors += [e for _, _, e in per_target if e]
                    for i, (_, _, e) in zip(owner, per_target):
                        panel_errors[i] += 1 if e else 0
                    reps += 1
                cpu = (cpu_seconds(prom.proc.pid) - cpu0) / reps
                rec[variant] = {"reps": reps, "dashboard_s": dash_s, "panel_s": panel_s,
                                "panel_errors": panel_errors,
                                "prometheus_cpu_s_per_load": cpu, "loadavg": [load0, os.getloadavg()[0]],
                                "series": series, "errors": sorted(set(errors))[:5]}
                log(f"{fname} {variant}: {reps} loads, p50 {pct(dash_s, 0.5) * 1000:.0f} ms, "
                    f"p99 {pct(dash_s, 0.99) * 1000:.0f} ms, Prometheus CPU {cpu:.2f} s/load, "
                    f"{len(errors)} errors")
            # the expansion must not change what a panel shows: same number of series
            mismatch = []
            flat = [(p["title"], q) for p in panels for q in p["queries"]]
            for (ptitle, q), a, b in zip(flat, rec["rules"]["series"] or [None] * len(flat),
                                         rec["raw"]["series"] or [None] * len(flat)):
                if a is None or b is None:
                    continue
                if a != b:
                    mismatch.append({"panel": ptitle, "ref": q.get("ref"), "rules": a, "raw": b})
            rec["series_mismatch"] = mismatch
            rec["queries"] = [{"panel": t, **q, "raw_expr": raw_variant(q, rules, eval_interval)["expr"]}
                              for t, q in flat]
            out["dashboards"].append(rec)
            pool.shutdown()
    finally:
        prom.stop()
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(args.out)


def log(msg):
    print(time.strftime("%H:%M:%S"), "query_targets:", msg, file=sys.stderr, flush=True)


# --- render ------------------------------------------------------------------------------------

def ms(v):
    return "–" if v is None else (f"{v * 1000:.0f}" if v >= 0.0095 else f"{v * 1000:.1f}")


def verdict(cls, p99):
    limit = TARGET_MS.get(cls)
    if limit is None or p99 is None:
        return ""
    return f"{'✓' if p99 * 1000 < limit else '✗'} <{limit}"


def render(paths):
    lines = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        m = doc["meta"]
        span = (f"{m['span_hours'] / 24:.3g} days" if m["span_hours"] >= 48 else f"{m['span_hours']:g} hours"
                if m["span_hours"] >= 3 else f"{m['span_hours'] * 60:.0f} minutes")
        lines.append(f"#### {m['workspaces']:,} workspaces: {span} at {m['interval']} s, {m['raw_series']:,} raw series "
                     f"({m['raw_samples']:,} samples), {m['recording_rules']} recording rules backfilled, "
                     f"TSDB {m['tsdb_bytes'] / 2**20:,.0f} MiB")
        lines.append("")
        lines.append("| dashboard | targets | loads (rules / raw) | rules p50 | rules p99 | raw p50 | raw p99 | "
                     f"< {DASHBOARD_TARGET_MS} ms (p99) rules / raw | Prometheus CPU s/load rules / raw | "
                     "load average rules / raw |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for d in doc["dashboards"]:
            r, w = d["rules"]["dashboard_s"], d["raw"]["dashboard_s"]
            ok = lambda v: "–" if v is None else ("✓" if v * 1000 < DASHBOARD_TARGET_MS else "✗")
            cpu = lambda v: f"{v['prometheus_cpu_s_per_load']:.2f}" if v["reps"] else "–"
            load = lambda v: f"{max(v['loadavg']):.1f}" if v["reps"] else "–"
            lines.append(f"| {d['title']} | {d['targets']} | {d['rules']['reps']} / {d['raw']['reps']} | "
                         f"{ms(pct(r, .5))} | {ms(pct(r, .99))} | {ms(pct(w, .5))} | {ms(pct(w, .99))} | "
                         f"{ok(pct(r, .99))} / {ok(pct(w, .99))} | {cpu(d['rules'])} / {cpu(d['raw'])} | "
                         f"{load(d['rules'])} / {load(d['raw'])} |")
        lines.append("")
        lines.append("| dashboard | panel | kind | step | rules p50 | rules p99 | raw p50 | raw p99 | "
                     "target (p99) rules / raw |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for d in doc["dashboards"]:
            short = d["file"].replace("agent-execution-", "").replace(".json", "")
            for i, p in enumerate(d["panels"]):
                r, w = d["rules"]["panel_s"][i], d["raw"]["panel_s"][i]
                failed = lambda v: " (errors: %d)" % d[v]["panel_errors"][i] if d[v].get("panel_errors", [0] * (i + 1))[i] else ""
                step = "instant" if p["instant"] else ", ".join(f"{s:g}s" for s in p["step"])
                v = ""
                if p["class"] in TARGET_MS:
                    v = f"{verdict(p['class'], pct(r, .99))} / {verdict(p['class'], pct(w, .99)).split(' ')[0]}"
                kind = {"latency percentile": "latency", "throughput": "throughput"}.get(p["class"], "")
                lines.append(f"| {short} | {p['title']} ({p['targets']}) | {kind} | {step} | "
                             f"{ms(pct(r, .5))} | {ms(pct(r, .99))}{failed('rules')} | {ms(pct(w, .5))} | "
                             f"{ms(pct(w, .99))}{failed('raw')} | {v} |")
        lines.append("")
        errs = [(d["file"], v, e) for d in doc["dashboards"] for v in ("rules", "raw") for e in d[v]["errors"]]
        mism = [(d["file"], x) for d in doc["dashboards"] for x in d["series_mismatch"]]
        lines.append(f"Query errors: {len(errs)}" + ("" if not errs else ": " + "; ".join(f"{a} {b}: {c}" for a, b, c in errs)) + ".")
        empty = sum(1 for d in doc["dashboards"] for s in (d["rules"]["series"] or []) if s == 0)
        both = all(d["rules"]["reps"] and d["raw"]["reps"] for d in doc["dashboards"])
        lines.append(("" if both else "(Not compared: a variant was not measured.) ") +
                     f"Targets with the same number of series from rules and raw: "
                     f"{sum(d['targets'] for d in doc['dashboards']) - len(mism)} of "
                     f"{sum(d['targets'] for d in doc['dashboards'])}"
                     + ("" if not mism else " (differ: " + "; ".join(
                         f"{f} {x['panel']} {x['ref']} {x['rules']} vs {x['raw']}" for f, x in mism) + ")")
                     + f"; targets returning no series: {empty}.")
        lines.append("")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")
    r = sub.add_parser("run")
    r.add_argument("data")
    r.add_argument("--out", required=True)
    r.add_argument("--reps", type=int, default=30, help="dashboard loads per variant (at most)")
    r.add_argument("--min-reps", type=int, default=10, help="loads per variant even past --budget")
    r.add_argument("--budget", type=float, default=120, help="seconds per dashboard and variant")
    r.add_argument("--port", type=int, default=19090)
    r.add_argument("--raw-warmup", type=int, default=1, help="0: no warm-up load before the raw variant's loads")
    r.add_argument("--variants", default="rules,raw", help="rules, raw or both (the default)")
    mg = sub.add_parser("merge", help="one result from a rules-only and a raw-only run of the same data")
    mg.add_argument("rules_json")
    mg.add_argument("raw_json")
    mg.add_argument("--out", required=True)
    rd = sub.add_parser("render")
    rd.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd in ("check", "run") and not shutil.which("promtool"):
        sys.exit("query_targets: promtool not found (bench/install-deps.sh installs the Debian prometheus package)")
    {"check": check, "run": run, "render": lambda a: render(a.files), "merge": merge}[a.cmd](a)


def merge(args):
    with open(args.rules_json) as f:
        a = json.load(f)
    with open(args.raw_json) as f:
        b = json.load(f)
    if a["meta"]["end"] != b["meta"]["end"] or a["meta"]["workspaces"] != b["meta"]["workspaces"]:
        sys.exit("query_targets: merge: the two runs are not of the same data")
    a["meta"] = a["meta"] if a["meta"].get("recording_rules") else b["meta"]
    for da, db in zip(a["dashboards"], b["dashboards"]):
        if da["file"] != db["file"] or da["targets"] != db["targets"]:
            sys.exit(f"query_targets: merge: {da['file']} differs between the runs")
        da["raw"] = db["raw"]
        da["series_mismatch"] = [
            {"panel": q["panel"], "ref": q.get("ref"), "rules": x, "raw": y}
            for q, x, y in zip(da["queries"], da["rules"]["series"] or [], db["raw"]["series"] or [])
            if x != y and x is not None and y is not None]  # None: the query failed (e.g. timed out)
    with open(args.out, "w") as f:
        json.dump(a, f)
    print(args.out)


if __name__ == "__main__":
    main()
