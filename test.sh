#!/usr/bin/env bash
# The whole test suite: formatting, lint, the built-in runbooks, and every test.
set -euo pipefail
cd "$(dirname "$0")"
# tests/third_party_schema.sh needs python3 with venv (check-jsonschema) and npm (ajv-cli).
python3 -c 'import venv, ensurepip' 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3 python3-venv)
command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
# The post-mortem's Mermaid charts are rendered for real (tests/mermaid/render.sh installs the pinned
# mermaid-cli from npm; it drives Debian's Chromium).
command -v chromium >/dev/null && dpkg -s fonts-liberation >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium fonts-liberation)
# tests/tools.rs renders the man pages with `man -l`, and runs git (pre-commit's scratch repos).
command -v man >/dev/null || (apt-get update -qq && apt-get install -y -qq man-db)
command -v git >/dev/null || (apt-get update -qq && apt-get install -y -qq git)
# The scenario tests (tests/scenarios.rs) need PostgreSQL, procps, curl, python3 (installed when missing; root).
tests/scenarios/prereqs.sh
# The remote tests (tests/remote.rs) start real sshd hosts: Debian's openssh-server (installed when missing);
# the signing tests (tests/transcripts.rs) use ssh-keygen from openssh-client, installed by the same script.
tests/hosts/prereqs.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --locked
./target/debug/rb validate runbooks/
cargo nextest run --locked --no-fail-fast
