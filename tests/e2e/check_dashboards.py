#!/usr/bin/env python3
"""Checks the Grafana dashboards of agent_execution_exporter (python3 standard library only).

  check_dashboards.py lint  DASHBOARD_DIR
      Static checks: valid JSON, the four expected uids (unique), unique panel ids, only
      current (non-Angular) panel types, the datasource variable on every panel, target
      and annotation, non-empty expressions, the workspace/agent variables, the platform
      scope (cluster/job/instance variables with All = .*; every selector of a recording
      rule or ALERTS carries $cluster and $job, of an exporter series also $instance), links that
      resolve to the four dashboards, well-formed allow-empty markers, no overlapping
      panels, and (when DASHBOARD_DIR/../dashboards.jsonnet exists and `jsonnet` is on
      PATH) that the committed JSON equals a fresh render.

  check_dashboards.py query DASHBOARD_DIR PROM_URL [--vars all|first|both]
                            [--require CLASS[,CLASS...]] [--range]
      Runs every target of every panel, every annotation query and every variable query
      against a real Prometheus (/api/v1/query, instant at now), with the dashboard
      variables substituted: "all" uses the variables' All value (.+), "first" the first
      option the variable query returns, "both" (default) runs each query both ways.
      Grafana's built-ins are replaced as Grafana would for a 1h range: $__rate_interval
      1m, $__interval 30s, $__range 1h (and _s/_ms forms). A query fails on an error, on an
      empty result (unless allowed, below), or when a series lacks a label that the
      panel's legend ({{label}}) or table columns need. --range also runs each time-series
      target as a range query over the last 15 minutes and fails on errors.

Allowed-empty convention: a target (or annotation) expression whose result may
legitimately be empty ends with a PromQL comment line

      # allow-empty(CLASS): reason

CLASS is one of the classes of ALLOW_CLASSES below (--help lists them). An empty result
of such a target passes (reported as "empty, allowed") unless its CLASS is listed in
--require, which makes it mandatory (e.g. --require history after a backfill, or
--require alerts in a scenario that fires them). Prometheus ignores the comment, so the
dashboards send it unchanged.

lint also keeps the dashboards and their documentation from drifting apart (when run
inside the repository): every metric a query uses is a recording rule of
alerts/agent_execution.rules.yml, or an exporter family that docs/metrics.md documents
and the exporter's sources declare (no "announced, not exposed yet" metric can be
queried); every metric docs/dashboards.md names exists the same way, and no line of it
calls an exposed family pending or not exposed; its table of allow-empty classes lists
exactly the classes below, and each class is used by some dashboard.

Output: one line per check or query, then "N passed, N failed"; exit status 1 when
anything failed, 2 on bad usage.
"""
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

EXPECTED_UIDS = {
    "agent-execution-overview",
    "agent-execution-latency",
    "agent-execution-patterns",
    "agent-execution-resources",
}
# Current core panel types (React). Angular ones (graph, singlestat, table-old, ...) fail.
MODERN_TYPES = {
    "timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text", "barchart",
    "piechart", "state-timeline", "status-history", "histogram", "row", "xychart",
    "trend", "logs", "alertlist", "dashlist", "news", "nodeGraph", "canvas", "geomap",
}
ANGULAR_TYPES = {"graph", "singlestat", "table-old", "grafana-piechart-panel",
                 "grafana-worldmap-panel", "grafana-clock-panel"}
NO_DATASOURCE_TYPES = {"text", "row", "news", "dashlist", "alertlist"}
DS_UIDS = {"${datasource}", "$datasource"}
# The allow-empty classes; docs/dashboards.md has a table of exactly these (lint checks).
ALLOW_CLASSES = {
    "alerts": "built on ALERTS / ALERTS_FOR_STATE: empty while no such alert fires",
    "history": "needs more Prometheus or database history than a short test has (offset 1h, "
               "1w baselines, complete past days for the patterns collector)",
    "optional": "data that depends on the platform's set-up (GPU workers, pg_stat_statements, "
                "skipped rows, runs without an estimated_runtime)",
    "filtered": "may be empty for one particular workspace or agent (e.g. no run of that agent "
                "is running right now): allowed in the \"first\" pass only, required with the All value",
}
ALLOW_RE = re.compile(r"^\s*#\s*allow-empty\((\w+)\):\s*(.+?)\s*$", re.M)
BUILTINS = {
    "__rate_interval": "1m", "__interval": "30s", "__interval_ms": "30000",
    "__range": "1h", "__range_s": "3600", "__range_ms": "3600000",
}
# Grafana variable references; "$1" (a label_replace capture) is not one.
VAR_RE = re.compile(r"\$\{([A-Za-z_]\w*)(?::([^}]+))?\}|\[\[([A-Za-z_]\w*)(?::[^\]]+)?\]\]|\$([A-Za-z_]\w*)")


class Counter:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, msg):
        self.passed += 1
        print("ok   - " + msg)

    def fail(self, msg):
        self.failed += 1
        print("FAIL - " + msg)

    def check(self, cond, msg, detail=""):
        if cond:
            self.ok(msg)
        else:
            self.fail(msg + (": " + detail if detail else ""))
        return cond

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def load_dashboards(directory, out):
    files = sorted(glob.glob(os.path.join(directory, "*.json")))
    dashboards = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                dashboards.append((os.path.basename(f), json.load(fh)))
            out.ok("%s: valid JSON" % os.path.basename(f))
        except (OSError, ValueError) as e:
            out.fail("%s: valid JSON: %s" % (os.path.basename(f), e))
    return dashboards


def all_panels(dash):
    """Panels in order, rows' nested panels included."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def targets(panel):
    return panel.get("targets", []) or []


def allow_marker(expr):
    m = ALLOW_RE.search(expr or "")
    return (m.group(1), m.group(2)) if m else None


def var_names_used(expr):
    names = set()
    for m in VAR_RE.finditer(expr):
        names.add(m.group(1) or m.group(3) or m.group(4))
    return names


def ds_ok(ds):
    return isinstance(ds, dict) and ds.get("uid") in DS_UIDS and ds.get("type", "prometheus") == "prometheus"


def urls_in(obj):
    """Every 'url' value found anywhere inside obj (links, data links)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "url" and isinstance(v, str):
                yield v
            else:
                yield from urls_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from urls_in(v)


# ----------------------------------------------------------------------------- lint
def lint(directory):
    out = Counter()
    dashboards = load_dashboards(directory, out)
    if not dashboards:
        out.fail("no dashboards in %s" % directory)
        return out.summary()
    uids = [d.get("uid") for _, d in dashboards]
    out.check(len(uids) == len(set(uids)), "dashboard uids are unique", str(uids))
    out.check(EXPECTED_UIDS <= set(uids), "the four dashboards are present",
              "missing %s" % sorted(EXPECTED_UIDS - set(uids)))
    known_uids = set(uids) | EXPECTED_UIDS

    for fname, d in dashboards:
        name = d.get("uid") or fname
        out.check(fname == "%s.json" % d.get("uid"), "%s: file named after its uid" % name, fname)
        out.check(bool(d.get("title")), "%s: has a title" % name)
        out.check(isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36,
                  "%s: schemaVersion >= 36" % name, str(d.get("schemaVersion")))

        # Variables.
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        dsv = variables.get("datasource", {})
        out.check(dsv.get("type") == "datasource" and dsv.get("query") == "prometheus",
                  "%s: datasource variable of type datasource (prometheus)" % name)
        for vname in ("workspace", "agent"):
            v = variables.get(vname, {})
            problems = []
            if v.get("type") != "query":
                problems.append("type %r" % v.get("type"))
            if not ds_ok(v.get("datasource")):
                problems.append("datasource not ${datasource}")
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if not q:
                problems.append("empty query")
            if not (v.get("multi") and v.get("includeAll")):
                problems.append("not multi-select with All")
            if "(?<value>" not in v.get("regex", "") or "(?<text>" not in v.get("regex", ""):
                problems.append("regex lacks value/text groups")
            out.check(not problems, "%s: variable %s" % (name, vname), ", ".join(problems))

        # Panels.
        ids, problems, type_problems, ds_problems, expr_problems, var_problems, marker_problems = [], [], [], [], [], [], []
        boxes = []
        for p in all_panels(d):
            title = p.get("title", "?")
            ids.append(p.get("id"))
            ptype = p.get("type")
            if ptype in ANGULAR_TYPES or ptype not in MODERN_TYPES:
                type_problems.append("%s: %s" % (title, ptype))
            gp = p.get("gridPos") or {}
            if not all(isinstance(gp.get(k), int) for k in "xywh") or gp.get("x", 0) + gp.get("w", 0) > 24:
                problems.append("%s: bad gridPos %s" % (title, gp))
            elif ptype != "row":
                for (ot, ob) in boxes:
                    if (gp["x"] < ob["x"] + ob["w"] and ob["x"] < gp["x"] + gp["w"]
                            and gp["y"] < ob["y"] + ob["h"] and ob["y"] < gp["y"] + gp["h"]):
                        problems.append("%s overlaps %s" % (title, ot))
                boxes.append((title, gp))
            if ptype in NO_DATASOURCE_TYPES:
                continue
            if not ds_ok(p.get("datasource")):
                ds_problems.append("%s: panel datasource %s" % (title, p.get("datasource")))
            tl = targets(p)
            if not tl:
                expr_problems.append("%s: no targets" % title)
            refs = [t.get("refId") for t in tl]
            if len(refs) != len(set(refs)):
                expr_problems.append("%s: duplicate refIds %s" % (title, refs))
            for t in tl:
                if "datasource" in t and not ds_ok(t["datasource"]):
                    ds_problems.append("%s/%s: target datasource %s" % (title, t.get("refId"), t["datasource"]))
                expr = t.get("expr", "")
                if not expr or not expr.strip() or expr.strip().startswith("#"):
                    expr_problems.append("%s/%s: empty expr" % (title, t.get("refId")))
                    continue
                for v in var_names_used(expr):
                    if v not in variables and v not in BUILTINS:
                        var_problems.append("%s/%s: unknown variable $%s" % (title, t.get("refId"), v))
                if "allow-empty" in expr:
                    m = allow_marker(expr)
                    if not m or m[0] not in ALLOW_CLASSES:
                        marker_problems.append("%s/%s: malformed allow-empty marker" % (title, t.get("refId")))
        out.check(None not in ids and len(ids) == len(set(ids)), "%s: panel ids unique" % name, str(ids))
        out.check(not type_problems, "%s: only current panel types (no Angular)" % name, "; ".join(type_problems))
        out.check(not problems, "%s: panel layout" % name, "; ".join(problems))
        out.check(not ds_problems, "%s: every panel and target uses ${datasource}" % name, "; ".join(ds_problems))
        out.check(not expr_problems, "%s: every target has an expression" % name, "; ".join(expr_problems))
        out.check(not var_problems, "%s: expressions use known variables" % name, "; ".join(var_problems))
        out.check(not marker_problems, "%s: allow-empty markers well-formed" % name, "; ".join(marker_problems))

        # Annotations.
        ann_problems = []
        for a in d.get("annotations", {}).get("list", []):
            if a.get("builtIn"):
                continue
            if not ds_ok(a.get("datasource")):
                ann_problems.append("%s: datasource" % a.get("name"))
            if not (a.get("expr") or "").strip():
                ann_problems.append("%s: empty expr" % a.get("name"))
        out.check(not ann_problems, "%s: annotations query ${datasource}" % name, "; ".join(ann_problems))

        # Links.
        link_problems = []
        dash_links = [l for l in d.get("links", []) if l.get("type") == "link"]
        targets_linked = set()
        for l in d.get("links", []):
            if l.get("type") == "link":
                m = re.match(r"^/d/([^/?]+)", l.get("url", ""))
                if not m or m.group(1) not in known_uids:
                    link_problems.append("dashboard link %r" % l.get("url"))
                else:
                    targets_linked.add(m.group(1))
        for url in urls_in(d.get("panels", [])):
            m = re.match(r"^/d/([^/?]+)", url)
            if m and m.group(1) not in known_uids:
                link_problems.append("panel link %r" % url)
        missing = EXPECTED_UIDS - {d.get("uid")} - targets_linked
        if missing:
            link_problems.append("no link to %s" % sorted(missing))
        out.check(bool(dash_links) and not link_problems, "%s: links resolve to the four dashboards" % name,
                  "; ".join(link_problems))

    scope(dashboards, out)
    all_selection(dashboards, out)
    drift(directory, dashboards, out)

    # Committed JSON matches the jsonnet source.
    src = os.path.join(os.path.dirname(os.path.abspath(directory.rstrip("/"))), "dashboards.jsonnet")
    if os.path.exists(src) and shutil.which("jsonnet"):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(["jsonnet", "-S", "-m", tmp, src], capture_output=True, text=True)
            if r.returncode != 0:
                out.fail("jsonnet render: " + r.stderr.strip().splitlines()[0] if r.stderr else "jsonnet failed")
            else:
                stale = []
                for f in sorted(os.listdir(tmp)):
                    committed = os.path.join(directory, f)
                    with open(os.path.join(tmp, f), encoding="utf-8") as a:
                        fresh = a.read()
                    if not os.path.exists(committed) or open(committed, encoding="utf-8").read() != fresh:
                        stale.append(f)
                out.check(not stale, "committed dashboards equal the jsonnet render",
                          "stale: %s (run: jsonnet -S -m grafana/dashboards grafana/dashboards.jsonnet)" % stale)
    else:
        print("skip - jsonnet source or jsonnet binary not found: render not compared")
    return out.summary()


# ----------------------------------------------------------------------------- drift
METRIC_PREFIXES = ("agent_", "process_")
BUILTIN_SERIES = {"ALERTS", "ALERTS_FOR_STATE", "up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# An identifier, not part of a file name, flag, variable or wildcard (agent_exporter_*).
IDENT_RE = re.compile(r"(?<![\w:$.\-/])([A-Za-z_:][\w:]*)(?![\w*.\-/])")


def metric_names(expr):
    """Metric names a PromQL expression selects (recording rules, exporter families,
    built-in series): label matchers, grouping label lists, strings and comments dropped."""
    e = re.sub(r"#.*", "", expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)
    e = re.sub(r"\{[^{}]*\}", "{}", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1()", e)
    names = set()
    for m in IDENT_RE.finditer(e):
        n = m.group(1)
        if n.startswith(METRIC_PREFIXES) or ":" in n or n in BUILTIN_SERIES:
            names.add(n)
    return names


def repo_facts(root):
    """Families documented in docs/metrics.md ({name: type}), their labels, the names
    the exporter's sources declare, and the recording rules; None where a file is missing."""
    facts = {"families": None, "labels": set(), "declared": None, "rules": None}
    doc = os.path.join(root, "docs", "metrics.md")
    if os.path.exists(doc):
        facts["families"] = {}
        row = re.compile(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(gauge|counter|histogram)\s*\|([^|]*)\|")
        for line in open(doc, encoding="utf-8"):
            m = row.match(line)
            if m:
                facts["families"][m.group(1)] = m.group(2)
                facts["labels"] |= set(re.findall(r"`(\w+)`", m.group(3)))
    sources = [f for d in ("collectors", "exporter", "core") for f in
               glob.glob(os.path.join(root, d, "**", "*.cc"), recursive=True) +
               glob.glob(os.path.join(root, d, "**", "*.h"), recursive=True)]
    if sources:
        facts["declared"] = set()
        for f in sources:
            facts["declared"] |= set(re.findall(r'"((?:agent|process)_[a-z0-9_]+)"', open(f, encoding="utf-8").read()))
    rules = os.path.join(root, "alerts", "agent_execution.rules.yml")
    if os.path.exists(rules):
        facts["rules"] = set(re.findall(r'^\s*record:\s*"?([^"\s]+)"?\s*$', open(rules, encoding="utf-8").read(), re.M))
    return facts


def family_of(name, facts):
    """The exporter family a series name belongs to (histogram suffixes stripped), or None."""
    fams = facts["families"]
    if name in fams:
        return name
    for suf in HISTOGRAM_SUFFIXES:
        if name.endswith(suf) and fams.get(name[:-len(suf)]) == "histogram":
            return name[:-len(suf)]
    return None


def unknown_metric(name, facts, allow_labels=False):
    """Why a metric name does not exist, or None when it does."""
    if name in BUILTIN_SERIES or name in facts["rules"]:
        return None
    if ":" in name:
        return "no recording rule %s in alerts/agent_execution.rules.yml" % name
    if allow_labels and name in facts["labels"]:
        return None
    fam = family_of(name, facts)
    if fam is None:
        return "%s is not documented in docs/metrics.md" % name
    if facts["declared"] is not None and fam not in facts["declared"]:
        return "%s is documented but not declared by the exporter (collectors/, exporter/, core/)" % fam
    return None


SCOPE_VARS = ("cluster", "job", "instance")
GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SELECTOR_RE = re.compile(r'(?P<sel>[A-Za-z_:][\w:]*)\s*(?P<braces>\{[^{}]*\})?(?P<call>\s*\()?'
                         r'|(?P<str>\x00\d+\x00)|(?P<bare>\{[^{}]*\})|(?P<range>\[[^\]]*\])|(?P<other>.)', re.S)


def selectors(expr):
    """(metric name, matcher text) of every vector selector of a PromQL expression that
    names a metric of ours (exporter family, recording rule, ALERTS, up); comments and
    grouping label lists ignored."""
    strings = []

    def keep(m):
        strings.append(m.group(0))
        return "\x00%d\x00" % (len(strings) - 1)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', keep, re.sub(r"#.*", "", expr))
    e = GROUPING_RE.sub(r"\1()", e)
    restore = lambda t: re.sub(r"\x00(\d+)\x00", lambda m: strings[int(m.group(1))], t or "")
    out = []
    for m in SELECTOR_RE.finditer(e):
        name = m.group("sel")
        if not name or m.group("call"):
            continue
        if name.startswith(METRIC_PREFIXES) or ":" in name or name in BUILTIN_SERIES:
            out.append((name, restore(m.group("braces"))))
    return out


def scope(dashboards, out):
    """Every query is scoped by the platform variables: each selector of a recording rule
    or of ALERTS by $cluster and $job, each selector of an exporter series (and up) by
    $cluster, $job and $instance; the three variables exist, multi-valued with All = .*."""
    for _, d in dashboards:
        name = d.get("uid")
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        problems = []
        for vname in SCOPE_VARS:
            v = variables.get(vname, {})
            if v.get("type") != "query" or not ds_ok(v.get("datasource")) or not v.get("includeAll") \
                    or v.get("allValue") != ".*":
                problems.append("variable %s missing or not a query variable with All = .*" % vname)
        exprs = [("%s/%s" % (p.get("title"), t.get("refId")), t.get("expr", "")) for p in all_panels(d) for t in targets(p)]
        exprs += [("annotation %s" % a.get("name"), a.get("expr", ""))
                  for a in d.get("annotations", {}).get("list", []) if not a.get("builtIn")]
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query" and v.get("name") not in SCOPE_VARS:
                q = v.get("query")
                exprs.append(("variable %s" % v.get("name"), (q.get("query") if isinstance(q, dict) else q) or ""))
        for where, e in exprs:
            for metric, braces in selectors(e):
                rule_like = ":" in metric or metric.startswith("ALERTS")
                need = SCOPE_VARS[:2] if rule_like else SCOPE_VARS
                missing = [v for v in need if not re.search(r'=~\s*"\$\{?%s\b' % v, braces)]
                if missing:
                    problems.append("%s: %s%s lacks %s" % (where, metric, braces, ", ".join("$" + v for v in missing)))
        out.check(not problems, "%s: every query scoped by $cluster, $job (and $instance on exporter series)" % name,
                  "; ".join(problems[:8]) + (" (+%d more)" % (len(problems) - 8) if len(problems) > 8 else ""))


# ----------------------------------------------------------------------------- All
AGG_OPS = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile", "count_values"}
# The selection gate of $workspace (grafana/lib.libsonnet): `job` is never empty and never a
# workspace id, so it matches the All value (.+) and no selection of workspaces.
NOT_ALL_RE = re.compile(r'\bjob\s*!~\s*"\$\{?workspace\}?"')
ALL_ONLY_RE = re.compile(r'\bjob\s*=~\s*"\$\{?workspace\}?"')


def per_workspace_rule(name):
    """A recording rule with a series per workspace (its level names workspace_id)."""
    return ":" in name and name.split(":")[0].startswith("workspace")


def aggregated_across_workspaces(expr):
    """Selectors (name, matcher text) of per-workspace recording rules that an aggregation
    operator of expr sums (averages, counts, ...) across workspaces: an enclosing
    aggregation whose result has no workspace_id (no `by`, or a `by` without it, or a
    `without` that drops it). topk/bottomk keep their series' labels: not aggregations."""
    e = re.sub(r"#.*", "", expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: "\x01" * len(m.group(0)), e)  # keep offsets
    # Each aggregation: the span of its argument parentheses and whether it keeps workspace_id.
    spans = []
    for m in re.finditer(r"\b(%s)\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\(" % "|".join(AGG_OPS), e):
        depth, i = 1, m.end()
        while i < len(e) and depth:
            depth += {"(": 1, ")": -1}.get(e[i], 0)
            i += 1
        keeps = False
        rest = e[i:]
        trailing = re.match(r"\s*(by|without)\s*\(([^)]*)\)", rest)
        mode, labels = (m.group(2), m.group(3)) if m.group(2) else (trailing.groups() if trailing else (None, ""))
        listed = {l.strip() for l in (labels or "").split(",")}
        if mode == "by":
            keeps = "workspace_id" in listed
        elif mode == "without":
            keeps = "workspace_id" not in listed
        spans.append((m.end(), i, keeps))
    out = []
    for m in SELECTOR_RE.finditer(e):
        name = m.group("sel")
        if not name or m.group("call") or not per_workspace_rule(name):
            continue
        if any(s <= m.start() < t and not keeps for s, t, keeps in spans):
            braces = expr[m.start("braces"):m.end("braces")] if m.group("braces") else ""
            out.append((name, braces))
    return out


def all_selection(dashboards, out):
    """With $workspace = All no panel sums per-workspace recorded series at query time
    (thousands of series at thousands of workspaces): a per-workspace rule under an
    aggregation across workspaces carries the not-All gate (job!~"$workspace", empty when
    All is selected), and the same target reads a platform-wide rule under the All gate
    (job=~"$workspace")."""
    for _, d in dashboards:
        name = d.get("uid")
        problems = []
        for p in all_panels(d):
            for t in targets(p):
                e = t.get("expr", "")
                where = "%s/%s" % (p.get("title"), t.get("refId"))
                hits = aggregated_across_workspaces(e)
                ungated = ["%s%s" % h for h in hits if not NOT_ALL_RE.search(h[1])]
                if ungated:
                    problems.append("%s aggregates %s with All selected" % (where, ", ".join(sorted(set(ungated)))))
                elif hits and not any(ALL_ONLY_RE.search(b) and not per_workspace_rule(n) for n, b in selectors(e)):
                    problems.append("%s: per-workspace rules gated off for All, but no platform-wide rule gated on" % where)
        out.check(not problems, "%s: with $workspace = All, no query aggregates per-workspace recorded series" % name,
                  "; ".join(problems[:10]) + (" (+%d more)" % (len(problems) - 10) if len(problems) > 10 else ""))


def drift(directory, dashboards, out):
    root = os.path.dirname(os.path.dirname(os.path.abspath(directory.rstrip("/"))))
    facts = repo_facts(root)
    if facts["families"] is None or facts["rules"] is None:
        print("skip - docs/metrics.md or alerts/agent_execution.rules.yml not found: metrics not checked")
        return
    used_classes = set()
    for _, d in dashboards:
        name = d.get("uid")
        exprs = [t.get("expr", "") for p in all_panels(d) for t in targets(p)]
        exprs += [a.get("expr", "") for a in d.get("annotations", {}).get("list", []) if not a.get("builtIn")]
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v.get("query")
                exprs.append((q.get("query") if isinstance(q, dict) else q) or "")
        problems = sorted({why for e in exprs for n in metric_names(e) for why in [unknown_metric(n, facts)] if why})
        for e in exprs:
            m = allow_marker(e)
            if m:
                used_classes.add(m[0])
        out.check(not problems, "%s: every metric queried is a recording rule or an exposed, documented family" % name,
                  "; ".join(problems))
    out.check(set(ALLOW_CLASSES) <= used_classes, "every allow-empty class is used by a dashboard",
              "unused: %s" % sorted(set(ALLOW_CLASSES) - used_classes))

    doc = os.path.join(root, "docs", "dashboards.md")
    if not os.path.exists(doc):
        print("skip - docs/dashboards.md not found")
        return
    text = open(doc, encoding="utf-8").read()
    problems, pending = set(), []
    for lineno, line in enumerate(text.splitlines(), 1):
        names = set()
        for span in re.findall(r"`([^`]+)`", line):
            names |= metric_names(span)
        for n in names:
            why = unknown_metric(n, facts, allow_labels=True)
            if why:
                problems.add(why)
        exposed = [n for n in names if family_of(n, facts)]
        if exposed and re.search(r"(?i)\bpending\b|not exposed yet|announced", line):
            pending.append("line %d calls %s pending" % (lineno, ", ".join(sorted(exposed))))
    out.check(not problems, "docs/dashboards.md: every metric it names exists", "; ".join(sorted(problems)))
    out.check(not pending, "docs/dashboards.md: no exposed family is called pending", "; ".join(pending))
    m = re.search(r"^\| class \| used for \|\n\|[-| ]+\|\n((?:\|.*\n?)+)", text, re.M)
    documented = set(re.findall(r"^\|\s*`(\w+)`\s*\|", m.group(1), re.M)) if m else set()
    out.check(documented == set(ALLOW_CLASSES), "docs/dashboards.md: its allow-empty classes are the checker's",
              "documented %s, checker %s" % (sorted(documented), sorted(ALLOW_CLASSES)))


# ----------------------------------------------------------------------------- query
class Prom:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def _get(self, path, params):
        url = "%s%s?%s" % (self.base, path, urllib.parse.urlencode(params))
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                body = json.load(e)
            except ValueError:
                return None, "HTTP %d" % e.code
        except (urllib.error.URLError, OSError, ValueError) as e:
            return None, str(e)
        if body.get("status") != "success":
            return None, "%s: %s" % (body.get("errorType"), body.get("error"))
        return body["data"], None

    def instant(self, expr, at):
        return self._get("/api/v1/query", {"query": expr, "time": "%.3f" % at})

    def range(self, expr, start, end, step):
        return self._get("/api/v1/query_range", {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end, "step": step})


def interpolate(expr, values):
    """Replaces $var, ${var}, ${var:fmt}, [[var]] like Grafana (values already regex-ready)."""
    def repl(m):
        name = m.group(1) or m.group(3) or m.group(4)
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        return m.group(0)
    return VAR_RE.sub(repl, expr)


def grafana_line(sample):
    """A series as Grafana's query_result() lists it: name{k="v",...} value ts_ms."""
    metric = dict(sample.get("metric", {}))
    name = metric.pop("__name__", "")
    labels = ",".join('%s="%s"' % (k, v) for k, v in metric.items())
    ts, val = sample.get("value", [0, ""])
    return "%s{%s} %s %d" % (name, labels, val, int(float(ts) * 1000))


def js_regex(rx):
    m = re.match(r"^/(.*)/([gimsuy]*)$", rx, re.S)
    body, flags = (m.group(1), m.group(2)) if m else (rx, "")
    body = body.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    return re.compile(body, re.I if "i" in flags else 0)


def variable_options(prom, var, values, at):
    """Runs a query variable like Grafana: returns ([(value, text)], error)."""
    q = var.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    q = interpolate(q, values)
    m = re.match(r"^\s*query_result\((.+)\)\s*$", q, re.S)
    lv = re.match(r"^\s*label_values\((?:(.+),\s*)?(\w+)\)\s*$", q, re.S)
    if m:
        data, err = prom.instant(m.group(1), at)
        if err:
            return [], err
        lines = [grafana_line(s) for s in data.get("result", [])] if data["resultType"] == "vector" else []
    elif lv:
        data, err = prom.instant("group by (%s) (%s)" % (lv.group(2), lv.group(1) or "{__name__=~\".+\"}"), at)
        if err:
            return [], err
        lines = [s["metric"].get(lv.group(2), "") for s in data.get("result", [])]
    else:
        return [], "unsupported variable query %r" % q
    opts = []
    rx = js_regex(var["regex"]) if var.get("regex") else None
    for line in lines:
        if rx is None:
            opts.append((line, line))
            continue
        mm = rx.search(line)
        if not mm:
            continue
        gd = mm.groupdict()
        if gd.get("value") or gd.get("text"):
            value = gd.get("value") or gd.get("text")
            opts.append((value, gd.get("text") or value))
        elif mm.groups():
            opts.append((mm.group(1), mm.group(1)))
        else:
            opts.append((line, line))
    seen, uniq = set(), []
    for o in sorted(opts, key=lambda o: o[1].lower()):
        if o[0] not in seen:
            seen.add(o[0])
            uniq.append(o)
    return uniq, None


def regex_escape(v):
    # Grafana escapes the regex metacharacters of a value used in a =~ matcher, and
    # escapes each backslash again for the PromQL string literal: 127.0.0.1 becomes
    # 127\\.0\\.0\\.1 in the query text (the regex 127\.0\.0\.1).
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", v)


def legend_labels(fmt):
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", fmt or ""))


def table_label_columns(panel):
    for tr in panel.get("transformations", []) or []:
        if tr.get("id") == "filterFieldsByName":
            names = tr.get("options", {}).get("include", {}).get("names", [])
            return {n for n in names if not n.startswith("Value") and n != "Time"}
    return set()


def query(directory, prom_url, modes, require, do_range):
    out = Counter()
    dashboards = load_dashboards(directory, out)
    prom = Prom(prom_url)
    data, err = prom.instant("vector(1)", time.time())
    if err:
        out.fail("Prometheus %s reachable: %s" % (prom_url, err))
        return out.summary()
    for fname, d in dashboards:
        name = d.get("uid") or fname
        at = time.time()
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        # Resolve query variables in order (agent depends on workspace).
        first_values, all_values = {}, {}
        for vname, v in variables.items():
            if v.get("type") != "query":
                continue
            for label, vals in (("all", all_values), ("first", first_values)):
                if label not in modes:
                    continue
                opts, err = variable_options(prom, v, vals, at)
                tag = "%s: variable %s (%s)" % (name, vname, label)
                if err:
                    out.fail("%s: %s" % (tag, err))
                elif not opts:
                    out.fail("%s: no options" % tag)
                else:
                    out.ok("%s: %d options, first %s (%s)" % (tag, len(opts), opts[0][1], opts[0][0]))
                if label == "all":
                    vals[vname] = v.get("allValue") or ".*"
                else:
                    vals[vname] = regex_escape(opts[0][0]) if opts else "__none__"
        runs = [(m, all_values if m == "all" else first_values) for m in ("all", "first") if m in modes]

        items = []
        for p in all_panels(d):
            needed = table_label_columns(p) if p.get("type") == "table" else set()
            for t in targets(p):
                labels = legend_labels(t.get("legendFormat"))
                if t.get("format") == "heatmap":
                    labels.add("le")
                items.append(("%s / %s / %s" % (name, p.get("title"), t.get("refId")), t.get("expr", ""),
                              labels, needed, t.get("range", True) and p.get("type") == "timeseries"))
        for a in d.get("annotations", {}).get("list", []):
            if not a.get("builtIn") and a.get("expr"):
                items.append(("%s / annotation %s" % (name, a.get("name")), a["expr"], set(), set(), False))

        for mode, values in runs:
            for label, expr, legend, _cols, is_range in items:
                q = interpolate(expr, values)
                tag = "%s [%s]" % (label, mode)
                marker = allow_marker(expr)
                data, err = prom.instant(q, at)
                if err:
                    out.fail("%s: %s\n       %s" % (tag, err, q.replace("\n", " ")))
                    continue
                result = data.get("result")
                if data.get("resultType") == "scalar":
                    result = [{"metric": {}, "value": result}]
                if not result:
                    allowed = marker and marker[0] not in require and (marker[0] != "filtered" or mode == "first")
                    if allowed:
                        out.ok("%s: empty, allowed (%s: %s)" % (tag, marker[0], marker[1]))
                    else:
                        out.fail("%s: empty result\n       %s" % (tag, q.replace("\n", " ")))
                    continue
                missing = sorted({l for l in legend if any(l not in s.get("metric", {}) for s in result)})
                if missing:
                    out.fail("%s: %d series, some lack label(s) %s needed by the legend" % (tag, len(result), missing))
                    continue
                out.ok("%s: %d series" % (tag, len(result)))
                if do_range and is_range:
                    _, rerr = prom.range(q, at - 900, at, "15")
                    out.check(rerr is None, "%s: range query" % tag, rerr or "")
        # Table label columns: each must be provided by at least one non-empty target.
        for p in all_panels(d):
            if p.get("type") != "table":
                continue
            cols = table_label_columns(p)
            if not cols or not runs:
                continue
            values = runs[0][1]
            got, any_data = set(), False
            for t in targets(p):
                data, err = prom.instant(interpolate(t.get("expr", ""), values), at)
                res = (data or {}).get("result") or []
                if res:
                    any_data = True
                    for s in res:
                        got |= set(s.get("metric", {}))
            if not any_data:
                continue
            missing = sorted(cols - got)
            out.check(not missing, "%s / %s: table columns %s present" % (name, p.get("title"), sorted(cols)),
                      "missing %s" % missing)
    return out.summary()


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        print("Allow-empty classes:")
        for c in sorted(ALLOW_CLASSES):
            print("  %-9s %s" % (c, ALLOW_CLASSES[c]))
        return 0
    if len(argv) == 3 and argv[1] == "lint":
        return lint(argv[2])
    if len(argv) >= 4 and argv[1] == "query":
        modes, require, do_range = ("all", "first"), set(), False
        rest = argv[4:]
        i = 0
        while i < len(rest):
            a = rest[i]
            if a.startswith("--vars"):
                v = a.split("=", 1)[1] if "=" in a else (rest[i + 1] if i + 1 < len(rest) else "")
                i += 0 if "=" in a else 1
                if v not in ("all", "first", "both"):
                    print("--vars: expected all, first or both", file=sys.stderr)
                    return 2
                modes = ("all", "first") if v == "both" else (v,)
            elif a.startswith("--require"):
                v = a.split("=", 1)[1] if "=" in a else (rest[i + 1] if i + 1 < len(rest) else "")
                i += 0 if "=" in a else 1
                require = {c for c in v.split(",") if c}
                bad = require - ALLOW_CLASSES
                if bad:
                    print("--require: unknown class %s" % sorted(bad), file=sys.stderr)
                    return 2
            elif a == "--range":
                do_range = True
            else:
                print("unknown option %s" % a, file=sys.stderr)
                return 2
            i += 1
        return query(argv[2], argv[3], modes, require, do_range)
    print("usage: check_dashboards.py lint DASHBOARD_DIR | query DASHBOARD_DIR PROM_URL "
          "[--vars all|first|both] [--require CLASS,...] [--range]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
