//! Running a runbook: the step loop (executor) and the process runner it drives.

pub mod runner;
