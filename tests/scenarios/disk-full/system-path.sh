#!/usr/bin/env bash
# disk-full with log_dir under /usr: on the filesystem of `mount`, but a system path, so it must be
# refused. Runs inside a private mount namespace where a tmpfs hides the real /usr/local, so
# nothing of the host can be touched even by a runbook that does not refuse.
# Usage (as root): unshare --mount --propagation private bash system-path.sh RB WORKDIR
# Writes WORKDIR/before.txt and WORKDIR/after.txt (the files under /usr/local, with checksums)
# and WORKDIR/transcript.jsonl; prints rb's output and its exit code.
set -euo pipefail
RB=$1 WORKDIR=$2
mkdir -p "$WORKDIR"
mount -t tmpfs -o size=4m,mode=0755 tmpfs /usr/local
mkdir -p /usr/local/log
for f in libc.so.6.gz tool.1 data.old; do head -c 300K /dev/urandom >"/usr/local/log/$f"; done
touch -d '20 days ago' /usr/local/log/*
list() { (cd /usr/local && find . -type f -exec sha256sum {} + | sort); }
list >"$WORKDIR/before.txt"
set +e
"$RB" run disk-full --yes --yes-typed --transcript "$WORKDIR/transcript.jsonl" \
    -p mount=/usr/local -p log_dir=/usr/local/log -p threshold=10 \
    -p evidence_dir="$WORKDIR/evidence" -p watch_every=1s -p watch_for=2s
echo "rb exited with $?"
set -e
list >"$WORKDIR/after.txt"
