#!/usr/bin/env bash
# Starts a local MediSlot cluster: PgBouncer (transaction pooling) in front of the local
# PostgreSQL, optionally a streaming replica, 3 medislot-server instances on PgBouncer, and nginx
# load-balancing across them. Everything it writes (configuration, logs, pid files, the session
# secret) lives under STATE_DIR; nothing under /etc or /var is touched. Prints the URL.
#
#   deploy/cluster/start.sh STATE_DIR [SERVER_BINARY]
#
# SERVER_BINARY defaults to $MEDISLOT_BIN, then target/release/medislot-server, then
# target/debug/medislot-server (build one with `cargo build --release -p medislot-server`).
# Stop it all with deploy/cluster/stop.sh STATE_DIR.
#
# Settings (environment):
#   MEDISLOT_CLUSTER_HTTP_PORT      nginx's port on 127.0.0.1 (8080)
#   MEDISLOT_CLUSTER_INSTANCE_PORTS the 3 instances' ports, comma-separated (8081,8082,8083)
#   MEDISLOT_CLUSTER_PGBOUNCER_PORT PgBouncer's port (6433)
#   MEDISLOT_CLUSTER_DATABASE       the database, created when missing (medislot_cluster)
#   PG_HOST, PG_PORT                the PostgreSQL PgBouncer connects to (127.0.0.1, 5432);
#                                   PG_HOST may be a Unix socket folder (the replica still
#                                   streams from 127.0.0.1:PG_PORT)
#   MEDISLOT_CLUSTER_REPLICA=1      also start a replica (deploy/replica/start.sh) under
#                                   STATE_DIR/replica, on MEDISLOT_CLUSTER_REPLICA_PORT (5434),
#                                   and give it to every instance as --replica-url
# Any other MEDISLOT_* variable (MEDISLOT_AUTH_ATTEMPTS_PER_MINUTE, ...) reaches the instances.
#
# nginx sends each request to the next instance (round robin), with X-Forwarded-For, which the
# instances trust from 127.0.0.1 only (--trusted-proxy). A request with the header
# `X-Medislot-Instance: 1` (2, 3) goes to that instance only; every answer names the instance
# that served it in `X-Medislot-Upstream` (its address). Both serve tests and operators.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

state=${1:?usage: deploy/cluster/start.sh STATE_DIR [SERVER_BINARY]}
bin=${2:-${MEDISLOT_BIN:-}}
if [ -z "$bin" ]; then
    for candidate in "$root/target/release/medislot-server" "$root/target/debug/medislot-server"; do
        if [ -x "$candidate" ]; then
            bin=$candidate
            break
        fi
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
    echo "no medislot-server binary (give its path, or build: cargo build --release -p medislot-server)" >&2
    exit 1
}
# Each instance runs in its own folder: a path relative to here must not change meaning there.
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

http_port=${MEDISLOT_CLUSTER_HTTP_PORT:-8080}
IFS=, read -r -a instance_ports <<<"${MEDISLOT_CLUSTER_INSTANCE_PORTS:-8081,8082,8083}"
pgbouncer_port=${MEDISLOT_CLUSTER_PGBOUNCER_PORT:-6433}
database=${MEDISLOT_CLUSTER_DATABASE:-medislot_cluster}
pg_host=${PG_HOST:-127.0.0.1}
pg_port=${PG_PORT:-5432}
replica_port=${MEDISLOT_CLUSTER_REPLICA_PORT:-5434}
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
pgbouncer=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
for program in "$nginx" "$pgbouncer"; do
    [ -x "$program" ] || {
        echo "$program is missing (apt-get install nginx-light pgbouncer)" >&2
        exit 1
    }
done

mkdir -p "$state"
state=$(cd "$state" && pwd)
mkdir -p "$state/pgbouncer" "$state/nginx/logs" "$state/instances"

# PgBouncer and PostgreSQL refuse to run as root: as root, they run as postgres, which must be
# able to reach and write its folder.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$state"
    chown -R postgres:postgres "$state/pgbouncer"
fi

psql_admin() { psql -X -q -At -h "$pg_host" -p "$pg_port" -U postgres -d postgres "$@"; }
pg_isready -q -h "$pg_host" -p "$pg_port" || {
    echo "PostgreSQL does not answer on $pg_host:$pg_port" >&2
    exit 1
}
if [ "$(psql_admin -c "SELECT count(*) FROM pg_database WHERE datname = '$database'")" = 0 ]; then
    psql_admin -c "CREATE DATABASE \"$database\""
    echo "created database $database"
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- the replica (optional) ---
replica_url=
if [ "${MEDISLOT_CLUSTER_REPLICA:-0}" = 1 ]; then
    # The replica streams over loopback TCP, which deploy/replica/start.sh allows in
    # pg_hba.conf (`host replication`), also when PG_HOST names the primary's socket folder.
    primary_host=$pg_host
    [ "${pg_host#/}" != "$pg_host" ] && primary_host=127.0.0.1
    PRIMARY_HOST=$primary_host PRIMARY_PORT=$pg_port "$root/deploy/replica/start.sh" "$state/replica" "$replica_port" >/dev/null
    replica_url="postgres://postgres@127.0.0.1:$replica_port/$database"
    echo "replica on 127.0.0.1:$replica_port"
fi

# --- PgBouncer ---
cat >"$state/pgbouncer/pgbouncer.ini" <<EOF
;; Written by deploy/cluster/start.sh. Trust authentication on loopback: a local cluster.
;; The production layout is deploy/pgbouncer/pgbouncer.ini.
[databases]
* = host=$pg_host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgbouncer_port
unix_socket_dir =
logfile = $state/pgbouncer/pgbouncer.log
pidfile = $state/pgbouncer/pgbouncer.pid
auth_type = trust
auth_file = $state/pgbouncer/userlist.txt
pool_mode = transaction
ignore_startup_parameters = extra_float_digits,options
max_client_conn = 500
default_pool_size = 20
server_idle_timeout = 30
EOF
echo '"postgres" ""' >"$state/pgbouncer/userlist.txt"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$state/pgbouncer"/*
if ! running "$state/pgbouncer/pgbouncer.pid"; then
    as_postgres "$pgbouncer" -q -d "$state/pgbouncer/pgbouncer.ini"
fi
# Up to 30 s: on a loaded machine (a test suite building a replica beside it) PgBouncer's
# first answer can take more than a few seconds.
for _ in $(seq 1 300); do
    pg_isready -q -h 127.0.0.1 -p "$pgbouncer_port" && break
    sleep 0.1
done
pg_isready -q -h 127.0.0.1 -p "$pgbouncer_port" || {
    echo "PgBouncer did not start; see $state/pgbouncer/pgbouncer.log:" >&2
    tail -n 20 "$state/pgbouncer/pgbouncer.log" >&2 2>/dev/null
    exit 1
}

# --- the instances ---
# One session secret for all: a token one instance signed is read by the others.
if [ ! -s "$state/session-secret" ]; then
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$state/session-secret")
fi
database_url="postgres://postgres@127.0.0.1:$pgbouncer_port/$database?pooler=transaction"
for i in 1 2 3; do
    port=${instance_ports[$((i - 1))]}
    dir=$state/instances/$i
    mkdir -p "$dir"
    running "$dir/pid" && continue
    (
        cd "$dir"
        DATABASE_URL=$database_url \
            MEDISLOT_REPLICA_URL=$replica_url \
            MEDISLOT_LISTEN=127.0.0.1:$port \
            MEDISLOT_SESSION_SECRET=$(cat "$state/session-secret") \
            MEDISLOT_TRUSTED_PROXIES=127.0.0.1 \
            NO_COLOR=1 \
            nohup "$bin" serve >"$dir/server.log" 2>&1 &
        echo $! >"$dir/pid"
    )
done
for i in 1 2 3; do
    port=${instance_ports[$((i - 1))]}
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
        running "$state/instances/$i/pid" || break
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || {
        echo "instance $i (127.0.0.1:$port) is not ready; see $state/instances/$i/server.log" >&2
        tail -20 "$state/instances/$i/server.log" >&2
        exit 1
    }
done

# --- nginx ---
{
    echo "# Written by deploy/cluster/start.sh; run as nginx -p $state/nginx -c nginx.conf"
    echo "worker_processes 1;"
    echo "pid $state/nginx/nginx.pid;"
    echo "error_log $state/nginx/logs/error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "    access_log off;"
    echo "    client_body_temp_path $state/nginx/body;"
    echo "    proxy_temp_path $state/nginx/proxy;"
    echo "    upstream medislot {"
    for port in "${instance_ports[@]}"; do
        echo "        server 127.0.0.1:$port max_fails=0;"
    done
    echo "        keepalive 32;"
    echo "    }"
    i=1
    for port in "${instance_ports[@]}"; do
        echo "    upstream medislot_$i { server 127.0.0.1:$port max_fails=0; keepalive 8; }"
        i=$((i + 1))
    done
    cat <<'EOF'
    # X-Medislot-Instance: N pins a request to instance N.
    map $http_x_medislot_instance $medislot_upstream {
        default medislot;
        1 medislot_1;
        2 medislot_2;
        3 medislot_3;
    }
    server {
EOF
    echo "        listen 127.0.0.1:$http_port;"
    cat <<'EOF'
        location / {
            proxy_pass http://$medislot_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A booking is not idempotent: never send it to a second instance.
            proxy_next_upstream off;
            add_header X-Medislot-Upstream $upstream_addr always;
        }
    }
}
EOF
} >"$state/nginx/nginx.conf"
if running "$state/nginx/nginx.pid"; then
    "$nginx" -p "$state/nginx" -c "$state/nginx/nginx.conf" -e "$state/nginx/logs/error.log" -s reload
else
    "$nginx" -p "$state/nginx" -c "$state/nginx/nginx.conf" -e "$state/nginx/logs/error.log"
fi
for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" || {
    echo "nginx does not answer on 127.0.0.1:$http_port; see $state/nginx/logs/error.log" >&2
    exit 1
}

echo "instances on 127.0.0.1:${instance_ports[*]}, PgBouncer on 127.0.0.1:$pgbouncer_port (database $database)"
echo "MEDISLOT_URL=http://127.0.0.1:$http_port"
