//! Helpers shared by the integration tests: building bash steps, collecting output, looking at
//! process groups through /proc, and waiting for a file a step writes (readiness, not sleeps).

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

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
pub fn wait_for_file(path: &std::path::Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
