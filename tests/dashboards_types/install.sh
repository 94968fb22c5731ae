#!/usr/bin/env bash
# Installs the pinned npm packages of the dashboards type check (package.json,
# package-lock.json: @grafana/grafana-foundation-sdk and typescript) into
# tests/dashboards_types/node_modules. Quiet and quick when they are already there.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  ../../scripts/install-deps.sh nodejs npm
fi
if [[ -x node_modules/.bin/tsc && -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
