#!/usr/bin/env bash
# Stops what deploy/cluster/start.sh started under STATE_DIR: nginx, the 3 instances (SIGTERM,
# so they finish what they were answering), PgBouncer and the replica, if any. Idempotent:
# what is not running is skipped. Logs and configuration stay in STATE_DIR; the database stays.
#
#   deploy/cluster/stop.sh STATE_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${1:?usage: deploy/cluster/stop.sh STATE_DIR}
if [ ! -d "$state" ]; then
    echo "nothing in $state"
    exit 0
fi

# Sends SIGTERM to the process in pid file $1 and waits up to $2 seconds for it to end, then
# kills it.
stop_pid() {
    local file=$1 grace=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((grace * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop_pid "$state/nginx/nginx.pid" 5
# The instances drain at the same time: stopping the cluster takes one grace period, not three.
for i in 1 2 3; do
    stop_pid "$state/instances/$i/pid" 15 &
done
wait
stop_pid "$state/pgbouncer/pgbouncer.pid" 5
if [ -f "$state/replica/standby.signal" ]; then
    "$root/deploy/replica/stop.sh" "$state/replica" >/dev/null
fi
echo "cluster in $state stopped"
