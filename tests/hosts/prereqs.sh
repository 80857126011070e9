#!/usr/bin/env bash
# The remote tests' tools: Debian's OpenSSH server and client (installed when missing; root).
set -euo pipefail
if ! { [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v unshare >/dev/null && command -v nsenter >/dev/null; }; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client util-linux
fi
