#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
kill_pidfile "$WORKDIR/supervisor.pid"
kill_pidfile "$WORKDIR/app.pid"
source "$(dirname "$0")/cgroup.sh"
if [ -d "$CG" ]; then
    for _ in $(seq 1 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    [ ! -d "$CG" ] || die "cannot remove the cgroup $CG"
fi
rm -rf "$WORKDIR"
