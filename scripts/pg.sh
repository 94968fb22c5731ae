#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests, the demo and benchmarks.
#
#   scripts/pg.sh start DIR [PORT]   initdb into DIR (if empty) and start on 127.0.0.1:PORT
#                                    (env PG_SHARED_BUFFERS, e.g. 2GB: shared_buffers)
#   scripts/pg.sh stop DIR           fast shutdown of the cluster in DIR
#   scripts/pg.sh stop-immediate DIR crash-like shutdown (no checkpoint), for fault tests
#   scripts/pg.sh url DIR            print the libpq URI of the running cluster
#
# Never touches the system cluster. PostgreSQL refuses to run as root, so as root the
# server runs as user "postgres" (runuser); as any other user it runs as that user.
# The superuser of the cluster is "postgres" without a password, reachable only over
# loopback and the cluster's private socket directory.
set -euo pipefail

# shellcheck source=lib/pg_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg_common.sh"

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || die "usage: pg.sh start|stop|url DIR [PORT]"
bin=$(pg_bindir)

case "$cmd" in
  start)
    port=${3:-55432}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    own_dir "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
      as_owner mkdir -p "$dir/sock"
      cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
CONF
    fi
    # A server left running by an interrupted run: stop it, start afresh.
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    sed -i "s/^port = .*//; s/^shared_buffers = .*//" "$dir/data/postgresql.conf"
    echo "port = $port" >>"$dir/data/postgresql.conf"
    [[ -n "${PG_SHARED_BUFFERS:-}" ]] && echo "shared_buffers = '$PG_SHARED_BUFFERS'" >>"$dir/data/postgresql.conf"
    echo "$port" >"$dir/port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$dir/data/server.log" >&2; die "server did not start"; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop|stop-fast|stop-immediate)
    [[ -f "$dir/data/PG_VERSION" ]] || exit 0
    mode=fast; [[ "$cmd" == stop-immediate ]] && mode=immediate
    as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  *) die "unknown command $cmd" ;;
esac
