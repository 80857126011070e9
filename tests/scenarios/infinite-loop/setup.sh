#!/usr/bin/env bash
# infinite-loop: releases v1 (healthy) and v2 (spins), `current` -> v2, and the v2 process
# running from `current` and spinning at full CPU. The rollback switches `current` to v1 atomically.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
R="$WORKDIR/releases"
mkdir -p "$R/v1/bin" "$R/v2/bin"
printf '#!/bin/sh\n# v1: waits for work\nexec sleep 900\n' >"$R/v1/bin/rb-demo-app"
printf '#!/bin/sh\n# v2: the bug, a busy loop\nwhile :; do :; done\n' >"$R/v2/bin/rb-demo-app"
chmod +x "$R"/v*/bin/rb-demo-app
ln -sfn "$R/v2" "$WORKDIR/current"
setsid "$WORKDIR/current/bin/rb-demo-app" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid" >"$WORKDIR/app.pid"
spinning() { [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rb-demo-app ]; }
wait_for 10 "the spinning process" spinning
cat >"$WORKDIR/params" <<P
pid=$pid
samples=3
interval=1
cpu_threshold=20
grace=2
evidence_dir=$WORKDIR/evidence
rollback_command=ln -sfn $R/v1 $WORKDIR/current.new && mv -T $WORKDIR/current.new $WORKDIR/current
watch_every=1s
watch_for=3s
P
echo "setup done: process $pid spinning; current -> $(readlink "$WORKDIR/current")"
