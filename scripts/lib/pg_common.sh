# Shared by scripts/pg.sh, scripts/pg_standby.sh and scripts/pgbouncer.sh: errors
# named after the calling script, the PostgreSQL binaries, and running as the owner
# of a throwaway cluster (PostgreSQL and PgBouncer refuse root: as root, user
# "postgres").
# shellcheck shell=bash

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# The newest installed PostgreSQL's bin directory; it must hold TOOL (initdb by default).
pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$d" && -x "$d/${1:-initdb}" ]] || die "no PostgreSQL server found (install package postgresql)"
  echo "$d"
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# As root: gives DIR to user postgres, and lets the server traverse every parent of DIR.
own_dir() {
  [[ $(id -u) -eq 0 ]] || return 0
  id postgres >/dev/null 2>&1 || die "user postgres missing (install package postgresql)"
  chown postgres: "$1"
  local p="$1"
  while [[ "$p" != "/" ]]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
}
