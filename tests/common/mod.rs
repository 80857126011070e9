//! The harness shared by the integration tests: starting the real rb ([`binary`]), driving a
//! terminal ([`pty`]), test binaries with helper processes ([`helpers`]), checking transcripts,
//! building bash steps for the runner, looking at processes through /proc, and waiting for what a
//! step writes (readiness, not sleeps).

#![allow(dead_code)] // each test binary uses its own subset

pub mod binary;
pub mod helpers;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use rb::exec::runner::{CommandSpec, Outcome, ProcessRunner, Runner, Stream};

pub fn bash(script: &str) -> CommandSpec {
    CommandSpec {
        argv: vec!["bash".into(), "-c".into(), script.into()],
        env: Vec::new(),
        timeout: None,
        interactive: false,
        cwd: None,
    }
}

pub fn with_timeout(mut spec: CommandSpec, t: Duration) -> CommandSpec {
    spec.timeout = Some(t);
    spec
}

/// Runs `spec` and returns the outcome with everything each stream printed.
pub fn collect(runner: &mut ProcessRunner, spec: &CommandSpec) -> (Outcome, Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = runner
        .run(spec, &mut |stream, bytes| match stream {
            Stream::Stdout => out.extend_from_slice(bytes),
            Stream::Stderr => err.extend_from_slice(bytes),
        })
        .expect("run");
    (outcome, out, err)
}

/// The processes of group `pgid` that are not zombies, as (pid, state, name). Zombies are left
/// out on purpose: a killed grandchild is reparented to PID 1, which in a container may reap it
/// only seconds later; a zombie runs nothing.
pub fn live_members(pgid: i32) -> Vec<(i32, String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state, ppid, pgrp.
        let (state, pgrp) = (fields[0], fields[2].parse::<i32>().unwrap());
        if pgrp == pgid && state != "Z" && state != "X" {
            found.push((pid, state.to_string(), name));
        }
    }
    found
}

/// Parses the first whitespace-separated integers after `tag` in `text`.
pub fn numbers_after(text: &[u8], tag: &str) -> Option<Vec<i32>> {
    let text = String::from_utf8_lossy(text);
    let line = text.lines().find(|l| l.starts_with(tag))?;
    Some(
        line[tag.len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect(),
    )
}

/// Waits (at most 20 s) until `path` exists: a step's readiness signal.
pub fn wait_for_file(path: &Path) {
    wait_for(path, |_| true);
}

/// Waits (at most 20 s) until `path` can be read and `ready` holds for its text.
pub fn wait_for(path: &Path, ready: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        if let Ok(t) = std::fs::read_to_string(path)
            && ready(&t)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 60 s) for `child` to exit; returns its exit code (-1 for a signal).
pub fn wait_exit(child: &mut Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the process did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a live process has `pid` (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The pid a step wrote to `path` (`echo $$ > path`), waiting for the whole line: the shell
/// creates the file before it writes to it.
pub fn read_pid(path: &Path) -> i32 {
    wait_for(path, |t| t.ends_with('\n'));
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads the transcript at `path` after checking it: every line matches the published schema,
/// the hash chain holds, and the last line is whole.
pub fn checked_transcript(path: &Path) -> ::rb::transcript::Transcript {
    ::rb::transcript::schema::validate_file(path)
        .unwrap_or_else(|e| panic!("{} does not match the schema: {e}", path.display()));
    let report = ::rb::transcript::verify(path).expect("verify reads the transcript");
    assert!(
        report.problem.is_none(),
        "{}: {:?}",
        path.display(),
        report.problem
    );
    let t = ::rb::transcript::read(path).expect("the transcript reads");
    assert!(!t.torn_tail, "{} has a torn tail", path.display());
    t
}

/// A tmpfs mounted for one test, unmounted however the test ends. Needs root (CAP_SYS_ADMIN):
/// without it the test fails, it never skips.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mkdir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs failed: this test needs root (the test command runs as root)"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Live processes whose environment carries `RB_RUN_ID=run_id` (every process of that run's
/// steps, however it detached), as rb itself finds them.
pub fn run_processes(run_id: &str) -> Vec<i32> {
    let needle = format!("RB_RUN_ID={run_id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The run id in a transcript's `run_started`.
pub fn run_id(t: &::rb::transcript::Transcript) -> String {
    t.events()
        .find_map(|e| match e {
            ::rb::transcript::Event::RunStarted { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
        .expect("run_started")
}
