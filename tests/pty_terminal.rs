//! The terminal during a run, in a pseudo-terminal: the spinner of a silent step, what rb says
//! after Ctrl-C, the summary and the next command at the end, a 60-column terminal, and no
//! colour or spinner on a pipe or with `NO_COLOR`.

mod common;

use std::process::{Command, Stdio};

use common::binary::Sandbox;
use common::checked_transcript;
use common::pty::Pty;

/// `rb run t.yaml ARGS --transcript transcript.jsonl` in a colour terminal of `cols` columns.
fn colour_pty(d: &Sandbox, args: &[&str], cols: u16) -> Pty {
    let args = [
        &["run", "t.yaml"],
        args,
        &["--transcript", "transcript.jsonl"],
    ]
    .concat();
    Pty::spawn_sized(terminal(d, &args, false), cols, 24)
}

fn terminal(d: &Sandbox, args: &[&str], no_color: bool) -> Command {
    let mut cmd = d.rb().args(args).command();
    cmd.env("TERM", "xterm").stdin(Stdio::inherit());
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    cmd
}

fn finish(d: &Sandbox, mut p: Pty) -> i32 {
    let code = p.exit_code();
    checked_transcript(&d.path("transcript.jsonl"));
    code
}

/// A step that prints nothing until the test creates `go`.
const SILENT: &str = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: quiet\n    run: touch waiting; while [ ! -e go ]; do sleep 0.05; done\n    read_only: true\n    timeout: 5m\n  - id: after\n    run: touch after\n    read_only: true\n";

#[test]
fn a_silent_step_shows_a_spinner_with_elapsed_time_and_timeout() {
    let d = Sandbox::with_runbook(SILENT);
    let mut p = colour_pty(&d, &[], 100);
    p.expect("running for");
    p.expect("(timeout 5m)");
    d.write("go", "");
    p.expect("ok");
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("after").exists());
}

#[test]
fn ctrl_c_says_what_rb_is_doing() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: printf 'sta%s\\n' rted; sleep 1000\n    read_only: true\n";
    let d = Sandbox::with_runbook(rb);
    let mut p = colour_pty(&d, &[], 100);
    p.expect("started");
    p.key("\x03");
    p.expect("waiting up to 5 s for the step to stop; Ctrl-C again ends the run");
    p.expect("Abort the whole run, skip this step, or retry it?");
    p.key("a");
    p.expect("Summary");
    p.expect("next: rb resume");
    p.expect("next: rb postmortem");
    assert_eq!(finish(&d, p), 130);
}

#[test]
fn the_end_shows_a_summary_and_the_next_command() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: look\n    run: 'true'\n    read_only: true\n  - id: change\n    run: touch changed\n    marks: mitigated\n  - id: skipped\n    when: 'false'\n    run: 'true'\n    read_only: true\n";
    let d = Sandbox::with_runbook(rb);
    let mut p = colour_pty(&d, &[], 100);
    p.expect("Run this command?");
    p.key("r");
    p.expect("Summary");
    p.expect("Run finished in");
    p.expect("2 step(s) ran, 1 skipped, 0 failed.");
    p.expect("Milestones: mitigated +");
    let rest = p.expect_before("next: rb postmortem");
    assert!(
        !rest.contains("rb resume"),
        "a finished run is not resumed: {rest}"
    );
    p.expect("transcript.jsonl");
    assert_eq!(finish(&d, p), 0);
}

#[test]
fn at_60_columns_wrapped_output_keeps_its_gutter_and_the_prompt_one_line() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: wide\n    run: printf '%0150d\\n' 0\n    read_only: true\n  - id: change\n    title: Restart the application server after clearing its cache directory\n    run: touch changed\n";
    let d = Sandbox::with_runbook(rb);
    let mut p = colour_pty(&d, &[], 60);
    let shown = p.expect_before("Run this command?");
    let zeros: Vec<&str> = shown.lines().filter(|l| l.contains("000")).collect();
    assert_eq!(
        zeros.len(),
        3,
        "150 zeros at 60 columns are 3 lines: {shown:?}"
    );
    for l in &zeros {
        let plain = console::strip_ansi_codes(l.trim_end_matches('\r')).into_owned();
        assert!(
            plain.starts_with("  │ "),
            "a wrapped line lost its gutter: {plain:?}"
        );
        assert!(console::measure_text_width(&plain) <= 60, "{plain:?}");
    }
    let heading = shown
        .lines()
        .find(|l| l.contains("Restart"))
        .unwrap_or_default();
    assert!(
        console::measure_text_width(heading) <= 60,
        "the heading is wrapped too: {heading:?}"
    );
    let keys = p.expect_before("›");
    assert_eq!(console::strip_ansi_codes(&keys).trim(), "[r/s/a/n/d]");
    p.key("s");
    assert_eq!(finish(&d, p), 0);
}

const QUIET_SECOND: &str = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: quiet\n    run: sleep 1.5\n    read_only: true\n    timeout: 1m\n";

#[test]
fn with_no_color_a_terminal_gets_no_colour_and_no_spinner() {
    let d = Sandbox::with_runbook(QUIET_SECOND);
    let args = ["run", "t.yaml", "--yes", "--transcript", "transcript.jsonl"];
    let mut p = Pty::spawn_sized(terminal(&d, &args, true), 100, 24);
    let shown = p.expect_before("Summary");
    assert!(!shown.contains("running for"), "{shown:?}");
    assert!(
        !shown.contains('\x1b'),
        "colour or cursor movement with NO_COLOR: {shown:?}"
    );
    assert_eq!(finish(&d, p), 0);
}

#[test]
fn on_a_pipe_there_is_no_colour_and_no_spinner() {
    let d = Sandbox::with_runbook(QUIET_SECOND);
    let out = d
        .rb()
        .args(["run", "t.yaml", "--yes", "--transcript", "transcript.jsonl"])
        .env("CLICOLOR_FORCE", "0")
        .command();
    let mut cmd = out;
    cmd.env_remove("NO_COLOR");
    let out = cmd.output().expect("rb runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("running for") && !text.contains('\x1b'),
            "{text:?}"
        );
    }
    assert!(
        stdout.contains("Summary") && stdout.contains("next: rb postmortem"),
        "{stdout}"
    );
}

#[test]
fn an_update_falls_due_while_a_step_runs_and_a_prefilled_one_follows() {
    let d = Sandbox::with_runbook(SILENT);
    let mut p = colour_pty(&d, &["--update-every", "1s"], 100);
    p.expect("an update to the incident channel is due: rb offers one when this step ends");
    d.write("go", "");
    p.expect("an update to the incident channel is due (every 1s)");
    p.expect("Update on \"T\":");
    p.expect("Now at step 2 of 2: after.");
    p.expect("copy this into the incident channel");
    assert_eq!(finish(&d, p), 0);
    let t = std::fs::read_to_string(d.path("transcript.jsonl")).unwrap();
    assert!(
        t.contains("\"event\":\"message_posted\"") && t.contains("\"purpose\":\"update\""),
        "{t}"
    );
}
