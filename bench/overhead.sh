#!/usr/bin/env bash
# Per-step overhead of `rb run --yes` on a runbook of N trivial steps, beside bash running the
# same N commands as separate processes (the baseline), in one invocation.
#
#   bench/overhead.sh [STEPS] [ROUNDS]      (defaults: 200 steps, 5 rounds)
#
# Prints the median wall time of each, and rb's overhead per step. Build first with
# `cargo build --release`; the script uses target/release/rb.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200}
rounds=${2:-5}
rb=target/release/rb
[ -x "$rb" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  printf 'version: 1\nname: trivial\ntitle: %s trivial steps\nsteps:\n' "$steps"
  for i in $(seq 1 "$steps"); do
    # Not read-only: each step goes through the confirmation path (answered by --yes).
    printf '  - id: s%d\n    run: "true"\n' "$i"
  done
} > "$work/trivial.yaml"
{
  for _ in $(seq 1 "$steps"); do printf 'bash -euo pipefail -c true\n'; done
} > "$work/baseline.sh"

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

rb_times=()
sh_times=()
for _ in $(seq 1 "$rounds"); do
  t0=$(now_ns)
  bash "$work/baseline.sh"
  t1=$(now_ns)
  "$rb" run "$work/trivial.yaml" --yes --transcript "$work/t-$t1.jsonl" > /dev/null 2> "$work/rb.stderr" \
    || { cat "$work/rb.stderr" >&2; exit 1; }
  t2=$(now_ns)
  sh_times+=($(( (t1 - t0) / 1000 )))
  rb_times+=($(( (t2 - t1) / 1000 )))
done
sh_med=$(printf '%s\n' "${sh_times[@]}" | median)
rb_med=$(printf '%s\n' "${rb_times[@]}" | median)
awk -v n="$steps" -v r="$rounds" -v sh="$sh_med" -v rb="$rb_med" 'BEGIN {
  printf "steps: %d, rounds: %d (median wall time)\n", n, r
  printf "  baseline: bash, %d separate processes:  %8.1f ms  (%6.2f ms/step)\n", n, sh/1000, sh/1000/n
  printf "  rb run --yes (transcript fsynced):     %8.1f ms  (%6.2f ms/step)\n", rb/1000, rb/1000/n
  printf "  rb overhead per step:                  %8.2f ms\n", (rb-sh)/1000/n
}'
