//! Processes that left a step's process group (`setsid`, a double fork): every step's processes
//! carry a token in their environment, inherited by whatever they start, so rb finds them all
//! however they detached. After a timeout or an interrupt they are ended with the group; after a
//! normal finish they are listed (a step may start a daemon on purpose), not killed.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The environment variable that marks a step's processes.
pub const TOKEN_VAR: &str = "RB_STEP_TOKEN";

/// A token no other step of any run shares.
pub fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The environment variable that marks every process of a run (its run id), so `rb resume`
/// finds an attempt still running after rb itself was killed.
pub const RUN_VAR: &str = "RB_RUN_ID";

/// Live processes whose environment carries `token`: (pid, command line).
pub fn holders(token: &str) -> Vec<(u32, String)> {
    holders_of(TOKEN_VAR, token)
}

/// Live processes whose environment has `var=value`: (pid, command line).
pub fn holders_of(var: &str, value: &str) -> Vec<(u32, String)> {
    let needle = format!("{var}={value}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) || zombie(pid) {
            continue;
        }
        let cmd = std::fs::read(entry.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        found.push((pid, cmd));
    }
    found
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next().map(|st| st == "Z"))
            .unwrap_or(false)
    })
}

/// Ends every process carrying `token` (SIGKILL: their group was already asked politely), and
/// waits, bounded, until none is left.
pub fn end_all(token: &str) {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = holders(token);
        if left.is_empty() || Instant::now() >= until {
            return;
        }
        for (pid, _) in left {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process group of `pid`, from `/proc` (`None` once it is gone).
pub fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses, which may hold anything): state, ppid, pgrp.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// Ends the processes `current` lists (it is asked again as they go), as a timeout ends a step:
/// SIGTERM to them and to `group` (the attempt's process group as recorded, but only while one
/// of them is in it, since a recorded group id may have been reused), then SIGKILL to those left
/// after `grace`. Returns those still alive after that (none, unless the kernel holds them).
pub fn end_processes(
    group: Option<u32>,
    current: &dyn Fn() -> Vec<(u32, String)>,
    grace: Duration,
) -> Vec<(u32, String)> {
    let left = current();
    let ours = group.filter(|g| left.iter().any(|(pid, _)| group_of(*pid) == Some(*g)));
    let signal = |left: &[(u32, String)], s: Signal| {
        if let Some(g) = ours {
            let _ = nix::sys::signal::killpg(Pid::from_raw(g as i32), s);
        }
        for (pid, _) in left {
            let _ = kill(Pid::from_raw(*pid as i32), s);
        }
    };
    let gone = |until: Instant| loop {
        let left = current();
        if left.is_empty() || Instant::now() >= until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    signal(&left, Signal::SIGTERM);
    let left = gone(Instant::now() + grace);
    if left.is_empty() {
        return left;
    }
    signal(&left, Signal::SIGKILL);
    gone(Instant::now() + Duration::from_secs(2))
}
