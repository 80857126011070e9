#!/usr/bin/env bash
# Remote hosts (issue 14): rb's cost per step on an already-connected ssh host against the same
# steps run here, and 20 hosts × 50 steps with --forks 20 against one host. Prints medians,
# p25–p75 and the ratios against their targets (≤ 2× and < 3×).
#
#   bench/remote.sh [--rounds N]
#
# Needs root: the hosts are real sshd servers in their own namespaces, started by
# tests/hosts/start.sh (as the tests start them, each with its own empty home: see there) and
# ended on exit. The driver is bench/remote.py.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/rb-remote-bench.XXXXXX")
trap 'tests/hosts/stop.sh "$work/hosts" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tests/hosts/start.sh "$work/hosts" 20 --own-home >/dev/null
python3 bench/remote.py --rb "$repo/target/release/rb" --hosts-dir "$work/hosts" --work "$work" "$@"
