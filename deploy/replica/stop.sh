#!/usr/bin/env bash
# Stops the replica deploy/replica/start.sh made in DIR and removes DIR. Idempotent: nothing
# to stop is not an error. The primary's `host replication` line in pg_hba.conf is left.
#
#   deploy/replica/stop.sh [DIR]
set -euo pipefail

dir=${1:-${MEDISLOT_REPLICA_DIR:-/tmp/medislot-replica}}
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ ! -e "$dir" ]; then
    echo "no replica in $dir"
    exit 0
fi
if [ ! -f "$dir/standby.signal" ]; then
    echo "$dir holds no replica made by start.sh: leaving it" >&2
    exit 1
fi
major=$(cat "$dir/PG_VERSION")
bin=/usr/lib/postgresql/$major/bin
[ -x "$bin/pg_ctl" ] || bin=$(dirname "$(command -v pg_ctl)")
if as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
fi
rm -rf "$dir"
echo "replica in $dir stopped and removed"
