//! Exit codes, and the error type users can cause.
//!
//! 0 the run finished (or everything was valid); 1 a step failed or the operator aborted;
//! 2 bad usage, an invalid runbook or a failed pre-flight; 130 interrupted by Ctrl-C.

use std::process::ExitCode;

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> ExitCode {
        ExitCode::from(c as u8)
    }
}

/// An error a user can cause: a message, hints on how to fix it, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub hints: Vec<String>,
    /// One line each, listed under the message (for example every pre-flight problem).
    pub details: Vec<String>,
    pub code: Code,
}

impl UserError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hints: Vec::new(),
            details: Vec::new(),
            code: Code::Usage,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }

    /// `error: message` followed by `  = hint: …` lines.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}\n", self.message);
        for d in &self.details {
            s += &format!("  - {d}\n");
        }
        for h in &self.hints {
            s += &format!("  = hint: {h}\n");
        }
        s
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}
