//! The process runner against real processes: exit statuses, streams, timeouts, background
//! processes, binary output, spawn failures. Signals sent to rb itself live in
//! `runner_signals.rs` and the memory bound in `runner_memory.rs` (each needs a process to itself).

mod common;

use std::time::{Duration, Instant};

use common::{bash, collect, live_members, numbers_after, with_timeout};
use rb::exec::runner::{CommandSpec, ProcessEnd, ProcessRunner, Runner, Stream};
use sha2::{Digest, Sha256};

fn runner() -> ProcessRunner {
    ProcessRunner::new().expect("runner")
}

#[test]
fn exit_codes_map_to_exited() {
    let mut r = runner();
    assert_eq!(
        collect(&mut r, &bash("exit 0")).0.ended,
        ProcessEnd::Exited(0)
    );
    assert_eq!(
        collect(&mut r, &bash("exit 3")).0.ended,
        ProcessEnd::Exited(3)
    );
    assert_eq!(
        collect(&mut r, &bash("false")).0.ended,
        ProcessEnd::Exited(1)
    );
}

#[test]
fn death_by_signal_maps_to_signaled() {
    let mut r = runner();
    let (outcome, _, _) = collect(&mut r, &bash("kill -KILL $$"));
    assert_eq!(outcome.ended, ProcessEnd::Signaled(9));
    let (outcome, _, _) = collect(&mut r, &bash("kill -TERM $$"));
    assert_eq!(outcome.ended, ProcessEnd::Signaled(15));
}

#[test]
fn streams_are_tagged_and_interleaved_output_is_complete() {
    let mut r = runner();
    let script = r#"for i in $(seq 1 20000); do echo "out $i"; echo "err $i" >&2; done"#;
    let mut order = Vec::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = r
        .run(&bash(script), &mut |stream, bytes| {
            order.push(stream);
            match stream {
                Stream::Stdout => out.extend_from_slice(bytes),
                Stream::Stderr => err.extend_from_slice(bytes),
            }
        })
        .unwrap();
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert!(!outcome.left_background);
    let expect = |tag: &str| -> Vec<u8> {
        (1..=20000)
            .map(|i| format!("{tag} {i}\n"))
            .collect::<String>()
            .into_bytes()
    };
    assert!(out == expect("out"), "stdout differs");
    assert!(err == expect("err"), "stderr differs");
    // Read concurrently: chunks of both streams arrive while the step runs, not one after the
    // other.
    let first_err = order.iter().position(|s| *s == Stream::Stderr).unwrap();
    let last_out = order.iter().rposition(|s| *s == Stream::Stdout).unwrap();
    assert!(
        first_err < last_out,
        "stderr only arrived after all of stdout"
    );
}

#[test]
fn timeout_kills_the_whole_group_including_grandchildren() {
    let mut r = runner().with_grace(Duration::from_secs(2));
    let spec = with_timeout(
        bash(r#"sleep 1000 & echo "pids $$ $!"; wait"#),
        Duration::from_secs(1),
    );
    let (outcome, out, _) = collect(&mut r, &spec);
    assert_eq!(outcome.ended, ProcessEnd::TimedOut);
    let pids = numbers_after(&out, "pids").expect("the step printed its pids");
    let (pgid, grandchild) = (pids[0], pids[1]);
    assert_eq!(
        live_members(pgid),
        vec![],
        "processes of the group survived"
    );
    assert!(
        std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .map_or(true, |s| s[s.rfind(')').unwrap() + 2..].starts_with('Z')),
        "the grandchild `sleep 1000` survived"
    );
    // SIGTERM was enough here: the group ended well before the grace period ran out.
    let kill_time = outcome.duration - Duration::from_secs(1);
    eprintln!("timeout: group gone {kill_time:?} after the deadline");
    assert!(kill_time < Duration::from_secs(1), "took {kill_time:?}");
}

#[test]
fn timeout_escalates_to_sigkill_when_term_is_ignored() {
    let mut r = runner().with_grace(Duration::from_millis(300));
    let spec = with_timeout(
        bash(
            r#"trap '' TERM; (trap '' TERM; sleep 1000) & echo "pids $$"; while :; do sleep 1; done"#,
        ),
        Duration::from_millis(500),
    );
    let (outcome, out, _) = collect(&mut r, &spec);
    assert_eq!(outcome.ended, ProcessEnd::TimedOut);
    let pgid = numbers_after(&out, "pids").unwrap()[0];
    assert_eq!(live_members(pgid), vec![]);
    eprintln!(
        "timeout with TERM ignored: returned after {:?}",
        outcome.duration
    );
    // The main shell ignores SIGTERM: only the SIGKILL one grace period later could end it.
    assert!(outcome.duration >= Duration::from_millis(800));
    assert!(outcome.duration < Duration::from_secs(3));
}

#[test]
fn background_process_holding_the_pipe_is_left_running() {
    let mut r = runner();
    let started = Instant::now();
    let (outcome, out, _) = collect(&mut r, &bash(r#"sleep 30 & echo "bg $!""#));
    let elapsed = started.elapsed();
    let bg = numbers_after(&out, "bg").unwrap()[0];
    let alive = std::path::Path::new(&format!("/proc/{bg}")).exists();
    // Clean up before asserting, so a failure leaves nothing behind.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(bg), nix::sys::signal::SIGKILL);
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert!(outcome.left_background);
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(alive, "rb must not kill what a step started on purpose");
}

#[test]
fn detached_background_process_is_not_reported() {
    let mut r = runner();
    let (outcome, out, _) = collect(&mut r, &bash(r#"sleep 30 >/dev/null 2>&1 & echo "bg $!""#));
    let bg = numbers_after(&out, "bg").unwrap()[0];
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(bg), nix::sys::signal::SIGKILL);
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert!(!outcome.left_background);
    assert!(outcome.duration < Duration::from_secs(1));
}

#[test]
fn output_written_just_before_exit_is_not_lost() {
    let mut r = runner();
    // A grandchild that outlives the main process by a little and then writes: the drain window
    // catches its output.
    let (outcome, out, _) = collect(&mut r, &bash("(sleep 0.1; echo late) & echo early"));
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert_eq!(out, b"early\nlate\n");
    assert!(!outcome.left_background);
}

#[test]
fn binary_and_invalid_utf8_pass_through_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("random.bin");
    let mut r = runner();
    let script = format!(
        r#"head -c 1048576 /dev/urandom > '{f}'; printf '\xff\xfe\x00\xc3\x28'; cat '{f}'; printf '\x80' >&2"#,
        f = file.display()
    );
    let (outcome, out, err) = collect(&mut r, &bash(&script));
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    let mut expected = b"\xff\xfe\x00\xc3\x28".to_vec();
    expected.extend(std::fs::read(&file).unwrap());
    assert_eq!(out.len(), expected.len());
    assert_eq!(Sha256::digest(&out), Sha256::digest(&expected));
    assert_eq!(err, b"\x80");
}

#[test]
fn env_cwd_and_stdin_reach_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = runner();
    let mut spec = bash(r#"printf '%s|%s|' "$RB_TEST_SECRET" "$PWD"; cat; echo end"#);
    spec.env = vec![("RB_TEST_SECRET".into(), "s3cr3t".into())];
    spec.cwd = Some(dir.path().to_path_buf());
    let (outcome, out, _) = collect(&mut r, &spec);
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    // Not interactive: stdin is /dev/null, so `cat` ends at once instead of waiting.
    let expected = format!(
        "s3cr3t|{}|end\n",
        dir.path().canonicalize().unwrap().display()
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn spawn_failure_is_an_error_naming_the_program() {
    let mut r = runner();
    let spec = CommandSpec {
        argv: vec!["/nonexistent/rb-no-such-program".into()],
        env: Vec::new(),
        timeout: None,
        interactive: false,
        cwd: None,
    };
    let err = r.run(&spec, &mut |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains("/nonexistent/rb-no-such-program"),
        "{err}"
    );
    let empty = CommandSpec {
        argv: Vec::new(),
        ..spec
    };
    assert_eq!(
        r.run(&empty, &mut |_, _| {}).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
}

#[test]
fn sleep_without_interrupt_returns_true() {
    let mut r = runner();
    let started = Instant::now();
    assert!(r.sleep(Duration::from_millis(50)));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(!r.interrupted_since_last_check());
}

#[test]
fn panic_in_output_callback_kills_the_group() {
    let mut r = runner();
    let mut pgid = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.run(
            &bash(r#"sleep 1000 & echo "pids $$"; wait"#),
            &mut |_, bytes| {
                pgid = numbers_after(bytes, "pids").unwrap()[0];
                panic!("callback failed");
            },
        )
    }));
    assert!(result.is_err());
    // SIGKILL is sent as the supervisor unwinds; the kernel finishes it promptly.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !live_members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(live_members(pgid), vec![]);
}

/// Issue 9 #13: a daemon that calls `setsid` (leaving the step's process group) does not survive
/// the step's timeout; after a normal finish it is reported, not killed.
#[test]
fn a_setsid_daemon_dies_with_a_timed_out_step_and_is_reported_after_a_normal_one() {
    let mut runner = ProcessRunner::new().unwrap();
    let gone = |marker: &str| {
        !std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
                && !std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| s.contains(") Z "))
        })
    };
    let spec = with_timeout(
        bash("setsid sleep 1234.25 & sleep 1000"),
        Duration::from_millis(500),
    );
    let (outcome, _, _) = collect(&mut runner, &spec);
    assert_eq!(outcome.ended, ProcessEnd::TimedOut);
    assert!(gone("1234.25"), "the setsid daemon survived the timeout");

    let (outcome, _, _) = collect(
        &mut runner,
        &bash("setsid sleep 2345.25 > /dev/null 2>&1 & true"),
    );
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
    assert_eq!(outcome.left_running.len(), 1, "{:?}", outcome.left_running);
    let (pid, cmd) = &outcome.left_running[0];
    assert!(cmd.contains("sleep 2345.25"), "{cmd}");
    // By pid, not by command line: the daemon may be between `setsid`'s exec and sleep's, when
    // its command line reads empty.
    let alive =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
    assert!(alive, "a normal finish kills nothing");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(*pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// What a step leaves behind is re-parented to rb (a child subreaper), so rb looks only at its
/// own descendants after each step; the ones that ended are reaped by rb (nobody else would),
/// not left as zombies.
#[test]
fn orphans_of_a_step_come_to_rb_and_are_reaped_when_they_end() {
    let mut runner = ProcessRunner::new().unwrap();
    let me = std::process::id();
    let children = || -> Vec<(u32, bool)> {
        let text = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap();
        text.split_whitespace()
            .map(|p| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                (p.parse().unwrap(), stat.contains(") Z "))
            })
            .collect()
    };
    let (outcome, out, _) = collect(
        &mut runner,
        &bash(r#"setsid sleep 1 > /dev/null 2>&1 & echo "bg $!""#),
    );
    let bg = numbers_after(&out, "bg").unwrap()[0] as u32;
    assert_eq!(outcome.left_running.len(), 1, "{:?}", outcome.left_running);
    assert!(
        children().iter().any(|(pid, _)| *pid == bg),
        "the daemon was not re-parented to rb: {:?}",
        children()
    );
    // Once it has ended it is rb's zombie until the next step looks.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !children().iter().any(|&(pid, z)| pid == bg && z) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (outcome, _, _) = collect(&mut runner, &bash("true"));
    assert!(
        outcome.left_running.is_empty(),
        "{:?}",
        outcome.left_running
    );
    assert_eq!(children(), vec![], "zombies left unreaped");
}
