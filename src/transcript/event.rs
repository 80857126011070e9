//! PROVISIONAL: replaced by the transcript branch at merge.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Live,
    Check,
    DryRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    Skipped,
    TimedOut,
    Interrupted,
    RolledBack,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Finished,
    Failed,
    Aborted,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        schema_version: u32,
        run_id: String,
        runbook: String,
        source: String,
        sha256: String,
        mode: Mode,
        params: BTreeMap<String, String>,
        operator: String,
        host: String,
        rb_version: String,
        started_at: String,
    },
    StepStarted {
        step: String,
        index: usize,
        kind: String,
        title: Option<String>,
        command: Option<String>,
        attempt: u32,
    },
    Prompt {
        step: Option<String>,
        question: String,
        choices: Vec<String>,
    },
    Decision {
        step: Option<String>,
        by: String,
        choice: String,
        text: Option<String>,
    },
    Output {
        step: String,
        stream: Stream,
        text: Option<String>,
        bytes_b64: Option<String>,
    },
    Captured {
        step: String,
        name: String,
        value: String,
    },
    Retry {
        step: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        exit_code: Option<i32>,
        duration_ms: u64,
        reason: Option<String>,
    },
    Message {
        step: String,
        text: String,
    },
    Manual {
        step: String,
        done: bool,
        note: Option<String>,
    },
    Note {
        by: String,
        text: String,
        step: Option<String>,
    },
    Milestone {
        name: String,
        by: String,
        step: Option<String>,
    },
    Interrupted {
        step: Option<String>,
        what: String,
    },
    RunFinished {
        outcome: Outcome,
        duration_ms: u64,
    },
}
