#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
kill_pidfile "$WORKDIR/supervisor.pid"
kill_pidfile "$WORKDIR/app.pid"
rm -rf "$WORKDIR"
