//! Hostile input stays data: a corpus of values an attacker would pass, through the real binary,
//! in every place a template can stand. Each value is refused, or arrives as exactly one intact
//! argument; no second command runs; no raw control byte from a value reaches the terminal.

mod common;

use common::binary::Sandbox;

/// At least 50 values: quotes, substitutions, separators, newlines, CR, NUL, globs, `~`, leading
/// `-`, bidi overrides, terminal escapes, template syntax, and 100 kB.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "'",
        "\"",
        "''",
        "a'b",
        "a\"b",
        "$(touch pwned)",
        "`touch pwned`",
        "; touch pwned",
        "&& touch pwned",
        "| touch pwned",
        "|| touch pwned",
        "\ntouch pwned",
        "x\ntouch pwned\n",
        "\r  $ echo harmless",
        "a\rb",
        "x\0y",
        "\0",
        "*",
        "?",
        "[a-z]*",
        "~",
        "~root",
        "~/x",
        "-rf",
        "--help",
        "-",
        "--",
        "-n",
        "-e \\x41",
        "\u{202e}txt.exe",
        "\u{2066}x\u{2069}",
        "\u{1b}[31mred\u{1b}[0m",
        "\u{1b}]0;pwned\u{7}",
        "\u{1b}[2J\u{1b}[H",
        "\u{1b}[1A\u{1b}[K",
        "\u{9b}2J",
        "\u{7}",
        "\u{8}\u{8}\u{8}",
        "$HOME",
        "${HOME}",
        "$((1+1))",
        "!!",
        "!$",
        "#comment",
        "a b  c",
        " ",
        "",
        "\t",
        "{a,b}",
        "a=b",
        "PATH=/nowhere",
        "'; touch pwned; '",
        "\"; touch pwned; \"",
        "$'\\x41'",
        "\\",
        "\\n",
        "}}{{",
        "{{ v }}",
        "{% raw %}",
        "%s%n",
        "../../etc/passwd",
        "<(touch pwned)",
        "> pwned",
        "2>&1",
        "ü€😀",
        "\u{feff}bom",
        "\u{7f}del",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut big = "A".repeat(50_000);
    big.push_str("$(touch pwned)'\"`;\n\u{1b}[2J");
    big.push_str(&"B".repeat(50_000));
    v.push(big);
    v
}

/// `value` as a YAML double-quoted scalar, every non-printable or non-ASCII character escaped.
fn yaml_quote(value: &str) -> String {
    let mut s = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            ' '..='~' => s.push(c),
            c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    s.push('"');
    s
}

/// One step per place a value may stand: each writes the argv it got, NUL-separated, to a file.
const RUNBOOK: &str = r#"version: 1
name: t
title: hostile values
params:
  v: {allow_leading_dash: true}
steps:
  - id: word
    title: "Word {{ v }}"
    read_only: true
    run: printf '%s\0' {{ v }} > argv-word
  - id: inside
    read_only: true
    run: printf '%s\0' pre{{ v }}post > argv-inside
  - id: after-dashes
    read_only: true
    run: printf '%s\0' -- > argv-dashes && printf '%s\0' {{ v }} >> argv-dashes
  - id: assign
    read_only: true
    run: |
      x={{ v }}
      printf '%s\0' "$x" > argv-assign
  - id: nested
    read_only: true
    run: printf '%s\0' "$(printf '%s' {{ v }}; echo .)" > argv-nested
  - id: shown
    read_only: true
    run: printf '%s\n' {{ v }}
  - id: say
    kind: message
    text: "Message {{ v }}"
  - id: change
    title: "Change {{ v }}"
    run: printf '%s\0' {{ v }} > argv-change
"#;

/// The argv files each step writes, with what each must hold for value `v`.
fn expected(v: &str) -> Vec<(&'static str, Vec<u8>)> {
    let nul = |parts: &[&str]| -> Vec<u8> {
        parts
            .iter()
            .flat_map(|p| p.bytes().chain(std::iter::once(0)))
            .collect()
    };
    // `$( )` drops trailing newlines; the `.` after the value keeps them.
    vec![
        ("argv-word", nul(&[v])),
        ("argv-inside", nul(&[&format!("pre{v}post")])),
        ("argv-dashes", nul(&["--", v])),
        ("argv-assign", nul(&[v])),
        ("argv-nested", nul(&[&format!("{v}.")])),
        ("argv-change", nul(&[v])),
    ]
}

/// Bytes a terminal would act on: C0 controls other than newline and tab, DEL, C1, bidi
/// overrides and isolates. SGR colour sequences of the step's own output are allowed.
fn raw_controls(text: &str) -> Vec<char> {
    let sgr = regex::Regex::new("\u{1b}\\[[0-9;:]*m").unwrap();
    let text = sgr.replace_all(text, "");
    text.chars()
        .filter(|&c| {
            let u = c as u32;
            (u < 0x20 && c != '\n' && c != '\t')
                || (0x7f..=0x9f).contains(&u)
                || (0x202a..=0x202e).contains(&u)
                || (0x2066..=0x2069).contains(&u)
        })
        .collect()
}

#[test]
fn every_value_is_refused_or_arrives_as_one_intact_argument() {
    let values = corpus();
    assert!(values.len() >= 50, "{} values", values.len());
    for v in &values {
        let d = Sandbox::with_runbook(RUNBOOK);
        d.write("p.yaml", &format!("v: {}\n", yaml_quote(v)));
        let out = d.run(&[
            "run",
            "t.yaml",
            "--yes",
            "--params-file",
            "p.yaml",
            "--transcript",
            "t.jsonl",
        ]);
        let shown: String = format!("{:?}", v.chars().take(40).collect::<String>());
        assert!(!d.path("pwned").exists(), "{shown}: a second command ran");
        let terminal = String::from_utf8_lossy(&out.stdout_bytes).to_string() + &out.stderr;
        let raw = raw_controls(&terminal);
        assert!(
            raw.is_empty(),
            "{shown}: raw control characters {raw:?} on the terminal"
        );
        if v.contains('\0') {
            // No argument can hold a NUL: refused before any step writes anything.
            assert_ne!(out.code, Some(0), "{shown}");
            assert!(!d.path("argv-word").exists(), "{shown}");
            continue;
        }
        assert_eq!(out.code, Some(0), "{shown}: {}", out.stderr);
        for (file, want) in expected(v) {
            let got = std::fs::read(d.path(file)).unwrap_or_default();
            assert!(
                got == want,
                "{shown}: {file} holds {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
}

#[test]
fn a_leading_dash_is_refused_where_it_would_be_an_option_before_anything_runs() {
    let d = Sandbox::with_runbook(
        "version: 1\nname: t\ntitle: t\nparams:\n  dir: {}\nsteps:\n  - id: clean\n    run: find {{ dir }} -name '*.old' -delete\n",
    );
    d.write("keep.old", "x");
    let out = d.run(&["run", "t.yaml", "--yes", "-p", "dir=-delete"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("begins with `-`"), "{}", out.stderr);
    assert!(out.stderr.contains("allow_leading_dash"), "{}", out.stderr);
    assert!(d.path("keep.old").exists(), "nothing may run");
}

/// Every context where rb's quoting cannot keep a value one literal is refused by validation.
#[test]
fn every_unsafe_place_is_refused_by_validation() {
    let places = [
        ("echo 'pre {{ v }} post'", "quoted-template"),
        ("echo \"pre {{ v }} post\"", "quoted-template"),
        ("echo $'{{ v }}'", "quoted-template"),
        ("cat <<EOF\n      {{ v }}\n      EOF", "template-context"),
        ("cat <<'EOF'\n      {{ v }}\n      EOF", "template-context"),
        ("bash -c \"echo {{ v }}\"", "shell-code-template"),
        ("bash -c 'echo {{ v }}'", "shell-code-template"),
        ("sh -c {{ v }}", "shell-code-template"),
        ("eval echo {{ v }}", "shell-code-template"),
        ("echo `echo {{ v }}`", "shell-code-template"),
        ("echo $(( {{ v }} + 1 ))", "template-context"),
        ("echo ${x:-{{ v }}}", "template-context"),
        ("cat <<< {{ v }}", "template-context"),
        ("case a in {{ v }}) echo;; esac", "template-context"),
        ("echo a # {{ v }}", "template-context"),
        ("echo \\{{ v }}", "template-context"),
        ("echo ${{ v }}", "template-context"),
    ];
    for (run, code) in places {
        for key in ["run", "rollback"] {
            let step = if key == "run" {
                format!("    run: |\n      {run}\n")
            } else {
                format!("    run: \"true\"\n    rollback: |\n      {run}\n")
            };
            let d = Sandbox::with_runbook(&format!(
                "version: 1\nname: t\ntitle: t\nparams:\n  v: {{}}\nsteps:\n  - id: a\n{step}"
            ));
            let out = d.run(&["validate", "t.yaml"]);
            assert_ne!(out.code, Some(0), "{key}: {run}");
            let all = out.stdout.clone() + &out.stderr;
            assert!(all.contains(&format!("[{code}]")), "{key}: {run}: {all}");
        }
    }
}

mod property {
    use proptest::prelude::*;
    use rb::render::{Context, Renderer, TemplateKind};

    /// What bash itself makes of a rendered command: the arguments `printf` received.
    fn bash_argv(command: &str) -> Vec<String> {
        let out = std::process::Command::new("bash")
            .args(["-c", command])
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{command:?}: {out:?}");
        let mut parts: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|p| String::from_utf8(p.to_vec()).expect("UTF-8 back"))
            .collect();
        parts.pop();
        parts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// For random values, word-splitting the rendered command with bash gives back each
        /// interpolated value exactly.
        #[test]
        fn bash_splits_the_rendered_command_back_into_the_values(
            a in "[^\u{0}]*",
            b in prop::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..40)
                .prop_map(|cs| cs.into_iter().collect::<String>()),
            n in any::<i64>(),
        ) {
            let r = Renderer::new();
            let mut ctx = Context::new();
            ctx.insert("a".into(), minijinja::Value::from(a.clone()));
            ctx.insert("b".into(), minijinja::Value::from(b.clone()));
            ctx.insert("n".into(), minijinja::Value::from(n));
            let cmd = r
                .render(TemplateKind::Shell, "printf '%s\\0' {{ a }} x{{ b }}y {{ n }} {{ a ~ b }}", &ctx)
                .unwrap();
            let want = vec![a.clone(), format!("x{b}y"), n.to_string(), format!("{a}{b}")];
            prop_assert_eq!(bash_argv(&cmd), want);
        }
    }
}

/// In a real terminal, the confirmation shows the command that runs: a CR in a value cannot
/// redraw the line into something harmless-looking.
#[test]
fn the_confirmation_line_in_a_terminal_shows_control_characters_escaped() {
    let d = Sandbox::with_runbook(
        "version: 1\nname: t\ntitle: t\nparams:\n  path: {}\nsteps:\n  - id: rm\n    title: Remove {{ path }}\n    run: rm -f -- {{ path }}\n",
    );
    let mut p = d.pty(&[
        "run",
        "t.yaml",
        "-p",
        "path=/tmp/x\r  $ echo harmless\u{1b}[2K",
        "--transcript",
        "t.jsonl",
    ]);
    p.expect("params: path=/tmp/x\\r  $ echo harmless\\x1b[2K");
    p.expect("Remove /tmp/x\\r  $ echo harmless\\x1b[2K");
    p.expect("$ rm -f -- '/tmp/x\\r  $ echo harmless\\x1b[2K'");
    p.expect("Run this command?");
    p.key("s");
    assert_eq!(p.exit_code(), 0);
}

/// The secret and each encoding a program may print it in, as the test's step prints them.
fn secret_forms(secret: &str) -> Vec<(String, String)> {
    let b64 = {
        use std::io::Write;
        let mut c = std::process::Command::new("base64")
            .args(["-w", "0"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    };
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let url = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    vec![
        ("plain".into(), secret.to_string()),
        ("base64 line 1 at 76".into(), b64[..76].to_string()),
        ("base64 line 2 at 76".into(), b64[76..96].to_string()),
        ("base64 line 1 at 64".into(), b64[..64].to_string()),
        ("base64 line 2 at 64".into(), b64[64..84].to_string()),
        (
            "base64url".into(),
            b64.replace('+', "-").replace('/', "_")[..100].to_string(),
        ),
        ("hex".into(), hex.clone()),
        ("HEX".into(), hex.to_uppercase()),
        ("url".into(), url(false)),
        ("URL".into(), url(true)),
        ("second half, stderr".into(), secret[40..].to_string()),
    ]
}

#[test]
fn every_secret_form_stays_out_of_terminal_transcript_postmortem_and_cast() {
    // 90 bytes: its base64 (120 characters) wraps at both 64 and 76 columns.
    let secret = format!("tok/{}+?&= {}", "k9Qz".repeat(11), "Xy7!".repeat(11));
    let secret = &secret[..90];
    let d = Sandbox::with_runbook(
        r#"version: 1
name: t
title: t
params:
  tok: {secret: true, env: TOK}
steps:
  - id: leak
    read_only: true
    run: |
      s="$TOK"
      printf 'plain %s\n' "$s"
      printf '%s' "$s" | base64
      printf '%s' "$s" | base64 -w 64
      printf '%s' "$s" | basenc --base64url -w 0; echo
      printf '%s' "$s" | od -An -tx1 -v | tr -d ' \n'; echo
      printf '%s' "$s" | od -An -tx1 -v | tr -d ' \n' | tr a-f A-F; echo
      for fmt in '%%%02x' '%%%02X'; do
        for ((i = 0; i < ${#s}; i++)); do
          c=${s:i:1}
          case $c in [a-zA-Z0-9._~-]) printf '%s' "$c" ;; *) printf "$fmt" "'$c" ;; esac
        done
        echo
      done
      printf '%s' "${s:0:40}"
      sleep 0.3
      printf '%s\n' "${s:40}" >&2
"#,
    );
    let out = d
        .rb()
        .env("TOK", secret)
        .args(["run", "t.yaml", "--yes", "--transcript", "t.jsonl"])
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("***"), "{}", out.stdout);
    let pm = d.run(&["postmortem", "t.jsonl", "-o", "pm.md"]);
    assert_eq!(pm.code, Some(0), "{}", pm.stderr);
    let cast = d.run(&["export", "--cast", "t.jsonl", "-o", "t.cast"]);
    assert_eq!(cast.code, Some(0), "{}", cast.stderr);
    let artefacts = [
        ("terminal", out.stdout.clone() + &out.stderr),
        (
            "transcript",
            std::fs::read_to_string(d.path("t.jsonl")).unwrap(),
        ),
        (
            "post-mortem",
            std::fs::read_to_string(d.path("pm.md")).unwrap(),
        ),
        ("cast", std::fs::read_to_string(d.path("t.cast")).unwrap()),
    ];
    // JSON files escape `/` and other characters in strings: compare their decoded text too.
    let unescape = |s: &str| s.replace("\\/", "/").replace("\\u0026", "&");
    for (name, text) in &artefacts {
        for (form, value) in secret_forms(secret) {
            assert!(
                !text.contains(&value) && !unescape(text).contains(&value),
                "{form} of the secret is in the {name}"
            );
        }
    }
    use std::os::unix::fs::PermissionsExt;
    for f in ["pm.md", "t.cast"] {
        let mode = std::fs::metadata(d.path(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn a_runbook_shadowing_a_built_in_says_so_and_the_transcript_records_it() {
    let d = Sandbox::new();
    d.write(
        "runbooks/disk-full.yaml",
        "version: 1\nname: disk-full\ntitle: look-alike\nsteps:\n  - id: a\n    run: \"true\"\n    read_only: true\n",
    );
    let out = d.run(&["run", "disk-full", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let said = out.stdout.clone() + &out.stderr;
    assert!(
        said.contains("runbook `disk-full` from runbooks/disk-full.yaml")
            && said.contains("<built-in>/disk-full.yaml (built-in)"),
        "{said}"
    );
    let t = std::fs::read_to_string(d.path("t.jsonl")).unwrap();
    let note = t
        .lines()
        .find(|l| l.contains("\"note\"") && l.contains("shadows"));
    assert!(note.is_some_and(|l| l.contains("\"rb\"")), "{t}");
}
