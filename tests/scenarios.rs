//! Scenario tests (issue 5): each built-in runbook fixes a real incident on this machine.
//!
//! For disk-full, pool-exhausted, memory-leak, rate-limit and infinite-loop, the fixture in
//! `tests/scenarios/NAME/` creates the incident for real (a full tmpfs, a PostgreSQL server out of
//! connections, a leaking process, a rate-limited client, a spinning process), the real `rb` binary
//! runs the built-in runbook unattended (`--yes`, params from the fixture), and the fixture's
//! `check.sh` decides on the real system whether the incident is fixed. `teardown.sh` always runs
//! (a guard's `Drop`), even when an assertion fails.
//!
//! The runbooks are run by name from a folder with no `./runbooks` and no `$RB_PATH`, so the copy
//! embedded in the binary is the one exercised (what users get); the transcript's `source` (`<built-in>/NAME.yaml`) and
//! `sha256` prove it is byte for byte the file in `runbooks/`.
//!
//! `triage` is a process runbook: it is driven through a pseudo-terminal with answers and notes.
//! Plus a dry run of every runbook with its defaults, and `rb validate runbooks/`.
//!
//! The fixtures mount filesystems and switch users: these tests need root, and FAIL (never skip)
//! without it. The test command (`test.sh`) runs `tests/scenarios/prereqs.sh` first. Nextest runs
//! this binary's tests one at a time (`.config/nextest.toml`): several of them measure CPU, memory
//! or request rates, which parallel load would disturb.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RB: &str = env!("CARGO_BIN_EXE_rb");

const RUNBOOKS: [&str; 6] = [
    "disk-full",
    "pool-exhausted",
    "memory-leak",
    "rate-limit",
    "infinite-loop",
    "triage",
];

const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(60);

fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "the {what} scenario needs root (it mounts a tmpfs, runs PostgreSQL as `postgres` through \
         runuser, …): run the test command as root, e.g. `sudo ./test.sh`. These tests never skip."
    );
}

/// What a bounded child process did.
struct Ran {
    status: ExitStatus,
    output: String,
}

impl Ran {
    fn ok(&self) -> bool {
        self.status.success()
    }
}

/// Runs `cmd` in its own process group with stdout and stderr in a file (background processes
/// a fixture starts cannot hold a pipe open), killing the whole group after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration, what: &str) -> Ran {
    use std::os::unix::process::CommandExt;
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = log.reopen().unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            let output = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("{what} did not finish within {limit:?}; killed. Its output:\n{output}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = String::from_utf8_lossy(&std::fs::read(log.path()).unwrap_or_default()).into();
    Ran { status, output }
}

fn script(scenario: &str, name: &str) -> PathBuf {
    Path::new(ROOT)
        .join("tests/scenarios")
        .join(scenario)
        .join(name)
}

/// A scenario in progress: its WORKDIR, and the guarantee that `teardown.sh` runs.
struct Scenario {
    name: &'static str,
    /// Holds WORKDIR; world-traversable so that `postgres` can reach its data directory.
    base: tempfile::TempDir,
    work: PathBuf,
}

impl Scenario {
    /// Checks for root, then runs `setup.sh WORKDIR`; panics (after teardown) if it fails.
    fn setup(name: &'static str) -> Scenario {
        require_root(name);
        let base = tempfile::Builder::new()
            .prefix(&format!("rb-scenario-{name}-"))
            .tempdir()
            .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let work = base.path().join("work");
        // From here on, Drop tears down whatever setup managed to start.
        let s = Scenario { name, base, work };
        let ran = s.script("setup.sh", SETUP_TIMEOUT);
        assert!(
            ran.ok(),
            "{name}: setup.sh failed ({}):\n{}",
            ran.status,
            ran.output
        );
        eprintln!("{name}: setup:\n{}", ran.output);
        s
    }

    fn script(&self, which: &str, limit: Duration) -> Ran {
        let mut cmd = Command::new("bash");
        cmd.arg(script(self.name, which)).arg(&self.work);
        run_bounded(cmd, limit, &format!("{}/{which}", self.name))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// The `-p` arguments from WORKDIR/params: each line is one argument, never split.
    fn params(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.path("params"))
            .unwrap_or_else(|e| panic!("{}: setup.sh wrote no params: {e}", self.name));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The environment from WORKDIR/env (`KEY=VALUE` lines), when setup wrote one.
    fn env(&self) -> Vec<(String, String)> {
        let Ok(text) = std::fs::read_to_string(self.path("env")) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: bad env line {l:?}", self.name));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// `rb run NAME --yes --transcript WORKDIR/transcript.jsonl -p …` from an empty folder (the
    /// embedded runbook), then `check.sh`, then the transcript's schema and hash chain.
    fn run_and_check(&self) {
        let name = self.name;
        let cwd = self.base.path().join("cwd");
        std::fs::create_dir_all(&cwd).unwrap();
        let transcript = self.base.path().join("transcript.jsonl");
        let mut cmd = Command::new(RB);
        cmd.current_dir(&cwd)
            .args(["run", name, "--yes", "--transcript"])
            .arg(&transcript)
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", self.base.path().join("state"))
            .env("USER", "scenario-test")
            .env_remove("RB_PATH");
        for p in self.params() {
            cmd.arg("-p").arg(p);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let ran = run_bounded(cmd, RUN_TIMEOUT, &format!("rb run {name}"));
        eprintln!("{name}: rb run took {:?}", started.elapsed());
        assert!(
            ran.ok(),
            "{name}: rb run exited with {}:\n{}",
            ran.status,
            ran.output
        );

        let check = self.script("check.sh", CHECK_TIMEOUT);
        eprintln!("{name}: check.sh:\n{}", check.output);
        assert!(
            check.ok(),
            "{name}: the incident is not fixed on the system; check.sh said ({}):\n{}\n\nrb's output:\n{}",
            check.status,
            check.output,
            ran.output
        );

        let lines = check_transcript(&transcript, name);
        let started = &lines[0];
        assert_eq!(
            started["source"],
            format!("<built-in>/{name}.yaml"),
            "{name}: not the embedded runbook"
        );
        let on_disk = std::fs::read(Path::new(ROOT).join(format!("runbooks/{name}.yaml"))).unwrap();
        assert_eq!(
            started["sha256"],
            rb::transcript::line::sha256_hex(&on_disk),
            "{name}: the embedded runbook differs from runbooks/{name}.yaml (stale build?)"
        );
        assert_eq!(started["mode"], "live");
        // Every step's last attempt succeeded or was skipped (a retried attempt may fail).
        let mut last: Vec<(&str, &str)> = Vec::new();
        for l in lines.iter().filter(|l| l["event"] == "step_finished") {
            let (step, status) = (
                l["step"].as_str().unwrap_or(""),
                l["status"].as_str().unwrap_or(""),
            );
            last.retain(|(s, _)| *s != step);
            last.push((step, status));
        }
        let failed: Vec<_> = last
            .iter()
            .filter(|(_, status)| !matches!(*status, "succeeded" | "skipped"))
            .collect();
        assert!(
            failed.is_empty(),
            "{name}: steps did not succeed: {failed:?}"
        );
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let ran = self.script("teardown.sh", TEARDOWN_TIMEOUT);
        if !ran.ok() {
            eprintln!(
                "{}: teardown.sh failed ({}):\n{}",
                self.name, ran.status, ran.output
            );
            if !std::thread::panicking() {
                panic!("{}: teardown.sh failed", self.name);
            }
        }
    }
}

/// The transcript validates against the schema, its hash chain is intact, and it ends with a
/// finished run. Returns its lines, parsed.
fn check_transcript(path: &Path, name: &str) -> Vec<Value> {
    let n = rb::transcript::schema::validate_file(path)
        .unwrap_or_else(|e| panic!("{name}: transcript fails the schema: {e}"));
    assert!(n >= 2, "{name}: transcript has {n} lines");
    let report = rb::transcript::verify(path).unwrap();
    assert!(
        report.problem.is_none() && !report.torn_tail,
        "{name}: transcript chain: {report:?}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "run_started");
    assert_eq!(lines[0]["runbook"], name);
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "run_finished", "{name}: {last}");
    assert_eq!(last["outcome"], "finished", "{name}: {last}");
    lines
}

#[test]
fn disk_full_scenario() {
    Scenario::setup("disk-full").run_and_check();
}

#[test]
fn pool_exhausted_scenario() {
    Scenario::setup("pool-exhausted").run_and_check();
}

#[test]
fn memory_leak_scenario() {
    Scenario::setup("memory-leak").run_and_check();
}

#[test]
fn rate_limit_scenario() {
    Scenario::setup("rate-limit").run_and_check();
}

#[test]
fn infinite_loop_scenario() {
    Scenario::setup("infinite-loop").run_and_check();
}

// ---------------------------------------------------------------------------------------------
// triage, through a pseudo-terminal

struct Pty {
    session: expectrl::session::OsSession,
}

impl Pty {
    fn expect(&mut self, text: &str) {
        use expectrl::Expect;
        if let Err(e) = self.session.expect(text) {
            panic!("triage: did not see {text:?}: {e}");
        }
    }

    fn key(&mut self, k: &str) {
        use expectrl::Expect;
        self.session.send(k).unwrap();
    }

    /// Waits for the heading of step `id`, then its prompt, then answers `key`.
    fn answer(&mut self, id: &str, kind: &str, prompt: &str, key: &str) {
        self.expect(&format!("({id}, {kind})"));
        self.expect(prompt);
        self.key(key);
    }

    /// At step `id`'s "Done?" prompt: `n`, the note, Enter; then `y`.
    fn note_then_done(&mut self, id: &str, note: &str) {
        self.answer(id, "manual", "Done?", "n");
        self.expect("Note:");
        self.key(&format!("{note}\r"));
        self.expect("note recorded");
        self.expect("Done?");
        self.key("y");
    }
}

#[test]
fn triage_through_a_terminal_records_answers_and_notes() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("transcript.jsonl");
    let rolled_back = dir.path().join("rolled-back");
    let restarted = dir.path().join("restarted");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::new(RB);
    cmd.current_dir(&cwd)
        .args(["run", "triage", "--transcript"])
        .arg(&transcript)
        .args(["-p", "service=checkout", "-p", "since=10 minutes ago"])
        // Harmless stand-ins for the team's commands: the test sees which ones ran.
        .arg("-p")
        .arg(format!("rollback_command=touch {}", rolled_back.display()))
        .arg("-p")
        .arg(format!("restart_command=touch {}", restarted.display()))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("USER", "alice")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("RB_PATH");
    let session = expectrl::Session::spawn(cmd).expect("spawn rb in a pty");
    let mut p = Pty { session };
    p.session.set_expect_timeout(Some(Duration::from_secs(30)));

    let assessment = "checkout returns 502 for 30% of EU users since 14:05, right after deploy 812";
    let hypothesis = "We think deploy 812 exhausted the DB pool because errors began with it";
    p.expect("INCIDENT: checkout is degraded since about 10 minutes ago");
    p.note_then_done("assess", assessment);
    // recent-changes is read-only: it runs without a prompt.
    p.answer("rollback", "changes the system", "Run this command?", "r");
    p.answer("restart", "changes the system", "Run this command?", "s");
    p.answer("scale-manually", "manual", "Done?", "s");
    p.answer("status-pages", "manual", "Done?", "y");
    // host-health is read-only.
    p.answer("database-and-429s", "manual", "Done?", "y");
    // logs is read-only.
    p.note_then_done("hypothesis", hypothesis);
    p.expect("UPDATE: checkout incident.");
    p.answer("test-fix", "manual", "Done?", "y");
    p.answer("verify-manually", "manual", "Done?", "y");
    p.answer("monitor-manually", "manual", "Done?", "y");
    p.expect("RESOLVED: checkout is healthy again");
    p.answer("schedule-postmortem", "manual", "Done?", "y");

    let code = {
        use expectrl::Expect;
        let _ = p.session.expect(expectrl::Eof);
        match p.session.get_process().wait().unwrap() {
            expectrl::process::unix::WaitStatus::Exited(_, code) => code,
            other => panic!("rb did not exit normally: {other:?}"),
        }
    };
    assert_eq!(code, 0, "triage exited with {code}");

    // On the system: the rollback ran, the skipped restart did not.
    assert!(rolled_back.exists(), "the confirmed rollback did not run");
    assert!(!restarted.exists(), "the skipped restart ran");

    let lines = check_transcript(&transcript, "triage");
    assert_eq!(lines[0]["source"], "<built-in>/triage.yaml");
    let of =
        |event: &str| -> Vec<&Value> { lines.iter().filter(|l| l["event"] == event).collect() };

    let notes: Vec<(&str, &str, &str)> = of("note")
        .iter()
        .map(|l| {
            (
                l["step"].as_str().unwrap_or(""),
                l["by"].as_str().unwrap_or(""),
                l["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        notes,
        [
            ("assess", "alice", assessment),
            ("hypothesis", "alice", hypothesis)
        ],
        "notes"
    );

    let decisions: Vec<(&str, &str)> = of("decision")
        .iter()
        .filter(|l| l["by"] == "alice")
        .map(|l| {
            (
                l["step"].as_str().unwrap_or(""),
                l["choice"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("assess", "note"),
            ("assess", "done"),
            ("rollback", "run"),
            ("restart", "skip"),
            ("scale-manually", "skip"),
            ("status-pages", "done"),
            ("database-and-429s", "done"),
            ("hypothesis", "note"),
            ("hypothesis", "done"),
            ("test-fix", "done"),
            ("verify-manually", "done"),
            ("monitor-manually", "done"),
            ("schedule-postmortem", "done"),
        ],
        "decisions"
    );

    let manual: Vec<(&str, bool)> = of("manual")
        .iter()
        .map(|l| (l["step"].as_str().unwrap_or(""), l["done"] == true))
        .collect();
    assert_eq!(
        manual,
        [
            ("assess", true),
            ("scale-manually", false),
            ("status-pages", true),
            ("database-and-429s", true),
            ("hypothesis", true),
            ("test-fix", true),
            ("verify-manually", true),
            ("monitor-manually", true),
            ("schedule-postmortem", true),
        ],
        "manual steps"
    );

    let milestones: Vec<&str> = of("milestone")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert!(
        milestones.contains(&"acknowledged") && milestones.contains(&"resolved"),
        "milestones: {milestones:?}"
    );
    let messages: Vec<&str> = of("message")
        .iter()
        .filter_map(|l| l["step"].as_str())
        .collect();
    assert_eq!(messages, ["alert", "update", "resolved"]);
    // The read-only diagnosis ran without asking, and succeeded.
    for id in ["recent-changes", "host-health", "logs"] {
        assert!(
            lines.iter().any(|l| l["event"] == "step_finished"
                && l["step"] == id
                && l["status"] == "succeeded"),
            "{id} did not run to success"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// dry runs and validation

#[test]
fn every_runbook_dry_runs_with_its_defaults_and_shows_every_step() {
    let dir = tempfile::tempdir().unwrap();
    for name in RUNBOOKS {
        let path = Path::new(ROOT).join(format!("runbooks/{name}.yaml"));
        // The step ids, read from the file itself (each step starts with `  - id: `).
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("  - id: "))
            .map(str::trim)
            .collect();
        assert!(ids.len() >= 5, "{name}: found only the steps {ids:?}");
        let out = Command::new(RB)
            .current_dir(dir.path())
            .args(["run", name, "--dry-run"])
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env_remove("RB_PATH")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: dry run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("Dry run of `{name}`")),
            "{name}:\n{stdout}"
        );
        for (i, id) in ids.iter().enumerate() {
            let shown = format!("[{}/{}] ", i + 1, ids.len());
            assert!(
                stdout.lines().any(|l| l.starts_with(&shown)
                    && (l.contains(&format!("({id}, "))
                        || l.starts_with(&format!("{shown}{id}  (")))),
                "{name}: the dry run does not show step {id} as {shown}…:\n{stdout}"
            );
        }
    }
}

#[test]
fn validate_accepts_every_builtin_runbook() {
    let out = Command::new(RB)
        .current_dir(ROOT)
        .args(["validate", "runbooks/"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Keep the list in this file in step with the folder.
    let mut found: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("runbooks"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".yaml").map(str::to_owned))
        .collect();
    found.sort();
    let mut expected: Vec<&str> = RUNBOOKS.to_vec();
    expected.sort();
    assert_eq!(found, expected);
}
