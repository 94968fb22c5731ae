#!/usr/bin/env bash
# Installs the Debian packages the benchmarks need, if missing (the build's own
# packages come from scripts/install-deps.sh). Idempotent and quiet when everything is
# already there. Package scripts must not start system services: the peers are started
# by bench/run.sh on loopback ports of its own; a service a package started anyway is
# stopped and disabled.
set -euo pipefail

packages=(
  wrk prometheus-postgres-exporter prometheus-sql-exporter gnuplot-nox
  postgresql postgresql-contrib curl procps python3 python3-yaml
)
services=(prometheus-postgres-exporter prometheus-sql-exporter)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench/install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "bench/install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && created_policy=1
  fi
  trap '[[ $created_policy -eq 1 ]] && rm -f $policy' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/agent-exporter-bench-apt.log 2>&1 \
    || { tail -n 30 /tmp/agent-exporter-bench-apt.log >&2; exit 1; }
fi

# A service started despite policy-rc.d (no systemd here usually, but be sure): stop it,
# so its default port (9187, 9237) and its database connections do not skew the numbers.
for s in "${services[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
    systemctl stop "$s" || true
    systemctl disable "$s" >/dev/null 2>&1 || true
  fi
  if [[ -x /etc/init.d/$s ]] && /etc/init.d/"$s" status >/dev/null 2>&1; then
    /etc/init.d/"$s" stop >/dev/null 2>&1 || true
  fi
done
exit 0
