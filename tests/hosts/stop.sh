#!/usr/bin/env bash
# Ends the hosts `start.sh DIR N` started, and waits until none of their processes is left.
set -uo pipefail
dir=$1
[ -f "$dir/pids" ] || exit 0
while read -r pid; do
    kill -KILL "$pid" 2>/dev/null
done <"$dir/pids"
while read -r pid; do
    # Waits for the process to be gone (no polling sleep of ours: tail watches it).
    tail --pid="$pid" -f /dev/null 2>/dev/null
done <"$dir/pids"
: >"$dir/pids"
