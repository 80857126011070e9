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
//! Variants of the incidents (issue 13: `VARIANT=NAME` for the fixture's scripts) reproduce what a
//! senior SRE found wrong in the first runbooks: each test asserts, on the real system and in the
//! transcript, that nothing outside the target changed and that no false success was claimed. Every
//! fixed reproduction also has to tell the story right: INCIDENT first, after `detected`; UPDATE in
//! between; RESOLVED only on the step that marks `resolved` (`check_story`).
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
    /// `VARIANT` for the fixture's scripts: a variant of the incident ("" = the reproduction).
    variant: &'static str,
    /// Holds WORKDIR; world-traversable so that `postgres` can reach its data directory.
    base: tempfile::TempDir,
    work: PathBuf,
}

impl Scenario {
    /// Checks for root, then runs `setup.sh WORKDIR`; panics (after teardown) if it fails.
    fn setup(name: &'static str) -> Scenario {
        Scenario::setup_variant(name, "")
    }

    /// Like `setup`, with `VARIANT=variant` in the environment of the fixture's scripts.
    fn setup_variant(name: &'static str, variant: &'static str) -> Scenario {
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
        let s = Scenario {
            name,
            variant,
            base,
            work,
        };
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
        cmd.arg(script(self.name, which))
            .arg(&self.work)
            .env("VARIANT", self.variant);
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

    /// `rb run NAME --yes --yes-typed --transcript WORKDIR/transcript.jsonl -p … EXTRA…` from an
    /// empty folder (the embedded runbook). Returns what rb did and the transcript's lines (schema
    /// and hash chain checked), whatever the outcome.
    fn run(&self, extra: &[&str]) -> (Ran, Vec<Value>) {
        let name = self.name;
        let cwd = self.base.path().join("cwd");
        std::fs::create_dir_all(&cwd).unwrap();
        let transcript = self.base.path().join("transcript.jsonl");
        let _ = std::fs::remove_file(&transcript);
        let mut cmd = Command::new(RB);
        cmd.current_dir(&cwd)
            .args(["run", name, "--yes", "--yes-typed", "--transcript"])
            .arg(&transcript)
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", self.base.path().join("state"))
            .env("USER", "scenario-test")
            .env_remove("RB_PATH");
        for p in self.params() {
            cmd.arg("-p").arg(p);
        }
        for p in extra {
            cmd.arg("-p").arg(p);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let ran = run_bounded(cmd, RUN_TIMEOUT, &format!("rb run {name}"));
        eprintln!(
            "{name}: rb run took {:?}, {}:\n{}",
            started.elapsed(),
            ran.status,
            ran.output
        );
        let lines = read_transcript(&transcript, name);
        (ran, lines)
    }

    /// The reproduction: rb fixes it unattended, `check.sh` agrees on the real system, every step
    /// succeeded or was skipped, and the story told (messages, milestones) is right.
    fn run_and_check(&self) -> Vec<Value> {
        let name = self.name;
        let (ran, lines) = self.run(&[]);
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

        assert_finished(&lines, name);
        check_story(&lines, name);
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
        lines
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
    let lines = read_transcript(path, name);
    assert_finished(&lines, name);
    lines
}

fn assert_finished(lines: &[Value], name: &str) {
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "run_finished", "{name}: {last}");
    assert_eq!(last["outcome"], "finished", "{name}: {last}");
}

/// The transcript validates against the schema and its hash chain is intact. Returns its lines.
fn read_transcript(path: &Path, name: &str) -> Vec<Value> {
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
    lines
}

/// Events of one kind.
fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

/// The `(step, status)` of every step's last `step_finished`.
fn step_status<'a>(lines: &'a [Value], step: &str) -> Option<&'a str> {
    events(lines, "step_finished")
        .into_iter()
        .rev()
        .find(|l| l["step"] == step)
        .and_then(|l| l["status"].as_str())
}

/// All the output a step printed (stdout and stderr, every attempt).
fn step_output(lines: &[Value], step: &str) -> String {
    events(lines, "output")
        .into_iter()
        .filter(|l| l["step"] == step)
        .filter_map(|l| l["text"].as_str())
        .collect()
}

/// A captured value.
fn captured<'a>(lines: &'a [Value], name: &str) -> Option<&'a str> {
    events(lines, "captured")
        .into_iter()
        .rev()
        .find(|l| l["name"] == name)
        .and_then(|l| l["value"].as_str())
}

fn milestones(lines: &[Value]) -> Vec<&str> {
    events(lines, "milestone")
        .into_iter()
        .filter_map(|l| l["name"].as_str())
        .collect()
}

/// The words of the incident channel match the milestones: the first message is an INCIDENT,
/// milestones come in the order detected, acknowledged, mitigated, resolved (each at most once,
/// `detected` first), a RESOLVED message is exactly one that marks `resolved`, and every other
/// message is an UPDATE.
fn check_story(lines: &[Value], name: &str) {
    let order = ["detected", "acknowledged", "mitigated", "resolved"];
    let marks = milestones(lines);
    assert_eq!(
        marks.first(),
        Some(&"detected"),
        "{name}: milestones {marks:?}"
    );
    let ranks: Vec<usize> = marks
        .iter()
        .map(|m| order.iter().position(|o| o == m).unwrap())
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "{name}: milestones out of order: {marks:?}"
    );
    let resolved_by: Vec<&str> = events(lines, "milestone")
        .into_iter()
        .filter(|l| l["name"] == "resolved")
        .filter_map(|l| l["step"].as_str())
        .collect();
    for (i, m) in events(lines, "message").into_iter().enumerate() {
        let (step, text) = (m["step"].as_str().unwrap(), m["text"].as_str().unwrap());
        let word = text.split(':').next().unwrap_or("");
        let want = if i == 0 {
            "INCIDENT"
        } else if resolved_by.contains(&step) {
            "RESOLVED"
        } else {
            "UPDATE"
        };
        assert_eq!(word, want, "{name}: message {step} says {text:?}");
    }
}

#[test]
fn disk_full_scenario() {
    let lines = Scenario::setup("disk-full").run_and_check();
    // Of the two deleted-but-open files, only the log was offered and truncated, after a typed
    // confirmation; the application's scratch file was shown as left alone.
    let listed = step_output(&lines, "deleted-open-files");
    assert!(
        listed.contains("left alone") && listed.contains("scratch.tmp"),
        "{listed}"
    );
    let truncated = step_output(&lines, "truncate-deleted-open-files");
    assert!(
        truncated.contains("1 file(s) truncated") && truncated.contains("debug.log"),
        "{truncated}"
    );
    assert!(
        events(&lines, "decision")
            .iter()
            .any(|l| l["step"] == "truncate-deleted-open-files"
                && l["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("typing `truncate`")),
        "no typed confirmation recorded"
    );
}

#[test]
fn pool_exhausted_scenario() {
    let lines = Scenario::setup("pool-exhausted").run_and_check();
    // It terminated exactly the sessions it showed: the step names them (pid@start), and the
    // operator had to type a word for it.
    let shown = captured(&lines, "to_end").unwrap_or("");
    assert_eq!(shown.split(' ').count(), 7, "sessions to end: {shown:?}");
    let started = events(&lines, "step_started")
        .into_iter()
        .find(|l| l["step"] == "terminate-sessions")
        .expect("terminate-sessions ran");
    assert!(started["command"].as_str().unwrap().contains(shown));
    assert!(
        events(&lines, "decision")
            .iter()
            .any(|l| l["step"] == "terminate-sessions"
                && l["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("typing `terminate`")),
        "no typed confirmation recorded"
    );
}

#[test]
fn memory_leak_scenario() {
    let lines = Scenario::setup("memory-leak").run_and_check();
    // The core dump (which can pause a big process for minutes) is asked for on its own.
    assert!(
        events(&lines, "decision")
            .iter()
            .any(|l| l["step"] == "core-dump"),
        "the core dump had no confirmation of its own"
    );
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
    // The service's repository, with one commit made during the incident.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = Command::new("bash")
        .arg("-c")
        .arg(
            "cd -- \"$1\" && git init -q && git -c user.name=ana -c user.email=ana@example.com \
             commit -q --allow-empty -m 'Raise the checkout pool to 50'",
        )
        .arg("git")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(git.status.success(), "git: {git:?}");
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
        .arg("-p")
        .arg("deploy_history_command=echo 'deploy 812 of checkout by ana, 10 minutes ago'")
        .arg("-p")
        .arg(format!("repo_dir={}", repo.display()))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("USER", "alice")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("RB_PATH");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn rb in a pty");
    // Wide enough that no heading wraps (rb wraps narration at the terminal's width).
    session
        .get_process_mut()
        .set_window_size(250, 60)
        .expect("set the window size");
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
    p.expect("(schedule-postmortem, manual)");
    p.expect("rb postmortem");
    p.expect("Done?");
    p.key("y");

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
    check_story(&lines, "triage");
    // What changed: the team's deploy history and the commits since the start, before the rollback.
    assert!(step_output(&lines, "deploy-history").contains("deploy 812 of checkout"));
    assert!(
        step_output(&lines, "code-and-rollout-history").contains("Raise the checkout pool to 50")
    );
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
    for id in [
        "started",
        "recent-changes",
        "deploy-history",
        "code-and-rollout-history",
        "host-health",
        "logs",
    ] {
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

// ---------------------------------------------------------------------------------------------
// disk-full: the holes a senior SRE found (issue 13)

/// The files of a folder with their checksums, sorted, as `sha256sum` prints them.
fn checksums(dir: &Path) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg("cd -- \"$1\" && find . -type f -exec sha256sum {} + | sort")
        .arg("checksums")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "checksums of {}", dir.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn disk_full_leaves_a_log_dir_on_another_filesystem_alone() {
    let s = Scenario::setup_variant("disk-full", "other-fs");
    let before = std::fs::read_to_string(s.path("other.sha256")).unwrap();
    let (ran, lines) = s.run(&[]);
    assert_eq!(
        checksums(&s.path("other")),
        before,
        "files on the other filesystem changed; rb said:\n{}",
        ran.output
    );
    assert_eq!(captured(&lines, "log_dir_ok"), Some("no"));
    for step in ["delete-old-rotated-logs", "compress-rotated-logs"] {
        assert_eq!(step_status(&lines, step), Some("skipped"), "{step}");
    }
    assert!(
        step_output(&lines, "check-log-dir").contains("on another filesystem"),
        "the refusal is not explained"
    );
}

#[test]
fn disk_full_refuses_a_system_path_as_log_dir() {
    require_root("disk-full");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "bash"])
        .arg(script("disk-full", "system-path.sh"))
        .arg(RB)
        .arg(&work)
        .current_dir(&cwd)
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("RB_PATH");
    let ran = run_bounded(cmd, RUN_TIMEOUT, "system-path.sh");
    assert!(ran.ok(), "system-path.sh failed:\n{}", ran.output);
    let before = std::fs::read_to_string(work.join("before.txt")).unwrap();
    let after = std::fs::read_to_string(work.join("after.txt")).unwrap();
    assert_eq!(
        after, before,
        "files under /usr were changed:\n{}",
        ran.output
    );
    let lines = read_transcript(&work.join("transcript.jsonl"), "disk-full");
    assert_eq!(captured(&lines, "log_dir_ok"), Some("no"));
    assert!(step_output(&lines, "check-log-dir").contains("system path"));
    // Nothing freed, so no false success either.
    assert!(!milestones(&lines).contains(&"resolved"), "{}", ran.output);
}

#[test]
fn disk_full_out_of_inodes_is_seen_and_never_called_resolved() {
    let s = Scenario::setup_variant("disk-full", "inodes");
    let before = std::fs::read_to_string(s.path("before.sha256")).unwrap();
    let (ran, lines) = s.run(&[]);
    assert!(
        !ran.ok(),
        "a filesystem still out of inodes passed:\n{}",
        ran.output
    );
    assert_eq!(captured(&lines, "usage_pct"), Some("100"));
    let first = events(&lines, "message")[0]["text"].as_str().unwrap();
    assert!(first.contains("inodes 100% used"), "{first}");
    assert_eq!(step_status(&lines, "verify"), Some("failed"));
    let marks = milestones(&lines);
    assert!(
        !marks.contains(&"mitigated") && !marks.contains(&"resolved"),
        "{marks:?}"
    );
    assert!(
        !events(&lines, "message")
            .iter()
            .any(|m| m["text"].as_str().unwrap().starts_with("RESOLVED")),
        "RESOLVED posted"
    );
    // The cache files are not logs: nothing was deleted.
    assert_eq!(checksums(&s.path("mnt")), before);
}

#[test]
fn disk_full_frees_space_even_when_evidence_cannot_be_saved() {
    let s = Scenario::setup_variant("disk-full", "full-evidence");
    let (ran, lines) = s.run(&[]);
    let check = s.script("check.sh", CHECK_TIMEOUT);
    assert!(
        check.ok(),
        "not freed:\n{}\nrb said:\n{}",
        check.output,
        ran.output
    );
    assert!(ran.ok(), "{}", ran.output);
    assert!(
        step_output(&lines, "save-evidence").contains("evidence NOT saved"),
        "the failed evidence step was not reported"
    );
}

// ---------------------------------------------------------------------------------------------
// pool-exhausted: the holes a senior SRE found (issue 13)

#[test]
fn pool_exhausted_ends_the_leak_when_the_application_shares_the_operators_role() {
    Scenario::setup_variant("pool-exhausted", "shared-role").run_and_check();
}

#[test]
fn pool_exhausted_ends_a_young_idle_transaction_that_blocks_others() {
    let s = Scenario::setup_variant("pool-exhausted", "blocking-chain");
    s.run_and_check();
}

// ---------------------------------------------------------------------------------------------
// infinite-loop: the holes a senior SRE found (issue 13)

#[test]
fn infinite_loop_neither_kills_nor_rolls_back_a_process_that_does_not_spin() {
    let s = Scenario::setup_variant("infinite-loop", "idle");
    let pid = std::fs::read_to_string(s.path("app.pid")).unwrap();
    let (ran, lines) = s.run(&[]);
    assert!(
        Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the idle process was killed:\n{}",
        ran.output
    );
    assert_eq!(
        std::fs::read_link(s.path("current")).unwrap(),
        s.path("releases/v2"),
        "the deploy was rolled back:\n{}",
        ran.output
    );
    assert!(!ran.ok(), "the run went on as if it spun:\n{}", ran.output);
    assert!(
        events(&lines, "message").is_empty(),
        "a message was posted for a process that does not spin"
    );
    assert!(step_output(&lines, "confirm-spinning").contains("not spinning"));
}

#[test]
fn infinite_loop_verifies_by_cpu_not_by_the_pid_being_gone() {
    let s = Scenario::setup_variant("infinite-loop", "respawn");
    let first = std::fs::read_to_string(s.path("app.pid")).unwrap();
    let (ran, lines) = s.run(&[]);
    assert!(
        !Path::new(&format!("/proc/{}", first.trim())).exists(),
        "the spinning process was not killed:\n{}",
        ran.output
    );
    // The supervisor brought the same loop back: that is not mitigated.
    assert!(!ran.ok(), "the run passed:\n{}", ran.output);
    assert_eq!(step_status(&lines, "verify"), Some("failed"));
    assert!(
        !milestones(&lines).contains(&"mitigated"),
        "{:?}",
        milestones(&lines)
    );
}

// ---------------------------------------------------------------------------------------------
// memory-leak: the holes a senior SRE found (issue 13)

#[test]
fn memory_leak_a_restart_into_an_oom_loop_is_not_mitigated() {
    let s = Scenario::setup_variant("memory-leak", "tight-limit");
    let (ran, lines) = s.run(&[]);
    // The diagnosis found the memory cgroup and its counters.
    assert!(
        captured(&lines, "cgroup_dir").is_some_and(|d| d.contains("rb-scenario-")),
        "cgroup not found:\n{}",
        ran.output
    );
    // Any new process is smaller than the leaking one; that is not a fix when it dies again.
    assert!(!ran.ok(), "the run passed:\n{}", ran.output);
    assert_eq!(
        step_status(&lines, "verify"),
        Some("failed"),
        "{}",
        ran.output
    );
    assert!(
        !milestones(&lines).contains(&"mitigated"),
        "{:?}",
        milestones(&lines)
    );
}

// ---------------------------------------------------------------------------------------------
// rate-limit: the holes a senior SRE found (issue 13)

#[test]
fn rate_limit_zero_traffic_fails_the_verification() {
    let s = Scenario::setup_variant("rate-limit", "silent");
    let (ran, lines) = s.run(&[]);
    assert!(!ran.ok(), "no traffic passed as healthy:\n{}", ran.output);
    assert_eq!(step_status(&lines, "verify"), Some("failed"));
    assert!(step_output(&lines, "verify").contains("no request at all"));
    // This server gives Retry-After as an HTTP date: shown in seconds too.
    let headers = step_output(&lines, "limit-headers");
    assert!(
        headers.contains("GMT (") && headers.contains(" s from now)"),
        "{headers}"
    );
    assert!(
        !milestones(&lines).contains(&"mitigated"),
        "{:?}",
        milestones(&lines)
    );
}

#[test]
fn rate_limit_names_callers_behind_a_load_balancer_and_shows_retry_after() {
    let s = Scenario::setup("rate-limit");
    let lines = s.run_and_check();
    let callers = step_output(&lines, "top-callers");
    // Every request comes from 127.0.0.1 (the balancer): these tell the caller apart.
    for who in ["203.0.113.7", "batch-job/1.0", "api_key=batch7f3..."] {
        assert!(
            callers.contains(who),
            "{who} not among the callers:\n{callers}"
        );
    }
    assert!(
        !callers.contains("batch7f3a9c1d2e4b"),
        "a full API key was printed"
    );
    let headers = step_output(&lines, "limit-headers");
    assert!(headers.contains("Retry-After: 1 (1 s)"), "{headers}");
}

#[test]
fn infinite_loop_never_signals_a_process_that_took_over_the_pid() {
    // The operator waits at the kill prompt; meanwhile the spinning process dies and the kernel
    // gives its PID to another process. Answering "run" must not signal the newcomer.
    let s = Scenario::setup("infinite-loop");
    let pid: i32 = std::fs::read_to_string(s.path("app.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let transcript = s.base.path().join("transcript.jsonl");
    let cwd = s.base.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::new(RB);
    cmd.current_dir(&cwd)
        .args(["run", "infinite-loop", "--transcript"])
        .arg(&transcript)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("XDG_STATE_HOME", s.base.path().join("state"))
        .env_remove("RB_PATH");
    for p in s.params() {
        cmd.arg("-p").arg(p);
    }
    let mut session = expectrl::Session::spawn(cmd).expect("spawn rb in a pty");
    // Wide enough that no heading wraps (rb wraps narration at the terminal's width).
    session
        .get_process_mut()
        .set_window_size(250, 60)
        .expect("set the window size");
    let mut p = Pty { session };
    p.session.set_expect_timeout(Some(Duration::from_secs(60)));
    p.answer(
        "save-stacks",
        "changes the system",
        "Run this command?",
        "r",
    );
    p.expect("(kill, changes the system)");
    p.expect("Run this command?");
    // The spinning process ends; a newcomer takes its PID.
    let pgid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
    // Once reaped (by init: the fixture's shell has exited), the PID is free.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "process {pid} did not go away: {stat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("process {pid} is gone; starting a newcomer under its PID");
    let mut reuse = Command::new("python3");
    reuse
        .arg(script("infinite-loop", "reuse-pid.py"))
        .arg(pid.to_string());
    let reuse = run_bounded(reuse, CHECK_TIMEOUT, "reuse-pid.py");
    assert!(reuse.ok(), "reuse-pid.py: {}", reuse.output);
    p.key("r");
    p.answer(
        "rollback-deploy",
        "changes the system",
        "Run this command?",
        "a",
    );
    {
        use expectrl::Expect;
        let _ = p.session.expect(expectrl::Eof);
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(
        comm.trim(),
        "sleep",
        "the process now holding PID {pid} was signalled"
    );
    let lines = read_transcript(&transcript, "infinite-loop");
    assert!(
        step_output(&lines, "kill").contains("nothing signalled"),
        "{}",
        step_output(&lines, "kill")
    );
}
