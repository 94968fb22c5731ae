#!/usr/bin/env bash
# Throwaway PgBouncer in transaction pooling mode in front of a scripts/pg.sh
# cluster, for tests: every database name goes to the same-named database upstream.
#
#   scripts/pgbouncer.sh start DIR PORT UPSTREAM_PORT [POOL_SIZE]
#       listen on 127.0.0.1:PORT, pool_mode = transaction, default_pool_size =
#       POOL_SIZE (2: clients share few server connections, so a session setting or
#       a prepared statement that leaked would meet another client)
#   scripts/pgbouncer.sh stop DIR
#   scripts/pgbouncer.sh url DIR        print the libpq URI through the pooler
#
# Trust authentication for user postgres over loopback only, as the cluster behind.
# PgBouncer refuses to run as root: as root it runs as user "postgres".
set -euo pipefail

# shellcheck source=lib/pg_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg_common.sh"

stop() {
  local pid
  [[ -f "$dir/pgbouncer.pid" ]] || return 0
  pid=$(cat "$dir/pgbouncer.pid")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -f "$dir/pgbouncer.pid"
}

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || die "usage: pgbouncer.sh start DIR PORT UPSTREAM_PORT [POOL_SIZE] | stop DIR | url DIR"

case "$cmd" in
  start)
    port=${3:-}; upstream=${4:-}; pool=${5:-2}
    [[ "$port" =~ ^[0-9]+$ && "$upstream" =~ ^[0-9]+$ && "$pool" =~ ^[0-9]+$ ]] \
      || die "usage: pgbouncer.sh start DIR PORT UPSTREAM_PORT [POOL_SIZE]"
    command -v pgbouncer >/dev/null || [[ -x /usr/sbin/pgbouncer ]] || die "pgbouncer missing (install package pgbouncer)"
    bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop
    own_dir "$dir"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$upstream

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 500
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
INI
    echo '"postgres" ""' >"$dir/userlist.txt"
    chmod 644 "$dir/pgbouncer.ini" "$dir/userlist.txt"
    : >"$dir/pgbouncer.log"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/pgbouncer.ini" "$dir/userlist.txt" "$dir/pgbouncer.log"
    as_owner "$bouncer" -d -q "$dir/pgbouncer.ini" || { tail -n 20 "$dir/pgbouncer.log" >&2; die "pgbouncer did not start"; }
    echo "$port" >"$dir/port"
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    for _ in $(seq 1 100); do
      if "$bin/psql" "postgresql://postgres@127.0.0.1:$port/postgres" -Atc "SELECT 1" >/dev/null 2>&1; then
        echo "postgresql://postgres@127.0.0.1:$port/postgres"
        exit 0
      fi
      sleep 0.05
    done
    tail -n 20 "$dir/pgbouncer.log" >&2
    die "pgbouncer on port $port does not reach the server on port $upstream"
    ;;
  stop)
    dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
    stop
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  *) die "unknown command $cmd" ;;
esac
