//! The operator: the person (or script) the executor talks to.
//!
//! The executor never touches the terminal. It narrates through [`Operator::say`], streams step
//! output through [`Operator::output`], and asks through [`Operator::choose`] and
//! [`Operator::text`]. [`ScriptedOperator`] answers from a list (tests, `--yes` runs are handled
//! by the executor itself); the terminal implementation lives in `cli`.

use std::collections::VecDeque;

use super::runner::Stream;

/// What rb is telling the operator; the terminal styles each kind its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A step heading: `[3/9] Compress old logs`.
    Heading,
    /// A rendered command about to run (or that would run).
    Command,
    /// Text meant to be copied (incident-channel message).
    Message,
    /// Instructions for a manual step.
    Instructions,
    /// Neutral information.
    Info,
    /// Something went well.
    Success,
    /// Something needs attention.
    Warning,
    /// A step failed.
    Failure,
    /// A live status line that replaces the previous one (watch progress).
    Progress,
}

/// An answer the operator can give.
pub use crate::domain::Choice;

/// A step's process is running: what the terminal needs to show a spinner and a reminder while
/// the executor waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub started: std::time::Instant,
    /// The step's bound, if it has one.
    pub timeout: Option<std::time::Duration>,
    /// When an update to the incident channel falls due, if the run asks for updates.
    pub update_due: Option<std::time::Instant>,
}

/// Why the operator could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// Ctrl-C at the prompt.
    Interrupted,
    /// No terminal, or input closed.
    Unavailable(String),
}

/// The interface between the executor and whoever runs the runbook.
pub trait Operator {
    /// Who answers (recorded as `by` in the transcript).
    fn name(&self) -> String;
    /// Narration.
    fn say(&mut self, tone: Tone, text: &str);
    /// A line about rb itself rather than the run (where the transcript is, an event that could
    /// not be written), kept apart from the narration: stderr on a terminal.
    fn notice(&mut self, text: &str);
    /// A chunk of step output, already redacted.
    fn output(&mut self, stream: Stream, bytes: &[u8]);
    /// Asks a question with a fixed set of answers.
    fn choose(&mut self, question: &str, choices: &[Choice]) -> Result<Choice, AskError>;
    /// Asks for a line of text (`hidden` for secrets: never echoed).
    fn text(&mut self, question: &str, hidden: bool) -> Result<String, AskError>;
    /// A step's process started (`Some`) or ended (`None`).
    fn activity(&mut self, _now: Option<Activity>) {}
}

/// Answers from a script; records everything it was told. For tests.
#[derive(Debug, Default)]
pub struct ScriptedOperator {
    pub choices: VecDeque<Choice>,
    pub texts: VecDeque<String>,
    /// Everything said, as `(tone, text)`.
    pub said: Vec<(Tone, String)>,
    /// All output bytes, in order.
    pub output: Vec<u8>,
    /// Every question asked, with its choices.
    pub asked: Vec<(String, Vec<Choice>)>,
    /// Every notice, in order.
    pub notices: Vec<String>,
    /// How long each answer takes (a person thinking), so tests can tell prompt time apart.
    pub thinking: std::time::Duration,
}

impl ScriptedOperator {
    pub fn new(choices: impl IntoIterator<Item = Choice>) -> Self {
        ScriptedOperator {
            choices: choices.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Everything said with `tone`, joined by newlines.
    pub fn said_with(&self, tone: Tone) -> String {
        self.said
            .iter()
            .filter(|(t, _)| *t == tone)
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Operator for ScriptedOperator {
    fn name(&self) -> String {
        "script".into()
    }
    fn say(&mut self, tone: Tone, text: &str) {
        self.said.push((tone, text.to_string()));
    }
    fn notice(&mut self, text: &str) {
        self.notices.push(text.to_string());
    }
    fn output(&mut self, _stream: Stream, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }
    fn choose(&mut self, question: &str, choices: &[Choice]) -> Result<Choice, AskError> {
        self.asked.push((question.to_string(), choices.to_vec()));
        std::thread::sleep(self.thinking);
        match self.choices.pop_front() {
            Some(c) if choices.contains(&c) => Ok(c),
            Some(c) => Err(AskError::Unavailable(format!(
                "scripted answer `{c}` is not one of the choices for {question:?}"
            ))),
            None => Err(AskError::Unavailable(format!(
                "no scripted answer left for {question:?}"
            ))),
        }
    }
    fn text(&mut self, question: &str, _hidden: bool) -> Result<String, AskError> {
        self.texts
            .pop_front()
            .ok_or_else(|| AskError::Unavailable(format!("no scripted text left for {question:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::Choice;

    #[test]
    fn labels_mark_their_keys_and_keys_are_distinct() {
        assert_eq!(Choice::Run.label(), "[r]un");
        assert_eq!(Choice::Retry.label(), "re[t]ry");
        assert_eq!(Choice::Show.label(), "[d]etails");
        assert_eq!(Choice::Copy.label(), "c[o]py");
        let all = [
            Choice::Run,
            Choice::Skip,
            Choice::Abort,
            Choice::Note,
            Choice::Show,
            Choice::Retry,
            Choice::Rollback,
            Choice::Done,
            Choice::Continue,
            Choice::Post,
            Choice::Copy,
            Choice::Edit,
            Choice::Wait,
            Choice::End,
        ];
        let keys: std::collections::HashSet<char> = all.iter().map(|c| c.key()).collect();
        assert_eq!(keys.len(), all.len());
    }
}
