#!/usr/bin/env python3
"""The mixin's one _config reaches rules, alerts and every dashboard (docs/mixin.md).

  mixin_override_test.py REPO_ROOT

Lays the repository out as jsonnet-bundler vendors it (vendor/agent_execution_exporter/
with jsonnetfile.json, alerts/ and grafana/), imports
'agent_execution_exporter/alerts/mixin.libsonnet' from a consumer's jsonnet with
_config overrides, and checks that each override shows up where it must: the selector
in every selector of an exporter series (rules, alerts, dashboards), the cluster label
in every grouping and join of the rules and alerts and in every dashboard's platform
scope, the URL patterns in every alert, refresh, time zone and tags in every
dashboard, and that promtool accepts the overridden rule files. Prints one line per
check and "N passed, N failed".
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

OVERRIDES = {
    "selector": 'job="agents"',
    "clusterLabel": "k8s_cluster",
    "runbookURLPattern": "https://runbooks.example.org/agents/%s",
    "dashboardURLPattern": "https://grafana.example.org/d/%s",
    "dashboardRefresh": "1m",
    "dashboardTimezone": "browser",
    "dashboardTags": ["platform-x"],
    "dashboardTopWorkspaces": 7,
    "dashboardTopAgents": 9,
    "dashboardTopRuns": 11,
}
CONSUMER = """
local mixin = (import 'agent_execution_exporter/alerts/mixin.libsonnet') + { _config+:: %s };
{
  'rules.yml': std.manifestYamlDoc(mixin.prometheusRules),
  'alerts.yml': std.manifestYamlDoc(mixin.prometheusAlerts),
  'mixin.json': std.manifestJson({ rules: mixin.prometheusRules, alerts: mixin.prometheusAlerts, dashboards: mixin.grafanaDashboards }),
}
"""
# Tokens of PromQL: a metric name with its matchers, a string, a range, anything else.
TOKEN_RE = re.compile(r'(?P<name>[A-Za-z_:][\w:]*)\s*(?P<braces>\{(?:"(?:[^"\\]|\\.)*"|[^{}"])*\})?(?P<call>\s*\()?'
                      r'|"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\]]*\]|.', re.S)
LABEL_LISTS_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
GROUPING_RE = re.compile(r"\b(by|on)\s*\(([^)]*)\)")

passed = failed = 0


def check(cond, msg, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   - " + msg)
    else:
        failed += 1
        print("FAIL - %s%s" % (msg, ": " + detail if detail else ""))
    return cond


def unselected(expr):
    """Exporter series selectors (agent_*, process_* names, not recording rules) of expr
    that lack the overridden selector."""
    e = LABEL_LISTS_RE.sub("", re.sub(r"#.*", "", expr))
    bad = set()
    for m in TOKEN_RE.finditer(e):
        name = m.group("name")
        if name and not m.group("call") and name.startswith(("agent_", "process_")) \
                and OVERRIDES["selector"] not in (m.group("braces") or ""):
            bad.add(name + (m.group("braces") or ""))
    return sorted(bad)


def unscoped(expr):
    """by (…) / on (…) lists of expr that do not start with the overridden cluster label."""
    return sorted({m.group(0) for m in GROUPING_RE.finditer(expr)
                   if not re.match(r"\s*%s\s*,\s*job\b" % OVERRIDES["clusterLabel"], m.group(2))})


def main(root):
    with tempfile.TemporaryDirectory() as tmp:
        vendored = os.path.join(tmp, "vendor", "agent_execution_exporter")
        os.makedirs(vendored)
        for d in ("alerts", "grafana"):
            shutil.copytree(os.path.join(root, d), os.path.join(vendored, d),
                            ignore=shutil.ignore_patterns("tests", "dashboards", "*.yml", "provisioning"))
        shutil.copy(os.path.join(root, "jsonnetfile.json"), vendored)
        with open(os.path.join(root, "jsonnetfile.json")) as f:
            jf = json.load(f)
        check(jf.get("version") == 1 and isinstance(jf.get("dependencies"), list),
              "jsonnetfile.json has the jsonnet-bundler shape (version 1, dependencies)")
        src = os.path.join(tmp, "consumer.jsonnet")
        with open(src, "w") as f:
            f.write(CONSUMER % json.dumps(OVERRIDES))
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        r = subprocess.run(["jsonnet", "-J", os.path.join(tmp, "vendor"), "-S", "-m", out, src],
                           capture_output=True, text=True)
        if not check(r.returncode == 0, "the vendored mixin renders with _config overrides", r.stderr.strip()[:400]):
            return
        r = subprocess.run(["promtool", "check", "rules", os.path.join(out, "rules.yml"), os.path.join(out, "alerts.yml")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "promtool accepts the overridden rules and alerts", (r.stdout + r.stderr)[-400:])
        with open(os.path.join(out, "mixin.json")) as f:
            mixin = json.load(f)

    rules = [r for g in mixin["rules"]["groups"] for r in g["rules"]]
    alerts = [r for g in mixin["alerts"]["groups"] for r in g["rules"]]
    def check_selected_and_scoped(kind, items, name_key):
        """Every expression of items carries the selector and keeps the cluster label and job."""
        for finds, what in ((unselected, "every exporter series carries the selector"),
                            (unscoped, "every grouping and join keeps %s and job" % OVERRIDES["clusterLabel"])):
            found = [(i[name_key], finds(i["expr"])) for i in items if finds(i["expr"])]
            check(items and not found, "%s: %s" % (kind, what), "; ".join("%s: %s" % f for f in found)[:600])

    check_selected_and_scoped("rules", rules, "record")
    check(not any(re.search(r"\bcluster\b", r["expr"]) for r in rules + alerts),
          "rules and alerts: the default label name 'cluster' appears nowhere")
    check_selected_and_scoped("alerts", alerts, "alert")
    runbook = OVERRIDES["runbookURLPattern"].replace("%s", "")
    dash = OVERRIDES["dashboardURLPattern"] % "agent-execution-overview"
    bad = [a["alert"] for a in alerts if a["annotations"]["runbook_url"] != runbook + a["alert"].lower()
           or not a["annotations"]["dashboard_url"].startswith(dash + "?var-%s={{ $labels.%s }}" % ("cluster", OVERRIDES["clusterLabel"]))]
    check(alerts and not bad, "alerts: runbook and dashboard links follow the URL patterns and the cluster label", str(bad))
    lookups = [a["alert"] for a in alerts if "| query" in a["annotations"]["description"]
               and "%s='%%s'" % OVERRIDES["clusterLabel"] not in a["annotations"]["description"]]
    check(not lookups, "alerts: value and name lookups select the alert's own %s" % OVERRIDES["clusterLabel"], str(lookups))

    dashboards = mixin["dashboards"]
    check(len(dashboards) == 4, "grafanaDashboards has the four dashboards", str(sorted(dashboards)))
    for name, d in sorted(dashboards.items()):
        exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
        exprs += [a["expr"] for a in d["annotations"]["list"] if a.get("expr")]
        exprs += [v["query"] for v in d["templating"]["list"] if v["type"] == "query" and v["name"] != "cluster"]
        missing = sorted({s for e in exprs for s in unselected(e)})
        check(exprs and not missing, "%s: every exporter series carries the selector" % name, str(missing[:5]))
        scope = '%s=~"$cluster"' % OVERRIDES["clusterLabel"]
        unscoped_exprs = [e.splitlines()[0][:80] for e in exprs
                          if re.search(r"[a-z_]+:[a-z_0-9:]+\{|agent_[a-z_]+\{", e) and scope not in e]
        check(not unscoped_exprs and not any(re.search(r'(?<![\w])cluster=~', e) for e in exprs),
              "%s: every query is scoped by %s" % (name, scope), str(unscoped_exprs[:3]))
        cv = [v for v in d["templating"]["list"] if v["name"] == "cluster"]
        check(cv and cv[0]["query"].endswith(", %s)" % OVERRIDES["clusterLabel"]),
              "%s: the cluster variable lists %s" % (name, OVERRIDES["clusterLabel"]), str(cv[:1]))
        check((d.get("refresh"), d.get("timezone"), d.get("tags")) ==
              (OVERRIDES["dashboardRefresh"], OVERRIDES["dashboardTimezone"], OVERRIDES["dashboardTags"]),
              "%s: refresh, timezone and tags from _config" % name,
              str((d.get("refresh"), d.get("timezone"), d.get("tags"))))
        # Tables with one row per agent: every target restricted to the same busiest agents
        # (one ranking expression), so that Grafana's join keeps whole rows.
        rank_re = re.compile(r"\band on \(workspace_id, agent_id\) topk\((\d+), (.*)\)\)$", re.M)
        # A target has one ranking per branch of its gate (All: the pre-capped rule;
        # a selection: the per-agent rule), the same in every target of the table.
        agent_tables = [p for p in d["panels"] if p.get("type") == "table"
                        and any(rank_re.search(t["expr"]) for t in p.get("targets", []))]
        for p in agent_tables:
            ranks = [rank_re.findall(t["expr"]) for t in p["targets"]]
            check(ranks[0] and all(r == ranks[0] for r in ranks)
                  and all(n == str(OVERRIDES["dashboardTopAgents"]) for n, _ in ranks[0])
                  and "At most %d agents" % OVERRIDES["dashboardTopAgents"] in p["description"],
                  "%s/%s: every target capped at dashboardTopAgents by one ranking" % (name, p["title"]), str(ranks)[:400])
        agent_exprs = {t["expr"] for p in agent_tables for t in p["targets"]}
        # Tables of runs (Live executions): with All the longest dashboardTopRuns runs.
        run_tables = [p for p in d["panels"] if p.get("type") == "table"
                      and any("_top_runs" in t["expr"] for t in p.get("targets", []))]
        for p in run_tables:
            caps = {n for t in p["targets"] for n in re.findall(r"topk\((\d+), \w+:\w+:max_top_runs", t["expr"])}
            check(caps == {str(OVERRIDES["dashboardTopRuns"])}
                  and "the %d longest" % OVERRIDES["dashboardTopRuns"] in p["description"],
                  "%s/%s: runs capped at dashboardTopRuns" % (name, p["title"]), str(caps))
        agent_exprs |= {t["expr"] for p in run_tables for t in p["targets"]}
        tops = sorted(set(re.findall(r"topk\((\d+),", "\n".join(e for e in exprs if e not in agent_exprs))))
        # Every dashboard has panels with one series per workspace.
        check(tops == [str(OVERRIDES["dashboardTopWorkspaces"])],
              "%s: per-workspace panels capped at dashboardTopWorkspaces" % name, str(tops))
    # The pre-capped rankings the dashboards read with All carry the caps.
    caps = {"_top_workspaces": "dashboardTopWorkspaces", "_top_agents": "dashboardTopAgents", "_top_runs": "dashboardTopRuns"}
    for suffix, key in caps.items():
        ranked = [r for r in rules if r["record"].endswith(suffix) and "topk" in r["expr"]]
        bad = [r["record"] for r in ranked
               if not re.search(r"topk by \(%s, job\b[^)]*\) \(%d," % (OVERRIDES["clusterLabel"], OVERRIDES[key]), r["expr"])]
        check(ranked and not bad, "rules: every %s ranking is capped at %s per platform" % (suffix, key), str(bad))
    check(any(p["title"] == "Performance by agent" for d in dashboards.values() for p in d["panels"]
              if "topk(%d," % OVERRIDES["dashboardTopAgents"] in "".join(t["expr"] for t in p.get("targets", []))),
          "overview: Performance by agent capped at dashboardTopAgents")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: mixin_override_test.py REPO_ROOT", file=sys.stderr)
        sys.exit(2)
    main(os.path.abspath(sys.argv[1]))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
