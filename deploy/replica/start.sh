#!/usr/bin/env bash
# Starts a streaming replica of the local PostgreSQL for MediSlot's read replica
# (`--replica-url`): a `pg_basebackup -R` copy of the primary in DIR, run by pg_ctl as the
# postgres user on 127.0.0.1:PORT, read-only (hot standby). Idempotent: a replica already
# running in DIR is left as it is; a stopped one is started again.
#
#   deploy/replica/start.sh [DIR] [PORT]
#
# DIR defaults to $MEDISLOT_REPLICA_DIR or /tmp/medislot-replica, PORT to $MEDISLOT_REPLICA_PORT
# or 5433. The primary is $PRIMARY_HOST:$PRIMARY_PORT (127.0.0.1:5432), reached as the
# postgres user. The primary's pg_hba.conf needs `host replication all 127.0.0.1/32 trust`:
# added (and the configuration reloaded) when missing, which needs write access to that file
# (CI runs as root). Stop and remove the replica with deploy/replica/stop.sh [DIR].
set -euo pipefail

dir=${1:-${MEDISLOT_REPLICA_DIR:-/tmp/medislot-replica}}
port=${2:-${MEDISLOT_REPLICA_PORT:-5433}}
primary_host=${PRIMARY_HOST:-127.0.0.1}
primary_port=${PRIMARY_PORT:-5432}

primary() { psql -X -q -At -h "$primary_host" -p "$primary_port" -U postgres -d postgres -c "$1"; }
replica() { psql -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$1"; }
# Runs a command as the postgres user, which owns the replica's files.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    elif [ "$(id -un)" = postgres ]; then
        "$@"
    else
        echo "run as root or as postgres" >&2
        exit 1
    fi
}

major=$(primary "SHOW server_version_num")
major=$((major / 10000))
bin=/usr/lib/postgresql/$major/bin
[ -x "$bin/pg_ctl" ] || bin=$(dirname "$(command -v pg_ctl)")

# Replication connections from loopback, once.
hba=$(primary "SHOW hba_file")
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    printf '%s\n' '# MediSlot read replica (deploy/replica/start.sh): streaming from loopback' \
        'host replication all 127.0.0.1/32 trust' >>"$hba"
    primary "SELECT pg_reload_conf()" >/dev/null
    echo "added 'host replication all 127.0.0.1/32 trust' to $hba and reloaded"
fi

if [ ! -f "$dir/standby.signal" ]; then
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        echo "$dir exists and holds no replica: refusing to overwrite it" >&2
        exit 1
    fi
    mkdir -p "$dir"
    chown postgres:postgres "$dir" 2>/dev/null || true
    chmod 700 "$dir"
    # -R writes standby.signal and primary_conninfo; -X stream copies the WAL made meanwhile.
    as_postgres "$bin/pg_basebackup" -h "$primary_host" -p "$primary_port" -U postgres \
        -D "$dir" -R -X stream -c fast
    # Debian keeps postgresql.conf and pg_hba.conf under /etc, so the copy has neither. A hot
    # standby needs these limits at least as high as the primary's.
    {
        echo "# Written by deploy/replica/start.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "hot_standby = on"
        echo "hot_standby_feedback = on"
        for setting in max_connections max_worker_processes max_wal_senders \
            max_prepared_transactions max_locks_per_transaction; do
            echo "$setting = $(primary "SHOW $setting")"
        done
    } >"$dir/postgresql.conf"
    printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' >"$dir/pg_hba.conf"
    : >"$dir/pg_ident.conf"
    chown postgres:postgres "$dir/postgresql.conf" "$dir/pg_hba.conf" "$dir/pg_ident.conf" 2>/dev/null || true
fi

if ! as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/replica.log" -w -t 60 start >/dev/null
fi

# Accepting connections, and a standby.
for _ in $(seq 1 60); do
    if recovering=$(replica "SELECT pg_is_in_recovery()" 2>/dev/null); then
        break
    fi
    sleep 1
done
if [ "${recovering:-}" != t ]; then
    echo "the replica on 127.0.0.1:$port does not answer as a standby (pg_is_in_recovery: ${recovering:-no answer}); see $dir/replica.log" >&2
    exit 1
fi
echo "replica of $primary_host:$primary_port on 127.0.0.1:$port (data in $dir): pg_is_in_recovery() = $recovering"
echo "MEDISLOT_REPLICA_URL=postgres://postgres@127.0.0.1:$port/postgres"
