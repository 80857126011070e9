//! Executor tests: a scripted operator and a fake runner, so every branch of the step loop is
//! driven without a terminal or real processes (the real ones are covered in `tests/`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::operator::{Choice, ScriptedOperator, Tone};
use super::params::{self, Inputs};
use super::runner::{CommandSpec, Outcome, ProcessEnd, Runner, Stream};
use super::{Executor, Mode, Options, RunOutcome};
use crate::runbook::validate::{Document, validate};
use crate::transcript::event::{Event, StepStatus};

/// Answers each `run` with the next scripted result; remembers every command.
#[derive(Default)]
struct FakeRunner {
    results: VecDeque<(ProcessEnd, &'static str)>,
    ran: Vec<CommandSpec>,
    slept: Vec<Duration>,
    /// What `last_interrupt` reports.
    signal: Option<super::runner::Interrupt>,
    /// Sleeps last at most this long (default 20 ms: watch windows are timed, tests are short).
    sleep_cap: Option<Duration>,
}

impl Runner for FakeRunner {
    fn run(
        &mut self,
        spec: &CommandSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> std::io::Result<Outcome> {
        self.ran.push(spec.clone());
        let (ended, out) = self
            .results
            .pop_front()
            .unwrap_or((ProcessEnd::Exited(0), ""));
        // Deliver output one byte at a time, the hardest case for redaction.
        for b in out.as_bytes() {
            on_output(Stream::Stdout, std::slice::from_ref(b));
        }
        Ok(Outcome {
            ended,
            duration: Duration::from_millis(5),
            left_background: false,
            forced: false,
            left_running: Vec::new(),
        })
    }
    fn last_interrupt(&self) -> super::runner::Interrupt {
        self.signal.unwrap_or(super::runner::Interrupt::CtrlC)
    }
    fn sleep(&mut self, d: Duration) -> bool {
        self.slept.push(d);
        // Real time passes (watch windows are timed), but never long in a test.
        std::thread::sleep(d.min(self.sleep_cap.unwrap_or(Duration::from_millis(20))));
        true
    }
}

/// `yaml` validated as `t.yaml`; a test's runbook that does not validate panics with why.
pub(super) fn doc(yaml: &str) -> Document {
    match validate("t.yaml", None, yaml.as_bytes()) {
        Ok(d) => d,
        Err(diags) => panic!(
            "{}",
            diags
                .iter()
                .map(|d| d.headline())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The params of `d` bound from defaults alone (no flag, file or environment), and the problems.
pub(super) fn bind_defaults(d: &Document) -> (params::Params, Vec<String>) {
    params::bind(
        &d.runbook,
        Inputs {
            cli: &[],
            file: &BTreeMap::new(),
            env: &|_| None,
            prompt_secret: None,
        },
    )
}

struct Run {
    outcome: RunOutcome,
    op: ScriptedOperator,
    runner: FakeRunner,
    events: Vec<Event>,
}

fn run_with(
    yaml: &str,
    opts: Options,
    answers: Vec<Choice>,
    results: Vec<(ProcessEnd, &'static str)>,
    cli: &[(&str, &str)],
) -> Run {
    let d = doc(yaml);
    let cli: Vec<(String, String)> = cli
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let env = |k: &str| {
        if k == "TOKEN" {
            Some("hunter22".to_string())
        } else {
            None
        }
    };
    let (params, problems) = params::bind(
        &d.runbook,
        Inputs {
            cli: &cli,
            file: &BTreeMap::new(),
            env: &env,
            prompt_secret: None,
        },
    );
    assert!(problems.is_empty(), "{problems:?}");
    let mut op = ScriptedOperator::new(answers);
    op.texts.push_back("a note from the operator".into());
    let mut runner = FakeRunner {
        results: results.into(),
        ..Default::default()
    };
    let mut events = Vec::new();
    let outcome = Executor::new(&d, &params, opts, &mut op, &mut runner, &mut events).run();
    Run {
        outcome,
        op,
        runner,
        events,
    }
}

impl Run {
    /// Whether any recorded event satisfies `f`.
    fn any(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }
}

/// `--yes`.
fn unattended() -> Options {
    Options {
        yes: true,
        ..live()
    }
}

fn live() -> Options {
    Options {
        mode: Mode::Live,
        yes: false,
        yes_typed: false,
        from: None,
        update_every: None,
    }
}

fn statuses(events: &[Event]) -> Vec<(String, StepStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { step, status, .. } => Some((step.clone(), *status)),
            _ => None,
        })
        .collect()
}

const RB: &str = r#"
version: 1
name: t
title: T
params:
  mount: {default: /data}
  token: {secret: true, env: TOKEN}
steps:
  - id: usage
    run: df {{ mount }}
    read_only: true
    capture: pct
  - id: clean
    when: pct | int >= 90
    run: rm -rf -- {{ mount }}/tmp
    rollback: echo undo
  - id: say
    kind: message
    text: "{{ mount }} was at {{ pct }}%"
"#;

#[test]
fn read_only_steps_run_without_asking_and_changes_ask() {
    let r = run_with(
        RB,
        live(),
        vec![Choice::Run],
        vec![(ProcessEnd::Exited(0), "93\n"), (ProcessEnd::Exited(0), "")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(
        r.op.asked.len(),
        1,
        "only the changing step asks: {:?}",
        r.op.asked
    );
    assert_eq!(r.runner.ran.len(), 2);
    assert_eq!(r.runner.ran[1].argv.last().unwrap(), "rm -rf -- /data/tmp");
    assert!(r.op.said_with(Tone::Message).contains("/data was at 93%"));
    assert_eq!(
        statuses(&r.events),
        [
            ("usage".into(), StepStatus::Succeeded),
            ("clean".into(), StepStatus::Succeeded),
            ("say".into(), StepStatus::Succeeded)
        ]
    );
}

#[test]
fn when_false_skips_and_records_why() {
    let r = run_with(RB, live(), vec![], vec![(ProcessEnd::Exited(0), "12")], &[]);
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(r.runner.ran.len(), 1);
    let reason = r.events.iter().find_map(|e| match e {
        Event::StepFinished { step, reason, .. } if step == "clean" => reason.clone(),
        _ => None,
    });
    assert!(reason.unwrap().contains("is false"));
}

#[test]
fn injection_in_a_param_stays_one_argument() {
    let r = run_with(
        RB,
        live(),
        vec![Choice::Run],
        vec![(ProcessEnd::Exited(0), "95"), (ProcessEnd::Exited(0), "")],
        &[("mount", "/; rm -rf ~")],
    );
    assert_eq!(r.runner.ran[0].argv.last().unwrap(), "df '/; rm -rf ~'");
    assert_eq!(
        r.runner.ran[1].argv.last().unwrap(),
        "rm -rf -- '/; rm -rf ~'/tmp"
    );
}

#[test]
fn skip_and_abort_are_recorded() {
    let r = run_with(
        RB,
        live(),
        vec![Choice::Skip],
        vec![(ProcessEnd::Exited(0), "95")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(
        statuses(&r.events)[1],
        ("clean".into(), StepStatus::Skipped)
    );
    let r = run_with(
        RB,
        live(),
        vec![Choice::Abort],
        vec![(ProcessEnd::Exited(0), "95")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert_eq!(r.runner.ran.len(), 1);
    assert!(matches!(r.events.last(), Some(Event::RunFinished { .. })));
}

#[test]
fn note_and_details_then_run() {
    let r = run_with(
        RB,
        live(),
        vec![Choice::Note, Choice::Show, Choice::Run],
        vec![(ProcessEnd::Exited(0), "95"), (ProcessEnd::Exited(0), "")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert!(r.any(|e| matches!(e, Event::Note { text, .. } if text == "a note from the operator")));
    assert!(r.op.said_with(Tone::Info).contains("rollback: echo undo"));
}

#[test]
fn failure_then_retry_then_rollback() {
    let results = vec![
        (ProcessEnd::Exited(0), "95"),
        (ProcessEnd::Exited(1), ""),
        (ProcessEnd::Exited(1), ""),
        (ProcessEnd::Exited(0), ""),
    ];
    let r = run_with(
        RB,
        live(),
        vec![
            Choice::Run,
            Choice::Retry,
            Choice::Rollback,
            Choice::Continue,
        ],
        results,
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(r.runner.ran[3].argv.last().unwrap(), "echo undo");
    let st: Vec<StepStatus> = statuses(&r.events)
        .into_iter()
        .filter(|(s, _)| s == "clean")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        st,
        [
            StepStatus::Failed,
            StepStatus::Failed,
            StepStatus::RolledBack
        ]
    );
    let (_, choices) = &r.op.asked[1];
    assert!(choices.contains(&Choice::Rollback));
}

#[test]
fn automatic_retries_back_off_exponentially_then_yes_stops_the_run() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: flaky\n    run: 'false'\n    retry: {attempts: 3, delay: 2s, backoff: exponential}\n  - id: never\n    run: echo no\n";
    let opts = unattended();
    let r = run_with(
        yaml,
        opts,
        vec![],
        vec![
            (ProcessEnd::Exited(1), ""),
            (ProcessEnd::Exited(1), ""),
            (ProcessEnd::Exited(1), ""),
        ],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(
        r.runner.slept,
        [Duration::from_secs(2), Duration::from_secs(4)]
    );
    assert_eq!(
        r.runner.ran.len(),
        3,
        "the step after the failure never runs"
    );
    assert_eq!(
        r.events
            .iter()
            .filter(|e| matches!(e, Event::Retry { .. }))
            .count(),
        2
    );
}

#[test]
fn dry_run_runs_nothing_and_asks_nothing() {
    let opts = Options {
        mode: Mode::DryRun,
        ..live()
    };
    let r = run_with(RB, opts, vec![], vec![], &[]);
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert!(r.runner.ran.is_empty());
    assert!(r.op.asked.is_empty());
    let commands = r.op.said_with(Tone::Command);
    assert!(
        commands.contains("df /data") && commands.contains("rm -rf -- /data/tmp"),
        "{commands}"
    );
    assert!(
        r.op.said_with(Tone::Info)
            .contains("decided at run time (depends on pct)")
    );
    assert!(r.op.said_with(Tone::Message).contains("<pct>"));
}

#[test]
fn check_mode_runs_read_only_steps_only() {
    let opts = Options {
        mode: Mode::Check,
        ..live()
    };
    let r = run_with(RB, opts, vec![], vec![(ProcessEnd::Exited(0), "97")], &[]);
    assert_eq!(r.runner.ran.len(), 1);
    assert!(r.op.asked.is_empty());
    assert!(r.op.said_with(Tone::Message).contains("at 97%"));
}

#[test]
fn secrets_never_reach_the_operator_or_the_journal() {
    let yaml = "version: 1\nname: t\ntitle: T\nparams:\n  token: {secret: true, env: TOKEN}\nsteps:\n  - id: leak\n    run: echo \"$TOKEN\"\n    read_only: true\n";
    let r = run_with(
        yaml,
        live(),
        vec![],
        vec![(
            ProcessEnd::Exited(0),
            "the token is hunter22, again hunter22\n",
        )],
        &[],
    );
    assert_eq!(
        r.runner.ran[0].env,
        [("TOKEN".to_string(), "hunter22".to_string())]
    );
    let shown = String::from_utf8_lossy(&r.op.output);
    assert_eq!(shown, "the token is ***, again ***\n");
    let journal = serde_json::to_string(&r.events).unwrap();
    assert!(!journal.contains("hunter22"), "{journal}");
}

#[test]
fn typed_confirmation_needs_the_word_and_yes_alone_refuses() {
    let yaml = "version: 1\nname: t\ntitle: T\nparams:\n  db: {default: orders}\nsteps:\n  - id: drop\n    run: echo drop {{ db }}\n    confirm: {typed: '{{ db }}'}\n";
    // The operator types the wrong word first (scripted text is "a note…"), so nothing runs.
    let r = run_with(yaml, live(), vec![Choice::Run, Choice::Skip], vec![], &[]);
    assert!(r.runner.ran.is_empty());
    assert!(
        r.any(|e| matches!(e, Event::Decision { choice, .. } if *choice == crate::domain::Choice::Mistyped))
    );
    let r = run_with(yaml, unattended(), vec![], vec![], &[]);
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert!(r.runner.ran.is_empty());
    let r = run_with(
        yaml,
        Options {
            yes: true,
            yes_typed: true,
            ..live()
        },
        vec![],
        vec![],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(r.runner.ran.len(), 1);
}

#[test]
fn from_skips_earlier_steps_on_the_record() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: echo a\n    read_only: true\n  - id: b\n    run: echo b\n    read_only: true\n";
    let r = run_with(
        yaml,
        Options {
            from: Some("b".into()),
            ..live()
        },
        vec![],
        vec![],
        &[],
    );
    assert_eq!(r.runner.ran.len(), 1);
    assert_eq!(
        statuses(&r.events),
        [
            ("a".into(), StepStatus::Skipped),
            ("b".into(), StepStatus::Succeeded)
        ]
    );
}

#[test]
fn interrupted_step_asks_and_abort_ends_as_interrupted() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: sleep 100\n    read_only: true\n  - id: next\n    run: echo next\n    read_only: true\n";
    let r = run_with(
        yaml,
        live(),
        vec![Choice::Skip],
        vec![(ProcessEnd::Interrupted, "")],
        &[],
    );
    assert_eq!(
        r.outcome,
        RunOutcome::Finished,
        "skip only the interrupted step"
    );
    assert_eq!(r.runner.ran.len(), 2);
    let r = run_with(
        yaml,
        live(),
        vec![Choice::Abort],
        vec![(ProcessEnd::Interrupted, "")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Interrupted);
    assert_eq!(r.outcome.exit_code() as i32, 130);
}

#[test]
fn watch_holds_for_its_window() {
    let yaml = "version: 1\nname: t\ntitle: T\nparams:\n  window: {type: duration, default: 0s}\nsteps:\n  - id: w\n    kind: watch\n    run: echo 42\n    until: output | int < 50\n    every: 1s\n    for: '{{ window }}'\n";
    let r = run_with(
        yaml,
        live(),
        vec![],
        vec![(ProcessEnd::Exited(0), "42\n")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(statuses(&r.events), [("w".into(), StepStatus::Succeeded)]);
}

#[test]
fn watch_breach_asks_and_yes_keeps_watching_until_it_gives_up() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: w\n    kind: watch\n    run: echo 99\n    until: output | int < 50\n    every: 10ms\n    for: 20ms\n    timeout: 30ms\n";
    let r = run_with(
        yaml,
        live(),
        vec![Choice::Skip],
        vec![(ProcessEnd::Exited(0), "99")],
        &[],
    );
    assert_eq!(statuses(&r.events), [("w".into(), StepStatus::Skipped)]);
    assert!(r.op.said_with(Tone::Warning).contains("breach"));
    let r = run_with(
        yaml,
        unattended(),
        vec![],
        vec![(ProcessEnd::Exited(0), "99"); 50],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Failed);
}

#[test]
fn manual_step_done_and_unattended() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: m\n    kind: manual\n    instructions: Check the status page.\n    marks: mitigated\n";
    let r = run_with(yaml, live(), vec![Choice::Done], vec![], &[]);
    assert!(r.any(|e| matches!(e, Event::Manual { done: true, .. })));
    assert!(
        r.any(|e| matches!(e, Event::Milestone { name, .. } if *name == crate::domain::Milestone::Mitigated))
    );
    let r = run_with(yaml, unattended(), vec![], vec![], &[]);
    assert!(r.any(|e| matches!(e, Event::Manual { done: false, .. })));
}

#[test]
fn message_step_marks_its_milestone_in_live_runs_only() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: m\n    kind: message\n    text: Resolved.\n    marks: resolved\n";
    let marked = |events: &[Event]| {
        events
            .iter()
            .any(|e| matches!(e, Event::Milestone { name, .. } if *name == crate::domain::Milestone::Resolved))
    };
    assert!(marked(&run_with(yaml, live(), vec![], vec![], &[]).events));
    let dry = Options {
        mode: Mode::DryRun,
        ..live()
    };
    assert!(!marked(&run_with(yaml, dry, vec![], vec![], &[]).events));
}

#[test]
fn a_capture_of_a_skipped_step_is_empty_in_a_live_run_and_a_placeholder_in_a_preview() {
    let yaml = "version: 1\nname: t\ntitle: T\nparams:\n  pid: {default: ''}\nsteps:\n  - id: find\n    when: pid != ''\n    run: echo found\n    read_only: true\n    capture: found\n  - id: use\n    kind: message\n    text: \"found=[{{ found }}]{% if found %} kib={{ found | int // 1024 }}{% endif %}\"\n";
    let r = run_with(yaml, live(), vec![], vec![], &[]);
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert!(
        r.op.said_with(Tone::Message).contains("found=[]"),
        "{}",
        r.op.said_with(Tone::Message)
    );
    let r = run_with(
        yaml,
        Options {
            mode: Mode::DryRun,
            ..live()
        },
        vec![],
        vec![],
        &[("pid", "42")],
    );
    assert_eq!(
        r.outcome,
        RunOutcome::Finished,
        "a filter on a placeholder must not fail a dry run"
    );
    assert!(
        r.op.said_with(Tone::Message)
            .contains("(rendered at run time)")
    );
}

#[test]
fn an_interrupted_watch_asks_and_skip_moves_on() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: w\n    kind: watch\n    run: echo 1\n    until: output == '1'\n    every: 1s\n    for: 1m\n  - id: after\n    run: echo after\n    read_only: true\n";
    let r = run_with(
        yaml,
        live(),
        vec![Choice::Skip],
        vec![(ProcessEnd::Interrupted, "")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(
        statuses(&r.events),
        [
            ("w".into(), StepStatus::Interrupted),
            ("w".into(), StepStatus::Skipped),
            ("after".into(), StepStatus::Succeeded)
        ]
    );
    let r = run_with(
        yaml,
        unattended(),
        vec![],
        vec![(ProcessEnd::Interrupted, "")],
        &[],
    );
    assert_eq!(r.outcome, RunOutcome::Interrupted);
}

/// Issue 9 #9: a check changes nothing, so it marks no milestone, even where a read-only step
/// or a watch that carries `marks:` succeeds.
#[test]
fn check_mode_records_no_milestone() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: ok\n    run: echo fine\n    read_only: true\n    marks: mitigated\n  - id: w\n    kind: watch\n    run: echo 1\n    until: output == '1'\n    every: 1s\n    for: 1s\n    marks: resolved\n";
    let opts = Options {
        mode: Mode::Check,
        ..live()
    };
    let r = run_with(
        yaml,
        opts,
        vec![],
        vec![
            (ProcessEnd::Exited(0), "fine"),
            (ProcessEnd::Exited(0), "1"),
        ],
        &[],
    );
    assert_eq!(r.runner.ran.len(), 2);
    assert!(!r.any(|e| matches!(e, Event::Milestone { .. })));
    assert!(!r.op.said_with(Tone::Success).contains("milestone"));
}

/// Issue 9 #11: a template that would make a huge value fails its step with the limit named,
/// instead of taking the memory.
#[test]
fn a_template_over_the_limits_fails_its_step_by_name() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: greedy\n    run: echo {{ 'x' * 100000000 }}\n    read_only: true\n";
    let r = run_with(yaml, unattended(), vec![], vec![], &[]);
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(r.runner.ran.is_empty());
    let said = r.op.said_with(Tone::Failure);
    assert!(
        said.contains("step `greedy`") && said.contains("limit"),
        "{said}"
    );
}

/// A run with a scripted incident channel.
fn run_posting(
    yaml: &str,
    opts: Options,
    answers: Vec<Choice>,
    channel: &mut super::channel::ScriptedChannel,
) -> (RunOutcome, ScriptedOperator, Vec<Event>) {
    let d = doc(yaml);
    let env = |_: &str| None;
    let (params, _) = params::bind(
        &d.runbook,
        Inputs {
            cli: &[],
            file: &BTreeMap::new(),
            env: &env,
            prompt_secret: None,
        },
    );
    let mut op = ScriptedOperator::new(answers);
    let mut runner = FakeRunner::default();
    let mut events = Vec::new();
    let outcome = Executor::new(&d, &params, opts, &mut op, &mut runner, &mut events)
        .with_channel(channel, vec!["https://hooks.invalid/T0/secret".into()])
        .run();
    (outcome, op, events)
}

fn deliveries(
    events: &[Event],
) -> Vec<(
    crate::domain::MessagePurpose,
    super::channel::DeliveryStatus,
)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessagePosted {
                purpose, status, ..
            } => Some((*purpose, *status)),
            _ => None,
        })
        .collect()
}

const TELL: &str = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: tell\n    kind: message\n    text: Investigating.\n  - id: fix\n    run: 'true'\n    read_only: true\n    marks: resolved\n";

#[test]
fn a_message_step_is_posted_when_the_operator_says_post() {
    use super::channel::{DeliveryStatus as D, ScriptedChannel};
    use crate::domain::MessagePurpose as P;
    let mut ch = ScriptedChannel::default();
    let (outcome, op, events) =
        run_posting(TELL, live(), vec![Choice::Post, Choice::Skip], &mut ch);
    assert_eq!(outcome, RunOutcome::Finished);
    assert_eq!(ch.posted[0], "Investigating.");
    assert_eq!(
        deliveries(&events),
        [(P::Step, D::Posted), (P::Resolution, D::Skipped)]
    );
    assert!(
        op.said_with(Tone::Heading).contains("Summary"),
        "{:?}",
        op.said
    );
    assert!(
        op.said_with(Tone::Info)
            .contains("2 step(s) ran, 0 skipped, 0 failed"),
        "{:?}",
        op.said
    );
}

#[test]
fn a_failed_post_shows_the_text_and_the_run_goes_on() {
    use super::channel::{Delivery, DeliveryStatus as D, ScriptedChannel};
    let mut ch = ScriptedChannel::default();
    ch.answers.push_back(Delivery {
        status: D::Failed,
        http_status: Some(404),
        attempts: 1,
        error: Some("HTTP 404 at https://hooks.invalid/T0/secret: no_service".into()),
    });
    let (outcome, op, events) = run_posting(TELL, unattended(), vec![], &mut ch);
    assert_eq!(outcome, RunOutcome::Finished);
    let warn = op.said_with(Tone::Warning);
    assert!(
        warn.contains("could not post") && warn.contains("HTTP 404"),
        "{warn}"
    );
    assert!(!format!("{:?}{:?}", op.said, events).contains("hooks.invalid/T0/secret"));
    // Shown twice: once as the step's text, once for copy-paste after the failure.
    assert_eq!(
        op.said_with(Tone::Message)
            .matches("Investigating.")
            .count(),
        2
    );
    // Under --yes the resolution is posted too.
    assert_eq!(ch.posted.len(), 2);
    assert!(
        ch.posted[1].starts_with("Resolved: \"T\""),
        "{:?}",
        ch.posted
    );
}

#[test]
fn copy_and_skip_post_nothing_and_skip_skips_the_step() {
    use super::channel::{DeliveryStatus as D, ScriptedChannel};
    use crate::domain::MessagePurpose as P;
    let mut ch = ScriptedChannel::default();
    let (_, _, events) = run_posting(TELL, live(), vec![Choice::Copy, Choice::Skip], &mut ch);
    assert_eq!(deliveries(&events)[0], (P::Step, D::Copied));
    let mut ch = ScriptedChannel::default();
    let (_, _, events) = run_posting(TELL, live(), vec![Choice::Skip, Choice::Skip], &mut ch);
    assert_eq!(deliveries(&events)[0], (P::Step, D::Skipped));
    assert!(ch.posted.is_empty());
    assert_eq!(statuses(&events)[0], ("tell".into(), StepStatus::Skipped));
}

#[test]
fn a_due_update_is_offered_prefilled_before_the_next_step() {
    use super::channel::{DeliveryStatus as D, ScriptedChannel};
    use crate::domain::MessagePurpose as P;
    let yaml = "version: 1\nname: t\ntitle: Disk full\nupdate_every: 15m\nsteps:\n  - id: a\n    run: 'true'\n    read_only: true\n";
    let mut ch = ScriptedChannel::default();
    // `--update-every 0s` overrides the runbook's 15m: due before the first step.
    let opts = Options {
        update_every: Some(Duration::ZERO),
        ..live()
    };
    let (outcome, op, events) = run_posting(yaml, opts, vec![Choice::Post], &mut ch);
    assert_eq!(outcome, RunOutcome::Finished);
    assert!(
        op.said_with(Tone::Warning)
            .contains("update to the incident channel is due")
    );
    assert!(
        ch.posted[0].starts_with("Update on \"Disk full\""),
        "{:?}",
        ch.posted
    );
    assert!(ch.posted[0].contains("step 1 of 1") && ch.posted[0].contains("No milestone yet"));
    assert_eq!(deliveries(&events), [(P::Update, D::Posted)]);
    // The update's text is in the transcript, since no message step holds it.
    assert!(events.iter().any(
        |e| matches!(e, Event::MessagePosted { text: Some(t), .. } if t.starts_with("Update on"))
    ));
}

/// A watch run with real sleeps and an operator who takes `thinking` to answer.
fn run_watch(
    yaml: &str,
    answers: Vec<Choice>,
    outputs: &[&'static str],
    thinking: Duration,
) -> Run {
    let d = doc(yaml);
    let (params, _) = bind_defaults(&d);
    let mut op = ScriptedOperator::new(answers);
    op.thinking = thinking;
    let mut runner = FakeRunner {
        results: outputs
            .iter()
            .map(|o| (ProcessEnd::Exited(0), *o))
            .collect(),
        sleep_cap: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let mut events = Vec::new();
    let outcome = Executor::new(&d, &params, live(), &mut op, &mut runner, &mut events).run();
    Run {
        outcome,
        op,
        runner,
        events,
    }
}

const WATCH: &str = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: w\n    kind: watch\n    run: check\n    until: output == '1'\n    every: 100ms\n    for: 100ms\n    timeout: TIMEOUT\n";

/// Issue 9 #8: after a breach, "continue" starts the hold window again and the time spent at
/// the prompt does not count against the watch's budget.
#[test]
fn time_at_a_breach_prompt_is_not_the_watchs() {
    let yaml = WATCH.replace("TIMEOUT", "250ms");
    let r = run_watch(
        &yaml,
        vec![Choice::Continue],
        &["0", "1", "1", "1"],
        Duration::from_millis(400),
    );
    assert_eq!(r.outcome, RunOutcome::Finished, "{:?}", r.op.said);
    assert_eq!(statuses(&r.events), [("w".into(), StepStatus::Succeeded)]);
}

/// Issue 9 #8: a failed watch can be watched again, with a fresh window.
#[test]
fn a_failed_watch_can_be_watched_again() {
    let yaml = WATCH.replace("TIMEOUT", "150ms");
    let r = run_watch(
        &yaml,
        vec![Choice::Continue, Choice::Continue, Choice::Retry],
        &["0", "0", "1", "1", "1"],
        Duration::ZERO,
    );
    assert_eq!(r.outcome, RunOutcome::Finished, "{:?}", r.op.asked);
    assert_eq!(
        statuses(&r.events),
        [
            ("w".into(), StepStatus::Failed),
            ("w".into(), StepStatus::Succeeded)
        ]
    );
}

/// Issue 9 #7: each signal is recorded as what it was; a lost terminal (SIGHUP) or SIGTERM never
/// gets a prompt: the run is interrupted (resumable), not aborted.
#[test]
fn sighup_and_sigterm_are_recorded_as_such_and_never_prompt() {
    use super::runner::Interrupt;
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: sleep 100\n    read_only: true\n";
    for (signal, word) in [
        (Interrupt::Hangup, "SIGHUP"),
        (Interrupt::Terminate, "SIGTERM"),
    ] {
        let d = doc(yaml);
        let (params, _) = bind_defaults(&d);
        let mut op = ScriptedOperator::new([Choice::Retry]);
        let mut runner = FakeRunner {
            results: [(ProcessEnd::Interrupted, "")].into(),
            signal: Some(signal),
            ..Default::default()
        };
        let mut events = Vec::new();
        let outcome = Executor::new(&d, &params, live(), &mut op, &mut runner, &mut events).run();
        assert_eq!(outcome, RunOutcome::Interrupted, "{word}");
        assert!(op.asked.is_empty(), "{word}: nobody is asked");
        assert!(events.iter().any(
            |e| matches!(e, Event::Interrupted { what, .. } if what.contains(word) && !what.contains("Ctrl-C"))
        ), "{word}: {events:?}");
    }
}

/// Issue 9 #7: a terminal that goes away at a prompt interrupts the run (exit 130, resumable);
/// nobody aborted it.
#[test]
fn a_terminal_lost_at_a_prompt_interrupts_rather_than_aborts() {
    let yaml = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: change\n    run: touch x\n";
    // No scripted answer left: the operator cannot be asked.
    let r = run_with(yaml, live(), vec![], vec![], &[]);
    assert_eq!(r.outcome, RunOutcome::Interrupted);
    assert!(r.runner.ran.is_empty());
    assert!(r.any(
        |e| matches!(e, Event::Interrupted { what, .. } if what.contains("terminal went away"))
    ));
}
