#!/usr/bin/env bash
# Installs, once and at pinned versions, the third-party tools tests/tools.rs checks rb against:
# pre-commit and check-jsonschema (PyPI, in a venv) and the SARIF multitool (npm; it ships the
# published SARIF 2.1.0 schema and OASIS's validator). Prints the tools folder. Safe to run from
# several tests at once (a lock), quiet unless something fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${RB_TOOLS_DIR:-${CARGO_TARGET_DIR:-$root/target}/tools}
mkdir -p "$tools"
exec 9>"$tools/.setup.lock"
flock 9
venv=$tools/ci-venv
if [ ! -x "$venv/bin/pre-commit" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'pre-commit==4.7.0' 'check-jsonschema==0.39.0' >&2
fi
sarif=$tools/sarif/node_modules/@microsoft/sarif-multitool-linux
if [ ! -x "$sarif/Sarif.Multitool" ]; then
  npm install --prefix "$tools/sarif" --silent --no-audit --no-fund --no-save \
    @microsoft/sarif-multitool-linux@5.7.0 >&2
fi
echo "$tools"
