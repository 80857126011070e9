#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
kill_pidfile "$WORKDIR/holder.pid"
if mountpoint -q "$WORKDIR/mnt" 2>/dev/null; then umount "$WORKDIR/mnt" || umount -l "$WORKDIR/mnt"; fi
rm -rf "$WORKDIR"
