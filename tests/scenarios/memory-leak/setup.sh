#!/usr/bin/env bash
# memory-leak: a python3 process leaking 10 MiB/s under a supervisor that restarts it when it
# exits; setup waits until it has leaked 150 MiB. The restart command is the team's usual
# "kill it, the supervisor brings it back".
# VARIANT=tight-limit: the supervisor runs in its own memory cgroup, and the team's restart sets a
# limit on it that is too tight, so the restarted process is OOM-killed in a loop.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORKDIR"
restart="kill -TERM \$(cat $WORKDIR/app.pid)"
if [ "${VARIANT:-}" = tight-limit ]; then
    source "$HERE/cgroup.sh"
    mkdir -p "$CG"
    setsid bash -c 'echo $$ >"$1/cgroup.procs" && exec bash "$2/supervisor.sh" "$3" 10' \
        supervisor "$CG" "$HERE" "$WORKDIR" </dev/null >/dev/null 2>&1 &
    restart="bash $HERE/restart-with-limit.sh $WORKDIR"
else
    setsid bash "$HERE/supervisor.sh" "$WORKDIR" 10 </dev/null >/dev/null 2>&1 &
fi
echo $! >"$WORKDIR/supervisor.pid"
wait_for 10 "the leaking process" test -s "$WORKDIR/app.pid"
pid=$(cat "$WORKDIR/app.pid"); echo "$pid" >"$WORKDIR/first.pid"
big() { [ "$(rss_kb "$pid")" -ge $((150 * 1024)) ]; }
wait_for 60 "the process to reach 150 MiB" big
cat >"$WORKDIR/params" <<P
target=$WORKDIR/app.pid
samples=3
interval=1
evidence_dir=$WORKDIR/evidence
restart_command=$restart
watch_every=1s
watch_for=3s
P
echo "setup done: process $pid leaking, RSS $(rss_kb "$pid") KiB"
