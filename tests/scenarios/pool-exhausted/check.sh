#!/usr/bin/env bash
# Fixed iff: no session of the application (WORKDIR/role: `app`, or `postgres` when the operator
# shares it) is idle in transaction any more, no session waits for a lock, and the role connects.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
SOCK="$WORKDIR/sock"; ROLE=$(cat "$WORKDIR/role")
q() { psql -X -At -h "$SOCK" -U postgres -d postgres -c "$1"; }
leaked=$(q "SELECT count(*) FROM pg_stat_activity WHERE usename = '$ROLE' AND application_name = 'leaky-worker'
              AND state LIKE 'idle in transaction%'")
waiting=$(q "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0")
echo "$ROLE sessions idle in transaction: $leaked; sessions waiting for a lock: $waiting"
ok=0
[ "$leaked" = 0 ] || { echo "FAIL: leaked sessions remain"; ok=1; }
[ "$waiting" = 0 ] || { echo "FAIL: sessions still wait for a lock"; ok=1; }
if out=$(psql -X -At -h "$SOCK" -U "$ROLE" -d postgres -c 'SELECT 42' 2>&1) && [ "$out" = 42 ]; then
    echo "new $ROLE connection: ok"
else
    echo "FAIL: new $ROLE connection: $out"; ok=1
fi
exit $ok
