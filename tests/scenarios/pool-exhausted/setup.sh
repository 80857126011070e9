#!/usr/bin/env bash
# pool-exhausted: a private PostgreSQL 15 server on a Unix socket in WORKDIR (max_connections=10,
# 3 reserved for superusers), and 7 sessions of the application role `app` held idle in
# transaction, so that `app` can no longer connect ("remaining connection slots are reserved").
# VARIANT (environment) changes the incident:
#   shared-role     the application and the operator share the role `postgres`, and app_user is
#                   not given: the leaked sessions are `postgres`'s
#   blocking-chain  nothing is old: one `app` session went idle in transaction a moment ago holding
#                   a row lock, and two others wait for it (requests hang); idle_for=10m
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

VARIANT=${VARIANT:-}
ROLE=app
[ "$VARIANT" != shared-role ] || ROLE=postgres
echo "$ROLE" >"$WORKDIR/role"
# A session of ROLE running SQL $2 then holding the connection open (and the transaction, if open).
hold() {
    setsid bash -c '{ echo "$3"; exec sleep 900; } |
        PGAPPNAME=leaky-worker exec psql -X -q -h "$1" -U "$2" -d postgres >/dev/null 2>&1' \
        holder "$SOCK" "$ROLE" "$1" </dev/null &
    echo $! >"$WORKDIR/holder$2.pid"
}
if [ "$VARIANT" = blocking-chain ]; then
    hold "BEGIN; UPDATE orders SET total = total + 1 WHERE id = 1;" 1
    head_idle() {
        [ "$(psql -X -At -h "$SOCK" -U postgres -d postgres -c \
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state = 'idle in transaction'")" = 1 ]
    }
    wait_for 20 "the head of the chain" head_idle
    hold "UPDATE orders SET total = 0 WHERE id = 1;" 2
    hold "UPDATE orders SET total = 0 WHERE id = 1;" 3
    waiting() {
        [ "$(psql -X -At -h "$SOCK" -U postgres -d postgres -c \
            "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")" = 2 ]
    }
    wait_for 30 "two sessions waiting for the lock" waiting
    cat >"$WORKDIR/params" <<P
pg_host=$SOCK
pg_port=5432
pg_user=postgres
pg_database=postgres
app_user=app
idle_for=10m
evidence_dir=$WORKDIR/evidence
watch_every=1s
watch_for=3s
P
    echo "PGPASSWORD=" >"$WORKDIR/env"
    echo "setup done: one app session idle in transaction blocks two others"; exit 0
fi

# The leak: each holder opens a transaction, touches a row, and never commits.
# Each says it is in with a file, not through a connection of ours: a superuser connection polling
# now would take one of the 7 slots left to `app` and lock the last holder out.
for i in $(seq 1 "$HOLD"); do
    hold "BEGIN; SELECT * FROM orders WHERE id = $i FOR UPDATE;
\\! touch $WORKDIR/holder$i.ready" "$i"
done
all_in() { [ "$(ls "$WORKDIR"/holder*.ready 2>/dev/null | wc -l)" = "$HOLD" ]; }
wait_for 60 "$HOLD holders to be connected" all_in
# Wait until every session has been idle in transaction for more than 2s: the run terminates
# those idle for more than idle_for=1s, and starts right after setup, so a session that had only
# just gone idle would be (correctly) spared and the check would fail.
held() {
    [ "$(psql -X -At -h "$SOCK" -U postgres -d postgres -c \
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '$ROLE' AND state = 'idle in transaction'
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
# Prove the incident: the application role cannot get a connection any more (a superuser still
# can, through the reserved slots, so the shared-role variant cannot show that).
if [ "$ROLE" = app ] && psql -X -At -h "$SOCK" -U app -d postgres -c 'SELECT 1' >/dev/null 2>"$WORKDIR/refused.txt"; then
    die "a new app connection still succeeds; the pool is not exhausted"
fi
echo "incident: $(cat "$WORKDIR/refused.txt" 2>/dev/null)"

app_user=app
[ "$VARIANT" != shared-role ] || app_user=
cat >"$WORKDIR/params" <<P
pg_host=$SOCK
pg_port=5432
pg_user=postgres
pg_database=postgres
app_user=$app_user
idle_for=1s
evidence_dir=$WORKDIR/evidence
watch_every=1s
watch_for=3s
P
# Environment for the run: the password is optional (trust auth here) but is a secret param.
echo "PGPASSWORD=" >"$WORKDIR/env"
echo "setup done: $HOLD sessions of app idle in transaction; params in $WORKDIR/params"
