#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, if missing.
# Idempotent and quiet when everything is already there. Needs root (apt-get) only
# when something is missing.
#   scripts/install-deps.sh            the project's packages
#   scripts/install-deps.sh PKG...     these packages instead (bench/install-deps.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates curl procps python3 python3-yaml
  prometheus-cpp-dev libcivetweb-dev libpqxx-dev nlohmann-json3-dev zlib1g-dev
  libssl-dev libcrypt-dev libyaml-cpp-dev openssl
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev
  postgresql postgresql-contrib
  prometheus prometheus-alertmanager jsonnet
  wrk
  # The /live page's browser test (tests/e2e/live_browser_e2e.sh): headless Chromium
  # driven over the DevTools protocol by python3-websocket, and a font so that its
  # screenshots show text (fontconfig pulls one in today, through an alternative);
  # python3-jsonschema checks the live API against docs/api/ (tests/e2e/exporter_e2e.sh).
  chromium python3-websocket fonts-dejavu-core python3-jsonschema
)
[[ $# -gt 0 ]] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system services (Prometheus, Alertmanager, the system
# PostgreSQL cluster): the project starts its own, on loopback, in its state directories.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f $policy' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/agent-exporter-apt.log 2>&1 \
  || { tail -n 30 /tmp/agent-exporter-apt.log >&2; exit 1; }
