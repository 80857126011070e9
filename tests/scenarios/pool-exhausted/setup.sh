#!/usr/bin/env bash
# pool-exhausted: a private PostgreSQL 15 server on a Unix socket in WORKDIR (max_connections=10,
# 3 reserved for superusers), and 7 sessions of the application role `app` held idle in
# transaction, so that `app` can no longer connect ("remaining connection slots are reserved").
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
HOLD=7
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"
PG="$WORKDIR/pg"; SOCK="$WORKDIR/sock"
mkdir -p "$PG/data" "$SOCK"
chown -R postgres:postgres "$PG" "$SOCK"
chmod 700 "$PG/data"
PGBIN=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

as_pg "$PGBIN/initdb" -D "$PG/data" -U postgres --auth=trust >"$PG/initdb.log" 2>&1 \
    || { cat "$PG/initdb.log" >&2; die "initdb failed"; }
as_pg "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w -t 30 \
    -o "-c listen_addresses='' -k $SOCK -c max_connections=10 -c superuser_reserved_connections=3" \
    start >/dev/null || { cat "$PG/server.log" >&2; die "pg_ctl start failed"; }
wait_for 30 "postgres to accept connections" pg_isready -q -h "$SOCK"

psql -X -q -h "$SOCK" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE app LOGIN" -c "CREATE TABLE orders(id int primary key, total int)" \
    -c "INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g" \
    -c "GRANT SELECT, UPDATE ON orders TO app"

# The leak: each holder opens a transaction, touches a row, and never commits.
for i in $(seq 1 "$HOLD"); do
    setsid bash -c '{ echo "BEGIN; SELECT * FROM orders WHERE id = $2 FOR UPDATE;"; exec sleep 900; } |
        PGAPPNAME=leaky-worker exec psql -X -q -h "$1" -U app -d postgres >/dev/null 2>&1' \
        holder "$SOCK" "$i" </dev/null &
    echo $! >"$WORKDIR/holder$i.pid"
done
# Wait until every session has been idle in transaction for more than 2s: the run terminates
# those idle for more than idle_for=1s, and starts right after setup, so a session that had only
# just gone idle would be (correctly) spared and the check would fail.
held() {
    [ "$(psql -X -At -h "$SOCK" -U postgres -d postgres -c \
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state = 'idle in transaction'
           AND now() - state_change > interval '2 seconds'")" = "$HOLD" ]
}
if ! (wait_for 60 "$HOLD sessions idle in transaction for 2s" held); then
    # Say what the server saw, so a failure here can be understood from CI's log alone.
    psql -X -h "$SOCK" -U postgres -d postgres -c \
        "SELECT pid, usename, application_name, state, now() - state_change AS for FROM pg_stat_activity" >&2 || true
    tail -n 20 "$PG/server.log" >&2 || true
    for i in $(seq 1 "$HOLD"); do kill -0 "$(cat "$WORKDIR/holder$i.pid")" 2>/dev/null || echo "holder $i is gone" >&2; done
    die "the incident could not be set up"
fi
# Prove the incident: the application role cannot get a connection any more.
if psql -X -At -h "$SOCK" -U app -d postgres -c 'SELECT 1' >/dev/null 2>"$WORKDIR/refused.txt"; then
    die "a new app connection still succeeds; the pool is not exhausted"
fi
echo "incident: $(cat "$WORKDIR/refused.txt")"

cat >"$WORKDIR/params" <<P
pg_host=$SOCK
pg_port=5432
pg_user=postgres
pg_database=postgres
app_user=app
idle_for=1s
evidence_dir=$WORKDIR/evidence
watch_every=1s
watch_for=3s
P
# Environment for the run: the password is optional (trust auth here) but is a secret param.
echo "PGPASSWORD=" >"$WORKDIR/env"
echo "setup done: $HOLD sessions of app idle in transaction; params in $WORKDIR/params"
