//! Running steps on remote hosts (issue 14), against real OpenSSH servers: `tests/hosts/start.sh`
//! starts each host as an `sshd` in its own UTS, mount and PID namespaces (its own hostname `hI`,
//! its own tmpfs on /srv and an empty home, its own processes) on 127.0.0.(I+1), with keys made
//! for the test, and `stop.sh` ends them (a guard's `Drop`, even when an assertion fails). Needs
//! root, and fails (never skips) without it; `tests/hosts/prereqs.sh` installs openssh-server
//! when missing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::binary::Sandbox;

const HOSTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hosts");

/// Running test hosts; ended on drop.
struct Hosts {
    dir: tempfile::TempDir,
}

impl Hosts {
    fn start(n: usize) -> Hosts {
        let dir = tempfile::tempdir().expect("a temp dir");
        // Each host with its own home, as a real host has (this machine's ~/.bashrc would run
        // in every session: see start.sh).
        let ok = Command::new(format!("{HOSTS}/start.sh"))
            .arg(dir.path())
            .arg(n.to_string())
            .arg("--own-home")
            .status()
            .expect("start.sh runs");
        let hosts = Hosts { dir };
        assert!(ok.success(), "the test hosts did not start");
        hosts
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// Runs `script` on `host` over ssh (the test's own look at the host); its stdout.
    fn ssh(&self, host: &str, script: &str) -> String {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(self.config())
            .args(["-o", "BatchMode=yes", host, script])
            .stdin(Stdio::null())
            .output()
            .expect("ssh runs");
        assert!(
            out.status.success(),
            "ssh {host} {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pid of host `i`'s namespace holder (`unshare`): killing it ends the whole host.
    fn holder(&self, i: usize) -> i32 {
        let pids = std::fs::read_to_string(self.dir.path().join("pids")).expect("pids");
        pids.lines()
            .nth(i - 1)
            .expect("a pid")
            .trim()
            .parse()
            .expect("a number")
    }

    /// The host's sshd: PID 1 of its namespace, the holder's child.
    fn sshd(&self, i: usize) -> i32 {
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children", p = self.holder(i)))
                .expect("children");
        children
            .split_whitespace()
            .next()
            .expect("sshd")
            .parse()
            .expect("a number")
    }

    /// Ends host `i` at once, every process of it (a host lost mid-run).
    fn kill(&self, i: usize) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.holder(i)),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new(format!("{HOSTS}/stop.sh"))
            .arg(self.dir.path())
            .status();
    }
}

/// A sandbox with `t.yaml` holding `steps` (YAML, indented as list items) and a secret param.
fn runbook(steps: &str) -> Sandbox {
    Sandbox::with_runbook(&format!(
        "version: 1\nname: t\ntitle: remote\nparams:\n  token:\n    description: a secret\n    secret: true\n    env: RB_T_TOKEN\n    default: ''\nsteps:\n{steps}"
    ))
}

/// `rb run t.yaml --yes ARGS` against `hosts`.
fn run(sb: &Sandbox, hosts: &Hosts, args: &[&str]) -> common::binary::Out {
    sb.rb()
        .args(["run", "t.yaml", "--yes", "--transcript", "run.jsonl"])
        .args(args)
        .env("RB_SSH_CONFIG", hosts.config())
        .output()
}

fn transcript_text(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.path("run.jsonl")).expect("a transcript")
}

#[test]
fn a_step_runs_on_the_host_named() {
    let hosts = Hosts::start(1);
    let sb = runbook(
        "  - id: where\n    title: Where\n    run: echo \"on $(hostname) in '$PWD'\" && df --output=target /srv | tail -n 1\n",
    );
    let out = run(&sb, &hosts, &["--host", "h1"]);
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert!(all(&out).contains("on h1 in "), "{}", all(&out));
    assert!(transcript_text(&sb).contains("on h1 in"));
    // The run ended its master connection: no ssh of rb's is left.
    let config = hosts.config().display().to_string();
    let left = Command::new("pgrep")
        .args(["-af", &config])
        .output()
        .expect("pgrep");
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn fan_out_labels_each_line_and_the_worst_host_decides() {
    let hosts = Hosts::start(3);
    let sb =
        runbook("  - id: each\n    title: Each\n    run: hostname; test \"$(hostname)\" != h2\n");
    let out = run(&sb, &hosts, &["--hosts", "h1,h2,h3", "--forks", "3"]);
    assert_eq!(out.code, Some(1), "{}", all(&out));
    for h in ["h1", "h2", "h3"] {
        assert!(all(&out).contains(&format!("[{h}] {h}")), "{}", all(&out));
    }
    assert!(
        all(&out).contains("per host: h1: succeeded (")
            && all(&out).contains("; h2: failed (exited with status 1); h3: succeeded ("),
        "{}",
        all(&out)
    );
    let t = transcript_text(&sb);
    assert!(t.contains("[h3] h3"), "{t}");
    // Each host's result is in the record, and the run names its targets.
    let events = events(&sb);
    assert_eq!(events[0]["targets"], serde_json::json!(["h1", "h2", "h3"]));
    let hosts: Vec<(String, String, serde_json::Value)> = events
        .iter()
        .filter(|e| e["event"] == "host_finished")
        .map(|e| {
            assert_eq!(e["step"], "each");
            (
                e["host"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                e["exit_code"].clone(),
            )
        })
        .collect();
    let expect = |h: &str, st: &str, c: i32| (h.to_string(), st.to_string(), serde_json::json!(c));
    assert_eq!(
        hosts,
        vec![
            expect("h1", "succeeded", 0),
            expect("h2", "failed", 1),
            expect("h3", "succeeded", 0)
        ]
    );
    // The post-mortem shows them, step by host.
    let pm = sb.run(&["postmortem", "run.jsonl"]);
    assert_eq!(pm.code, Some(0), "{}", all(&pm));
    assert!(
        pm.stdout.contains(
            "## Results per host\n\n| step | h1 | h2 | h3 |\n|---|---|---|---|\n| `each` | succeeded | failed (exit 1) | succeeded |\n"
        ),
        "{}",
        pm.stdout
    );
}

/// The transcript's events, as JSON.
fn events(sb: &Sandbox) -> Vec<serde_json::Value> {
    transcript_text(sb)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn preflight_names_every_host_it_cannot_use_and_runs_nothing() {
    let hosts = Hosts::start(2);
    let mut cfg = std::fs::read_to_string(hosts.config()).expect("config");
    cfg += "Host ghost\n    HostName 127.0.0.1\n    Port 1\n";
    std::fs::write(hosts.config(), cfg).expect("config");
    let sb = runbook("  - id: mark\n    title: Mark\n    run: touch /srv/ran\n");
    let out = run(&sb, &hosts, &["--hosts", "h1,h2-wrongkey,ghost"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("2 of 3 host(s) failed pre-flight"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("h2-wrongkey: root@127.0.0.3: Permission denied (publickey)"),
        "{}",
        out.stderr
    );
    assert!(
        all(&out).contains("ghost: ") && all(&out).contains("Connection refused"),
        "{}",
        out.stderr
    );
    assert_eq!(hosts.ssh("h1", "ls /srv"), "", "a step ran on h1");
    // requires: is checked on the host, not here.
    let sb = Sandbox::with_runbook(
        "version: 1\nname: t\ntitle: remote\nrequires: [bash, no-such-tool-on-h1]\nsteps:\n  - id: a\n    title: A\n    run: touch /srv/ran\n",
    );
    let out = run(&sb, &hosts, &["--host", "h1"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        out.stderr
            .contains("h1: required program(s) not found on PATH: no-such-tool-on-h1"),
        "{}",
        out.stderr
    );
}

/// Reads lines until one contains each of `wanted`; returns everything read.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, wanted: &[&str]) -> String {
    let mut seen = String::new();
    while !wanted.iter().all(|w| seen.contains(w)) {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("rb never printed {wanted:?}:\n{seen}"));
        seen += &line;
        seen.push('\n');
    }
    seen
}

#[test]
fn a_host_lost_mid_step_fails_there_only_and_no_secret_is_in_any_argv() {
    let hosts = Hosts::start(2);
    let secret = "hunter2-rb-remote-secret";
    let sb = runbook(
        "  - id: wait\n    title: Wait\n    run: |\n      echo \"started $(hostname) $(printf %s \"$RB_T_TOKEN\" | wc -c)\"\n      while [ ! -e /srv/go ]; do sleep 0.05; done\n",
    );
    let (mut child, rx) = {
        let mut cmd = sb
            .rb()
            .args([
                "run",
                "t.yaml",
                "--yes",
                "--transcript",
                "run.jsonl",
                "--hosts",
                "h1,h2",
            ])
            .command();
        cmd.env("RB_SSH_CONFIG", hosts.config())
            .env("RB_T_TOKEN", secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("rb starts");
        let err = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (child, rx)
    };
    wait_for(&rx, &["[h1] started h1 24", "[h2] started h2 24"]);
    // Both steps run, on both hosts: no process of this machine (every host's processes are
    // visible from here) has the secret in its command line.
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(secret),
                "the secret is in the argv of {}",
                entry.path().display()
            );
        }
    }
    hosts.kill(2);
    hosts.ssh("h1", "touch /srv/go");
    let rest: String = rx.iter().collect::<Vec<_>>().join("\n");
    let status = child.wait().expect("rb ends");
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains("per host: h1: succeeded (")
            && rest.contains("; h2: failed (exited with status 255)"),
        "{rest}"
    );
    assert!(!transcript_text(&sb).contains(secret));
}

#[test]
fn a_timeout_ends_the_step_on_the_host() {
    let hosts = Hosts::start(1);
    let sb = runbook(
        "  - id: hang\n    title: Hang\n    timeout: 1s\n    run: |\n      sleep 4242 &\n      sleep 4243\n",
    );
    let out = run(&sb, &hosts, &["--host", "h1"]);
    assert_eq!(out.code, Some(1), "{}", all(&out));
    assert!(all(&out).contains("timed out"), "{}", all(&out));
    // rb returned only after the host's group was gone: nothing of the step is left.
    let left = Command::new("pgrep")
        .args(["-af", "sleep 424[23]"])
        .output()
        .expect("pgrep");
    assert!(
        left.stdout.is_empty(),
        "left on the host: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    assert_eq!(hosts.ssh("h1", "echo alive"), "alive\n");
}

#[test]
fn disk_full_fixes_a_full_filesystem_on_a_remote_host() {
    let hosts = Hosts::start(1);
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios/disk-full");
    let work = tempfile::tempdir().expect("a temp dir");
    let w = work.path().display().to_string();
    // The incident is made on the host (its own mount namespace: the tmpfs is not seen here).
    hosts.ssh("h1", &format!("bash {fixture}/setup.sh {w}"));
    assert!(
        !Path::new(&format!("{w}/mnt/log")).exists(),
        "the host's tmpfs is visible here"
    );
    let params = std::fs::read_to_string(format!("{w}/params")).expect("params");
    let sb = Sandbox::new();
    let mut rb = sb.rb().args([
        "run",
        "disk-full",
        // The runbook wants `truncate` typed before it truncates held-open logs.
        "--yes-typed",
        "--transcript",
        "run.jsonl",
        "--host",
        "h1",
    ]);
    for p in params.lines().filter(|l| !l.is_empty()) {
        rb = rb.arg("-p").arg(p);
    }
    let out = rb.env("RB_SSH_CONFIG", hosts.config()).output();
    let check = Command::new("ssh")
        .arg("-F")
        .arg(hosts.config())
        .args([
            "-o",
            "BatchMode=yes",
            "h1",
            &format!("bash {fixture}/check.sh {w}"),
        ])
        .output()
        .expect("ssh");
    hosts.ssh("h1", &format!("bash {fixture}/teardown.sh {w} || true"));
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn the_exec_transport_enters_another_namespace() {
    let hosts = Hosts::start(2);
    hosts.ssh("h2", "echo in-h2 > /srv/mark");
    let sshd = hosts.sshd(2);
    let sb = runbook(
        "  - id: look\n    title: Look\n    run: echo \"$(hostname) $(cat /srv/mark) $RB_T_TOKEN\"\n",
    );
    sb.write(
        "inventory.yaml",
        &format!(
            "groups:\n  ns:\n    - name: box\n      exec: [nsenter, -t, '{sshd}', -u, -m, -p, --]\n"
        ),
    );
    let out = sb
        .rb()
        .args([
            "run",
            "t.yaml",
            "--yes",
            "--transcript",
            "run.jsonl",
            "--inventory",
            "inventory.yaml",
            "--host",
            "ns",
        ])
        .env("RB_T_TOKEN", "x'y z")
        .output();
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert!(
        all(&out).contains("h2 in-h2 ***") || all(&out).contains("h2 in-h2 x'y z"),
        "{}",
        out.stderr
    );
    // A bad inventory names the file and the fix.
    sb.write(
        "bad.yaml",
        "groups:\n  web:\n    - {name: a, ssh: b, exec: [c]}\n",
    );
    let out = sb.run(&["run", "t.yaml", "--inventory", "bad.yaml", "--dry-run"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        out.stderr
            .contains("bad.yaml: group `web`: host `a`: give `ssh` or `exec`, not both"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_interactive_step_is_refused_on_hosts_before_anything_runs() {
    let sb = runbook(
        "  - id: a\n    run: touch ran\n    read_only: true\n  - id: shell\n    run: bash\n    read_only: true\n    interactive: true\n",
    );
    // Refused even in a dry run, so no connection is tried first.
    for dry in [true, false] {
        let mut args = vec!["run", "t.yaml", "--yes", "--hosts", "nowhere-1"];
        if dry {
            args.push("--dry-run");
        }
        let out = sb.rb().args(args).output();
        assert_eq!(out.code, Some(2), "{}", all(&out));
        assert!(
            all(&out).contains("t.yaml:17:5: step `shell` is interactive")
                && all(&out).contains("on: local"),
            "{}",
            all(&out)
        );
        assert!(!sb.path("ran").exists());
    }
    // `on: local` keeps it here, and the run is allowed (dry run: no connection needed).
    let sb = runbook(
        "  - id: shell\n    run: bash\n    read_only: true\n    interactive: true\n    on: local\n",
    );
    let out = sb
        .rb()
        .args(["run", "t.yaml", "--dry-run", "--hosts", "nowhere-1"])
        .output();
    assert_eq!(out.code, Some(0), "{}", all(&out));
}

#[test]
fn a_dry_run_shows_the_target_and_opens_no_connection() {
    let sb = runbook("  - id: a\n    title: A\n    run: echo hi\n");
    // Nothing listens there: a connection would fail pre-flight.
    let out = sb
        .rb()
        .args([
            "run",
            "t.yaml",
            "--dry-run",
            "--hosts",
            "nowhere-1,nowhere-2",
        ])
        .output();
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert!(
        all(&out).contains("command steps run on 2 host(s): nowhere-1, nowhere-2"),
        "{}",
        all(&out)
    );
}

/// What rb printed: the steps' output and rb's messages (stdout), then its errors (stderr).
fn all(out: &common::binary::Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

#[test]
fn a_run_on_hosts_resumes_each_host_where_it_stopped() {
    let hosts = Hosts::start(2);
    // `fix` fails on h2 until /srv/ok exists there; each host counts its runs of it.
    let sb = runbook(
        "  - id: fix\n    title: Fix\n    run: echo run >> /srv/runs; test \"$(hostname)\" != h2 || test -e /srv/ok\n  - id: after\n    title: After\n    run: touch /srv/after\n",
    );
    let out = run(&sb, &hosts, &["--hosts", "h1,h2"]);
    assert_eq!(out.code, Some(1), "{}", all(&out));
    hosts.ssh("h2", "touch /srv/ok");
    // The hosts must be named again, and be the same.
    let out = sb.run(&["resume", "run.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("ran on the hosts h1,h2: name them again")
            && all(&out).contains("rb resume run.jsonl --hosts h1,h2"),
        "{}",
        all(&out)
    );
    let out = sb
        .rb()
        .args(["resume", "run.jsonl", "--yes", "--hosts", "h1"])
        .env("RB_SSH_CONFIG", hosts.config())
        .output();
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("ran on h1,h2, not on h1"),
        "{}",
        all(&out)
    );
    let out = sb
        .rb()
        .args(["resume", "run.jsonl", "--yes", "--hosts", "h2,h1"])
        .env("RB_SSH_CONFIG", hosts.config())
        .output();
    assert_eq!(out.code, Some(0), "{}", all(&out));
    // `fix` ran again on h2 only; `after` ran on both.
    assert_eq!(hosts.ssh("h1", "cat /srv/runs"), "run\n");
    assert_eq!(hosts.ssh("h2", "cat /srv/runs"), "run\nrun\n");
    for h in ["h1", "h2"] {
        assert_eq!(hosts.ssh(h, "ls /srv/after"), "/srv/after\n");
    }
    assert_eq!(
        host_results(&sb, "fix"),
        pairs(&[("h1", "succeeded"), ("h2", "failed"), ("h2", "succeeded")])
    );
}

/// `(host, status)` of each `host_finished` of `step`, in order.
fn host_results(sb: &Sandbox, step: &str) -> Vec<(String, String)> {
    events(sb)
        .iter()
        .filter(|e| e["event"] == "host_finished" && e["step"] == step)
        .map(|e| {
            (
                e["host"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_step_on_local_runs_here_while_the_others_run_on_the_host() {
    let hosts = Hosts::start(1);
    let sb = Sandbox::new();
    let here = sb.path("where-local").display().to_string();
    sb.write(
        "t.yaml",
        &format!(
            "version: 1\nname: t\ntitle: remote\nsteps:\n  - id: kube\n    title: Kube\n    on: local\n    run: hostname > {here} && touch /srv/rb-local-mark 2>/dev/null || true\n  - id: there\n    title: There\n    run: hostname > /srv/where-target\n"
        ),
    );
    let out = run(&sb, &hosts, &["--host", "h1"]);
    assert_eq!(out.code, Some(0), "{}", all(&out));
    let local_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(
        std::fs::read_to_string(sb.path("where-local")).expect("written here"),
        local_name
    );
    assert_ne!(local_name.trim(), "h1");
    assert_eq!(hosts.ssh("h1", "cat /srv/where-target"), "h1\n");
    assert!(
        !hosts.ssh("h1", "ls /srv").contains("rb-local"),
        "the local step touched the host"
    );
    let _ = std::fs::remove_file("/srv/rb-local-mark");
    // Only the step on the host has a host's result.
    assert!(host_results(&sb, "kube").is_empty());
    assert_eq!(host_results(&sb, "there"), pairs(&[("h1", "succeeded")]));
    // A dry run says where each step runs; a bad value is refused with the choices.
    let out = sb.run(&["run", "t.yaml", "--dry-run", "--hosts", "h1,h2"]);
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert!(
        out.stdout.contains("on: this machine (on: local)") && out.stdout.contains("on: h1, h2"),
        "{}",
        out.stdout
    );
    sb.write(
        "bad.yaml",
        "version: 1\nname: bad\ntitle: bad\nsteps:\n  - id: a\n    on: remote\n    run: x\n  - id: m\n    kind: message\n    on: local\n    text: hi\n",
    );
    let out = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains(
            "bad.yaml:6:9: error[enum]: `on` is `remote`, which is not one of `target`, `local`"
        ) && all(&out)
            .contains("bad.yaml:10:5: error[field-unused]: `on` has no effect on a message step"),
        "{}",
        all(&out)
    );
    // Batch sizes grow; a share is a whole percentage.
    sb.write(
        "bad.yaml",
        "version: 1\nname: bad\ntitle: bad\nsteps:\n  - id: a\n    serial: [2, 1]\n    run: x\n",
    );
    let out = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("bad.yaml:6:13: error[invalid-value]: batch sizes must grow: `1` comes after a batch of `2`"),
        "{}",
        all(&out)
    );
    sb.write(
        "bad.yaml",
        "version: 1\nname: bad\ntitle: bad\nmax_fail: 120%\nsteps:\n  - id: a\n    serial: [0, 50%]\n    run: x\n",
    );
    let out = sb.run(&["validate", "bad.yaml"]);
    assert_eq!(out.code, Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("bad.yaml:4:11: error[pattern]: `max_fail` `120%` does not match")
            && all(&out).contains("bad.yaml:7:14: error[range]: `0` is 0, below the minimum 1"),
        "{}",
        all(&out)
    );
}

#[test]
fn canary_batches_stop_at_a_failed_host_unless_max_fail_allows_it() {
    let hosts = Hosts::start(3);
    let clean = || {
        for h in ["h1", "h2", "h3"] {
            hosts.ssh(h, "rm -f /srv/*");
        }
    };
    let on = |h: &str| {
        hosts
            .ssh(h, "ls /srv")
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let steps = |fails: &str, max_fail: &str| {
        format!(
            "  - id: roll\n    title: Roll\n    serial: [1, 100%]\n{max_fail}    run: touch /srv/rolled; test \"$(hostname)\" != {fails}\n  - id: after\n    title: After\n    run: touch /srv/after\n"
        )
    };
    // A later host fails: the rollout stops there, the run fails, no later step runs.
    let sb = runbook(&steps("h3", ""));
    let out = run(&sb, &hosts, &["--hosts", "h1,h2,h3"]);
    assert_eq!(out.code, Some(1), "{}", all(&out));
    assert!(all(&out).contains("batch 1 of 2 done"), "{}", all(&out));
    assert_eq!(
        host_results(&sb, "roll"),
        pairs(&[("h1", "succeeded"), ("h2", "succeeded"), ("h3", "failed")])
    );
    assert!(host_results(&sb, "after").is_empty());
    assert_eq!(on("h1"), ["rolled"]);
    clean();
    // max_fail: 1 lets the rollout go on; the host that failed leaves the run.
    let sb = runbook(&steps("h3", "    max_fail: 1\n"));
    let out = run(&sb, &hosts, &["--hosts", "h1,h2,h3"]);
    assert_eq!(out.code, Some(0), "{}", all(&out));
    assert_eq!(
        host_results(&sb, "after"),
        pairs(&[("h3", "skipped"), ("h1", "succeeded"), ("h2", "succeeded")])
    );
    assert_eq!(on("h2"), ["after", "rolled"]);
    assert_eq!(on("h3"), ["rolled"]);
    clean();
    // The first batch fails: the other hosts never run the step.
    let sb = runbook(&steps("h1", ""));
    let out = run(&sb, &hosts, &["--hosts", "h1,h2,h3"]);
    assert_eq!(out.code, Some(1), "{}", all(&out));
    assert_eq!(
        host_results(&sb, "roll"),
        pairs(&[("h1", "failed"), ("h2", "not_run"), ("h3", "not_run")])
    );
    assert_eq!(on("h1"), ["rolled"]);
    assert!(on("h2").is_empty() && on("h3").is_empty());
    let pm = sb.run(&["postmortem", "run.jsonl"]);
    assert!(
        pm.stdout
            .contains("| `roll` | failed (exit 1) | not run | not run |"),
        "{}",
        pm.stdout
    );
}

#[test]
fn a_capture_is_kept_per_host_and_when_decides_on_each_host() {
    let hosts = Hosts::start(3);
    let sb = runbook(
        "  - id: name\n    title: Name\n    read_only: true\n    capture: name\n    run: hostname\n  - id: mark\n    title: Mark\n    when: name != 'h2'\n    run: echo {{ name }} > /srv/mark\n",
    );
    let out = run(&sb, &hosts, &["--hosts", "h1,h2,h3"]);
    assert_eq!(out.code, Some(0), "{}", all(&out));
    // Each host wrote its own captured name; h2, where `when:` was false, wrote nothing.
    assert_eq!(hosts.ssh("h1", "cat /srv/mark"), "h1\n");
    assert_eq!(hosts.ssh("h3", "cat /srv/mark"), "h3\n");
    assert_eq!(hosts.ssh("h2", "ls /srv"), "");
    assert_eq!(
        host_results(&sb, "mark"),
        pairs(&[("h2", "skipped"), ("h1", "succeeded"), ("h3", "succeeded")])
    );
    let captured: Vec<(serde_json::Value, serde_json::Value)> = events(&sb)
        .iter()
        .filter(|e| e["event"] == "captured")
        .map(|e| (e["host"].clone(), e["value"].clone()))
        .collect();
    assert_eq!(
        captured,
        [("h1", "h1"), ("h2", "h2"), ("h3", "h3")]
            .iter()
            .map(|(h, v)| (serde_json::json!(h), serde_json::json!(v)))
            .chain([(serde_json::Value::Null, serde_json::json!("h1"))])
            .collect::<Vec<_>>()
    );
}
