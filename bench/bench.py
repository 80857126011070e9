#!/usr/bin/env python3
"""rb beside its peers, each row measured against its baseline alternately (A, B, A, B, ...).

Called by bench/run.sh, which builds rb and installs the peers. Alternation (rather than all runs
of one command, then all of the other, as hyperfine does) matters on a small shared machine: a
burst of load from elsewhere hits both sides of a row, not one.

Each run is one posix_spawn + wait4: the wall time from spawn to reap. The peak RSS is the
process's own high-water mark (`VmHWM` in /proc/PID/status, read every 5 ms while it runs): the
`ru_maxrss` that wait4 reports is no use here, because a process started by posix_spawn from Python
inherits Python's own peak as its floor (the kernel keeps the high-water mark across `execve`).
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

TRIVIAL = "/bin/true"
GIB = 1024 * 1024 * 1024
# A realistic log line: the 1 GiB step prints it over and over.
LOG_LINE = "2026-11-24T03:05:12.345Z INFO api request method=GET path=/v1/items status=200 ms=12"
# `yes` ends on SIGPIPE when `head` has enough, which `pipefail` would count as a failure.
BIG_PIPELINE = f"{{ yes '{LOG_LINE}' || true; }} | head -c {GIB}"


def peak_rss(pid, done, seen):
    """Keeps in seen[0] the largest VmHWM (KiB) of process `pid` read until `done` is set."""
    path = f"/proc/{pid}/status"
    while not done.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        seen[0] = max(seen[0], int(line.split()[1]))
                        break
        except OSError:
            return
        done.wait(0.005)


def spawn(argv, cwd, env, stdout_path):
    """Runs argv once; returns (seconds, peak RSS in KiB, CPU seconds). Exits with its stderr
    when it fails. The peak RSS is 0 for a run too short to be sampled."""
    err_path = Path(cwd) / ".bench-stderr"
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(err_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    # As a shell would: PWD names the folder the command starts in.
    env = dict(env, PWD=str(cwd))
    old = os.getcwd()
    os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        done, seen = threading.Event(), [0]
        sampler = threading.Thread(target=peak_rss, args=(pid, done, seen), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(pid, 0)
        t1 = time.perf_counter()
        done.set()
        sampler.join()
    finally:
        os.chdir(old)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(f"bench: `{' '.join(argv)}` failed ({status}):\n")
        sys.stderr.write(err_path.read_text(errors="replace")[-4000:])
        sys.exit(1)
    return t1 - t0, seen[0], usage.ru_utime + usage.ru_stime


class Row:
    def __init__(self, name, rb, base, base_name, rounds, target=None, faster=False, out="/dev/null",
                 env=None):
        self.name, self.rb, self.base, self.base_name = name, rb, base, base_name
        self.rounds, self.target, self.faster, self.out = rounds, target, faster, out
        self.env = env or {}
        self.rb_t, self.base_t, self.rb_rss, self.rb_cpu = [], [], [], []


def measure(row, cwd, env, warmup):
    env = dict(env, **row.env)
    for i in range(warmup + row.rounds):
        t, rss, cpu = spawn(row.rb, cwd, env, row.out)
        if i >= warmup:
            row.rb_t.append(t)
            row.rb_rss.append(rss)
            row.rb_cpu.append(cpu)
        if row.base:
            t, _, _ = spawn(row.base, cwd, env, row.out)
            if i >= warmup:
                row.base_t.append(t)


def fmt(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def spread(ts):
    """The middle half of the runs (p25–p75), as ± around the median in percent."""
    if len(ts) < 4:
        return f"{fmt(min(ts))}–{fmt(max(ts))}"
    q = statistics.quantiles(ts, n=4)
    return f"{fmt(q[0])}–{fmt(q[2])}"


def make_fixtures(work, repo, quick):
    work.mkdir(parents=True, exist_ok=True)
    (work / "empty").mkdir(exist_ok=True)
    for n in (10, 100, 200, 1000, 10000):
        steps = "".join(f"  - id: s{i}\n    run: {TRIVIAL}\n" for i in range(1, n + 1))
        (work / f"trivial-{n}.yaml").write_text(
            f"version: 1\nname: trivial-{n}\ntitle: {n} trivial steps\nsteps:\n{steps}"
        )
        (work / f"baseline-{n}.sh").write_text(f"{TRIVIAL}\n" * n)
    body = "".join(f"\t@{TRIVIAL}\n" for _ in range(200))
    recipes = "".join(f"# recipe number {i}\nr{i}:\n\techo {i}\n\n" for i in range(1, 6))
    (work / "justfile").write_text(f"# 200 trivial commands\nsteps:\n{body}\n{recipes}")
    cmds = "".join(f"      - {TRIVIAL}\n" for _ in range(200))
    (work / "Taskfile.yml").write_text(f"version: '3'\ntasks:\n  steps:\n    silent: true\n    cmds:\n{cmds}")
    (work / "big-output.yaml").write_text(
        "version: 1\nname: big-output\ntitle: One step printing 1 GiB\nsteps:\n"
        f"  - id: print\n    run: \"{BIG_PIPELINE}\"\n    read_only: true\n"
    )
    # 1,000 valid runbooks: the built-in ones under new names (the name must equal the file stem).
    many = work / "many"
    hundred = work / "hundred"
    if not many.exists():
        many.mkdir()
        hundred.mkdir()
        sources = sorted((repo / "runbooks").glob("*.yaml"))
        for i in range(1000):
            src = sources[i % len(sources)]
            name = f"{src.stem}-{i:04d}"
            text = src.read_text().replace(f"name: {src.stem}\n", f"name: {name}\n", 1)
            (many / f"{name}.yaml").write_text(text)
            if i < 100:
                (hundred / f"{name}.yaml").write_text(text)


def rows(work, repo, rb, venv, quick):
    r = lambda full, fast: fast if quick else full  # noqa: E731
    just, task, cjs = str(venv / "just"), str(venv / "task"), str(venv / "check-jsonschema")
    files = sorted(str(p) for p in (work / "many").glob("*.yaml"))
    big = [rb, "run", str(work / "big-output.yaml"), "--yes"]
    yield Row("200 trivial steps (`/bin/true`), `--yes`, transcript on disk",
              [rb, "run", str(work / "trivial-200.yaml"), "--yes"],
              ["bash", str(work / "baseline-200.sh")], "bash script, same 200 commands",
              r(15, 5), target=1.3)
    if Path("/dev/shm").is_dir():
        yield Row("the same, transcript on tmpfs (`/dev/shm`: rb's own cost, no disk)",
                  [rb, "run", str(work / "trivial-200.yaml"), "--yes"],
                  ["bash", str(work / "baseline-200.sh")], "bash script, same 200 commands",
                  r(15, 5), env={"XDG_STATE_HOME": f"/dev/shm/rb-bench-{os.getpid()}"})
    yield Row("same 200 commands as one just recipe", [just, "--justfile", str(work / "justfile"), "steps"],
              ["bash", str(work / "baseline-200.sh")], "bash script", r(15, 5))
    yield Row("same 200 commands as one go-task task", [task, "--taskfile", str(work / "Taskfile.yml"), "steps"],
              ["bash", str(work / "baseline-200.sh")], "bash script", r(15, 5))
    yield Row("`rb list` (6 built-in runbooks)", [rb, "list"], [just, "--justfile", str(work / "justfile"), "--list"],
              "`just --list`", r(60, 20), target=1.0)
    yield Row("`rb list` (100 more runbooks, `--dir`)", [rb, "list", "--dir", str(work / "hundred")],
              [just, "--justfile", str(work / "justfile"), "--list"], "`just --list`", r(60, 20), target=1.0)
    yield Row("`rb show disk-full`", [rb, "show", "disk-full"],
              [just, "--justfile", str(work / "justfile"), "--list"], "`just --list`", r(60, 20), target=1.0)
    yield Row("`rb --version`", [rb, "--version"], [just, "--version"], "`just --version`", r(60, 20))
    yield Row("`rb validate` on 1,000 runbooks", [rb, "validate", str(work / "many")],
              [cjs, "--schemafile", str(repo / "schemas/runbook.schema.json"), *files],
              "check-jsonschema, same files and schema", r(3, 1), target=60, faster=True)
    yield Row("one step printing 1 GiB (stdout to a file)", big,
              ["bash", "-euo", "pipefail", "-c", BIG_PIPELINE],
              "the same pipeline to the same file", r(5, 2), target=1 / 0.9, out=str(work / "big.out"))


def table(done):
    print("| work | rb (median, p25–p75) | baseline (median, p25–p75) | ratio | target |")
    print("|---|---|---|---|---|")
    for row in done:
        rb_m = statistics.median(row.rb_t)
        rb_cell = f"{fmt(rb_m)} ({spread(row.rb_t)})"
        if "validate" in row.name:
            rb_cell += f", CPU {fmt(statistics.median(row.rb_cpu))}"
        if "1 GiB" in row.name:
            rb_cell += f", peak RSS {max(row.rb_rss) / 1024:.1f} MiB"
        if not row.base:
            print(f"| {row.name} | {rb_cell} | — | — | {row.target or '—'} |")
            continue
        b_m = statistics.median(row.base_t)
        base_cell = f"{row.base_name}: {fmt(b_m)} ({spread(row.base_t)})"
        if row.faster:
            ratio, goal = f"{b_m / rb_m:.1f}× faster", f"≥ {row.target}× faster" if row.target else "—"
            met = row.target and b_m / rb_m >= row.target
        else:
            ratio, goal = f"{rb_m / b_m:.2f}×", f"≤ {row.target:.2f}×" if row.target else "—"
            met = row.target and rb_m / b_m <= row.target
        if row.target:
            goal += " ✓" if met else " ✗"
        print(f"| {row.name} | {rb_cell} | {base_cell} | {ratio} | {goal} |")


def curve(work, rb, env, quick):
    print("\nPer-step cost, `rb run trivial-N.yaml --yes` beside `bash baseline-N.sh` (medians):\n")
    print("| steps | rb | rb per step | bash | bash per step | rb − bash per step "
          "| rb per added step (vs the row above) | rb peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    prev = None
    for n in (10, 100, 1000, 10000):
        rounds = (3 if n >= 1000 else 9) if not quick else (1 if n >= 1000 else 3)
        row = Row(f"{n}", [rb, "run", str(work / f"trivial-{n}.yaml"), "--yes"],
                  ["bash", str(work / f"baseline-{n}.sh")], "bash", rounds)
        measure(row, work / "empty", env, 0 if n >= 1000 else 1)
        a, b = statistics.median(row.rb_t), statistics.median(row.base_t)
        # What one more step costs, without rb's fixed start-up (reading, validating, creating
        # and syncing the transcript file), which the first columns spread over N.
        added = f"{(a - prev[1]) / (n - prev[0]) * 1000:.2f} ms" if prev else "—"
        prev = (n, a)
        print(f"| {n} | {fmt(a)} | {a / n * 1000:.2f} ms | {fmt(b)} | {b / n * 1000:.2f} ms "
              f"| {(a - b) / n * 1000:.2f} ms | {added} | {max(row.rb_rss) / 1024:.1f} MiB |")
    # What of that memory the run itself adds: `rb validate` loads and checks the same file and
    # runs nothing.
    loaded = {n: spawn([rb, "validate", str(work / f"trivial-{n}.yaml")], work / "empty", env,
                       "/dev/null")[1] / 1024 for n in (1000, 10000)}
    print(f"\n`rb validate` of the same files (loading and checking them, running nothing) peaks at "
          f"{loaded[1000]:.1f} MiB for 1,000 steps and {loaded[10000]:.1f} MiB for 10,000.")


def synthesize(src, dst, events):
    """A transcript of at least `events` events from a real one: its steps' events are repeated
    under new step ids (`r2-s1`, ...), then `seq` and the `prev` hash chain are rewritten, so it
    verifies like one rb wrote. (A runbook big enough to write it directly would exceed rb's
    1 MiB limit on a runbook file.)"""
    lines = [json.loads(line) for line in src.read_text().splitlines()]
    first, body, last = lines[0], lines[1:-1], lines[-1]
    out, rnd = [first], 1
    while len(out) + 1 < events:
        for e in body:
            e = dict(e)
            if rnd > 1 and "step" in e:
                e["step"] = f"r{rnd}-{e['step']}"
            out.append(e)
        rnd += 1
    out.append(last)
    prev = "0" * 64
    with dst.open("w") as f:
        for seq, e in enumerate(out, 1):
            e["seq"], e["prev"] = seq, prev
            if seq == len(out) and "last_hash" in e:
                # run_finished names what comes before it: the count and the last line's hash.
                e["events"], e["last_hash"] = seq - 1, prev
            text = json.dumps(e, ensure_ascii=False, separators=(",", ":"))
            prev = hashlib.sha256(text.encode()).hexdigest()
            f.write(text + "\n")


def postmortem(work, rb, env, quick, baseline=None):
    """`rb postmortem` of a transcript of about 100,000 events; with `baseline` (another rb
    binary, say an older build), each round runs it too, right after."""
    tr = work / "postmortem-input.jsonl"
    if not tr.exists():
        real = work / "postmortem-10000.jsonl"
        real.unlink(missing_ok=True)
        spawn([rb, "run", str(work / "trivial-10000.yaml"), "--yes", "--transcript", str(real)],
              work / "empty", env, "/dev/null")
        synthesize(real, tr, 100_000)
        spawn([rb, "transcripts", "verify", str(tr)], work / "empty", env, "/dev/null")
    events = sum(1 for _ in tr.open())
    rounds = 1 if quick else 5
    runs = [("", rb)] + ([(" (baseline)", baseline)] if baseline else [])
    ts = {name: [] for name, _ in runs}
    rss = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, binary in runs:
            t, r, _ = spawn([binary, "postmortem", str(tr), "-o", str(work / "pm.md")],
                            work / "empty", env, "/dev/null")
            ts[name].append(t)
            rss[name].append(r)
    for name, _ in runs:
        print(f"\n`rb postmortem`{name} of a {events:,}-event transcript: "
              f"{fmt(statistics.median(ts[name]))} (median of {rounds}), peak RSS "
              f"{max(rss[name]) / 1024:.1f} MiB (targets: < 500 ms, < 64 MiB)")


def fsync_probe(work):
    """Median and p95 of one 300-byte append plus fdatasync in the work folder: the price of one
    durable transcript event on this disk, now (it moves with what else writes to the disk)."""
    probe = work / "fsync-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    ts = []
    try:
        for _ in range(300):
            os.write(fd, b"x" * 300 + b"\n")
            t = time.perf_counter()
            os.fdatasync(fd)
            ts.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        probe.unlink()
    return statistics.median(ts), statistics.quantiles(ts, n=20)[-1]


def spawn_loop(work, steps, durable):
    """Starts `steps` runs of the trivial command one after the other, as a runner does; with
    `durable`, a line is appended and fdatasynced before each starts (a step's start on disk
    before it runs) and one appended after (its end). Returns the wall time."""
    probe = work / "floor-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    line = b"x" * 200 + b"\n"
    t = time.perf_counter()
    try:
        for _ in range(steps):
            if durable:
                os.write(fd, line)
                os.fdatasync(fd)
            os.waitpid(os.posix_spawn(TRIVIAL, [TRIVIAL], os.environ), 0)
            if durable:
                os.write(fd, line)
    finally:
        os.close(fd)
        probe.unlink()
    return time.perf_counter() - t


def durable_floor(done, work, rounds=9):
    """What the 200-step row cannot go below with a durable record: the bash script plus what
    one synced append per step adds to a loop starting the same commands (measured as a whole,
    loops with and without the sync alternated: a sync costs a runner more than the syscall's
    own duration, as the process that waits for it has to be woken and scheduled again)."""
    row = next((r for r in done if r.name.startswith("200 trivial") and r.base_t), None)
    if row is None:
        return
    plain, durable = [], []
    for _ in range(rounds):
        plain.append(spawn_loop(work, 200, False))
        durable.append(spawn_loop(work, 200, True))
    per_step = (statistics.median(durable) - statistics.median(plain)) / 200
    bash = statistics.median(row.base_t)
    floor = bash + 200 * per_step
    print(f"\nThe floor of the 200-step row for any runner that puts each step's start on disk "
          f"before it runs: a loop starting the 200 commands takes {fmt(statistics.median(plain))}, "
          f"{fmt(statistics.median(durable))} with one append + fdatasync before each and one "
          f"append after ({per_step * 1000:.2f} ms a step); bash {fmt(bash)} + 200 × that = "
          f"{fmt(floor)}, {floor / bash:.2f}× the bash script. rb: "
          f"{statistics.median(row.rb_t) / floor:.2f}× that floor.")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rb", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--venv-bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--quick", action="store_true", help="fewer rounds")
    p.add_argument("--only", help="run only rows whose name contains this text")
    p.add_argument("--no-rows", action="store_true", help="only the curve and the post-mortem")
    p.add_argument("--no-curve", action="store_true")
    p.add_argument("--no-postmortem", action="store_true")
    p.add_argument("--postmortem-baseline", metavar="RB",
                   help="another rb binary to run beside `rb postmortem`, round by round")
    a = p.parse_args()
    work, repo = Path(a.work).resolve(), Path(a.repo).resolve()
    make_fixtures(work, repo, a.quick)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RB_")}
    # Transcripts go to the default place, under the work folder (on the same disk as the
    # repository, so fsync costs what it costs there; a tmpfs would make it free).
    env["XDG_STATE_HOME"] = str(work / "state")
    env["NO_COLOR"] = "1"
    # rb's list cache, filled by each row's warm-up run (as by any earlier `rb list`).
    env["XDG_CACHE_HOME"] = str(work / "cache")
    cores = os.cpu_count()
    print(f"{time.strftime('%Y-%m-%d')}, {cores} cores, {os.uname().machine}; "
          f"every row alternates rb and its baseline\n")
    before = fsync_probe(work)
    done = []
    for row in rows(work, repo, a.rb, Path(a.venv_bin), a.quick):
        if a.no_rows or (a.only and a.only not in row.name):
            continue
        measure(row, work / "empty", env, 1 if row.rounds > 3 else 0)
        done.append(row)
        print(f"  measured: {row.name}", file=sys.stderr)
    if done:
        table(done)
        after = fsync_probe(work)
        print(f"\nOne append + fdatasync on this disk: median {before[0] * 1000:.2f} ms "
              f"(p95 {before[1] * 1000:.2f} ms) before the rows, {after[0] * 1000:.2f} ms "
              f"(p95 {after[1] * 1000:.2f} ms) after.")
        durable_floor(done, work)
    if not a.no_curve and not a.only:
        curve(work, a.rb, env, a.quick)
    if not a.no_postmortem and not a.only:
        postmortem(work, a.rb, env, a.quick, a.postmortem_baseline)
    shutil.rmtree(f"/dev/shm/rb-bench-{os.getpid()}", ignore_errors=True)


if __name__ == "__main__":
    main()
