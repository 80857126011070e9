#!/usr/bin/env bash
# Fixed iff: evidence (status, smaps_rollup) of the first process was saved, the first process is
# gone, a new process runs under the supervisor, and its RSS is below the RSS in the evidence.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
ok=0; first=$(cat "$WORKDIR/first.pid"); now=$(cat "$WORKDIR/app.pid")
ev=$(ls -d "$WORKDIR"/evidence/memory-leak-"$first"-* 2>/dev/null | head -n 1 || true)
if [ -n "$ev" ] && [ -s "$ev/status" ] && [ -s "$ev/smaps_rollup" ]; then
    echo "evidence: $ev ($(ls "$ev" | tr '\n' ' '))"
else echo "FAIL: no evidence for process $first"; ok=1; fi
if [ -d "/proc/$first" ]; then echo "FAIL: the leaking process $first still runs"; ok=1; fi
if [ "$now" = "$first" ] || [ ! -d "/proc/$now" ]; then echo "FAIL: no new process ($now)"; ok=1
else
    old_rss=$(awk '/^VmRSS:/ {print $2}' "$ev/status" 2>/dev/null || echo 0)
    new_rss=$(rss_kb "$now")
    echo "RSS: old process ${old_rss} KiB (evidence), new process $now ${new_rss} KiB"
    [ "${new_rss:-0}" -lt "${old_rss:-0}" ] || { echo "FAIL: the new process is not smaller"; ok=1; }
fi
exit $ok
