#!/usr/bin/env bash
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
kill_pidfile "$WORKDIR/holder.pid"
kill_pidfile "$WORKDIR/scratch.pid"
for m in "$WORKDIR/mnt" "$WORKDIR/other"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
done
rm -rf "$WORKDIR"
