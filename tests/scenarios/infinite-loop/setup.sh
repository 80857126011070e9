#!/usr/bin/env bash
# infinite-loop: releases v1 (healthy) and v2 (spins), `current` -> v2, and the v2 process
# running from `current` and spinning at full CPU. The rollback switches `current` to v1 atomically.
# VARIANT (environment) changes the incident:
#   idle     the process from `current` is not spinning (v2 only wakes once a second): the runbook
#            must neither kill it nor roll back
#   respawn  a supervisor restarts the app from `current` whenever it exits, and the team's
#            "rollback" does not take (it changes nothing): the same loop comes straight back
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
VARIANT=${VARIANT:-}
R="$WORKDIR/releases"
mkdir -p "$R/v1/bin" "$R/v2/bin"
printf '#!/bin/sh\n# v1: waits for work\nexec sleep 900\n' >"$R/v1/bin/rb-demo-app"
if [ "$VARIANT" = idle ]; then
    printf '#!/bin/sh\n# v2: wakes once a second, does nothing\nwhile :; do sleep 1; done\n' >"$R/v2/bin/rb-demo-app"
else
    printf '#!/bin/sh\n# v2: the bug, a busy loop\nwhile :; do :; done\n' >"$R/v2/bin/rb-demo-app"
fi
chmod +x "$R"/v*/bin/rb-demo-app
ln -sfn "$R/v2" "$WORKDIR/current"
rollback="ln -sfn $R/v1 $WORKDIR/current.new && mv -T $WORKDIR/current.new $WORKDIR/current"
if [ "$VARIANT" = respawn ]; then
    # The supervisor (its own process group) writes each child's pid to app.pid.
    setsid bash -c 'while :; do "$1/current/bin/rb-demo-app" & echo $! >"$1/app.pid"; wait; sleep 0.2; done' \
        supervisor "$WORKDIR" </dev/null >/dev/null 2>&1 &
    echo $! >"$WORKDIR/supervisor.pid"
    wait_for 10 "the first app process" test -s "$WORKDIR/app.pid"
    rollback="echo 'deploy rollback: already at the previous release'"
else
    setsid "$WORKDIR/current/bin/rb-demo-app" </dev/null >/dev/null 2>&1 &
    echo $! >"$WORKDIR/app.pid"
fi
pid=$(cat "$WORKDIR/app.pid")
running() { [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rb-demo-app ]; }
wait_for 10 "the app process" running
cat >"$WORKDIR/params" <<P
pid=$pid
samples=3
interval=1
cpu_threshold=20
grace=2
evidence_dir=$WORKDIR/evidence
rollback_command=$rollback
watch_every=1s
watch_for=3s
P
echo "setup done: process $pid ($VARIANT); current -> $(readlink "$WORKDIR/current")"
