#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
for f in "$WORKDIR"/holder*.pid; do [ -e "$f" ] && kill_pidfile "$f"; done
if [ -f "$WORKDIR/pg/data/postmaster.pid" ]; then
    PGBIN=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORKDIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    else
        "$PGBIN/pg_ctl" -D "$WORKDIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
fi
rm -rf "$WORKDIR"
