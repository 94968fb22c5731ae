#!/usr/bin/env python3
"""Static checks of a compose file that a `docker compose up` would otherwise find late
(there is no Docker engine in CI):

  compose_check.py COMPOSE_FILE

- every file or directory a service bind-mounts, and every secret file, exists;
- every path a mounted configuration reads resolves inside that service's mounts:
  Grafana's provisioning directory, each dashboard provider's options.path (to a
  directory holding dashboards), each datasource file; Prometheus' rule_files;
- every ${VAR} (or $VAR) a provisioned Grafana file reads is set in that service's
  environment (Grafana expands them; an unset one becomes an empty URL).
Prints one line per problem; exit status 1 when there is any.
"""
import glob
import os
import re
import sys

import yaml

GRAFANA_PROVISIONING = "/etc/grafana/provisioning"


def mounts(base, svc):
    """[(host path, container path)] of the service's bind mounts."""
    out = []
    for v in svc.get("volumes", []) or []:
        if isinstance(v, dict):
            src, dst = v.get("source", ""), v.get("target", "")
        else:
            parts = v.split(":")
            if len(parts) < 2:
                continue
            src, dst = parts[0], parts[1]
        if src.startswith((".", "/")):
            out.append((os.path.normpath(os.path.join(base, src)), os.path.normpath(dst)))
    return out


def to_host(ms, path):
    """The host path behind a container path, through the longest mount prefix, or None."""
    path = os.path.normpath(path)
    best = None
    for host, dst in ms:
        if path == dst or path.startswith(dst + "/"):
            if best is None or len(dst) > len(best[1]):
                best = (host, dst)
    if best is None:
        return None
    return os.path.join(best[0], os.path.relpath(path, best[1])) if path != best[1] else best[0]


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return {e.split("=", 1)[0] for e in env}
    return set(env)


def check(path):
    problems = []
    base = os.path.dirname(os.path.abspath(path))
    doc = yaml.safe_load(open(path))
    for name, secret in (doc.get("secrets") or {}).items():
        if "file" in secret and not os.path.exists(os.path.join(base, secret["file"])):
            problems.append("secret %s: %s does not exist" % (name, secret["file"]))
    for name, svc in (doc.get("services") or {}).items():
        ms = mounts(base, svc)
        for host, dst in ms:
            if not os.path.exists(host):
                problems.append("%s: mounts %s at %s, which does not exist" % (name, os.path.relpath(host, base), dst))
        image = svc.get("image", "")
        if image.startswith("grafana/grafana"):
            problems += grafana(name, svc, ms)
        if image.startswith("prom/prometheus"):
            problems += prometheus(name, svc, ms)
    return problems


def grafana(name, svc, ms):
    problems = []
    prov = to_host(ms, GRAFANA_PROVISIONING)
    if prov is None or not os.path.isdir(prov):
        return ["%s: nothing mounted at %s" % (name, GRAFANA_PROVISIONING)]
    env = environment(svc)
    for f in sorted(glob.glob(os.path.join(prov, "**", "*.y*ml"), recursive=True)):
        rel = os.path.relpath(f, prov)
        text = open(f).read()
        body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        for var in sorted(set(re.findall(r"\$\{(\w+)\}|\$(\w+)", body))):
            v = var[0] or var[1]
            if v not in env:
                problems.append("%s: provisioning/%s reads ${%s}, which the service's environment does not set" % (name, rel, v))
        doc = yaml.safe_load(text) or {}
        for p in doc.get("providers", []) or []:
            cpath = (p.get("options") or {}).get("path")
            host = to_host(ms, cpath) if cpath else None
            if host is None:
                problems.append("%s: provider %r reads %s, which no mount of the service provides" % (name, p.get("name"), cpath))
            elif not glob.glob(os.path.join(host, "*.json")):
                problems.append("%s: provider %r reads %s (%s), which holds no dashboard" % (name, p.get("name"), cpath, host))
    return problems


def prometheus(name, svc, ms):
    problems = []
    cmd = svc.get("command") or []
    cfg = next((c.split("=", 1)[1] for c in cmd if c.startswith("--config.file=")), "/etc/prometheus/prometheus.yml")
    host = to_host(ms, cfg)
    if host is None or not os.path.isfile(host):
        return ["%s: config %s is not mounted" % (name, cfg)]
    doc = yaml.safe_load(open(host)) or {}
    for rf in doc.get("rule_files", []) or []:
        cpath = rf if rf.startswith("/") else os.path.join(os.path.dirname(cfg), rf)
        hpath = to_host(ms, cpath)
        if hpath is None or not glob.glob(hpath):
            problems.append("%s: rule_files %s (%s) matches no mounted file" % (name, rf, cpath))
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: compose_check.py COMPOSE_FILE", file=sys.stderr)
        sys.exit(2)
    found = check(sys.argv[1])
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
