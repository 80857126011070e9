#!/usr/bin/env bash
# Installs what the scenario tests need on a fresh Debian 12 machine, only when missing; fast and
# silent when everything is present. Run as root (apt-get). After it, PostgreSQL's server programs
# (initdb, pg_ctl) are on PATH via /usr/local/bin symlinks into /usr/lib/postgresql/*/bin.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

have psql     || missing+=(postgresql-client)
{ have initdb && have pg_ctl; } || [ -n "$(pgbin)" ] || missing+=(postgresql)
have ps       || missing+=(procps)
have python3  || missing+=(python3)
have curl     || missing+=(curl)
have gzip     || missing+=(gzip)
have git      || missing+=(git)
have runuser  || missing+=(util-linux)
have mountpoint || missing+=(util-linux)
# gdb is optional: infinite-loop and memory-leak use it (gcore, backtraces) when present.

if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "prereqs: need root to install: ${missing[*]}" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package keeps initdb/pg_ctl off PATH; link them (root) so the scenarios find them.
if ! { have initdb && have pg_ctl; }; then
    bin=$(pgbin)
    [ -n "$bin" ] || { echo "prereqs: PostgreSQL server binaries not found" >&2; exit 1; }
    for p in initdb pg_ctl; do ln -sf "$bin/$p" "/usr/local/bin/$p"; done
fi
# The Debian package starts a cluster on port 5432; the scenarios use their own socket and do not
# need it, so leave it be.
id postgres >/dev/null 2>&1 || { echo "prereqs: no postgres user (needed to run initdb as root)" >&2; exit 1; }
