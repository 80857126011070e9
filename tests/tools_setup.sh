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
# A stamp records what was installed, so changing a pin here reinstalls.
pins='pre-commit==4.7.0 check-jsonschema==0.39.0'
venv=$tools/ci-venv
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one argument per pin
  "$venv/bin/pip" install -q --disable-pip-version-check $pins >&2
  echo "$pins" >"$venv/.pins"
fi
sarif_pin=@microsoft/sarif-multitool-linux@5.7.0
if [ "$(cat "$tools/sarif/.pins" 2>/dev/null)" != "$sarif_pin" ]; then
  npm install --prefix "$tools/sarif" --silent --no-audit --no-fund --no-save "$sarif_pin" >&2
  echo "$sarif_pin" >"$tools/sarif/.pins"
fi
echo "$tools"
