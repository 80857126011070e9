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
