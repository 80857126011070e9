//! The runbook file format, version 1: what a YAML file may say, as serde types.
//!
//! These types are the single source of truth for the format: the JSON Schema in
//! `schemas/runbook.schema.json` is generated from them (see [`crate::runbook::schema`]). A step
//! is flat here (every key of every kind), as it is written; validation turns it into the typed
//! [`crate::runbook::model`], where each kind carries exactly its own fields, and every later
//! stage works on that. [`KIND_FIELDS`] is the one table of which keys belong to which kind.
//! Unknown keys are rejected everywhere: a typo in a runbook must never be silently ignored.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::{Duration, DurationSpec};
pub use super::rollout::{MaxFail, On, Serial};
pub use crate::domain::{Milestone, StepKind};

/// A runbook: the response to one kind of incident, as a sequence of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "rb runbook", extend("$id" = "https://rb.invalid/schemas/runbook.schema.json"))]
pub struct Runbook {
    /// Format version. Only `1` exists.
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// Kebab-case name; must equal the file stem (`disk-full` for `disk-full.yaml`).
    #[schemars(regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"))]
    #[schemars(example = "disk-full")]
    pub name: String,
    /// One-line title shown by `rb list`.
    #[schemars(length(min = 1))]
    #[schemars(example = "Disk space full")]
    pub title: String,
    /// When to use this runbook and what it achieves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Free space safely on a full filesystem, keeping the evidence.")]
    pub summary: Option<String>,
    /// Free-form labels, for example `[disk, storage]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = ["disk", "storage"])]
    pub tags: Vec<String>,
    /// Programs that must be on `PATH` before step 1 runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = ["df", "du", "find"])]
    pub requires: Vec<String>,
    /// The shell every command runs under (default `bash`, with `-euo pipefail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Shell>,
    /// Inputs, bound with `-p name=value` or from their defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z_][a-z0-9_]*$"}))]
    pub params: BTreeMap<String, Param>,
    /// Where messages for the incident channel are posted (default: `$RB_WEBHOOK_URL`, if set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// How often the incident channel expects an update (`15m`): rb reminds the operator and
    /// offers a prefilled one. `--update-every` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every: Option<Duration>,
    /// Where command and watch steps run when the run has remote hosts: `target` (default: on
    /// the hosts) or `local` (here). A step's own `on` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<On>,
    /// Canary batches for every step that changes the system on the hosts (`[1, 25%, 100%]`);
    /// a step's own `serial` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Serial>,
    /// How many hosts may fail such a step before its rollout stops (`1`, `10%`; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<MaxFail>,
    /// The steps, run in order.
    #[schemars(length(min = 1))]
    pub steps: Vec<Step>,
}

/// The incident channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The environment variable holding the incoming webhook's address (a secret: it is never
    /// shown or recorded). When it is unset, `RB_WEBHOOK_URL` is used.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub webhook_env: String,
}

/// Shells a runbook may run its commands under: `bash` runs `bash -euo pipefail -c`, `sh` runs
/// `sh -eu -c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    #[default]
    Bash,
    Sh,
}

impl Shell {
    /// The argv prefix a script is appended to.
    pub fn argv(self) -> &'static [&'static str] {
        match self {
            Shell::Bash => &["bash", "-euo", "pipefail", "-c"],
            Shell::Sh => &["sh", "-eu", "-c"],
        }
    }
}

/// The type of a parameter: `string` (default), `integer`, `boolean`, `enum` (one of `choices`)
/// or `duration` (`30s`, `5m`; usable as `timeout`, `every` or `for` of a step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Integer,
    Boolean,
    Enum,
    Duration,
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ParamType {
    /// The name as written in a runbook.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
            ParamType::Enum => "enum",
            ParamType::Duration => "duration",
        }
    }
}

/// A runbook input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// What the value means, shown by `rb show` and in prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Full mount point")]
    pub description: Option<String>,
    /// The value's type (default `string`).
    #[serde(default, rename = "type")]
    pub ty: ParamType,
    /// Used when no value is given. A param without a default must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Scalar>")]
    pub default: Option<serde_json::Value>,
    /// A regular expression a string value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "^/")]
    pub pattern: Option<String>,
    /// Smallest allowed integer value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Largest allowed integer value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// The allowed values of an `enum` param.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = ["fast", "safe"])]
    pub choices: Vec<String>,
    /// A secret is never written in clear to the terminal or the transcript, and reaches
    /// commands only through its environment variable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// Environment variable the value is read from (and, for a secret, exported as).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    #[schemars(example = &"API_TOKEN")]
    pub env: Option<String>,
    /// `true`: a value may begin with `-` even where a command would read it as an option.
    /// Without it such a value is refused, unless every use stands after `--` or inside a word.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_leading_dash: bool,
}

/// Schema of a param default: a YAML scalar.
struct Scalar;

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["string", "integer", "boolean"]})
    }
}

/// One step. Which fields apply depends on `kind`; the schema says which are required for each
/// kind and validation reports a field that the kind does not use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = step_kind_requirements)]
pub struct Step {
    /// Unique within the runbook; used by `--from` and in transcripts.
    #[schemars(regex(pattern = r"^[a-z0-9]+([-_][a-z0-9]+)*$"))]
    #[schemars(example = "compress-old-logs")]
    pub id: String,
    /// What this step does, in a few words (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Compress logs older than {{ days }} days")]
    pub title: Option<String>,
    /// `command` (default), `message`, `manual` or `watch`.
    #[serde(default)]
    pub kind: StepKind,
    /// Why this step exists, for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An expression; the step is skipped when it is false (for example `usage_pct | int >= 90`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "usage_pct | int >= 90")]
    pub when: Option<String>,
    /// The shell command (command and watch steps). Values are shell-quoted; `|raw` opts out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "df --output=pcent -- {{ mount }} | tail -n 1")]
    pub run: Option<String>,
    /// True when the command changes nothing: it runs without confirmation and in `--check`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Trimmed stdout is stored under this name for later steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_]*$"))]
    #[schemars(example = &"usage_pct")]
    pub capture: Option<String>,
    /// How long the command may run before its whole process group is ended (`30s`, `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "5m")]
    pub timeout: Option<DurationSpec>,
    /// Automatic retries of a failed command before the operator is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// A command that undoes this step, offered when the step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "systemctl start {{ service }}")]
    pub rollback: Option<String>,
    /// Stronger confirmation for a destructive step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    /// Give the command the terminal as its stdin (default: /dev/null).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interactive: bool,
    /// Text for the incident channel (message steps; a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "INCIDENT: {{ mount }} at {{ usage_pct }}%. Next update in 15 min.")]
    pub text: Option<String>,
    /// What the operator must do (manual steps; a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Check the status pages of the external services we call.")]
    pub instructions: Option<String>,
    /// Expression that must hold (watch steps); `output` is the check's trimmed stdout and
    /// `exit_code` its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "output | int < 80")]
    pub until: Option<String>,
    /// Interval between checks (watch steps; default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "30s")]
    pub every: Option<DurationSpec>,
    /// How long `until` must hold without a breach (watch steps).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[schemars(example = "10m")]
    pub hold_for: Option<DurationSpec>,
    /// An incident milestone recorded when this step succeeds (for example `mitigated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marks: Option<Milestone>,
    /// Where the step runs when the run has remote hosts: `target` (on the hosts) or `local`
    /// (here, on the operator's machine). Command and watch steps; default: the runbook's `on`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<On>,
    /// Canary batches on the hosts (`[1, 25%, 100%]`): the step runs on the first batch, the
    /// results are shown, and the operator is asked before the next (command steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Serial>,
    /// How many hosts may fail before the rollout stops (`1`, `10%`; default 0; command steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<MaxFail>,
}

/// Whether a kind's field must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// The keys each step kind takes beyond the common ones (`id`, `title`, `kind`, `description`,
/// `when`, `marks`): the one table read by the schema (required keys), by validation (a key the
/// kind does not take is an error) and by the conversion into typed steps.
pub const KIND_FIELDS: &[(StepKind, &[(&str, Need)])] = &[
    (
        StepKind::Command,
        &[
            ("run", Need::Required),
            ("read_only", Need::Optional),
            ("capture", Need::Optional),
            ("timeout", Need::Optional),
            ("retry", Need::Optional),
            ("rollback", Need::Optional),
            ("confirm", Need::Optional),
            ("interactive", Need::Optional),
            ("on", Need::Optional),
            ("serial", Need::Optional),
            ("max_fail", Need::Optional),
        ],
    ),
    (StepKind::Message, &[("text", Need::Required)]),
    (StepKind::Manual, &[("instructions", Need::Required)]),
    (
        StepKind::Watch,
        &[
            ("run", Need::Required),
            ("until", Need::Required),
            ("for", Need::Required),
            ("every", Need::Optional),
            ("timeout", Need::Optional),
            ("on", Need::Optional),
        ],
    ),
];

/// The keys `kind` takes (see [`KIND_FIELDS`]).
pub fn fields_of(kind: StepKind) -> &'static [(&'static str, Need)] {
    KIND_FIELDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, fields)| fields)
}

/// Schema: which fields each step kind requires, from [`KIND_FIELDS`].
fn step_kind_requirements(schema: &mut schemars::Schema) {
    let rules: Vec<serde_json::Value> = KIND_FIELDS
        .iter()
        .map(|(kind, fields)| {
            let is_kind =
                serde_json::json!({"properties": {"kind": {"const": kind.as_str()}}, "required": ["kind"]});
            let cond = if *kind == StepKind::default() {
                serde_json::json!({"anyOf": [{"not": {"required": ["kind"]}}, is_kind]})
            } else {
                is_kind
            };
            let required: Vec<&str> = fields
                .iter()
                .filter(|(_, need)| *need == Need::Required)
                .map(|(f, _)| *f)
                .collect();
            serde_json::json!({"if": cond, "then": {"required": required}})
        })
        .collect();
    schema.insert("allOf".into(), serde_json::Value::Array(rules));
}

/// Automatic retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts including the first (2 to 20).
    #[schemars(range(min = 2, max = 20))]
    pub attempts: u32,
    /// Wait before the second attempt (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `fixed` (default) or `exponential` (the delay doubles each time).
    #[serde(default)]
    pub backoff: Backoff,
}

/// How the retry delay grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    #[default]
    Fixed,
    Exponential,
}

/// Stronger confirmation: the operator must type a word (a template, e.g. the database name).
/// `--yes` alone does not pass it; `--yes-typed` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The word to type.
    #[schemars(length(min = 1))]
    pub typed: String,
}

impl Step {
    /// The kind-specific keys this step sets, as written in the file.
    pub fn fields_set(&self) -> Vec<&'static str> {
        let set = [
            ("run", self.run.is_some()),
            ("read_only", self.read_only),
            ("capture", self.capture.is_some()),
            ("timeout", self.timeout.is_some()),
            ("retry", self.retry.is_some()),
            ("rollback", self.rollback.is_some()),
            ("confirm", self.confirm.is_some()),
            ("interactive", self.interactive),
            ("text", self.text.is_some()),
            ("instructions", self.instructions.is_some()),
            ("until", self.until.is_some()),
            ("every", self.every.is_some()),
            ("for", self.hold_for.is_some()),
            ("on", self.on.is_some()),
            ("serial", self.serial.is_some()),
            ("max_fail", self.max_fail.is_some()),
        ];
        set.into_iter()
            .filter(|(_, is_set)| *is_set)
            .map(|(f, _)| f)
            .collect()
    }
}
