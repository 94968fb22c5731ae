#!/usr/bin/env bash
# Proves the Dockerfile's build path without a Docker engine: the same script steps
# (packaging/build.sh) compile a release into a prefix, every shared library the
# binaries load comes from the runtime stage's packages, and the Dockerfile still
# calls exactly those steps.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0; failed=0
step() { local name=$1; shift; if out=$("$@" 2>&1); then echo "ok   - $name"; passed=$((passed + 1)); else echo "FAIL - $name"; echo "$out" | tail -20; failed=$((failed + 1)); fi; }
prefix=$(mktemp -d /tmp/aee-pkg.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
step "packaging/build.sh build-deps" packaging/build.sh build-deps
step "packaging/build.sh compile (release build, install)" env BUILD_DIR="${PACKAGING_BUILD_DIR:-build-release}" packaging/build.sh compile "$prefix"
step "both binaries installed" test -x "$prefix/bin/agent_execution_exporter" -a -x "$prefix/bin/agent_platform_sim"
step "packaging/build.sh check (runtime libraries)" packaging/build.sh check "$prefix"
step "Dockerfile runs the same steps" bash -c 'grep -q "packaging/build.sh build-deps" Dockerfile && grep -q "packaging/build.sh compile" Dockerfile && grep -q "build.sh runtime-deps" Dockerfile'
step "Dockerfile: non-root user, EXPOSE, HEALTHCHECK on /healthz, ENTRYPOINT" bash -c 'grep -q "^USER exporter" Dockerfile && grep -q "^EXPOSE 9477" Dockerfile && grep -q "HEALTHCHECK" Dockerfile && grep -q "/healthz" Dockerfile && grep -q "^ENTRYPOINT" Dockerfile'
step "deploy/check.sh (compose, Prometheus and Alertmanager configs)" deploy/check.sh
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
