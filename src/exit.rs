//! Exit codes, and the one error type rb reports.
//!
//! 0 the run finished (or everything was valid); 1 a step failed or the operator aborted;
//! 2 bad usage, an invalid runbook or a failed pre-flight; 70 an internal error (a bug in rb);
//! 74 the system refused (a file rb could not read or write, no process handling);
//! 130 interrupted (Ctrl-C, SIGTERM, SIGHUP).

use std::process::ExitCode;

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    /// A bug in rb (sysexits' `EX_SOFTWARE`).
    Internal = 70,
    /// The system refused what rb needed: I/O, permissions, resources (sysexits' `EX_IOERR`).
    Environment = 74,
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
    /// A usage error (exit 2): what the user asked for cannot be done as asked.
    pub fn usage(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hints: Vec::new(),
            details: Vec::new(),
            code: Code::Usage,
        }
    }

    /// The system refused (exit 74): `message` says what rb was doing.
    pub fn environment(message: impl Into<String>) -> Self {
        UserError {
            code: Code::Environment,
            ..UserError::usage(message)
        }
    }

    /// A failed I/O call: a path that does not exist is the user's to fix (exit 2); anything
    /// else (permissions, a full disk, an I/O error) is the system's (exit 74).
    pub fn io(message: impl Into<String>, err: &std::io::Error) -> Self {
        let message = format!("{}: {err}", message.into());
        use std::io::ErrorKind::{InvalidInput, IsADirectory, NotADirectory, NotFound};
        match err.kind() {
            NotFound | IsADirectory | NotADirectory | InvalidInput => UserError::usage(message),
            _ => UserError::environment(message),
        }
    }

    /// A bug in rb (exit 70): something its own code should have made impossible.
    pub fn internal(message: impl Into<String>) -> Self {
        UserError {
            code: Code::Internal,
            ..UserError::usage(message)
        }
        .hint("this is a bug in rb; please report it with the command you ran")
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
