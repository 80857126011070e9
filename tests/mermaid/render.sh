#!/usr/bin/env bash
# Renders every Mermaid block of a Markdown file with the real mermaid-cli driving Debian's
# Chromium, so a syntax error in a chart rb draws fails a test. Usage: render.sh IN.md OUT.md
# (OUT.md gets the blocks replaced by SVG files beside it). Exit 1 when a block does not render.
# mermaid-cli is installed on first use, pinned, into $RB_TOOLS_DIR (default: target/tools);
# Chromium and its fonts come from test.sh (apt-get install chromium fonts-liberation).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${RB_TOOLS_DIR:-${CARGO_TARGET_DIR:-$root/target}/tools}/mermaid
version=11.17.0
chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
  echo "render.sh: chromium is not installed (test.sh installs it: apt-get install chromium fonts-liberation)" >&2
  exit 2
fi
mkdir -p "$tools"
if [ ! -x "$tools/node_modules/.bin/mmdc" ] || [ "$(cat "$tools/version" 2>/dev/null)" != "$version" ]; then
  # Puppeteer must not download a browser of its own: Debian's Chromium is used.
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$tools" --silent --no-audit --no-fund --no-save \
    "@mermaid-js/mermaid-cli@$version" >&2
  echo "$version" > "$tools/version"
fi
cat > "$tools/pptr.json" <<JSON
{"executablePath":"$chromium","args":["--no-sandbox","--headless","--disable-gpu","--disable-dev-shm-usage","--disable-background-networking","--disable-component-update","--disable-quic","--disable-sync","--no-first-run"]}
JSON
exec "$tools/node_modules/.bin/mmdc" -q -p "$tools/pptr.json" -i "$1" -o "$2"
