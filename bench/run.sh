#!/usr/bin/env bash
# rb beside just, go-task, check-jsonschema and plain bash, every row alternating rb and its
# baseline in one invocation; prints a Markdown table (medians, p25–p75, ratio, target), the
# per-step curve from 10 to 10,000 steps, and `rb postmortem` of a ~100,000-event transcript.
#
#   bench/run.sh [--quick] [--only TEXT] [--no-rows] [--no-curve] [--no-postmortem]
#
# Builds rb in release mode, installs the peers at pinned versions when missing:
# just (PyPI `rust-just`), go-task (PyPI `go-task-bin`) and check-jsonschema into bench/.venv.
# Fixtures and transcripts go to bench/.work (on the repository's disk, so fsync costs what it
# costs there). The driver is bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${RB_BENCH_VENV:-$repo/bench/.venv}

cargo build --release --quiet
if ! [ -x "$venv/bin/just" ] || ! [ -x "$venv/bin/task" ] || ! [ -x "$venv/bin/check-jsonschema" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet rust-just==1.59.0 go-task-bin==3.54.0 check-jsonschema==0.39.0
fi
exec "$venv/bin/python" bench/bench.py --rb "$repo/target/release/rb" --repo "$repo" \
  --venv-bin "$venv/bin" --work "$repo/bench/.work" "$@"
