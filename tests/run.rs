//! `rb run` through the real binary without a terminal: dry runs, refusal to hang, injection,
//! timeouts, huge and binary output. Each test checks the system, not only rb's words.

mod common;

use common::binary::Sandbox;
use common::{alive, checked_transcript, read_pid};

/// A sandbox holding `t.yaml`, where every transcript a run leaves is checked.
fn sandbox(runbook: &str) -> Sandbox {
    Sandbox::with_runbook(runbook).checking_transcripts()
}

#[test]
fn dry_run_spawns_nothing() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: make\n    run: touch made-by-make\n  - id: look\n    run: touch made-by-look\n    read_only: true\n",
    );
    let out = d.run(&["run", "t.yaml", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout;
    assert!(
        stdout.contains("$ touch made-by-make") && stdout.contains("$ touch made-by-look"),
        "{stdout}"
    );
    assert!(stdout.contains("would ask for confirmation"));
    assert!(
        !d.path("made-by-make").exists() && !d.path("made-by-look").exists(),
        "a dry run must run nothing"
    );
}

#[test]
fn builtin_disk_full_dry_run_prints_the_whole_plan() {
    let d = sandbox("version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: 'true'\n");
    let out = d.run(&["run", "disk-full", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout;
    assert!(stdout.contains("Dry run of `disk-full`"), "{stdout}");
    assert!(stdout.contains("$ df"), "{stdout}");
}

#[test]
fn without_a_terminal_and_without_yes_rb_refuses_at_once() {
    let d = sandbox("version: 1\nname: t\ntitle: T\nsteps:\n  - id: make\n    run: touch made\n");
    let start = std::time::Instant::now();
    let out = d.run(&["run", "t.yaml"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("not a terminal"), "{}", out.stderr);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(!d.path("made").exists());
    let out = d.run(&["run", "disk-full"]);
    assert_eq!(out.code, Some(2));
}

#[test]
fn injection_through_a_param_reaches_the_shell_as_one_argument() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nparams:\n  target: {}\nsteps:\n  - id: write\n    run: printf '%s\\n' {{ target }} > out.txt\n",
    );
    let out = d.run(&[
        "run",
        "t.yaml",
        "--yes",
        "-p",
        "target=x; touch pwned; echo $(touch pwned2)",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !d.path("pwned").exists() && !d.path("pwned2").exists(),
        "the injected commands ran"
    );
    assert_eq!(
        std::fs::read_to_string(d.path("out.txt")).unwrap(),
        "x; touch pwned; echo $(touch pwned2)\n"
    );
}

#[test]
fn a_timed_out_step_leaves_no_process_of_its_group() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: hang\n    run: sleep 1000 & echo $! > child.pid; sh -c 'sleep 1000' & echo $! > grandchild.pid; wait\n    timeout: 1s\n    read_only: true\n",
    );
    let out = d.run(&["run", "t.yaml", "--yes"]);
    assert_eq!(
        out.code,
        Some(1),
        "a timed-out step fails the unattended run"
    );
    assert!(out.stdout.contains("timed out"), "{}", out.stdout);
    for f in ["child.pid", "grandchild.pid"] {
        let pid = read_pid(&d.path(f));
        assert!(!alive(pid), "{f} ({pid}) survived the timeout");
    }
}

#[test]
fn printing_256_mib_keeps_rb_below_64_mib() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: flood\n    run: head -c 268435456 /dev/zero | tr '\\0' 'x' | fold -w 100\n    read_only: true\n",
    );
    // The kernel's account of rb's peak memory (wait4), not a sample.
    let out = d
        .rb()
        .args(["run", "t.yaml", "--yes"])
        .timeout(std::time::Duration::from_secs(600))
        .output_discarded();
    assert_eq!(out.code, Some(0));
    let peak_kib = out.peak_kib;
    assert!(peak_kib > 0, "no peak memory reported for rb");
    assert!(peak_kib < 64 * 1024, "rb peaked at {peak_kib} KiB");
    eprintln!("rb peak RSS while a step printed 256 MiB: {peak_kib} KiB");
}

#[test]
fn binary_and_invalid_utf8_output_does_not_crash_rb() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: noise\n    run: head -c 100000 /dev/urandom; printf '\\xff\\xfe\\xc3' >&2\n    read_only: true\n  - id: after\n    run: touch after\n    read_only: true\n",
    );
    let out = d.run(&["run", "t.yaml", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("after").exists());
}

#[test]
fn preflight_lists_every_problem_and_runs_nothing() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nrequires: [no-such-program-xyz]\nparams:\n  days: {type: integer, min: 1}\nsteps:\n  - id: make\n    run: touch made {{ days }}\n",
    );
    let out = d.run(&["run", "t.yaml", "--yes", "-p", "dayz=3", "--from", "nope"]);
    assert_eq!(out.code, Some(2));
    let err = out.stderr;
    for needle in [
        "no-such-program-xyz",
        "unknown param `dayz`",
        "`days` has no value",
        "--from nope",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!d.path("made").exists());
}

#[test]
fn invalid_runbook_exits_2_with_a_located_diagnostic() {
    let d = sandbox("version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: echo {{ nope }}\n");
    let out = d.run(&["run", "t.yaml", "--dry-run"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("t.yaml:6:10: error[undefined-variable]"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_mode_runs_read_only_steps_and_previews_changes() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: look\n    run: echo 42 > seen\n    read_only: true\n  - id: change\n    run: touch changed\n",
    );
    let out = d.run(&["run", "t.yaml", "--check"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("seen").exists() && !d.path("changed").exists());
}

#[test]
fn a_secret_echoed_one_byte_at_a_time_never_reaches_the_terminal_or_the_transcript() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nparams:\n  token: {secret: true, env: API_TOKEN}\nsteps:\n  - id: leak\n    run: |\n      s=\"$API_TOKEN\"\n      for i in $(seq 0 $((${#s} - 1))); do printf '%s' \"${s:$i:1}\"; sleep 0.02; done\n      echo\n      echo \"in json: {\\\"t\\\": \\\"$API_TOKEN\\\"}\" >&2\n      printf '%s' \"$API_TOKEN\" | base64\n    read_only: true\n",
    );
    let secret = "hunter2-Very-Secret";
    let out = d
        .rb()
        .args(["run", "t.yaml", "--yes", "--transcript", "t.jsonl"])
        .env("API_TOKEN", secret)
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let shown = format!("{}{}", out.stdout, out.stderr);
    let recorded = std::fs::read_to_string(d.path("t.jsonl")).unwrap();
    let b64 = "aHVudGVyMi1WZXJ5LVNlY3JldA"; // base64 of the secret, without padding
    for (what, hay) in [("terminal", &shown), ("transcript", &recorded)] {
        assert!(
            !hay.contains(secret),
            "the secret reached the {what}:\n{hay}"
        );
        assert!(
            !hay.contains(b64),
            "the base64 of the secret reached the {what}:\n{hay}"
        );
    }
    assert!(shown.contains("***"), "the masked value is shown: {shown}");
}

#[test]
fn params_file_binds_and_command_line_wins() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nparams:\n  days: {type: integer, min: 1}\n  dir: {}\nsteps:\n  - id: write\n    run: echo {{ days }} {{ dir }} > out.txt\n    read_only: true\n",
    );
    d.write("p.yaml", "days: 3\ndir: /from/file\n");
    let out = d.run(&[
        "run",
        "t.yaml",
        "--yes",
        "--params-file",
        "p.yaml",
        "-p",
        "dir=/from/cli",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(d.path("out.txt")).unwrap(),
        "3 /from/cli\n"
    );
    d.write("bad.yaml", "days: 0\nnope: 1\n");
    let out = d.run(&["run", "t.yaml", "--yes", "--params-file", "bad.yaml"]);
    assert_eq!(out.code, Some(2));
    let err = out.stderr;
    assert!(
        err.contains("unknown param `nope` in the params file")
            && err.contains("below the minimum 1"),
        "{err}"
    );
}

/// Issue 9 #10: stdout and stderr closed (`rb run x --yes 2>&1 | head -c 100`): rb never panics,
/// the record is finished, and the exit code is the run's own (0 for a finished run, 2 for an
/// unknown runbook, 1 for a failed step).
#[test]
fn closed_stdout_and_stderr_never_panic_and_keep_the_runs_exit_code() {
    use std::os::fd::OwnedFd;
    let d = Sandbox::new();
    d.write(
        "loud.yaml",
        "version: 1\nname: loud\ntitle: Loud\nsteps:\n  - id: a\n    run: seq 1 50000\n    read_only: true\n  - id: b\n    run: seq 1 50000; exit 3\n    read_only: true\n",
    );
    let closed = |args: &[&str]| {
        let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        drop(read); // nobody reads: every write gets EPIPE
        let mut cmd = d.rb().args(args).command();
        cmd.stdout(std::process::Stdio::from(write.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(write));
        cmd.status().unwrap().code()
    };
    assert_eq!(closed(&["run", "nonexistent", "--yes"]), Some(2));
    assert_eq!(
        closed(&["run", "loud.yaml", "--yes", "--transcript", "t.jsonl"]),
        Some(1)
    );
    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(matches!(
        t.run_finished().map(|l| &l.event),
        Some(rb::transcript::Event::RunFinished {
            outcome: rb::transcript::RunOutcome::Failed,
            ..
        })
    ));
}

/// Issue 9 #12: a value no command can receive (a NUL byte, over the argument limit) is refused
/// at binding, before step 1 changes anything.
#[test]
fn values_that_can_never_run_are_refused_before_step_one() {
    let d = Sandbox::new();
    d.write(
        "v.yaml",
        "version: 1\nname: v\ntitle: V\nparams:\n  v: {}\nsteps:\n  - id: change\n    run: touch changed\n  - id: use\n    run: printf '%s' {{ v }} | wc -c\n",
    );
    d.write("nul.yaml", "v: \"a\\0b\"\n");
    d.write("big.yaml", &format!("v: {}\n", "x".repeat(200 * 1024)));
    for file in ["nul.yaml", "big.yaml"] {
        let out = d.run(&["run", "v.yaml", "--yes", "--params-file", file]);
        assert_eq!(out.code, Some(2), "{file}: {}", out.stderr);
        assert!(
            out.stderr.contains("NUL byte") || out.stderr.contains("at most 100 KiB"),
            "{file}: {}",
            out.stderr
        );
        assert!(!d.path("changed").exists(), "{file}: step 1 ran");
    }
    // 100 kB still arrives whole.
    d.write("ok.yaml", &format!("v: {}\n", "y".repeat(100_000)));
    let out = d.run(&["run", "v.yaml", "--yes", "--params-file", "ok.yaml"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("100000"), "{}", out.stdout);
}

#[test]
fn from_takes_the_step_number_shown_on_screen_and_an_unknown_one_lists_the_steps() {
    let d = sandbox(
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: one\n    run: touch one\n  - id: two\n    run: touch two\n  - id: three\n    run: touch three\n",
    );
    let out = d.run(&[
        "run",
        "t.yaml",
        "--yes",
        "--from",
        "2",
        "--transcript",
        "t.jsonl",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!d.path("one").exists() && d.path("two").exists() && d.path("three").exists());
    let out = d.run(&["run", "t.yaml", "--yes", "--from", "9"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("the steps are: 1 one, 2 two, 3 three"),
        "{}",
        out.stderr
    );
}

/// Issue 9 #14: a huge output keeps its head and its tail (the last lines, where errors are) in
/// the record, and says how much was left out between.
#[test]
fn a_huge_output_keeps_head_and_tail_and_counts_the_middle() {
    let d = Sandbox::new();
    d.write(
        "huge.yaml",
        "version: 1\nname: huge\ntitle: Huge\nsteps:\n  - id: loud\n    run: echo THE-START; head -c 8000000 /dev/zero | tr '\\0' x; echo; echo THE-END-ERROR >&2\n    read_only: true\n",
    );
    let out = d
        .rb()
        .args(["run", "huge.yaml", "--yes", "--transcript", "t.jsonl"])
        .output_discarded();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let t = checked_transcript(&d.path("t.jsonl"));
    let mut kept = Vec::new();
    let mut note = None;
    for e in t.events() {
        match e {
            rb::transcript::Event::Output { .. } => kept.extend(e.output_bytes().unwrap()),
            rb::transcript::Event::Note { text, .. } if text.contains("not recorded") => {
                note = Some(text.clone())
            }
            _ => {}
        }
    }
    let kept = String::from_utf8_lossy(&kept);
    assert!(kept.starts_with("THE-START\n"), "the head is kept");
    assert!(kept.contains("THE-END-ERROR"), "the tail is kept");
    // The head ends at its 2 MiB, whatever size the chunk that crossed it.
    assert!(kept.len() <= 4 * 1024 * 1024, "{}", kept.len());
    let note = note.expect("the record says what it left out");
    let left_out: usize = note.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        left_out + kept.len(),
        "THE-START\n".len() + 8_000_001 + "THE-END-ERROR\n".len()
    );
}

/// Issue 9 #3: `--transcript PATH` never writes into an existing file, and never follows a
/// symlink planted at the path (a file owned by someone else stays untouched).
#[test]
fn an_existing_transcript_path_or_a_planted_symlink_is_refused() {
    let d = Sandbox::new();
    d.write("t.yaml", "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: touch ran\n    read_only: true\n");
    let first = d.run(&["run", "t.yaml", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    std::fs::remove_file(d.path("ran")).unwrap();
    let before = std::fs::read(d.path("t.jsonl")).unwrap();
    let second = d.run(&["run", "t.yaml", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(second.code, Some(2), "{}", second.stderr);
    assert!(
        second.stderr.contains("already exists"),
        "{}",
        second.stderr
    );
    assert_eq!(
        std::fs::read(d.path("t.jsonl")).unwrap(),
        before,
        "one run per file"
    );
    assert!(!d.path("ran").exists(), "nothing ran");

    d.write("victim", "someone else's file\n");
    std::os::unix::fs::symlink(d.path("victim"), d.path("link.jsonl")).unwrap();
    std::os::unix::fs::symlink(d.path("nowhere"), d.path("dangling.jsonl")).unwrap();
    for link in ["link.jsonl", "dangling.jsonl"] {
        let out = d.run(&["run", "t.yaml", "--yes", "--transcript", link]);
        assert_eq!(out.code, Some(2), "{link}: {}", out.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(d.path("victim")).unwrap(),
        "someone else's file\n"
    );
    assert!(!d.path("nowhere").exists());
}

/// Issue 9 #5: `rb note --to FILE` refuses a file whose last line is torn, and changes nothing;
/// a symlink is refused too.
#[test]
fn note_to_a_torn_file_or_a_symlink_changes_nothing() {
    let d = Sandbox::new();
    d.write(
        "t.yaml",
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: 'true'\n    read_only: true\n",
    );
    let out = d.run(&["run", "t.yaml", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut torn = std::fs::read(d.path("t.jsonl")).unwrap();
    torn.extend_from_slice(b"{\"seq\": 99, \"half a li");
    std::fs::write(d.path("t.jsonl"), &torn).unwrap();
    let out = d.run(&["note", "--to", "t.jsonl", "hello"]);
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read(d.path("t.jsonl")).unwrap(),
        torn,
        "not one byte cut"
    );
    std::os::unix::fs::symlink(d.path("t.jsonl"), d.path("link.jsonl")).unwrap();
    let out = d.run(&["mark", "mitigated", "--to", "link.jsonl"]);
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read(d.path("t.jsonl")).unwrap(), torn);
}

/// Issue 9 #15: with `$USER` unset (cron, systemd units, `env -i`), the operator recorded is the
/// account's name, not `unknown`.
#[test]
fn without_user_the_operator_is_the_accounts_name() {
    let d = Sandbox::new();
    d.write(
        "t.yaml",
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: 'true'\n    read_only: true\n",
    );
    let out = d
        .rb()
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["run", "t.yaml", "--yes", "--transcript", "t.jsonl"])
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let account = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test runs as an account with a name")
        .name;
    let t = checked_transcript(&d.path("t.jsonl"));
    let operator = t.events().find_map(|e| match e {
        rb::transcript::Event::RunStarted { operator, .. } => Some(operator.clone()),
        _ => None,
    });
    assert_eq!(operator.as_deref(), Some(account.as_str()));
}
