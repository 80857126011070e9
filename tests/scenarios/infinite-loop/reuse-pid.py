"""Starts `sleep 900` under a given, free PID (by setting ns_last_pid just before each fork, until
the kernel hands that PID out): a new process that a stale PID now names. Prints the PID.
Usage (as root): reuse-pid.py PID"""
import os, sys

target = int(sys.argv[1])
for attempt in range(500):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(target - 1))
    pid = os.fork()
    if pid == 0:
        if os.getpid() == target:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execvp("sleep", ["sleep", "900"])
        os._exit(0)
    if pid == target:
        print(pid)
        sys.exit(0)
    os.waitpid(pid, 0)
sys.exit(f"could not get PID {target}: other processes took it first")
