#!/usr/bin/env bash
# A minimal process supervisor: runs the leaker, writes its pid file, restarts it when it exits.
# Usage: supervisor.sh WORKDIR RATE_MIB_PER_S
set -u
WORKDIR=$1; RATE=$2; HERE=$(dirname "$0")
trap 'kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
while :; do
    python3 "$HERE/leaker.py" "$RATE" &
    child=$!
    echo "$child" >"$WORKDIR/app.pid"
    echo "$(date +%T) started $child" >>"$WORKDIR/supervisor.log"
    wait "$child"
    echo "$(date +%T) $child exited ($?), restarting" >>"$WORKDIR/supervisor.log"
    sleep 0.5
done
