//! Processes that left a step's process group (`setsid`, a double fork): every step's processes
//! carry a token in their environment, inherited by whatever they start, so rb finds them all
//! however they detached. After a timeout or an interrupt they are ended with the group; after a
//! normal finish they are listed (a step may start a daemon on purpose), not killed.
//!
//! Where rb looks: on Linux rb is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a step's
//! process whose parent ends is re-parented to rb rather than to init, whatever it did to leave
//! the group. A step's processes are then all rb's descendants, and rb walks only those (its own
//! children, then theirs) instead of every process on the machine: after most steps rb has no
//! child left, and one read of its children list answers. Without the subreaper (another OS, an
//! older kernel, no `/proc/PID/task/TID/children`) rb scans all of `/proc`, as `rb resume` does
//! for the run's id after a crash (rb was dead then, so nothing was re-parented to it).

use std::collections::HashSet;
use std::sync::OnceLock;
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

/// Makes rb the reaper of its steps' orphans, once per process; true when it is, and rb can read
/// its own children list (then [`holders`] walks rb's descendants only).
pub fn adopt_orphans() -> bool {
    static ADOPTS: OnceLock<bool> = OnceLock::new();
    *ADOPTS.get_or_init(|| {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            nix::sys::prctl::set_child_subreaper(true).is_ok() && own_children().is_some()
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            false
        }
    })
}

/// Live processes whose environment carries `token`: (pid, command line).
pub fn holders(token: &str) -> Vec<(u32, String)> {
    if adopt_orphans()
        && let Some(found) = adopted_holders(format!("{TOKEN_VAR}={token}").as_bytes())
    {
        return found;
    }
    holders_of(TOKEN_VAR, token)
}

/// Live processes whose environment has `var=value`, anywhere on the machine: (pid, command
/// line).
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
        if carries(pid, needle.as_bytes()) && !zombie(pid) {
            found.push((pid, command_line(pid)));
        }
    }
    found
}

/// The holders among rb's descendants; `None` when rb's children list cannot be read.
///
/// A process may exit while we walk, and its children move to rb: they would be missed below
/// it and not yet seen at the top. So the walk is repeated until rb's children list reads the
/// same before and after it (an empty list is final: with every orphan re-parented to rb, a
/// live descendant implies a live child of rb).
fn adopted_holders(needle: &[u8]) -> Option<Vec<(u32, String)>> {
    let mut roots = live_children()?;
    let mut found = Vec::new();
    for _ in 0..8 {
        if roots.is_empty() {
            return Some(Vec::new());
        }
        found = walk(&roots, needle);
        let again = live_children()?;
        if again == roots {
            break;
        }
        roots = again;
    }
    Some(found)
}

/// Every process below `roots` (them included) whose environment carries `needle`.
fn walk(roots: &[u32], needle: &[u8]) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut todo = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if carries(pid, needle) && !zombie(pid) {
            found.push((pid, command_line(pid)));
        }
        todo.extend(children(pid));
    }
    found.sort_unstable();
    found
}

/// rb's children that still run, sorted; the zombies among them (orphans rb adopted, which
/// nobody else waits for) are reaped on the way.
///
/// Only the main thread's list is read: the kernel re-parents orphans to a subreaper's first
/// live thread, its main thread. Children started by rb's other threads (a remote step fanned
/// out to hosts) are listed under those threads, so their exit statuses stay for the threads
/// that wait for them; and by the time this runs on the main thread, the step's own process has
/// been waited for.
fn live_children() -> Option<Vec<u32>> {
    let mut live = Vec::new();
    for pid in own_children()? {
        if zombie(pid) {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid as i32),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        } else {
            live.push(pid);
        }
    }
    live.sort_unstable();
    Some(live)
}

/// The children of rb's main thread; `None` when the kernel does not offer the list.
fn own_children() -> Option<Vec<u32>> {
    let pid = std::process::id();
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    Some(parse_pids(&text))
}

/// The children of every thread of `pid` (empty when it is gone).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| parse_pids(&text))
        .collect()
}

fn parse_pids(text: &str) -> Vec<u32> {
    text.split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether `pid`'s environment holds the entry `needle` (`NAME=value`).
fn carries(pid: u32, needle: &[u8]) -> bool {
    read_settled(pid, "environ").is_some_and(|env| env.split(|&b| b == 0).any(|v| v == needle))
}

/// `pid`'s command line, its arguments joined by spaces (empty when it is gone).
fn command_line(pid: u32) -> String {
    read_settled(pid, "cmdline")
        .map(|c| {
            String::from_utf8_lossy(&c)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `/proc/PID/FILE` for a file that lists the process's arguments or environment; `None` when
/// the process is gone.
///
/// A process in the middle of `execve` (a daemon's `setsid` becoming its program) reads as an
/// empty environment and command line for a moment: the new memory is in place before they are.
/// An empty read is tried again a few times, so such a process is neither taken for a stranger
/// nor recorded without its command. A kernel thread's are always empty: believed at once (a
/// scan of all of `/proc` meets dozens).
fn read_settled(pid: u32, file: &str) -> Option<Vec<u8>> {
    let path = format!("/proc/{pid}/{file}");
    let mut last = Vec::new();
    for _ in 0..EMPTY_READ_TRIES {
        last = std::fs::read(&path).ok()?;
        if !last.is_empty() || kernel_thread(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Some(last)
}

/// How often an empty read is tried again (2 ms apart) before it is believed.
const EMPTY_READ_TRIES: usize = 10;

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in its flags, the ninth field of its stat).
fn kernel_thread(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    stat_field(pid, 6)
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Field `n` of `/proc/PID/stat`, counted after the command name (which, in parentheses, may
/// hold anything): 0 state, 1 ppid, 2 pgrp, 3 session, 4 tty, 5 tpgid, 6 flags, …
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(n).map(str::to_owned)
}

fn zombie(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state == "Z")
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
    stat_field(pid, 2)?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan of all of `/proc` meets kernel threads, whose environment reads empty: they are
    /// told apart from a process in mid-`execve`, so the scan does not wait on each of them.
    #[test]
    fn kernel_threads_are_known_and_rb_is_not_one() {
        assert!(!kernel_thread(std::process::id()));
        let kthreadd = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "kthreadd")
            })
            .expect("this Linux machine has kthreadd");
        assert!(kernel_thread(kthreadd));
        assert_eq!(
            group_of(std::process::id()),
            Some(nix::unistd::getpgrp().as_raw() as u32)
        );
        assert!(!zombie(std::process::id()));
    }
}
