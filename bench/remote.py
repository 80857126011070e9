"""Driver of bench/remote.sh: times `rb run --yes` of trivial runbooks here and on the test hosts.

Per-step cost on a connected host: the slope between a 10-step and a 60-step runbook (so the
connection set-up, paid once per run by pre-flight, falls out), on one host and here.
Fan-out: 50 steps on 20 hosts with --forks 20 against 50 steps on one host, whole runs.
Rounds alternate the variants so that a busy moment hits both.
"""

import argparse
import os
import statistics
import subprocess
import time


def runbook(path, steps):
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path, "w") as f:
        f.write(f"version: 1\nname: {name}\ntitle: bench\nsteps:\n")
        for i in range(steps):
            f.write(f"  - id: s{i}\n    run: 'true'\n    read_only: true\n")


def timed(rb, file, work, hosts, forks, env):
    args = [rb, "run", file, "--yes", "--transcript", os.path.join(work, "t.jsonl")]
    if hosts:
        args += ["--hosts", ",".join(hosts), "--forks", str(forks)]
    try:
        os.remove(os.path.join(work, "t.jsonl"))
    except FileNotFoundError:
        pass
    start = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()}")
    return took


def bare_ssh(env, work, hosts, rounds):
    """The floor under a remote step: `ssh HOST true` over an open master connection, `rounds`
    times in a row on each of `hosts` in parallel (what rb's own steps ride on)."""
    config = env["RB_SSH_CONFIG"]
    sockets = os.path.join(work, "mux-%C")
    base = ["ssh", "-F", config, "-o", "BatchMode=yes", "-o", f"ControlPath={sockets}"]
    for h in hosts:
        subprocess.run(base + ["-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-f", "-N", h],
                       check=True, stdin=subprocess.DEVNULL)
    start = time.perf_counter()
    for _ in range(rounds):
        procs = [subprocess.Popen(base + ["-o", "ControlMaster=no", "-T", h, "true"],
                                  stdin=subprocess.DEVNULL) for h in hosts]
        for p in procs:
            p.wait()
    took = time.perf_counter() - start
    for h in hosts:
        subprocess.run(base + ["-O", "exit", h], stderr=subprocess.DEVNULL)
    return took


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]


def show(name, xs):
    print(f"  {name}: median {statistics.median(xs) * 1000:.1f} ms "
          f"(p25–p75 {q(xs, .25) * 1000:.1f}–{q(xs, .75) * 1000:.1f}, {len(xs)} runs)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rb", required=True)
    ap.add_argument("--hosts-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    env = dict(os.environ, RB_SSH_CONFIG=os.path.join(a.hosts_dir, "ssh_config"))
    hosts = [f"h{i}" for i in range(1, 21)]
    files = {}
    for n in (10, 50, 60):
        files[n] = os.path.join(a.work, f"bench{n}.yaml")
        runbook(files[n], n)

    variants = {
        "here, 10 steps": (files[10], [], 1),
        "here, 60 steps": (files[60], [], 1),
        "1 host, 10 steps": (files[10], hosts[:1], 1),
        "1 host, 60 steps": (files[60], hosts[:1], 1),
        "1 host, 50 steps": (files[50], hosts[:1], 1),
        "20 hosts, 50 steps, --forks 20": (files[50], hosts, 20),
    }
    times = {k: [] for k in variants}
    for r in range(a.rounds):
        for name, (file, hs, forks) in variants.items():
            times[name].append(timed(a.rb, file, a.work, hs, forks, env))
            print(f"round {r + 1}: {name}: {times[name][-1] * 1000:.0f} ms", flush=True)
    print("Whole runs (rb run --yes, trivial read-only steps):")
    for name, xs in times.items():
        show(name, xs)

    def slope(k10, k60):
        return [(b - c) / 50 for b, c in zip(times[k60], times[k10])]

    here = slope("here, 10 steps", "here, 60 steps")
    remote = slope("1 host, 10 steps", "1 host, 60 steps")
    per_here, per_remote = statistics.median(here), statistics.median(remote)
    print("Per step (slope from 10 to 60 steps, connection already up):")
    print(f"  here: {per_here * 1000:.2f} ms; on a connected host: {per_remote * 1000:.2f} ms; "
          f"ratio {per_remote / per_here:.1f}x (target <= 2x)")
    one = statistics.median(times["1 host, 50 steps"])
    many = statistics.median(times["20 hosts, 50 steps, --forks 20"])
    print(f"Fan-out: 20 hosts x 50 steps with --forks 20: {many * 1000:.0f} ms against "
          f"{one * 1000:.0f} ms on one host: ratio {many / one:.2f}x (target < 3x)")
    one_ssh = statistics.median(bare_ssh(env, a.work, hosts[:1], 50) for _ in range(3))
    many_ssh = statistics.median(bare_ssh(env, a.work, hosts, 50) for _ in range(3))
    print(f"Floor, bare `ssh HOST true` over a master: {one_ssh / 50 * 1000:.2f} ms per call on one "
          f"host; 50 rounds on 20 hosts in parallel {many_ssh * 1000:.0f} ms against "
          f"{one_ssh * 1000:.0f} ms on one: ratio {many_ssh / one_ssh:.2f}x")


if __name__ == "__main__":
    main()
