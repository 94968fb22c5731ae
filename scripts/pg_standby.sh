#!/usr/bin/env bash
# Throwaway streaming hot standby of a scripts/pg.sh cluster, for tests and the demo.
#
#   scripts/pg_standby.sh start DIR PORT PRIMARY_PORT
#       pg_basebackup -R of the primary on 127.0.0.1:PRIMARY_PORT into DIR (always a
#       fresh copy: a standby left by another run may follow another primary), then
#       start it as a hot standby on 127.0.0.1:PORT, streaming from the primary
#   scripts/pg_standby.sh stop DIR      fast shutdown
#   scripts/pg_standby.sh url DIR       print the libpq URI of the standby
#
# As scripts/pg.sh: never touches the system cluster, runs the server as user
# "postgres" when we are root (PostgreSQL refuses root), superuser "postgres"
# without a password over loopback and a private socket directory. The primary needs
# nothing set up: PostgreSQL's defaults stream (wal_level replica, max_wal_senders
# 10) and initdb's pg_hba.conf lets loopback replicate.
#
# The standby streams through a physical replication slot (aee_standby_PORT) so the
# primary keeps every WAL segment it has not received: a test suite writes about a
# gigabyte of WAL (each CREATE DATABASE logs its template), and a standby that fell
# a checkpoint behind on a loaded machine would otherwise find its next segment
# removed and never catch up. `stop` drops the slot so the primary does not keep
# WAL for a standby that is gone.
set -euo pipefail

# shellcheck source=lib/pg_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg_common.sh"

# Drops the replication slot NAME on the primary on 127.0.0.1:PORT if it exists and
# no standby streams through it (best effort: the primary may be down already).
drop_slot() {
  as_owner "$bin/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -qAtc \
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$2' AND NOT active" \
    >/dev/null 2>&1 || true
}

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || die "usage: pg_standby.sh start DIR PORT PRIMARY_PORT | stop DIR | url DIR"
bin=$(pg_bindir pg_basebackup)

case "$cmd" in
  start)
    port=${3:-}; primary_port=${4:-}
    [[ "$port" =~ ^[0-9]+$ && "$primary_port" =~ ^[0-9]+$ ]] || die "usage: pg_standby.sh start DIR PORT PRIMARY_PORT"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -f "$dir/data/PG_VERSION" ]]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
      rm -rf "$dir/data"
    fi
    own_dir "$dir"
    as_owner mkdir -p "$dir/sock"
    slot="aee_standby_$port"
    drop_slot "$primary_port" "$slot"
    # -R writes standby.signal and primary_conninfo; -X stream copies the WAL the
    # backup needs over a second connection; -c fast does not wait for a checkpoint;
    # a throwaway copy needs no fsync (it took 3 of the 4.5 s) nor a manifest.
    as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/data" -R -X stream -c fast \
      -C -S "$slot" --no-sync --no-manifest \
      >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; die "pg_basebackup from port $primary_port failed"; }
    # The copied postgresql.conf is the primary's: the last setting of a name wins.
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir/sock'
hot_standby = on
hot_standby_feedback = on
CONF
    echo "$port" >"$dir/port"
    echo "$primary_port" >"$dir/primary_port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$dir/data/server.log" >&2; die "standby did not start"; }
    # Ready means streaming: a standby that only replays its copied WAL would never
    # see the primary's next commits.
    for _ in $(seq 1 200); do
      state=$(as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc \
        "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
      [[ "$state" == streaming ]] && { echo "postgresql://postgres@127.0.0.1:$port/postgres"; exit 0; }
      sleep 0.05
    done
    tail -n 20 "$dir/data/server.log" >&2
    die "standby on port $port is not streaming from port $primary_port"
    ;;
  stop)
    [[ -f "$dir/data/PG_VERSION" ]] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    # The primary's walsender may take a moment to notice the standby left.
    if [[ -f "$dir/primary_port" && -f "$dir/port" ]]; then
      pp=$(cat "$dir/primary_port"); slot="aee_standby_$(cat "$dir/port")"
      for _ in $(seq 1 50); do
        drop_slot "$pp" "$slot"
        left=$(as_owner "$bin/psql" -h 127.0.0.1 -p "$pp" -U postgres -d postgres -qAtc \
          "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'" 2>/dev/null || echo 0)
        [[ "$left" == 0 ]] && break
        sleep 0.1
      done
    fi
    exit 0
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  *) die "unknown command $cmd" ;;
esac
