#!/usr/bin/env bash
# Installs the pinned npm packages of a folder holding package.json and
# package-lock.json (exact versions; the lock file records no download addresses),
# with `npm ci`, when its node_modules is missing or older than the lock file.
# Node.js and npm come from scripts/install-deps.sh (set "node").
#   scripts/install-npm-deps.sh DIR
set -euo pipefail
dir=${1:?usage: scripts/install-npm-deps.sh DIR}
[[ -f $dir/package.json && -f $dir/package-lock.json ]] || { echo "install-npm-deps: $dir has no package.json and package-lock.json" >&2; exit 2; }
command -v npm >/dev/null || "$(dirname "$0")/install-deps.sh" node
stamp=$dir/node_modules/.package-lock.json
if [[ -f $stamp && $stamp -nt $dir/package-lock.json ]]; then exit 0; fi
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
