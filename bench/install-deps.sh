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
  prometheus  # phase "queries": prometheus and promtool 2.42
)
services=(prometheus-postgres-exporter prometheus-sql-exporter)

# The same install path as the project's own packages (policy-rc.d, quiet apt).
"$(dirname "$0")/../scripts/install-deps.sh" "${packages[@]}"

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
