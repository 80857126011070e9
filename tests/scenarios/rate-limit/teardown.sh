#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
kill_pidfile "$WORKDIR/client.pid"
kill_pidfile "$WORKDIR/server.pid"
rm -rf "$WORKDIR"
