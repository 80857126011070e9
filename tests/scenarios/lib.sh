# Shared helpers for the scenario scripts (sourced, not run).
# Every scenario has the same interface:
#   setup.sh WORKDIR     create the incident for real; write WORKDIR/params (key=value lines for
#                        `rb run NAME --yes -p key=value ...`); record started pids in WORKDIR/*.pid
#   check.sh WORKDIR     exit 0 iff the incident is fixed on the real system; print what was found
#   teardown.sh WORKDIR  stop everything started, unmount, remove; idempotent
set -euo pipefail

die() { echo "scenario: $*" >&2; exit 1; }

need_workdir() {
    [ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 WORKDIR"
    WORKDIR=$(realpath -m -- "$1")
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2s until it succeeds.
wait_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${limit}s waiting for $what"
        sleep 0.2
    done
}

# kill_pidfile FILE: end the process group led by the pid in FILE (TERM, then KILL), remove FILE.
kill_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# rss_kb PID: resident set size in KiB (empty when the process is gone).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
