//! rb: a runbook-as-code executor.
//!
//! The library holds all the work; the binary (`src/main.rs`) only calls [`cli::main`].
//! The path of a run: [`catalog`] finds a runbook, [`runbook`] loads and validates it into typed
//! structures, [`render`] turns templates into commands, [`exec`] runs the steps through an
//! operator (prompts) and a runner (processes), and every event is recorded.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod diag;
pub mod domain;
pub mod exec;
pub mod exit;
pub mod export;
pub mod launch;
pub mod notify;
pub mod redact;
pub mod remote;
pub mod render;
pub mod report;
pub mod runbook;
pub mod sanitize;
pub mod transcript;
