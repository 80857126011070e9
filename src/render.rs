//! Rendering: one minijinja environment for every template and expression in a runbook.
//!
//! Undefined variables are errors (a typo must not render as an empty string). Templates that
//! become shell commands are auto-escaped: every interpolated value is shell-quoted unless the
//! author writes `|raw`, so a parameter like `/; rm -rf ~` reaches the shell as one argument.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// What a template becomes, which decides how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// A shell command: values are shell-quoted.
    Shell,
    /// Text for people (titles, messages, instructions): values are inserted as they are.
    Text,
}

impl TemplateKind {
    fn name(self) -> &'static str {
        match self {
            TemplateKind::Shell => "command.sh",
            TemplateKind::Text => "text.txt",
        }
    }
}

/// A template or expression error, with the line inside the template (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub message: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<minijinja::Error> for RenderError {
    fn from(e: minijinja::Error) -> Self {
        let mut message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        if e.kind() == minijinja::ErrorKind::UndefinedError && e.detail().is_none() {
            message = "undefined value".into();
        }
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            message = too_big();
        }
        RenderError {
            message,
            line: e.line(),
        }
    }
}

/// What a template that exceeds the bounds is told.
fn too_big() -> String {
    format!(
        "the template does more work or makes more text than rb allows (limit: {FUEL} units of work, {} KiB of text)",
        MAX_RENDERED / 1024
    )
}

/// A value as a shell or a person expects it: booleans as `true`/`false` (minijinja's own
/// display is Python's `True`, which a shell `if` cannot run).
fn plain_text(value: &Value) -> String {
    match value.kind() {
        minijinja::value::ValueKind::Bool => {
            if value.is_true() { "true" } else { "false" }.to_string()
        }
        _ => value.to_string(),
    }
}

/// The work one render or expression may do (minijinja's fuel: about one unit per instruction,
/// and for data it creates). Real runbook templates use a few hundred.
pub const FUEL: u64 = 200_000;
/// The longest text a template may render to.
pub const MAX_RENDERED: usize = 256 * 1024;
/// `text` as one shell word that bash and POSIX sh read back as exactly `text`: left bare when it
/// holds only characters no shell treats specially, else in single quotes (a `'` in it written as
/// `'\''`). `None` for a NUL byte, which no argument can hold.
///
/// Stricter than shlex: `~`, `=`, `{`, `#`, `!` and every non-ASCII character are quoted too, so a
/// value never expands a tilde, turns a command word into an assignment or starts a comment.
pub fn shell_quote(text: &str) -> Option<String> {
    if text.contains('\0') {
        return None;
    }
    let bare = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./,:+@-".contains(&b));
    if bare {
        return Some(text.to_string());
    }
    Some(format!("'{}'", text.replace('\'', "'\\''")))
}

/// The variables a template sees: bound params and captures, by name.
pub type Context = BTreeMap<String, Value>;

/// Renders templates and evaluates conditions.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // Jinja's `{# … #}` comments would swallow bash's `${#var}`; comments are `{## … ##}`.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .comment_delimiters("{##", "##}")
            .build()
            .expect("static delimiters are valid");
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template that passed validation can still ask for gigabytes (`{{ "x" * 10**9 }}`) or
        // loop for ever: fuel bounds the work and the data one render may create.
        env.set_fuel(Some(FUEL));
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".sh") {
                AutoEscape::Custom("shell".into())
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Custom(n) if n == "shell")
                && !value.is_safe()
            {
                let text = plain_text(value);
                let quoted = shell_quote(&text).ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "a value containing a NUL byte cannot be passed to a shell",
                    )
                })?;
                out.write_str(&quoted).map_err(minijinja::Error::from)
            } else if value.kind() == minijinja::value::ValueKind::Bool {
                out.write_str(&plain_text(value))
                    .map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        // `|raw` inserts a value into a command unquoted: an explicit, reviewable opt-out.
        env.add_filter("raw", |v: Value| Value::from_safe_string(plain_text(&v)));
        Renderer { env }
    }

    /// Renders `source` as `kind` with `ctx`.
    pub fn render(
        &self,
        kind: TemplateKind,
        source: &str,
        ctx: &Context,
    ) -> Result<String, RenderError> {
        let tmpl = self.env.template_from_named_str(kind.name(), source)?;
        let text = tmpl.render(ctx)?;
        if text.len() > MAX_RENDERED {
            return Err(RenderError {
                message: too_big(),
                line: None,
            });
        }
        Ok(text)
    }

    /// Evaluates a condition (`when`, `until`) to a boolean by Jinja truthiness.
    pub fn eval_condition(&self, expr: &str, ctx: &Context) -> Result<bool, RenderError> {
        let e = self.env.compile_expression(expr)?;
        Ok(e.eval(ctx)?.is_true())
    }

    /// The variables a template reads from its context. Fails when the template does not parse.
    pub fn template_variables(
        &self,
        kind: TemplateKind,
        source: &str,
    ) -> Result<BTreeSet<String>, RenderError> {
        let tmpl = self.env.template_from_named_str(kind.name(), source)?;
        Ok(looked_up(&tmpl))
    }

    /// The variables an expression reads. Fails when it does not compile.
    pub fn expression_variables(&self, expr: &str) -> Result<BTreeSet<String>, RenderError> {
        let e = self.env.compile_expression(expr)?;
        Ok(
            match self.env.template_from_str(&format!("{{{{ ({expr}) }}}}")) {
                Ok(tmpl) => looked_up(&tmpl),
                // An expression that compiles alone but not inside `{{ }}` (none is known): minijinja's
                // own analysis, which misses a slice's operand.
                Err(_) => e.undeclared_variables(false).into_iter().collect(),
            },
        )
    }
}

/// Every name the compiled template reads from its context: a `Lookup` of a name it has not
/// stored itself before that point (a `set`, a loop variable, a macro argument), in the order of
/// the compiled instructions (a loop's body comes after its variable is stored).
///
/// Read from the instructions rather than with minijinja's `undeclared_variables`, which parses
/// the template a second time, skips the operand of a slice (`{{ tok[:1] }}` reads `tok`), and
/// counts the built-in functions (`range`, `dict`, `namespace`) as variables although every
/// render has them. `loop` and `self` are minijinja's own.
fn looked_up(tmpl: &minijinja::Template<'_, '_>) -> BTreeSet<String> {
    use minijinja::machinery::{Instruction, Instructions, get_compiled_template};
    let compiled = get_compiled_template(tmpl);
    let mut read = BTreeSet::new();
    let mut stored = BTreeSet::new();
    let mut scan = |ins: &Instructions<'_>| {
        let mut i = 0;
        while let Some(op) = ins.get(i) {
            match op {
                Instruction::Lookup(name) if !stored.contains(*name) => {
                    read.insert(name.to_string());
                }
                Instruction::StoreLocal(name) => {
                    stored.insert(name.to_string());
                }
                _ => {}
            }
            i += 1;
        }
    };
    scan(&compiled.instructions);
    for block in compiled.blocks.values() {
        scan(block);
    }
    read.retain(|n| n != "loop" && n != "self");
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn shell_values_are_quoted() {
        let r = Renderer::new();
        let out = r
            .render(
                TemplateKind::Shell,
                "du -sh -- {{ mount }}",
                &ctx(&[("mount", "/; rm -rf ~")]),
            )
            .unwrap();
        assert_eq!(out, "du -sh -- '/; rm -rf ~'");
    }

    #[test]
    fn raw_opts_out_and_text_is_not_quoted() {
        let r = Renderer::new();
        let c = ctx(&[("flags", "-a -b"), ("m", "a b")]);
        assert_eq!(
            r.render(TemplateKind::Shell, "ls {{ flags|raw }}", &c)
                .unwrap(),
            "ls -a -b"
        );
        assert_eq!(
            r.render(TemplateKind::Text, "at {{ m }}", &c).unwrap(),
            "at a b"
        );
    }

    #[test]
    fn booleans_render_lowercase_everywhere() {
        let r = Renderer::new();
        let mut c = Context::new();
        c.insert("dump".into(), Value::from(true));
        assert_eq!(
            r.render(TemplateKind::Shell, "if {{ dump }}; then :; fi", &c)
                .unwrap(),
            "if true; then :; fi"
        );
        assert_eq!(
            r.render(TemplateKind::Shell, "{{ dump|raw }}", &c).unwrap(),
            "true"
        );
        assert_eq!(
            r.render(TemplateKind::Text, "dump={{ dump }}", &c).unwrap(),
            "dump=true"
        );
    }

    #[test]
    fn bash_length_expansions_are_not_comments() {
        let r = Renderer::new();
        let c = ctx(&[("arr", "x")]);
        let src = "n=${#a[@]}; m=${#s}; echo {{ arr }} {## a note ##}";
        assert_eq!(
            r.render(TemplateKind::Shell, src, &c).unwrap(),
            "n=${#a[@]}; m=${#s}; echo x "
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let r = Renderer::new();
        assert!(
            r.render(TemplateKind::Shell, "echo {{ nope }}", &Context::new())
                .is_err()
        );
    }

    #[test]
    fn every_read_is_found_slices_filters_and_concatenation_too() {
        let r = Renderer::new();
        for src in [
            "{{ tok[:1] }}{{ tok[1:] }}",
            "{{ tok|upper }}",
            "{{ 'a' ~ tok }}",
            "{{ (tok ~ '')[0:] }}",
            "{% set x = tok %}{{ x }}",
            "{% for c in tok %}{{ c }}{% endfor %}",
        ] {
            let vars = r.template_variables(TemplateKind::Shell, src).unwrap();
            assert!(vars.contains("tok"), "{src}: {vars:?}");
            assert!(
                !vars.contains("x") && !vars.contains("c"),
                "{src}: {vars:?}"
            );
        }
        let vars = r.expression_variables("nope[1:] == 'x'").unwrap();
        assert!(vars.contains("nope"));
    }

    #[test]
    fn a_read_before_the_template_sets_the_name_counts_and_builtins_are_no_variables() {
        let r = Renderer::new();
        let vars = |src| r.template_variables(TemplateKind::Shell, src).unwrap();
        assert!(vars("{{ y }}{% set y = 1 %}{{ y }}").contains("y"));
        let in_loop = vars("{% for a in xs %}{{ y }}{% set y = a %}{{ loop.index }}{% endfor %}");
        assert_eq!(in_loop.into_iter().collect::<Vec<_>>(), ["xs", "y"]);
        let macro_args = vars("{% macro m(a) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}");
        assert_eq!(macro_args.into_iter().collect::<Vec<_>>(), ["b"]);
        // What every render has is no variable of the runbook's: validation must not refuse it.
        let builtins = "{{ range(3)|join(',') }} {{ namespace(a=1).a }} {{ dict(k=v).k }}";
        assert_eq!(vars(builtins).into_iter().collect::<Vec<_>>(), ["v"]);
        let ctx = ctx(&[("v", "1")]);
        assert_eq!(
            r.render(TemplateKind::Text, builtins, &ctx).unwrap(),
            "0,1,2 1 1"
        );
    }

    #[test]
    fn conditions_and_variables() {
        let r = Renderer::new();
        assert!(
            r.eval_condition("pct | int >= 90", &ctx(&[("pct", "93")]))
                .unwrap()
        );
        assert!(
            !r.eval_condition("pct | int >= 90", &ctx(&[("pct", "12")]))
                .unwrap()
        );
        let vars = r.expression_variables("pct | int >= limit").unwrap();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["limit", "pct"]);
        let err = r
            .template_variables(TemplateKind::Text, "a\n{{ x ")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    /// Issue 9 #11: templates that pass validation cannot exhaust memory or time at run time.
    #[test]
    fn huge_or_endless_templates_end_in_a_clear_error() {
        let r = Renderer::new();
        let ctx = Context::new();
        for src in [
            r#"{{ "x" * 100000000 }}"#,
            r#"{{ "x" | indent(1000000000) }}"#,
            r#"{{ "ab\ncd" | indent(1000000000) }}"#,
            r#"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"#,
            r#"{{ range(100000) | join(",") * 1000 }}"#,
            r#"{{ ("x" * 100000) * 1000 }}"#,
        ] {
            let e = r.render(TemplateKind::Text, src, &ctx).expect_err(src);
            assert!(e.message.contains("limit"), "{src}: {}", e.message);
        }
        assert_eq!(
            r.render(TemplateKind::Text, "{{ 'ok' * 3 }}", &ctx)
                .unwrap(),
            "okokok"
        );
    }
}
