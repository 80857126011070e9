#!/usr/bin/env bash
# The whole test suite: formatting, lint, the built-in runbooks, and every test.
set -euo pipefail
cd "$(dirname "$0")"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --locked
./target/debug/rb validate runbooks/
cargo nextest run --locked --no-fail-fast
