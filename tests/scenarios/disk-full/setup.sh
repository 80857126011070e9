#!/usr/bin/env bash
# disk-full: an 8 MiB tmpfs at WORKDIR/mnt, ~95% full: old rotated logs (20 days), recent logs,
# and a 2 MiB file deleted while a background process still holds it open.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
MNT="$WORKDIR/mnt"
mkdir -p "$MNT"
mountpoint -q "$MNT" || mount -t tmpfs -o size=8m,mode=0755 tmpfs "$MNT"
LOG="$MNT/log"
mkdir -p "$LOG/app" "$LOG/nginx"
fill() { head -c "$2" /dev/urandom | base64 -w 100 >"$1"; }   # log-like text, $2 raw bytes

# Old rotated logs: the safe thing to remove.
fill "$LOG/app/app.log.3" 900K;  gzip -c "$LOG/app/app.log.3" >"$LOG/app/app.log.4.gz"
fill "$LOG/nginx/access.log.2" 900K
fill "$LOG/nginx/access.log-20240101" 800K
touch -d '20 days ago' "$LOG/app/app.log.3" "$LOG/app/app.log.4.gz" "$LOG/nginx/access.log.2" \
    "$LOG/nginx/access.log-20240101"
# Recent logs: must survive intact.
fill "$LOG/app/app.log" 400K
fill "$LOG/nginx/access.log" 300K
fill "$LOG/app/app.log.1" 300K; touch -d '2 days ago' "$LOG/app/app.log.1"
(cd "$LOG" && sha256sum app/app.log nginx/access.log app/app.log.1) >"$WORKDIR/recent.sha256"

# A deleted file still held open by its writer: du does not see it, df does.
fill "$LOG/app/debug.log" 1500K
setsid sh -c 'exec 3>>"$1"; rm -f -- "$1"; exec sleep 900' holder "$LOG/app/debug.log" </dev/null >/dev/null 2>&1 &
echo $! >"$WORKDIR/holder.pid"
wait_for 10 "the held file to be deleted" test ! -e "$LOG/app/debug.log"

pct=$(df --output=pcent -- "$MNT" | tail -n 1 | tr -dc 0-9)
[ "$pct" -ge 90 ] || die "only ${pct}% full; expected >= 90%"
cat >"$WORKDIR/params" <<P
mount=$MNT
log_dir=$LOG
threshold=50
days=7
evidence_dir=$WORKDIR/evidence
watch_every=1s
watch_for=3s
P
echo "setup done: $MNT is ${pct}% full"
