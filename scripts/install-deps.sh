#!/usr/bin/env bash
# Installs the Debian packages a make target needs, if missing, by set: `make build`
# installs only the build set; tests, the demo, fuzzing and packaging add their own.
# Idempotent and quiet when everything is already there. Needs root (apt-get) only
# when something is missing.
#   scripts/install-deps.sh                every set (what `make test` and `make demo` need)
#   scripts/install-deps.sh SET...         these sets: build test demo fuzz packaging node
#   scripts/install-deps.sh PKG...         these packages instead (bench/install-deps.sh)
#   scripts/install-deps.sh --list SET...  print the sets' packages, one a line, install nothing
set -euo pipefail

declare -A sets
# The compiler, CMake and the -dev packages CMakeLists.txt finds; README.md's "Building
# by hand" lists exactly these (tests/packaging_test.sh compares the two and checks that
# every package CMake's find_package/pkg_check_modules resolved to is in it).
sets[build]="g++ cmake make pkg-config git
  prometheus-cpp-dev libcivetweb-dev libpqxx-dev libpq-dev nlohmann-json3-dev zlib1g-dev
  libssl-dev libcrypt-dev libyaml-cpp-dev libgtest-dev libgmock-dev"
# What the tests run beside the binaries: a throwaway PostgreSQL, promtool, Prometheus and
# Alertmanager, jsonnet, wrk (faults), openssl (TLS certificates), and the /live page's
# browser test (tests/e2e/live_browser_e2e.sh): headless Chromium driven over the
# DevTools protocol by python3-websocket, and a font so that its screenshots show text;
# python3-jsonschema checks the live API against docs/api/ (tests/e2e/exporter_e2e.sh);
# pgbouncer runs between the exporter and PostgreSQL in transaction pooling mode
# (scripts/pgbouncer.sh, tests/integration/replica_pooler_test.cc).
sets[test]="curl procps python3 python3-yaml openssl
  postgresql postgresql-contrib prometheus prometheus-alertmanager jsonnet wrk
  chromium python3-websocket fonts-dejavu-core python3-jsonschema pgbouncer"
# make demo: PostgreSQL, Prometheus with the rules, Alertmanager.
sets[demo]="curl procps python3 python3-yaml openssl
  postgresql postgresql-contrib prometheus prometheus-alertmanager jsonnet"
# make fuzz / test-fuzz: libFuzzer is clang's.
sets[fuzz]="clang libclang-rt-14-dev"
# make test-packaging: the man page (help2man), the .deb (dpkg-dev, fakeroot, file for
# CPack's dependency scan) and its lint, man-db (systemd-analyze verify resolves the unit's
# Documentation=man:), systemd-analyze for the unit, jsonnet for the
# PrometheusRule, openssl for the image health check's TLS case, promtool and amtool
# (deploy/check.sh).
sets[packaging]="help2man man-db dpkg-dev fakeroot file lintian systemd jsonnet curl openssl python3 python3-yaml
  prometheus prometheus-alertmanager"
# Node.js and npm for the pinned npm packages (scripts/install-npm-deps.sh): only when no
# node/npm is on the PATH (another Node.js, e.g. one that bundles npm, is fine).
sets[node]="nodejs npm ca-certificates"
all_sets=(build test demo fuzz packaging node)

list=0
if [[ ${1:-} == --list ]]; then list=1; shift; fi
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=("${all_sets[@]}")
packages=()
for a in "${args[@]}"; do
  if [[ -n ${sets[$a]+x} ]]; then
    if [[ $a == node ]] && command -v node >/dev/null && command -v npm >/dev/null && [[ $list -eq 0 ]]; then
      continue
    fi
    read -r -a more <<<"$(tr '\n' ' ' <<<"${sets[$a]}")"
    packages+=("${more[@]}")
  elif [[ $list -eq 1 ]]; then
    echo "install-deps: no set \"$a\" (sets: ${all_sets[*]})" >&2; exit 2
  else
    packages+=("$a")
  fi
done
# One of each, in order.
declare -A seen
unique=()
for p in "${packages[@]}"; do [[ -n ${seen[$p]+x} ]] || { seen[$p]=1; unique+=("$p"); }; done
if [[ $list -eq 1 ]]; then printf '%s\n' "${unique[@]}"; exit 0; fi

missing=()
for p in "${unique[@]}"; do
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
