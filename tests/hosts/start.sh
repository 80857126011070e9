#!/usr/bin/env bash
# Starts N real OpenSSH hosts for the remote tests: `start.sh DIR N`.
#
# Each host is `sshd -D -e` under its own UTS, mount and PID namespaces (its own hostname `hI`, its
# own 8 MiB tmpfs on /srv, its own process tree), listening on 127.0.0.(I+1) on a free port from
# 2222 up. Keys are made here: one host key per host, a client key the hosts accept and one they
# refuse. For the client, DIR gets `known_hosts` and `ssh_config` (use `ssh -F DIR/ssh_config`)
# with the aliases `hI` and `hI-wrongkey` (the refused key). Readiness is sshd's own "Server
# listening" line, read as it is written. DIR/pids lists what `stop.sh DIR` ends.
#
# `start.sh DIR N --own-home` also gives each host its own empty home (a tmpfs on $HOME), as a
# real host has: without it the hosts share this machine's, whose ~/.bashrc every ssh session
# runs (here it runs `pyenv init`, whose rehash takes a lock all hosts share: parallel sessions
# wait on it, and one killed while holding it leaves every later session waiting a minute). The
# tests and the benchmark use it.
set -euo pipefail
dir=$1
count=$2
own_home=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || "$here/prereqs.sh"
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p "$dir" /run/sshd
chmod 700 "$dir"
dir=$(cd "$dir" && pwd)
ssh-keygen -q -t ed25519 -N '' -C rb-test-client -f "$dir/client_key"
ssh-keygen -q -t ed25519 -N '' -C rb-test-refused -f "$dir/wrong_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
: >"$dir/known_hosts"
: >"$dir/ssh_config"
: >"$dir/pids"

# Starts host $1 on $2:$3; returns 1 when the port is taken (sshd says so and exits).
start_host() {
    local i=$1 addr=$2 port=$3 h="$dir/h$1"
    cat >"$h/sshd_config" <<CONF
ListenAddress $addr:$port
HostKey $h/host_key
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $dir/authorized_keys
MaxSessions 64
MaxStartups 64:30:128
LogLevel INFO
CONF
    rm -f "$h/log.fifo"
    mkfifo "$h/log.fifo"
    # --kill-child: when unshare is killed, the host's PID 1 dies and the kernel ends every
    # process of the host with it: no session outlives the teardown.
    unshare --uts --mount --pid --fork --kill-child --mount-proc --propagation private \
        bash -c 'hostname "h$1" && mount -t tmpfs -o size=8m tmpfs /srv &&
            { [ -z "$4" ] || mount -t tmpfs -o size=1m,mode=0700 tmpfs "$HOME"; } &&
            exec "$2" -D -e -f "$3"' \
        rb-host "$i" "$sshd_bin" "$h/sshd_config" "$own_home" 2>"$h/log.fifo" </dev/null >/dev/null &
    local pid=$!
    exec 3<"$h/log.fifo"
    local line ok=1
    while IFS= read -r line <&3; do
        printf '%s\n' "$line" >>"$h/sshd.log"
        case $line in
        *"Server listening on"*) ok=0; break ;;
        esac
    done
    if [ $ok = 0 ]; then
        # Keep draining the log, or sshd would block writing to a full pipe.
        cat <&3 >>"$h/sshd.log" &
        exec 3<&-
        echo "$pid" >>"$dir/pids"
        return 0
    fi
    exec 3<&-
    wait "$pid" || true
    grep -q 'Address already in use' "$h/sshd.log" && return 1
    echo "host h$i did not start:" >&2
    cat "$h/sshd.log" >&2
    exit 1
}

port=$((2222 + (RANDOM % 4000)))
for i in $(seq 1 "$count"); do
    h="$dir/h$i"
    mkdir -p "$h"
    addr="127.0.0.$((i + 1))"
    ssh-keygen -q -t ed25519 -N '' -C "h$i" -f "$h/host_key"
    until start_host "$i" "$addr" "$port"; do port=$((port + 1)); done
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$h/host_key.pub")" >>"$dir/known_hosts"
    for alias in "h$i" "h$i-wrongkey"; do
        key=$dir/client_key
        [ "$alias" = "h$i" ] || key=$dir/wrong_key
        cat >>"$dir/ssh_config" <<CONF
Host $alias
    HostName $addr
    Port $port
    User root
    IdentityFile $key
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $dir/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    ConnectTimeout 10
CONF
    done
    echo "h$i $addr $port" >>"$dir/hosts"
    port=$((port + 1))
done
