//! The words rb uses for what happens in a run, one type each, shared by the runbook model, the
//! executor, the transcript, the exports and the command line.
//!
//! Each type serializes to the word written in runbooks and transcripts (the persisted format) and
//! displays as the same word, so nothing shown to a user comes from `Debug`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Implements `Display` (and `as_str`) from one table of variant → word, the word serde uses too.
macro_rules! words {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// The word as written in runbooks and transcripts.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let words: Vec<&str> = $ty::ALL.iter().map(|v| v.as_str()).collect();
                    format!("`{s}` is not one of: {}", words.join(", "))
                })
            }
        }
    };
}

/// How a run treats commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Commands really run, and every change is confirmed first.
    Live,
    /// `--check`: read-only steps run for real; changes are previewed.
    Check,
    /// `--dry-run`: nothing runs; commands are rendered and shown.
    DryRun,
}
words!(Mode { Live => "live", Check => "check", DryRun => "dry_run" });

/// The kind of a step: `command` runs `run`; `message` renders `text` for the incident channel;
/// `manual` shows `instructions` and records done or skipped; `watch` re-runs `run` every `every`
/// until `until` has held for `for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    #[default]
    Command,
    Message,
    Manual,
    Watch,
}
words!(StepKind { Command => "command", Message => "message", Manual => "manual", Watch => "watch" });

/// How one attempt at a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    Skipped,
    TimedOut,
    Interrupted,
    RolledBack,
    /// The operator answered no at the step's prompt.
    Declined,
}
words!(StepStatus {
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
    TimedOut => "timed_out",
    Interrupted => "interrupted",
    RolledBack => "rolled_back",
    Declined => "declined",
});

impl StepStatus {
    /// After this status a step counts as done, and `rb resume` does not run it again.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Skipped | StepStatus::RolledBack
        )
    }

    /// The status in plain words, for people (`timed out`, `rolled back`).
    pub fn phrase(self) -> &'static str {
        match self {
            StepStatus::TimedOut => "timed out",
            StepStatus::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
}

/// How a step ended on one host of a run on remote hosts (`host_finished`): like a step's status,
/// and `not_run` for a host the step never reached (a canary rollout stopped before its batch, or
/// the run ended first), which `rb resume` runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Succeeded,
    Failed,
    TimedOut,
    Interrupted,
    /// Not run there on purpose: its `when:` was false on that host, the operator skipped the
    /// step, or the host left the run after a failure `max_fail` tolerated.
    Skipped,
    RolledBack,
    NotRun,
}
words!(HostStatus {
    Succeeded => "succeeded",
    Failed => "failed",
    TimedOut => "timed_out",
    Interrupted => "interrupted",
    Skipped => "skipped",
    RolledBack => "rolled_back",
    NotRun => "not_run",
});

impl HostStatus {
    /// After this status the step is done on that host: `rb resume` does not run it there again.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            HostStatus::Succeeded | HostStatus::Skipped | HostStatus::RolledBack
        )
    }

    /// The status in plain words, for people (`timed out`, `not run`).
    pub fn phrase(self) -> &'static str {
        match self {
            HostStatus::TimedOut => "timed out",
            HostStatus::RolledBack => "rolled back",
            HostStatus::NotRun => "not run",
            other => other.as_str(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step ran to its end (skipped steps included).
    Finished,
    /// A step failed and the run stopped.
    Failed,
    /// The operator aborted the run.
    Aborted,
    /// rb was interrupted (a signal, a lost terminal) before the end.
    Interrupted,
}
words!(RunOutcome {
    Finished => "finished",
    Failed => "failed",
    Aborted => "aborted",
    Interrupted => "interrupted",
});

impl RunOutcome {
    /// The exit code of `rb run` for this outcome.
    pub fn exit_code(self) -> crate::exit::Code {
        match self {
            RunOutcome::Finished => crate::exit::Code::Ok,
            RunOutcome::Failed | RunOutcome::Aborted => crate::exit::Code::Failed,
            RunOutcome::Interrupted => crate::exit::Code::Interrupted,
        }
    }
}

/// How a step's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    /// Normal exit with this code.
    Exited(i32),
    /// Killed by this signal (not by rb).
    Signaled(i32),
    /// rb ended the group because the step's timeout passed.
    TimedOut,
    /// rb ended the group because of Ctrl-C (or SIGTERM/SIGHUP) to rb.
    Interrupted,
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessEnd::Exited(code) => write!(f, "exited with status {code}"),
            ProcessEnd::Signaled(sig) => write!(f, "killed by signal {sig}"),
            ProcessEnd::TimedOut => f.write_str("timed out"),
            ProcessEnd::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// Key moments of an incident, used for time-to-mitigate and time-to-resolve.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Milestone {
    Detected,
    Acknowledged,
    Mitigated,
    Resolved,
}
words!(Milestone {
    Detected => "detected",
    Acknowledged => "acknowledged",
    Mitigated => "mitigated",
    Resolved => "resolved",
});

/// An answer at a prompt, or a decision rb took on the operator's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    Run,
    Skip,
    Abort,
    Note,
    /// Show the step's details (timeout, retries, rollback, secrets in the environment).
    #[serde(rename = "details")]
    Show,
    Retry,
    Rollback,
    Done,
    Continue,
    /// The operator typed the word a typed confirmation asked for.
    Confirmed,
    /// The operator typed something else: the step did not run.
    Mistyped,
    /// Post a message to the incident channel's webhook.
    Post,
    /// Do not post: the operator copies the text into the channel by hand.
    Copy,
    /// Change the text before posting it.
    Edit,
    /// `rb resume`: wait until an attempt a killed rb left running ends.
    Wait,
    /// `rb resume`: end an attempt a killed rb left running (SIGTERM, then SIGKILL).
    End,
}
words!(Choice {
    Run => "run",
    Skip => "skip",
    Abort => "abort",
    Note => "note",
    Show => "details",
    Retry => "retry",
    Rollback => "rollback",
    Done => "done",
    Continue => "continue",
    Confirmed => "confirmed",
    Mistyped => "mistyped",
    Post => "post",
    Copy => "copy",
    Edit => "edit",
    Wait => "wait",
    End => "end",
});

impl Choice {
    /// The key that selects it at a terminal prompt.
    pub fn key(self) -> char {
        match self {
            Choice::Run => 'r',
            Choice::Skip => 's',
            Choice::Abort => 'a',
            Choice::Note => 'n',
            Choice::Show => 'd',
            Choice::Retry => 't',
            Choice::Rollback => 'b',
            Choice::Done => 'y',
            Choice::Continue => 'c',
            // Never pressed (typed confirmations are words): keys no prompt offers.
            Choice::Confirmed => '=',
            Choice::Mistyped => 'm',
            Choice::Post => 'p',
            Choice::Copy => 'o',
            Choice::Edit => 'e',
            Choice::Wait => 'w',
            // e, n and d are taken: k as in kill, which is what it comes to.
            Choice::End => 'k',
        }
    }

    /// The prompt label, with the key marked: `[r]un`, `re[t]ry`.
    pub fn label(self) -> String {
        let w = self.as_str();
        match w.find(self.key()) {
            Some(i) => format!("{}[{}]{}", &w[..i], self.key(), &w[i + 1..]),
            None => format!("[{}] {w}", self.key()),
        }
    }
}

/// What became of a message meant for the incident channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The webhook accepted it (HTTP 2xx).
    Posted,
    /// Every attempt failed; the text was shown for copy-paste.
    Failed,
    /// The operator chose to paste it into the channel by hand.
    Copied,
    /// The operator chose not to send it.
    Skipped,
}
words!(DeliveryStatus { Posted => "posted", Failed => "failed", Copied => "copied", Skipped => "skipped" });

/// Why rb sent a message to the incident channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessagePurpose {
    /// A `message` step.
    Step,
    /// A periodic update (`update_every`).
    Update,
    /// The resolution, at the end of a run that reached `resolved`.
    Resolution,
}
words!(MessagePurpose { Step => "step", Update => "update", Resolution => "resolution" });

/// Who did something recorded in a transcript: rb itself (an automatic decision, a step's
/// milestone, a watch breach) or a named operator.
///
/// Written as a string: `rb` for rb itself, the operator's name otherwise. An operator whose name
/// is literally `rb` is written `rb (operator)`, so the two can never be mistaken for each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    Rb,
    Operator(String),
}

const RB: &str = "rb";
const RB_OPERATOR: &str = "rb (operator)";

impl Actor {
    /// An operator by name.
    pub fn operator(name: impl Into<String>) -> Actor {
        Actor::Operator(name.into())
    }

    /// True for rb itself.
    pub fn is_rb(&self) -> bool {
        matches!(self, Actor::Rb)
    }

    /// The string written in a transcript.
    pub fn to_wire(&self) -> String {
        match self {
            Actor::Rb => RB.to_string(),
            Actor::Operator(name) if name == RB => RB_OPERATOR.to_string(),
            Actor::Operator(name) => name.clone(),
        }
    }

    /// Reads the string written in a transcript.
    pub fn from_wire(s: &str) -> Actor {
        match s {
            RB => Actor::Rb,
            RB_OPERATOR => Actor::Operator(RB.to_string()),
            other => Actor::Operator(other.to_string()),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Rb => f.write_str(RB),
            Actor::Operator(name) => f.write_str(name),
        }
    }
}

impl From<&str> for Actor {
    fn from(s: &str) -> Actor {
        Actor::from_wire(s)
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Actor::from_wire(&s))
    }
}

impl JsonSchema for Actor {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Actor".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "`rb` for rb itself; otherwise the operator's name (`rb (operator)` for an operator named `rb`)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_serde_names() {
        for s in StepStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for c in Choice::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for m in Mode::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.to_string());
        }
        for o in RunOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.to_string());
        }
        for m in Milestone::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.to_string());
        }
        for k in StepKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.to_string());
        }
        for d in DeliveryStatus::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        for p in MessagePurpose::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn an_operator_named_rb_is_not_rb() {
        let op = Actor::operator("rb");
        let wire = serde_json::to_string(&op).unwrap();
        assert_eq!(wire, "\"rb (operator)\"");
        assert_eq!(serde_json::from_str::<Actor>(&wire).unwrap(), op);
        assert!(!serde_json::from_str::<Actor>(&wire).unwrap().is_rb());
        assert_eq!(serde_json::to_string(&Actor::Rb).unwrap(), "\"rb\"");
        assert!(serde_json::from_str::<Actor>("\"rb\"").unwrap().is_rb());
        assert_eq!(
            serde_json::from_str::<Actor>("\"ana\"").unwrap(),
            Actor::operator("ana")
        );
        assert_eq!(op.to_string(), "rb");
    }

    #[test]
    fn labels_mark_the_key() {
        assert_eq!(Choice::Run.label(), "[r]un");
        assert_eq!(Choice::Retry.label(), "re[t]ry");
        assert_eq!(Choice::Show.label(), "[d]etails");
    }
}
