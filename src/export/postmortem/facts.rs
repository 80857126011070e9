//! The facts of a post-mortem, computed once from the transcripts into a serializable [`Facts`]:
//! runs, milestones, steps (attempts folded), watches (samples), notes by kind, messages,
//! decisions and the timeline. Rendering is elsewhere; `rb postmortem --format json` prints this.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::steps::{AttemptFact, AttemptScan, StepFact, WatchFact, WatchScan, steps};
use super::text::{mode_name, ms_between};
use super::timeline::{TimelineRow, event_row, timeline};
use crate::domain::{Actor, Choice, DeliveryStatus, MessagePurpose, Milestone};
use crate::transcript::{Event, Line, Mode, NoteKind, RunOutcome, StepStatus, Summary, Transcript};

/// The version of the JSON document ([`Facts`]); bumped when a field changes meaning or goes.
/// Version 2: steps folded, watches, notes with kinds, messages, decisions, warnings, milestones
/// with who and when marked, one definition of `duration_ms`. Version 3: messages are updates and
/// resolutions too, each with its delivery (`purpose`, `status`, `delivery` in words,
/// `delivered_at`, `http_status`, `attempts`, `error`, `first_seq`); `step` may be `null`.
pub const FACTS_VERSION: u32 = 3;

/// Everything the post-mortem draft states, from one or more transcripts. Transcripts are
/// numbered from 1 in the order given (`T1`, `T2`, …); every fact cites its transcript and line
/// (`seq`). Times are RFC 3339 UTC with milliseconds. Text is plain (no Markdown).
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// [`FACTS_VERSION`].
    pub version: u32,
    /// What a reader must know before trusting the draft: transcripts that fail verification,
    /// torn lines, milestones out of order.
    pub warnings: Vec<String>,
    /// `resolved`, `mitigated` or `unresolved`, from the milestones.
    pub status: &'static str,
    /// The first event of the incident: the earliest line of any transcript, or a milestone
    /// backdated before it.
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    /// The last event of the incident (the latest line of any transcript).
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// From `started` to `ended`: the one definition of a duration here (a run's is from its
    /// first line to its last).
    pub duration_ms: Option<u64>,
    /// Everyone who ran, answered, noted or marked something (not rb itself).
    pub operators: Vec<String>,
    /// The hosts the runs were on.
    pub hosts: Vec<String>,
    /// One per transcript.
    pub runs: Vec<RunFact>,
    /// The first time each milestone was reached, in time order.
    pub milestones: Vec<MilestoneFact>,
    /// Until the first `mitigated` milestone.
    pub time_to_mitigate: Option<Interval>,
    /// Until the first `resolved` milestone.
    pub time_to_resolve: Option<Interval>,
    /// What a commander would keep, in time order: milestones, decisions that matter, one row
    /// per step result and per watch, notes, messages (the Markdown shows at most a budget).
    pub timeline: Vec<TimelineRow>,
    /// Each step of each run once, its attempts folded.
    pub steps: Vec<StepFact>,
    /// Each watch of each run, every check's value.
    pub watches: Vec<WatchFact>,
    /// Every note, with its kind.
    pub notes: Vec<NoteFact>,
    /// The messages for the incident channel (message steps, updates, the resolution) and
    /// what became of each.
    pub messages: Vec<MessageFact>,
    /// Every answer at a prompt (key presses such as `details` included).
    pub decisions: Vec<DecisionFact>,
    /// Every finished step attempt, transcript by transcript.
    pub attempts: Vec<AttemptFact>,
    /// Every automatic retry.
    pub retries: Vec<RetryFact>,
    /// Output lost while a transcript was unwritable.
    pub output_dropped: Vec<DroppedFact>,
    /// The evidence: each transcript's path, hash and size.
    pub transcripts: Vec<TranscriptFact>,
}

/// One run (one transcript).
#[derive(Debug, Clone, Serialize)]
pub struct RunFact {
    /// 1-based transcript number (`T<n>`).
    pub transcript: usize,
    /// The runbook's name (`?` when the first line is not `run_started`).
    pub runbook: String,
    /// `live`, `check` or `dry_run`.
    pub mode: Option<Mode>,
    pub run_id: Option<String>,
    /// Who started the run.
    pub operator: String,
    pub host: String,
    /// The first and last line.
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// From the first line to the last.
    pub duration_ms: Option<u64>,
    /// `None` when there is no `run_finished` (rb was killed, or the run is still going).
    pub outcome: Option<RunOutcome>,
    /// What the outcome alone does not say: steps that failed, watches that failed or were
    /// skipped (the fix was not verified).
    pub caveats: Vec<String>,
    /// The operator and everyone else who answered, noted or marked something in this run.
    #[serde(skip)]
    pub(super) people: BTreeSet<String>,
}

impl RunFact {
    /// The runbook's name, with the mode when not live: `disk-full (check mode)`.
    pub(super) fn label(&self) -> String {
        match self.mode {
            Some(m) if m != Mode::Live => format!("{} ({} mode)", self.runbook, mode_name(m)),
            _ => self.runbook.clone(),
        }
    }

    /// The outcome with its caveats: `finished, but watch verify failed and was skipped`.
    pub fn honest_outcome(&self) -> String {
        let outcome = self.outcome.map_or_else(
            || "did not finish (no run_finished)".to_string(),
            |o| o.to_string(),
        );
        match self.outcome {
            _ if self.caveats.is_empty() => outcome,
            Some(RunOutcome::Finished) => format!("{outcome}, but {}", self.caveats.join("; ")),
            _ => format!("{outcome}: {}", self.caveats.join("; ")),
        }
    }
}

/// A milestone's first mark.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneFact {
    pub name: Milestone,
    /// When it happened (the mark's `at` when backdated, else when it was marked).
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// When it was marked.
    #[serde(serialize_with = "ser_ts")]
    pub marked_at: Timestamp,
    pub by: Actor,
    pub transcript: usize,
    pub seq: u64,
}

impl MilestoneFact {
    /// True when marked later than it happened (`rb mark --at`).
    pub fn backdated(&self) -> bool {
        self.at < self.marked_at
    }
}

/// A time to mitigate or resolve.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub ms: u64,
    /// `detection` (from the `detected` milestone) or `start` (of the first run).
    pub from: &'static str,
}

/// A note.
#[derive(Debug, Clone, Serialize)]
pub struct NoteFact {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub by: Actor,
    /// `plain`, `hypothesis`, `action` or `comms`; rb's own notes are always `plain`.
    pub kind: NoteKind,
    pub text: String,
    pub step: Option<String>,
    pub transcript: usize,
    pub seq: u64,
}

/// A message for the incident channel: a message step's text, a periodic update or the
/// resolution, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageFact {
    /// When rb showed it (a message step) or recorded its delivery (an update, the resolution).
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// `step`, `update` or `resolution`.
    pub purpose: MessagePurpose,
    /// The message step, or the step running when an update was due.
    pub step: Option<String>,
    pub text: String,
    /// `posted`, `failed` (shown for copy-paste), `copied` (pasted by hand) or `skipped`; `None`
    /// when no delivery was recorded (no webhook, or not a live run: shown for copy-paste).
    pub status: Option<DeliveryStatus>,
    /// What became of it, in words.
    pub delivery: String,
    /// When the delivery was recorded.
    #[serde(serialize_with = "ser_ts_opt")]
    pub delivered_at: Option<Timestamp>,
    /// The webhook's last HTTP status, requests sent, and why the post failed.
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
    pub transcript: usize,
    /// The first line (the message step's text) and the last (its delivery).
    pub first_seq: u64,
    pub seq: u64,
}

impl MessageFact {
    /// True when rb sent it to a webhook (posted, or tried to).
    pub fn sent(&self) -> bool {
        self.attempts > 0
    }

    /// Records its delivery (line `seq` at `at`) and says it in words.
    fn delivered(&mut self, at: Timestamp, seq: u64, d: Delivery<'_>) {
        self.status = Some(d.status);
        self.delivered_at = Some(at);
        self.http_status = d.http_status;
        self.attempts = d.attempts;
        self.error = d.error.cloned();
        self.seq = seq;
        self.delivery = self.words();
    }

    fn words(&self) -> String {
        let http = self
            .http_status
            .map_or(String::new(), |c| format!(", HTTP {c}"));
        let tries = match self.attempts {
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        let at = self.delivered_at.map_or(String::new(), super::text::fmt_ts);
        match self.status {
            None => "shown for copy-paste".into(),
            Some(DeliveryStatus::Posted) => format!("posted at {at} ({tries}{http})"),
            Some(DeliveryStatus::Failed) => format!(
                "not posted: {} ({tries}{http}); shown for copy-paste",
                self.error.as_deref().unwrap_or("no answer")
            ),
            Some(DeliveryStatus::Copied) => {
                "shown for copy-paste: the operator posts it by hand".into()
            }
            Some(DeliveryStatus::Skipped) => "skipped by the operator: not sent".into(),
        }
    }
}

/// The fields of a `message_posted` event.
struct Delivery<'a> {
    status: DeliveryStatus,
    http_status: Option<u16>,
    attempts: u32,
    error: Option<&'a String>,
}

/// An answer at a prompt.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionFact {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub by: Actor,
    pub choice: Choice,
    pub step: Option<String>,
    pub text: Option<String>,
    pub transcript: usize,
    pub seq: u64,
}

/// An automatic retry.
#[derive(Debug, Clone, Serialize)]
pub struct RetryFact {
    pub transcript: usize,
    pub seq: u64,
    pub step: String,
    /// The attempt about to start.
    pub attempt: u32,
    pub delay_ms: u64,
    pub reason: String,
}

/// Output lost while a transcript was unwritable.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedFact {
    pub transcript: usize,
    pub seq: u64,
    pub step: Option<String>,
    pub bytes: u64,
}

/// A transcript cited as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptFact {
    pub transcript: usize,
    pub path: PathBuf,
    pub sha256: String,
    pub run_id: Option<String>,
    /// Complete lines read.
    pub lines: usize,
    /// True when the file ended with a torn line (left out).
    pub torn_tail: bool,
    /// True once checked as `rb transcripts verify` does (see [`Facts::verification`]).
    pub verified: bool,
    /// Why the check failed, when it did.
    pub problem: Option<String>,
}

pub(super) fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::transcript::line::format_ts(*ts))
}

pub(super) fn ser_ts_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => ser_ts(ts, s),
        None => s.serialize_none(),
    }
}

impl Facts {
    /// Records the result of checking transcript `n` (1-based) as `rb transcripts verify` does,
    /// and warns at the top of the draft when it failed.
    pub fn verification(&mut self, n: usize, result: Result<(), String>) {
        let Some(t) = self.transcripts.iter_mut().find(|t| t.transcript == n) else {
            return;
        };
        t.verified = result.is_ok();
        if let Err(why) = result {
            t.problem = Some(why.clone());
            self.warnings.insert(
                0,
                format!(
                    "T{n} ({}) fails verification ({why}): it may have been edited or damaged, so \
                     check its facts against other records.",
                    t.path.display()
                ),
            );
        }
    }
}

/// The facts of the post-mortem for these transcripts.
pub fn facts(transcripts: &[(PathBuf, Transcript)]) -> Facts {
    let mut b = FactsBuilder::default();
    for (path, t) in transcripts {
        b.start(path);
        for l in &t.lines {
            b.line(l.clone());
        }
        b.end(t.sha256.clone(), t.lines.len(), t.torn_tail);
    }
    b.finish()
}

/// Builds [`Facts`] line by line, transcript after transcript, so that a transcript need not be
/// held whole: output is counted, not kept, and only the lines the run's summary reads are.
#[derive(Default)]
pub struct FactsBuilder {
    attempts: AttemptScan,
    watches: WatchScan,
    milestones: Vec<MilestoneFact>,
    events: Events,
    /// The rows of single lines, in transcript and line order.
    rows: Vec<TimelineRow>,
    /// Per transcript, the lines [`Summary::of`] reads (see [`Head`]).
    heads: Vec<Head>,
    transcripts: Vec<TranscriptFact>,
}

/// The lines of a transcript that its [`Summary`] reads: the first, the last, those that end
/// the run, and the first to name each person.
#[derive(Default)]
struct Head {
    path: PathBuf,
    lines: Vec<Line>,
    /// The people named so far (a later line naming them again adds nothing to the summary).
    people: BTreeSet<Actor>,
    /// The latest line when it is not among `lines`.
    last: Option<Line>,
    /// Who started the run, and when (for the timeline's rows).
    operator: String,
    run_start: Option<Timestamp>,
}

impl FactsBuilder {
    /// Transcript `T<n>` begins (numbered from 1 in the order started).
    pub fn start(&mut self, path: &Path) {
        self.attempts.next_transcript();
        self.watches.next_transcript();
        self.heads.push(Head {
            path: path.to_path_buf(),
            ..Head::default()
        });
    }

    /// The next line of the current transcript.
    pub fn line(&mut self, l: Line) {
        let n = self.heads.len();
        let Some(head) = self.heads.last_mut() else {
            return;
        };
        if head.lines.is_empty() {
            head.operator = match &l.event {
                Event::RunStarted { operator, .. } => operator.clone(),
                _ => "?".into(),
            };
            head.run_start = Some(l.ts);
        }
        self.attempts.line(n, &l);
        self.watches.line(n, &l);
        milestone(&mut self.milestones, n, &l);
        self.events.add(n, &l);
        self.rows
            .extend(event_row(&l, n, &head.operator, head.run_start));
        let summarized = match &l.event {
            Event::Decision { by, .. } | Event::Note { by, .. } | Event::Milestone { by, .. } => {
                !by.is_rb() && !head.people.contains(by) && head.people.insert(by.clone())
            }
            Event::RunFinished { .. } => true,
            _ => false,
        };
        if head.lines.is_empty() || summarized {
            head.lines.push(l);
            head.last = None;
        } else {
            head.last = Some(l);
        }
    }

    /// The current transcript ended: the hash of its bytes, its complete lines, and whether a
    /// torn line followed them.
    pub fn end(&mut self, sha256: String, lines: usize, torn_tail: bool) {
        let n = self.heads.len();
        let Some(head) = self.heads.last_mut() else {
            return;
        };
        head.lines.extend(head.last.take());
        let run_id = match head.lines.first().map(|l| &l.event) {
            Some(Event::RunStarted { run_id, .. }) => Some(run_id.clone()),
            _ => None,
        };
        self.transcripts.push(TranscriptFact {
            transcript: n,
            path: head.path.clone(),
            sha256,
            run_id,
            lines,
            torn_tail,
            verified: false,
            problem: None,
        });
    }

    /// The facts of every transcript given.
    pub fn finish(self) -> Facts {
        let steps = steps(&self.attempts.done);
        let runs: Vec<RunFact> = self
            .heads
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let t = Transcript {
                    path: h.path,
                    lines: h.lines,
                    torn_tail: false,
                    sha256: String::new(),
                };
                run_fact(i + 1, &t, &steps)
            })
            .collect();
        let mut milestones = self.milestones;
        milestones.sort_by_key(|m| (m.at, m.name));
        assemble(
            runs,
            milestones,
            steps,
            self.watches.finish(),
            self.attempts.done,
            self.events,
            self.rows,
            self.transcripts,
        )
    }
}

/// The facts from their parts.
#[allow(clippy::too_many_arguments)]
fn assemble(
    runs: Vec<RunFact>,
    milestones: Vec<MilestoneFact>,
    steps: Vec<StepFact>,
    watches: Vec<WatchFact>,
    attempts: Vec<AttemptFact>,
    events: Events,
    rows: Vec<TimelineRow>,
    transcripts: Vec<TranscriptFact>,
) -> Facts {
    let started = runs
        .iter()
        .filter_map(|r| r.started)
        .chain(milestones.iter().map(|m| m.at))
        .min();
    let ended = runs.iter().filter_map(|r| r.ended).max();
    let (time_to_mitigate, time_to_resolve) = intervals(&milestones, started);
    let mut f = Facts {
        version: FACTS_VERSION,
        warnings: Vec::new(),
        status: status(&milestones),
        started,
        ended,
        duration_ms: started.zip(ended).map(|(s, e)| ms_between(s, e)),
        operators: people(&runs),
        hosts: runs
            .iter()
            .map(|r| r.host.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        timeline: Vec::new(),
        runs,
        milestones,
        time_to_mitigate,
        time_to_resolve,
        steps,
        watches,
        notes: events.notes,
        messages: events.messages,
        decisions: events.decisions,
        attempts,
        retries: events.retries,
        output_dropped: events.output_dropped,
        transcripts,
    };
    f.timeline = timeline(rows, &f);
    f.warnings = warnings(&f);
    f
}

fn people(runs: &[RunFact]) -> Vec<String> {
    let all: BTreeSet<&String> = runs.iter().flat_map(|r| r.people.iter()).collect();
    all.into_iter().cloned().collect()
}

/// `resolved`, `mitigated` or `unresolved`: the furthest milestone reached.
fn status(milestones: &[MilestoneFact]) -> &'static str {
    let reached = |m| milestones.iter().any(|f| f.name == m);
    if reached(Milestone::Resolved) {
        "resolved"
    } else if reached(Milestone::Mitigated) {
        "mitigated"
    } else {
        "unresolved"
    }
}

/// Times to mitigate and to resolve: from `detected` when marked, else from `started`.
fn intervals(
    milestones: &[MilestoneFact],
    started: Option<Timestamp>,
) -> (Option<Interval>, Option<Interval>) {
    let at = |name| milestones.iter().find(|m| m.name == name).map(|m| m.at);
    let detected = at(Milestone::Detected);
    let interval = |name| {
        Some(Interval {
            ms: ms_between(detected.or(started)?, at(name)?),
            from: if detected.is_some() {
                "detection"
            } else {
                "start"
            },
        })
    };
    (
        interval(Milestone::Mitigated),
        interval(Milestone::Resolved),
    )
}

/// What a reader must know first: torn lines and milestones out of order (verification
/// failures are added by [`Facts::verification`]).
fn warnings(f: &Facts) -> Vec<String> {
    let mut w = Vec::new();
    for t in f.transcripts.iter().filter(|t| t.torn_tail) {
        w.push(format!(
            "T{} ends with a torn line (rb was killed while writing it); it is left out.",
            t.transcript
        ));
    }
    for (i, later) in f.milestones.iter().enumerate() {
        for earlier in &f.milestones[..i] {
            if later.name < earlier.name {
                w.push(format!(
                    "Milestones out of order: {} ({}) comes before {} ({}); check the times \
                     (`rb mark --at` backdates a mark).",
                    earlier.name,
                    super::text::fmt_ts(earlier.at),
                    later.name,
                    super::text::fmt_ts(later.at)
                ));
            }
        }
    }
    w
}

/// Notes, messages, decisions, retries and dropped output of every transcript, in transcript order.
#[derive(Default)]
struct Events {
    notes: Vec<NoteFact>,
    messages: Vec<MessageFact>,
    decisions: Vec<DecisionFact>,
    retries: Vec<RetryFact>,
    output_dropped: Vec<DroppedFact>,
    /// Message steps whose delivery is not recorded yet, by transcript and step.
    pending: BTreeMap<(usize, String), usize>,
}

impl Events {
    /// A `message_posted` line: the delivery of the message step shown before it, or an update
    /// or the resolution with its text.
    fn delivered(
        &mut self,
        transcript: usize,
        l: &Line,
        purpose: MessagePurpose,
        step: Option<&str>,
        text: Option<&str>,
        d: Delivery<'_>,
    ) {
        let shown = match (purpose, step) {
            (MessagePurpose::Step, Some(step)) => {
                self.pending.remove(&(transcript, step.to_string()))
            }
            _ => None,
        };
        let i = shown.unwrap_or_else(|| {
            self.messages.push(MessageFact {
                at: l.ts,
                purpose,
                step: step.map(str::to_string),
                text: text.unwrap_or_default().to_string(),
                status: None,
                delivery: String::new(),
                delivered_at: None,
                http_status: None,
                attempts: 0,
                error: None,
                transcript,
                first_seq: l.seq,
                seq: l.seq,
            });
            self.messages.len() - 1
        });
        self.messages[i].delivered(l.ts, l.seq, d);
    }

    fn add(&mut self, transcript: usize, l: &Line) {
        let (at, seq) = (l.ts, l.seq);
        match &l.event {
            Event::Note {
                by,
                text,
                step,
                kind,
            } => self.notes.push(NoteFact {
                at,
                // rb's own notes never pose as hypotheses, actions or comms.
                kind: if by.is_rb() { NoteKind::Plain } else { *kind },
                by: by.clone(),
                text: text.clone(),
                step: step.clone(),
                transcript,
                seq,
            }),
            Event::Message { step, text } => {
                let mut m = MessageFact {
                    at,
                    purpose: MessagePurpose::Step,
                    step: Some(step.clone()),
                    text: text.clone(),
                    status: None,
                    delivery: String::new(),
                    delivered_at: None,
                    http_status: None,
                    attempts: 0,
                    error: None,
                    transcript,
                    first_seq: seq,
                    seq,
                };
                m.delivery = m.words();
                self.pending
                    .insert((transcript, step.clone()), self.messages.len());
                self.messages.push(m);
            }
            Event::MessagePosted {
                step,
                purpose,
                status,
                http_status,
                attempts,
                error,
                text,
            } => self.delivered(
                transcript,
                l,
                *purpose,
                step.as_deref(),
                text.as_deref(),
                Delivery {
                    status: *status,
                    http_status: *http_status,
                    attempts: *attempts,
                    error: error.as_ref(),
                },
            ),
            Event::Decision {
                step,
                by,
                choice,
                text,
            } => self.decisions.push(DecisionFact {
                at,
                by: by.clone(),
                choice: *choice,
                step: step.clone(),
                text: text.clone(),
                transcript,
                seq,
            }),
            Event::Retry {
                step,
                attempt,
                delay_ms,
                reason,
            } => self.retries.push(RetryFact {
                transcript,
                seq,
                step: step.clone(),
                attempt: *attempt,
                delay_ms: *delay_ms,
                reason: reason.clone(),
            }),
            Event::OutputDropped { step, bytes, .. } => self.output_dropped.push(DroppedFact {
                transcript,
                seq,
                step: step.clone(),
                bytes: *bytes,
            }),
            _ => {}
        }
    }
}

/// What the summary needs from one transcript (`n` is its 1-based number).
fn run_fact(n: usize, t: &Transcript, steps: &[StepFact]) -> RunFact {
    let s = Summary::of(t);
    let unknown = || "?".to_string();
    RunFact {
        transcript: n,
        runbook: s.runbook.clone().unwrap_or_else(unknown),
        mode: s.mode,
        run_id: s.run_id.clone(),
        operator: s.operator.clone().unwrap_or_else(unknown),
        host: s.host.clone().unwrap_or_else(unknown),
        duration_ms: s.span_ms(),
        started: s.first_event,
        ended: s.last_event,
        outcome: s.outcome,
        caveats: steps
            .iter()
            .filter(|st| st.transcript == n)
            .filter_map(StepFact::caveat)
            .collect(),
        people: s.operators,
    }
}

/// Keeps the first time each milestone was reached (a backdated mark counts from when it
/// happened); sorted into time order once every transcript is read.
fn milestone(first: &mut Vec<MilestoneFact>, n: usize, l: &Line) {
    let Event::Milestone { name, by, at, .. } = &l.event else {
        return;
    };
    let when = at.as_deref().and_then(|a| a.parse().ok()).unwrap_or(l.ts);
    let fact = MilestoneFact {
        name: *name,
        at: when,
        marked_at: l.ts,
        by: by.clone(),
        transcript: n,
        seq: l.seq,
    };
    match first.iter_mut().find(|m| m.name == *name) {
        Some(m) if m.at <= when => {}
        Some(m) => *m = fact,
        None => first.push(fact),
    }
}

/// True for a step status that says the step did what it was for.
pub(super) fn is_success(status: Option<StepStatus>) -> bool {
    status == Some(StepStatus::Succeeded)
}
