//! Diagnostic codes: one per rule a runbook can break, with the stage that finds it and a
//! one-line summary. The code is what `error[code]` shows, what `--format json` writes, and a
//! stable rule id for tools; every code is documented in `docs/FORMAT.md` (a test checks it).

use std::fmt;

use serde::{Serialize, Serializer};

/// Which stage of validation finds a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the YAML.
    Loading,
    /// The JSON Schema.
    Schema,
    /// rb's own checks on the typed runbook.
    Semantics,
}

macro_rules! codes {
    ($($variant:ident => ($word:literal, $stage:ident, $summary:literal)),+ $(,)?) => {
        /// A diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DiagCode { $($variant),+ }

        impl DiagCode {
            /// Every code, in the order of `docs/FORMAT.md`.
            pub const ALL: &'static [DiagCode] = &[$(DiagCode::$variant),+];

            /// The code as shown and written (`undefined-variable`).
            pub fn as_str(self) -> &'static str {
                match self { $(DiagCode::$variant => $word),+ }
            }

            /// The stage that finds it.
            pub fn stage(self) -> Stage {
                match self { $(DiagCode::$variant => Stage::$stage),+ }
            }

            /// What the rule is, in one line.
            pub fn summary(self) -> &'static str {
                match self { $(DiagCode::$variant => $summary),+ }
            }
        }
    };
}

codes! {
    Io => ("io", Loading, "the file cannot be read"),
    FileTooLarge => ("file-too-large", Loading, "the file is larger than rb reads (1 MiB)"),
    NotUtf8 => ("not-utf8", Loading, "the file is not UTF-8 text"),
    Empty => ("empty", Loading, "the file, or a list or text that must have content, is empty"),
    YamlSyntax => ("yaml-syntax", Loading, "the YAML does not parse"),
    YamlValue => ("yaml-value", Loading, "a YAML value rb does not accept (tags, special floats)"),
    YamlKey => ("yaml-key", Loading, "a mapping key that is not a plain string"),
    YamlAlias => ("yaml-alias", Loading, "an alias to an anchor that is not defined"),
    DuplicateKey => ("duplicate-key", Loading, "the same key twice in one mapping"),
    MultipleDocuments => ("multiple-documents", Loading, "more than one YAML document in the file"),
    TooDeep => ("too-deep", Loading, "nesting deeper than 64 levels"),
    TooManyNodes => ("too-many-nodes", Loading, "more than 100,000 nodes after alias expansion"),
    UnknownKey => ("unknown-key", Schema, "a key the format does not have"),
    MissingKey => ("missing-key", Schema, "a required key is missing"),
    Type => ("type", Schema, "a value of the wrong type"),
    Enum => ("enum", Schema, "a value that is not one of the allowed words"),
    Const => ("const", Schema, "a value that must be exactly one thing (the format version)"),
    Duration => ("duration", Schema, "a value that is not a duration like `30s` or `5m`"),
    Name => ("name", Schema, "a name that is not kebab-case or a valid identifier"),
    Pattern => ("pattern", Schema, "a value that does not match its pattern, or a param pattern that is not a valid regular expression"),
    Range => ("range", Schema, "a number outside its bounds"),
    InvalidValue => ("invalid-value", Schema, "a value the typed model cannot take"),
    Schema => ("schema", Schema, "any other schema rule"),
    NameMismatch => ("name-mismatch", Semantics, "`name` differs from the file stem"),
    Requires => ("requires", Semantics, "a `requires` entry that is not a program name"),
    Param => ("param", Semantics, "param keys that do not fit its type"),
    ParamDefault => ("param-default", Semantics, "a param default that breaks the param's own rules"),
    SecretWithoutEnv => ("secret-without-env", Semantics, "a secret param with no `env` variable"),
    SecretDefault => ("secret-default", Semantics, "a secret with a default written in the file"),
    SecretInCommand => ("secret-in-command", Semantics, "a secret interpolated into a command"),
    DuplicateId => ("duplicate-id", Semantics, "two steps with the same id"),
    DuplicateCapture => ("duplicate-capture", Semantics, "two steps capturing the same name"),
    CaptureShadowsParam => ("capture-shadows-param", Semantics, "a capture named like a param"),
    CaptureReserved => ("capture-reserved", Semantics, "a capture named like a watch variable"),
    UndefinedVariable => ("undefined-variable", Semantics, "a template uses a name that is not a param or an earlier capture"),
    Template => ("template", Semantics, "a template that does not parse"),
    Expression => ("expression", Semantics, "a `when` or `until` expression that does not parse"),
    QuotedTemplate => ("quoted-template", Semantics, "a `{{ }}` value inside quotes the author wrote in a command (`'…'`, `\"…\"`, `$'…'`)"),
    ShellCodeTemplate => ("shell-code-template", Semantics, "a `{{ }}` value that a shell would run as code (`bash -c` script, `eval`, backticks)"),
    TemplateContext => ("template-context", Semantics, "a `{{ }}` value where rb's quoting cannot keep it one literal (heredoc, here-string, arithmetic, `${ }`, case pattern, comment, after `\\` or `$`)"),
    SecretInText => ("secret-in-text", Semantics, "a secret used in a title, message, instructions or typed confirmation word"),
    FieldUnused => ("field-unused", Semantics, "a key the step's kind does not take"),
    RollbackOnReadOnly => ("rollback-on-read-only", Semantics, "a read-only step with a rollback"),
    ConfirmOnReadOnly => ("confirm-on-read-only", Semantics, "a read-only step with a typed confirmation"),
    WatchWindow => ("watch-window", Semantics, "a watch whose `for` can never be reached"),
    DurationParam => ("duration-param", Semantics, "a duration key naming a param that is not a duration"),
}

impl fmt::Display for DiagCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DiagCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code is explained in the format reference, under its stage.
    #[test]
    fn every_code_is_documented_in_the_format_reference() {
        let doc = include_str!("../../docs/FORMAT.md");
        let section = doc
            .split("## Diagnostic codes")
            .nth(1)
            .expect("docs/FORMAT.md has a `## Diagnostic codes` section");
        let missing: Vec<&str> = DiagCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !section.contains(&format!("`{c}`")))
            .collect();
        assert!(missing.is_empty(), "not in docs/FORMAT.md: {missing:?}");
    }

    #[test]
    fn codes_are_distinct() {
        let words: std::collections::HashSet<&str> =
            DiagCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(words.len(), DiagCode::ALL.len());
    }
}
