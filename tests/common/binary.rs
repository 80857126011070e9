//! The one way the integration tests start the real `rb`: a [`Sandbox`] (a temp dir that is the
//! working directory and holds `XDG_STATE_HOME`) and an [`Rb`] builder that runs the binary with
//! no colour, no `$RB_PATH`, a fixed `$USER`, stdin from /dev/null and a hang guard.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A temp dir to run rb in. Transcripts of runs without `--transcript` land in `state/`.
pub struct Sandbox {
    dir: tempfile::TempDir,
    check_transcripts: bool,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("a temp dir"),
            check_transcripts: false,
        }
    }

    /// A sandbox in memory (tmpfs): for tests whose time must not depend on how busy the disk
    /// is (every `fdatasync` there is free). Only where the fsync is not what is tested.
    pub fn in_memory() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir_in("/dev/shm").expect("a temp dir in /dev/shm"),
            check_transcripts: false,
        }
    }

    /// A sandbox holding `t.yaml`.
    pub fn with_runbook(runbook: &str) -> Sandbox {
        let d = Sandbox::new();
        d.write("t.yaml", runbook);
        d
    }

    /// After every run of rb from here, every transcript in the sandbox must verify and match the
    /// published schema.
    pub fn checking_transcripts(mut self) -> Sandbox {
        self.check_transcripts = true;
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name`, creating its folders.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Where runs without `--transcript` put theirs.
    pub fn state_dir(&self) -> PathBuf {
        self.path("state/rb/transcripts")
    }

    /// The transcripts in the default directory, sorted.
    pub fn default_transcripts(&self) -> Vec<PathBuf> {
        jsonl_files(&self.state_dir())
    }

    /// Waits (at most 20 s) for a transcript in the default directory whose name contains `part`.
    pub fn wait_for_default_transcript(&self, part: &str) -> PathBuf {
        let start = Instant::now();
        loop {
            let found = self
                .default_transcripts()
                .into_iter()
                .find(|p| p.to_string_lossy().contains(part));
            if let Some(p) = found {
                return p;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no transcript");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `rb` in this sandbox.
    pub fn rb(&self) -> Rb {
        let mut rb = Rb::in_dir(self.root());
        if self.check_transcripts {
            rb.check = Some(vec![self.root().to_path_buf(), self.state_dir()]);
        }
        rb
    }

    /// `rb ARGS` in this sandbox, run to the end.
    pub fn run(&self, args: &[&str]) -> Out {
        self.rb().args(args).output()
    }

    /// `rb ARGS` in a pseudo-terminal, in this sandbox.
    pub fn pty(&self, args: &[&str]) -> super::pty::Pty {
        let mut cmd = self.rb().args(args).command();
        // The terminal is its stdin, not /dev/null.
        cmd.env("TERM", "xterm").stdin(Stdio::inherit());
        super::pty::Pty::spawn(cmd)
    }

    /// Checks every transcript in the sandbox (see [`Sandbox::checking_transcripts`]).
    pub fn check_transcripts(&self) {
        for dir in [self.root().to_path_buf(), self.state_dir()] {
            for f in jsonl_files(&dir) {
                super::checked_transcript(&f);
            }
        }
    }
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.expect("a dir entry").path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    v.sort();
    v
}

/// A run of the real `rb` binary, built up then started.
pub struct Rb {
    cmd: Command,
    timeout: Duration,
    /// Folders whose transcripts are checked after the run.
    check: Option<Vec<PathBuf>>,
}

impl Rb {
    /// `rb` in `dir`, with `XDG_STATE_HOME=dir/state`.
    pub fn in_dir(dir: &Path) -> Rb {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rb"));
        cmd.current_dir(dir)
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("USER", "ana")
            .env_remove("RB_PATH")
            .stdin(Stdio::null());
        Rb {
            cmd,
            timeout: Duration::from_secs(120),
            check: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Rb {
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Rb {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Rb {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Rb {
        self.cmd.env_remove(key);
        self
    }

    /// A run that has not ended within `t` fails the test (a hang must not block the suite).
    pub fn timeout(mut self, t: Duration) -> Rb {
        self.timeout = t;
        self
    }

    /// The command, to start some other way (in a PTY).
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Starts rb with its output thrown away.
    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rb starts")
    }

    /// Runs rb to the end with its output thrown away (for output too large to hold).
    pub fn output_discarded(mut self) -> Out {
        self.cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.output()
    }

    /// Runs rb to the end: what it printed, how it ended, its peak memory. Fails on a panic.
    pub fn output(mut self) -> Out {
        let start = Instant::now();
        let what: Vec<_> = self.cmd.get_args().map(|a| a.to_string_lossy()).collect();
        let what = format!("rb {}", what.join(" "));
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rb starts");
        let out = child.stdout.take().map(read_all);
        let err = child.stderr.take().map(read_all);
        let (status, peak_kib) = wait_with_usage(&mut child, start, self.timeout, &what);
        let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
            h.map(|h| h.join().expect("reader")).unwrap_or_default()
        };
        let (stdout, stderr) = (collect(out), collect(err));
        let out = Out {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            stdout_bytes: stdout,
            elapsed: start.elapsed(),
            peak_kib,
        };
        assert!(
            !out.stderr.contains("panicked"),
            "`{what}` panicked:\n{}",
            out.stderr
        );
        for dir in self.check.iter().flatten() {
            for f in jsonl_files(dir) {
                super::checked_transcript(&f);
            }
        }
        out
    }
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Reaps `child` with `wait4`, for the kernel's account of its peak memory (KiB); kills it and
/// fails after `timeout`. std's `Child` does not know the child is reaped: never wait on it again.
fn wait_with_usage(
    child: &mut Child,
    start: Instant,
    timeout: Duration,
    what: &str,
) -> (ExitStatus, i64) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits");
    loop {
        let mut status = 0;
        // SAFETY: `rusage` is plain data, and `wait4` writes into the two out-pointers only.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own child, not yet reaped.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if r == pid {
            return (ExitStatus::from_raw(status), usage.ru_maxrss);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a run of rb did.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// stdout as printed, byte for byte.
    pub stdout_bytes: Vec<u8>,
    pub elapsed: Duration,
    /// Peak resident memory of the rb process, in KiB (from `wait4`).
    pub peak_kib: i64,
}
