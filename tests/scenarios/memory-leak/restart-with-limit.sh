#!/usr/bin/env bash
# The team's "restart with a memory limit" for VARIANT=tight-limit: ends the leaking process, then
# caps the cgroup at 24 MiB (python itself takes about 10) before the supervisor's next child grows (too tight: it is OOM-killed
# again and again, a crash loop). Usage: restart-with-limit.sh WORKDIR
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
source "$(dirname "$0")/cgroup.sh"
kill -TERM "$(cat "$WORKDIR/app.pid")"
# A cgroup v1 limit below the current usage is refused until the old process's memory is gone.
for _ in $(seq 1 100); do echo 24M 2>/dev/null >"$CG/$CG_LIMIT" && break; sleep 0.05; done
echo "memory limit of $CG: $(cat "$CG/$CG_LIMIT")"
