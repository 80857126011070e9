#!/usr/bin/env bash
# Fixed iff: the spinning process is gone, its stack was saved, and `current` points to v1.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
ok=0; pid=$(cat "$WORKDIR/app.pid")
if [ -d "/proc/$pid" ]; then echo "FAIL: process $pid still runs"; ok=1; else echo "process $pid: gone"; fi
st=$(ls "$WORKDIR"/evidence/infinite-loop-"$pid"-*/stack.txt 2>/dev/null | head -n 1 || true)
if [ -n "$st" ] && grep -q '^== kernel stack of thread' "$st"; then
    echo "stack saved: $st ($(wc -l <"$st") lines$(grep -q '^== gdb' "$st" && echo ', with gdb backtrace'))"
else echo "FAIL: no saved stack"; ok=1; fi
cur=$(readlink "$WORKDIR/current" || true)
if [ "$cur" = "$WORKDIR/releases/v1" ]; then echo "current -> $cur"
else echo "FAIL: current -> $cur, expected $WORKDIR/releases/v1"; ok=1; fi
exit $ok
