#!/usr/bin/env bash
# Fixed iff: no session of `app` is idle in transaction any more, and `app` can connect again.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
SOCK="$WORKDIR/sock"
leaked=$(psql -X -At -h "$SOCK" -U postgres -d postgres -c \
    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state LIKE 'idle in transaction%'")
echo "app sessions idle in transaction: $leaked"
ok=0
[ "$leaked" = 0 ] || { echo "FAIL: leaked sessions remain"; ok=1; }
if out=$(psql -X -At -h "$SOCK" -U app -d postgres -c 'SELECT 42' 2>&1) && [ "$out" = 42 ]; then
    echo "new app connection: ok"
else
    echo "FAIL: new app connection: $out"; ok=1
fi
exit $ok
