#!/usr/bin/env bash
# Fixed iff: usage below the threshold, recent logs intact (app.log.1 may have been compressed),
# old rotated logs gone, the holder of the deleted log still running, the application's deleted
# scratch file untouched, and evidence saved privately (0700 folder, 0600 files) unless it was
# asked to live on the full filesystem (VARIANT=full-evidence).
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
MNT="$WORKDIR/mnt"; LOG="$MNT/log"; ok=0
threshold=$(sed -n 's/^threshold=//p' "$WORKDIR/params")
pct=$(df --output=pcent -- "$MNT" | tail -n 1 | tr -dc 0-9)
echo "usage: ${pct}% (threshold ${threshold}%)"
[ "$pct" -lt "$threshold" ] || { echo "FAIL: still above the threshold"; ok=1; }
while read -r sum file; do
    if [ -f "$LOG/$file" ]; then actual=$(sha256sum <"$LOG/$file" | cut -d' ' -f1)
    elif [ -f "$LOG/$file.gz" ]; then actual=$(gzip -dc "$LOG/$file.gz" | sha256sum | cut -d' ' -f1)
    else actual=missing; fi
    if [ "$actual" = "$sum" ]; then echo "recent log intact: $file"
    else echo "FAIL: recent log $file: $actual"; ok=1; fi
done <"$WORKDIR/recent.sha256"
for old in app/app.log.3 app/app.log.4.gz nginx/access.log.2 nginx/access.log-20240101; do
    if [ -e "$LOG/$old" ]; then echo "FAIL: old rotated log remains: $old"; ok=1; fi
done
if kill -0 "$(cat "$WORKDIR/holder.pid")" 2>/dev/null; then echo "writer of the deleted log: still running"
else echo "FAIL: the writer of the deleted log was killed"; ok=1; fi
spid=$(cat "$WORKDIR/scratch.pid")
scratch=$(sha256sum <"/proc/$spid/fd/3" 2>/dev/null | cut -d' ' -f1 || true)
if [ "$scratch" = "$(cat "$WORKDIR/scratch.sha256")" ]; then echo "the application's deleted scratch file: intact"
else echo "FAIL: the application's deleted scratch file was changed ($scratch)"; ok=1; fi
if [ "${VARIANT:-}" != full-evidence ]; then
    ev=$(ls -d "$WORKDIR"/evidence/disk-full-* 2>/dev/null | head -n 1 || true)
    if [ -n "$ev" ] && [ -s "$ev/report.txt" ]; then
        echo "evidence: $ev"
        [ "$(stat -c %a "$ev")" = 700 ] || { echo "FAIL: evidence folder is $(stat -c %a "$ev"), not 700"; ok=1; }
        for f in "$ev"/*; do
            [ "$(stat -c %a "$f")" = 600 ] || { echo "FAIL: $f is $(stat -c %a "$f"), not 600"; ok=1; }
        done
    else echo "FAIL: no evidence report"; ok=1; fi
fi
exit $ok
