#!/usr/bin/env bash
# Validates the compose stack without a Docker engine: Prometheus and Alertmanager
# configs with their own checkers, the compose file as YAML with every image either
# ours or pinned, and (compose_check.py) every mounted file present, every path a
# mounted configuration reads (Grafana provisioning, dashboard providers, Prometheus
# rule files) inside the service's mounts, every ${VAR} a provisioned file reads set
# in the service's environment. Mutants of the compose file prove those checks bite.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0
step() { local name=$1; shift; if out=$("$@" 2>&1); then echo "ok   - $name"; passed=$((passed + 1)); else echo "FAIL - $name"; echo "$out" | tail -20; failed=$((failed + 1)); fi; }
step "promtool check config prometheus.yml (loads the rule pack)" promtool check config prometheus.yml
step "amtool check-config alertmanager.yml" amtool check-config alertmanager.yml
step "docker-compose.yml is well-formed and consistent" python3 - <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open("docker-compose.yml"))
services = doc["services"]
need = {"postgres", "simulator", "exporter", "prometheus", "alertmanager", "grafana"}
missing = need - set(services)
assert not missing, f"missing services {missing}"
for name, svc in services.items():
    image = svc.get("image", "")
    assert image, f"{name}: no image"
    assert ":" in image and not image.endswith(":latest"), f"{name}: image {image} not pinned"
    for dep in svc.get("depends_on", {}):
        assert dep in services, f"{name}: depends on unknown {dep}"
for name, secret in doc.get("secrets", {}).items():
    assert os.path.exists(secret["file"]), f"secret {name}: {secret['file']} missing"
assert services["exporter"]["image"] == services["simulator"]["image"]
assert "build" in services["simulator"], "simulator builds the image from ../Dockerfile"
assert os.path.exists("../Dockerfile")
PY
step "compose_check.py: mounts exist, provisioning paths and \${VARs} resolve" /usr/bin/python3 compose_check.py docker-compose.yml
# The two faults the check exists for (issue #14): each mutant must be rejected.
mutants=$(mktemp -d); trap 'rm -rf "$mutants"' EXIT
/usr/bin/python3 - "$mutants" <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open("docker-compose.yml"))
g = doc["services"]["grafana"]
def write(name, d):
    with open(os.path.join(sys.argv[1], name + ".yml"), "w") as f:
        yaml.safe_dump(d, f)
m = yaml.safe_load(yaml.safe_dump(doc))
m["services"]["grafana"]["volumes"] = [v.replace(":/var/lib/grafana/dashboards/agent-execution", ":/var/lib/grafana/dashboards") for v in g["volumes"]]
write("dashboards_mounted_beside_the_provider_path", m)
m = yaml.safe_load(yaml.safe_dump(doc))
del m["services"]["grafana"]["environment"]["PROMETHEUS_URL"]
write("prometheus_url_unset", m)
m = yaml.safe_load(yaml.safe_dump(doc))
m["services"]["prometheus"]["volumes"] = [v.replace("../alerts:", "../no-such-dir:") for v in m["services"]["prometheus"]["volumes"]]
write("rules_not_mounted", m)
PY
for m in "$mutants"/*.yml; do
  cp "$m" ./.mutant-compose.yml
  step "compose_check.py rejects the mutant $(basename "$m" .yml)" bash -c '! /usr/bin/python3 compose_check.py .mutant-compose.yml'
  rm -f ./.mutant-compose.yml
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
