#!/usr/bin/env bash
# disk-full: an 8 MiB tmpfs at WORKDIR/mnt, ~95% full: old rotated logs (20 days), recent logs,
# a 1.2 MiB log deleted while a background process still holds it open, and an application's
# scratch file it deleted on purpose and still uses (must survive).
# VARIANT (environment) changes the incident:
#   other-fs    log_dir is on a second tmpfs (WORKDIR/other) holding old rotated logs too
#   inodes      a tmpfs of 64 inodes, all used by small cache files: blocks ~1%, inodes 100%
#   full-evidence  the filesystem is 100% full and evidence_dir is on it
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
VARIANT=${VARIANT:-}
MNT="$WORKDIR/mnt"
mkdir -p "$MNT"
fill() { head -c "$2" /dev/urandom | base64 -w 100 >"$1"; }   # log-like text, $2 raw bytes

if [ "$VARIANT" = inodes ]; then
    mountpoint -q "$MNT" || mount -t tmpfs -o size=8m,nr_inodes=64,mode=0755 tmpfs "$MNT"
    mkdir -p "$MNT/log/app" "$MNT/cache"
    fill "$MNT/log/app/app.log" 4K
    i=0; while echo "$i" 2>/dev/null >"$MNT/cache/item-$i"; do i=$((i + 1)); [ "$i" -lt 1000 ] || break; done
    read -r b in < <(df --output=pcent,ipcent -- "$MNT" | tail -n 1 | tr -d '%')
    [ "$in" -ge 95 ] || die "inodes only ${in}% used"
    (cd "$MNT" && find . -type f -exec sha256sum {} + | sort) >"$WORKDIR/before.sha256"
    cat >"$WORKDIR/params" <<P
mount=$MNT
log_dir=$MNT/log
threshold=50
evidence_dir=$WORKDIR/evidence
watch_every=1s
watch_for=3s
P
    echo "setup done: $MNT blocks ${b}%, inodes ${in}% used"; exit 0
fi

mountpoint -q "$MNT" || mount -t tmpfs -o size=8m,mode=0755 tmpfs "$MNT"
LOG="$MNT/log"
mkdir -p "$LOG/app" "$LOG/nginx" "$MNT/data"

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

# A deleted log still held open by its writer: du does not see it, df does.
fill "$LOG/app/debug.log" 1200K
setsid sh -c 'exec 3>>"$1"; rm -f -- "$1"; exec sleep 900' holder "$LOG/app/debug.log" </dev/null >/dev/null 2>&1 &
echo $! >"$WORKDIR/holder.pid"
wait_for 10 "the held file to be deleted" test ! -e "$LOG/app/debug.log"
# An application's scratch file, deleted on purpose right after opening (a common idiom for
# private temporary storage) and still in use: truncating it would destroy its data.
fill "$MNT/data/scratch.tmp" 200K
sha256sum <"$MNT/data/scratch.tmp" | cut -d' ' -f1 >"$WORKDIR/scratch.sha256"
setsid sh -c 'exec 3<>"$1"; rm -f -- "$1"; exec sleep 900' scratch "$MNT/data/scratch.tmp" </dev/null >/dev/null 2>&1 &
echo $! >"$WORKDIR/scratch.pid"
wait_for 10 "the scratch file to be deleted" test ! -e "$MNT/data/scratch.tmp"

log_dir=$LOG evidence=$WORKDIR/evidence
case $VARIANT in
    other-fs)
        # The operator's log_dir is another filesystem: nothing there may change.
        OTHER="$WORKDIR/other"; mkdir -p "$OTHER"
        mountpoint -q "$OTHER" || mount -t tmpfs -o size=4m,mode=0755 tmpfs "$OTHER"
        mkdir -p "$OTHER/log"
        fill "$OTHER/log/service.log.3" 200K; fill "$OTHER/log/service.log.4" 200K
        gzip -c "$OTHER/log/service.log.4" >"$OTHER/log/service.log.5.gz"
        touch -d '20 days ago' "$OTHER"/log/*
        (cd "$OTHER" && find . -type f -exec sha256sum {} + | sort) >"$WORKDIR/other.sha256"
        log_dir=$OTHER/log ;;
    full-evidence)
        # Fill what is left with an old rotated log, and keep evidence on the full filesystem.
        fill "$LOG/app/app.log.6" 2M 2>/dev/null || true
        touch -d '20 days ago' "$LOG/app/app.log.6"
        evidence=$MNT/evidence ;;
    "") ;;
    *) die "unknown VARIANT $VARIANT" ;;
esac

pct=$(df --output=pcent -- "$MNT" | tail -n 1 | tr -dc 0-9)
[ "$pct" -ge 90 ] || die "only ${pct}% full; expected >= 90%"
cat >"$WORKDIR/params" <<P
mount=$MNT
log_dir=$log_dir
threshold=50
days=7
evidence_dir=$evidence
watch_every=1s
watch_for=3s
P
echo "setup done: $MNT is ${pct}% full"
