//! Machine renderings of validation diagnostics for CI systems: GitHub Actions workflow commands
//! ([`github`]) and SARIF 2.1.0 ([`sarif`]). The human and JSON renderings live with
//! [`crate::diag::Diagnostic`]; this module only formats what validation already found.

pub mod github;
pub mod sarif;
