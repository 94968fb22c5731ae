#!/usr/bin/env bash
# Validates the compose stack without a Docker engine: Prometheus and Alertmanager
# configs with their own checkers, the compose file as YAML with every bind-mounted
# path present and every image either ours or pinned.
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
    for vol in svc.get("volumes", []):
        host = vol.split(":")[0]
        if host.startswith("."):
            assert os.path.exists(host), f"{name}: {host} does not exist"
    for dep in svc.get("depends_on", {}):
        assert dep in services, f"{name}: depends on unknown {dep}"
for name, secret in doc.get("secrets", {}).items():
    assert os.path.exists(secret["file"]), f"secret {name}: {secret['file']} missing"
assert services["exporter"]["image"] == services["simulator"]["image"]
assert "build" in services["simulator"], "simulator builds the image from ../Dockerfile"
assert os.path.exists("../Dockerfile")
PY
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
