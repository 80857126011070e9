//! rb in a team's tools, through the real binary: shell completion in a real bash, man pages
//! rendered by `man`, CI output (GitHub annotations, SARIF checked against the published schema),
//! scaffolding (`rb init`, `rb new`), the configuration file, and the pre-commit hook.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Command as Std;

/// The rb binary under test.
const RB: &str = env!("CARGO_BIN_EXE_rb");

/// `rb` in `dir`, with no colour, no `$RB_PATH`, not in GitHub Actions, and a hang guard
/// (coreutils' `timeout`: a hung rb ends with 124 and fails the test).
fn rb(dir: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", "20", RB])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RB_PATH")
        .env_remove("GITHUB_ACTIONS")
        .env("XDG_CONFIG_HOME", dir.join(".no-config"))
        .stdin(std::process::Stdio::null());
    cmd
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("rb runs");
    let out = Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(dir.join(file).parent().expect("parent")).expect("mkdir");
    std::fs::write(dir.join(file), text).expect("write");
}

/// The folder holding the rb binary, to put first on PATH (the completion script calls `rb`).
fn bin_dir() -> PathBuf {
    Path::new(RB).parent().expect("bin dir").to_path_buf()
}

/// Runs git in `dir` (with an identity, for commits), asserting success.
fn git_in(dir: &Path, args: &[&str]) {
    let o = Std::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn path_with_rb() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs tests/tools_setup.sh (pinned third-party tools, installed once) and returns its folder.
fn tools() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools_setup.sh");
    let o = Std::new("bash").arg(script).output().expect("bash runs");
    assert!(
        o.status.success(),
        "tests/tools_setup.sh failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

const VALID: &str = "version: 1\nname: NAME\ntitle: Check the disk\nsteps:\n  - id: usage\n    run: df -h /\n    read_only: true\n";

/// A runbook with a typo'd key and an undefined variable (a schema and a semantic problem).
const INVALID: &str = "version: 1\nname: broken\ntitle: \"Broken, with: colons\"\nsteps:\n  - id: usage\n    run: df -h {{ mnt }}\n    timout: 5m\n";

#[test]
fn bash_completion_completes_runbook_names_from_the_catalog() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "runbooks/cert-expiry.yaml",
        &VALID.replace("NAME", "cert-expiry"),
    );
    let script = run(rb(tmp.path()).args(["completions", "bash"]));
    assert_eq!(script.code, Some(0), "{}", script.stderr);
    write(tmp.path(), "rb.bash", &script.stdout);
    // What bash does on `rb show ce<Tab>` and `rb run <Tab>`: call the registered function.
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| {
        let probe = format!(
            "source ./rb.bash\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{words}'\n\
             COMP_POINT=${{#COMP_LINE}}\nCOMP_TYPE=9\n_clap_complete_rb rb '{cur}' '{prev}'\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
        );
        let o = Std::new("bash")
            .arg("--norc")
            .arg("-c")
            .arg(probe)
            .current_dir(tmp.path())
            .env("PATH", path_with_rb())
            .env_remove("RB_PATH")
            .output()
            .expect("bash runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let got = complete("rb show ce", 2, "ce", "show");
    assert_eq!(got.trim(), "cert-expiry", "{got}");
    let got = complete("rb run ''", 2, "", "run");
    let names: Vec<&str> = got.lines().collect();
    assert!(
        names.contains(&"cert-expiry") && names.contains(&"disk-full"),
        "{got}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(rb(tmp.path()).args(["completions", shell]));
        assert_eq!(out.code, Some(0), "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("COMPLETE"), "{shell}: {}", out.stdout);
    }
}

#[test]
fn man_writes_pages_that_man_renders() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run(rb(tmp.path()).args(["man", "--out", "man"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for page in [
        "rb",
        "rb-validate",
        "rb-run",
        "rb-completions",
        "rb-init",
        "rb-new",
    ] {
        let file = tmp.path().join("man").join(format!("{page}.1"));
        assert!(file.is_file(), "no {}", file.display());
        let o = Std::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .expect("man runs (man-db is installed by test.sh)");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{page}:\n{text}"
        );
        assert!(text.contains(page), "{page}:\n{text}");
    }
    assert!(!tmp.path().join("man/rb-help.1").exists());
}

#[test]
fn validate_format_github_prints_escaped_annotations() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "runbooks/broken.yaml", INVALID);
    let out = run(rb(tmp.path()).args(["validate", "runbooks", "--format", "github"]));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("::error file=runbooks/broken.yaml,line=")),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.contains(",title=rb unknown-key::")
            && l.contains("%0Ahint: did you mean `timeout`?")),
        "{}",
        out.stdout
    );
    // Chosen automatically inside GitHub Actions; an explicit format still wins.
    let auto = run(rb(tmp.path())
        .args(["validate", "runbooks"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(auto.stdout, out.stdout);
    let human = run(rb(tmp.path())
        .args(["validate", "runbooks", "--format", "human"])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(human.stdout, "");
    assert!(
        human.stderr.contains("error[unknown-key]"),
        "{}",
        human.stderr
    );
}

#[test]
fn validate_format_sarif_passes_the_published_schema_and_validator() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "runbooks/broken.yaml", INVALID);
    write(tmp.path(), "runbooks/ok.yaml", &VALID.replace("NAME", "ok"));
    let out = run(rb(tmp.path()).args(["validate", "runbooks", "--format", "sarif"]));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let log: serde_json::Value = serde_json::from_str(&out.stdout).expect("SARIF is JSON");
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{}", out.stdout);
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    for r in results {
        let rule = &rules[r["ruleIndex"].as_u64().expect("index") as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "runbooks/broken.yaml");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 6);
    }
    write(tmp.path(), "out.sarif", &out.stdout);
    let tools = tools();
    let pkg = tools.join("sarif/node_modules/@microsoft/sarif-multitool-linux");
    // The schema as published, shipped inside the package.
    let o = Std::new(tools.join("ci-venv/bin/check-jsonschema"))
        .arg("--schemafile")
        .arg(pkg.join("sarif-2.1.0.json"))
        .arg(tmp.path().join("out.sarif"))
        .output()
        .expect("check-jsonschema runs");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The SARIF SDK's validator: schema plus the specification's rules; errors fail, advice is fine.
    let o = Std::new(pkg.join("Sarif.Multitool"))
        .args(["validate", "out.sarif", "--output", "validation.sarif"])
        .current_dir(tmp.path())
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .expect("the SARIF multitool runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("1 files scanned"), "{text}");
    assert!(!text.contains(": error "), "{text}");
}

#[test]
fn init_then_validate_in_a_scratch_repository() {
    let tmp = tempfile::tempdir().expect("tmp");
    let git = Std::new("git")
        .args(["init", "-q"])
        .current_dir(tmp.path())
        .status();
    assert!(git.expect("git runs").success());
    let out = run(rb(tmp.path()).arg("init"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for f in [
        "runbooks/disk-usage.yaml",
        "runbooks/runbook.schema.json",
        ".github/workflows/runbooks.yml",
        ".pre-commit-config.yaml",
    ] {
        assert!(tmp.path().join(f).is_file(), "no {f}:\n{}", out.stderr);
    }
    let example = std::fs::read_to_string(tmp.path().join("runbooks/disk-usage.yaml")).unwrap();
    assert!(example.contains("# yaml-language-server: $schema=runbook.schema.json\n"));
    let schema = std::fs::read_to_string(tmp.path().join("runbooks/runbook.schema.json")).unwrap();
    assert_eq!(schema, run(rb(tmp.path()).arg("schema")).stdout);
    let v = run(rb(tmp.path()).arg("validate"));
    assert_eq!(v.code, Some(0), "{}", v.stderr);
    let listed = run(rb(tmp.path()).arg("list"));
    assert!(
        listed.stdout.contains("(runbooks/disk-usage.yaml)"),
        "{}",
        listed.stdout
    );
    // What an editor does with the modeline: the example against the schema beside it.
    let o = Std::new(tools().join("ci-venv/bin/check-jsonschema"))
        .arg("--schemafile")
        .arg(tmp.path().join("runbooks/runbook.schema.json"))
        .arg(tmp.path().join("runbooks/disk-usage.yaml"))
        .output()
        .expect("check-jsonschema runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // The CI job is a valid GitHub workflow (SchemaStore's schema, vendored by check-jsonschema)
    // that runs rb validate.
    let wf_path = tmp.path().join(".github/workflows/runbooks.yml");
    let o = Std::new(tools().join("ci-venv/bin/check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&wf_path)
        .output()
        .expect("check-jsonschema runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let wf = std::fs::read_to_string(&wf_path).unwrap();
    assert!(wf.contains("run: rb validate runbooks/"), "{wf}");
    // The generated pre-commit config runs the rb on PATH: passes now, fails on a broken runbook.
    git_in(tmp.path(), &["add", "-A"]);
    let pre_commit = || {
        Std::new(tools().join("ci-venv/bin/pre-commit"))
            .args(["run", "--all-files", "--color", "never"])
            .current_dir(tmp.path())
            .env("PATH", path_with_rb())
            .env("PRE_COMMIT_HOME", tools().join("pre-commit-home"))
            .env_remove("GITHUB_ACTIONS")
            .output()
            .expect("pre-commit runs")
    };
    let o = pre_commit();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    write(tmp.path(), "runbooks/broken.yaml", INVALID);
    git_in(tmp.path(), &["add", "-A"]);
    let o = pre_commit();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("runbooks/broken.yaml:7:5: error[unknown-key]"),
        "{text}"
    );
    std::fs::remove_file(tmp.path().join("runbooks/broken.yaml")).unwrap();
    // A second init refuses and writes nothing.
    std::fs::remove_file(tmp.path().join(".pre-commit-config.yaml")).unwrap();
    let again = run(rb(tmp.path()).arg("init"));
    assert_eq!(again.code, Some(2));
    assert!(
        again.stderr.contains("  - runbooks/disk-usage.yaml\n"),
        "{}",
        again.stderr
    );
    assert!(!tmp.path().join(".pre-commit-config.yaml").exists());
}

#[test]
fn new_writes_a_runbook_that_validates_and_never_overwrites() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run(rb(tmp.path()).args(["new", "cert-expiry"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = std::fs::read_to_string(tmp.path().join("runbooks/cert-expiry.yaml")).unwrap();
    assert!(
        text.contains("name: cert-expiry ") && text.starts_with("# cert-expiry"),
        "{text}"
    );
    assert!(
        out.stderr.contains("rb schema >"),
        "no schema next to it: {}",
        out.stderr
    );
    let v = run(rb(tmp.path()).args(["validate", "runbooks/cert-expiry.yaml"]));
    assert_eq!(v.code, Some(0), "{}", v.stderr);
    // A renamed copy of a built-in keeps its comments and validates.
    let copy = run(rb(tmp.path()).args(["new", "our-disk", "--from", "disk-full"]));
    assert_eq!(copy.code, Some(0), "{}", copy.stderr);
    let text = std::fs::read_to_string(tmp.path().join("runbooks/our-disk.yaml")).unwrap();
    assert!(
        text.contains("\nname: our-disk\n") && text.contains("# disk-full"),
        "{text}"
    );
    assert!(
        !text.contains("yaml-language-server"),
        "no schema here to point at:\n{text}"
    );
    let v = run(rb(tmp.path()).args(["validate", "runbooks"]));
    assert_eq!(v.code, Some(0), "{}", v.stderr);
    // Never overwrites, whatever the source.
    std::fs::write(tmp.path().join("runbooks/cert-expiry.yaml"), "mine").unwrap();
    for args in [
        &["new", "cert-expiry"][..],
        &["new", "cert-expiry", "--from", "triage"][..],
    ] {
        let again = run(rb(tmp.path()).args(args));
        assert_eq!(again.code, Some(2), "{args:?}");
        assert!(
            again
                .stderr
                .contains("`runbooks/cert-expiry.yaml` exists; `rb new` never overwrites"),
            "{}",
            again.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("runbooks/cert-expiry.yaml")).unwrap(),
        "mine"
    );
    let bad = run(rb(tmp.path()).args(["new", "Cert_Expiry"]));
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("is not a runbook name"),
        "{}",
        bad.stderr
    );
    let missing = run(rb(tmp.path()).args(["new", "x", "--from", "nope"]));
    assert_eq!(missing.code, Some(2));
    assert!(!tmp.path().join("runbooks/x.yaml").exists());
}

/// The hook of `.pre-commit-hooks.yaml`, run by the real pre-commit (pinned, from PyPI) from this
/// repository at its HEAD commit, on a scratch repository: it passes on a valid runbook and fails,
/// naming the problem, on an invalid one. pre-commit builds rb with `cargo install` once; its
/// home and the build's target folder live under target/tools, so later runs reuse them.
#[test]
fn pre_commit_hook_passes_valid_and_fails_invalid_runbooks() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Std::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        head.status.success(),
        "rb's checkout must be a git repository"
    );
    let sha = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let tools = tools();
    let tmp = tempfile::tempdir().expect("tmp");
    let git = |args: &[&str]| git_in(tmp.path(), args);
    git(&["init", "-q"]);
    write(
        tmp.path(),
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n  - repo: {}\n    rev: {sha}\n    hooks: [{{ id: rb-validate }}]\n",
            repo.display()
        ),
    );
    write(tmp.path(), "runbooks/ok.yaml", &VALID.replace("NAME", "ok"));
    write(tmp.path(), "ci.yaml", "not: [a runbook");
    git(&["add", "-A"]);
    let pre_commit = |tmp: &Path| {
        Std::new(tools.join("ci-venv/bin/pre-commit"))
            .args(["run", "--all-files", "--color", "never"])
            .current_dir(tmp)
            .env("PRE_COMMIT_HOME", tools.join("pre-commit-home"))
            .env("CARGO_TARGET_DIR", tools.join("pre-commit-target"))
            // The hook's wiring is under test, not rb's speed: an unoptimised build takes a
            // fraction of the time of `cargo install`'s release build.
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env_remove("GITHUB_ACTIONS")
            .output()
            .expect("pre-commit runs")
    };
    let o = pre_commit(tmp.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("rb validate") && text.contains("Passed"),
        "{text}"
    );
    write(tmp.path(), "runbooks/broken.yaml", INVALID);
    git(&["add", "-A"]);
    let o = pre_commit(tmp.path());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("Failed"), "{text}");
    assert!(
        text.contains("runbooks/broken.yaml:7:5: error[unknown-key]"),
        "{text}"
    );
    assert!(
        !text.contains("ci.yaml"),
        "only runbooks are checked: {text}"
    );
}

#[test]
fn config_file_sets_folders_and_operator_and_rb_config_shows_origins() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    write(
        &repo,
        "ops/cert-expiry.yaml",
        &VALID.replace("NAME", "cert-expiry"),
    );
    write(
        &repo,
        "rb.toml",
        "operator = \"ana\"\nrunbook_dirs = [\"ops\"]\nwebhook_env = \"HOOK\"\n",
    );
    let xdg = tmp.path().join("xdg");
    write(
        &xdg,
        "rb/config.toml",
        "operator = \"bob\"\ntranscript_dir = \"../transcripts\"\n",
    );
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    let rb_in = |dir: &Path| {
        let mut c = rb(dir);
        c.env("XDG_CONFIG_HOME", &xdg);
        c
    };
    let out = run(rb_in(&repo.join("sub")).arg("config"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let toml = repo.join("rb.toml").display().to_string();
    let user = xdg.join("rb/config.toml").display().to_string();
    let line = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key}:\n{}", out.stdout))
            .to_string()
    };
    assert!(
        line("operator").ends_with(&format!("= \"ana\"  # {toml}")),
        "{}",
        out.stdout
    );
    assert!(
        line("runbook_dirs").contains(&format!("# {toml}")),
        "{}",
        out.stdout
    );
    assert!(
        line("transcript_dir").ends_with(&format!("# {user}")),
        "{}",
        out.stdout
    );
    assert!(
        line("webhook_env").ends_with("accepted, not used by rb yet"),
        "{}",
        out.stdout
    );
    let flagged = run(rb_in(&repo).args(["config", "--operator", "zed"]));
    assert!(
        flagged
            .stdout
            .contains("operator        = \"zed\"  # flag --operator"),
        "{}",
        flagged.stdout
    );
    // The values are used: the runbook is found in `ops`, the transcript goes to the folder
    // the user's file names, recording the repository's operator.
    let dry = run(rb_in(&repo.join("sub")).args(["run", "cert-expiry", "--dry-run"]));
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    let transcripts: Vec<_> = std::fs::read_dir(xdg.join("transcripts"))
        .expect("transcripts written there")
        .flatten()
        .collect();
    assert_eq!(transcripts.len(), 1);
    let first = std::fs::read_to_string(transcripts[0].path()).unwrap();
    assert!(
        first
            .lines()
            .next()
            .unwrap()
            .contains("\"operator\":\"ana\""),
        "{first}"
    );
    let listed = run(rb_in(&repo).arg("transcripts"));
    assert!(listed.stdout.contains("cert-expiry"), "{}", listed.stdout);
    // An unknown key is an error with a suggestion, for every command that reads the file.
    write(&repo, "rb.toml", "# team settings\noperater = \"ana\"\n");
    for args in [&["config"][..], &["list"][..]] {
        let bad = run(rb_in(&repo).args(args));
        assert_eq!(bad.code, Some(2));
        assert!(
            bad.stderr.starts_with(&format!(
                "error: {toml}:2: unknown key `operater`; did you mean `operator`?\n"
            )),
            "{}",
            bad.stderr
        );
    }
}

#[test]
fn dir_is_an_error_when_missing_and_only_where_it_applies() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run(rb(tmp.path()).args(["list", "--dir", "nowhere"]));
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .starts_with("error: --dir `nowhere` does not exist\n"),
        "{}",
        out.stderr
    );
    for args in [
        &["transcripts", "--dir", "x"][..],
        &["schema", "--color", "always"][..],
        &["--dir", "x", "list"][..],
    ] {
        let out = run(rb(tmp.path()).args(args));
        assert_eq!(out.code, Some(2), "{args:?}");
        assert!(
            out.stderr.contains("unexpected argument"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn color_is_honoured_on_list_and_show() {
    let tmp = tempfile::tempdir().expect("tmp");
    for args in [&["list"][..], &["show", "disk-full"][..]] {
        let always = run(rb(tmp.path()).args(args).args(["--color", "always"]));
        assert!(
            always.stdout.contains("\u{1b}["),
            "{args:?}: {}",
            always.stdout
        );
        let never = run(rb(tmp.path()).args(args).args(["--color", "never"]));
        assert!(!never.stdout.contains('\u{1b}'), "{args:?}");
        // Piped (as here) with auto: no escapes.
        let auto = run(rb(tmp.path()).args(args).env_remove("NO_COLOR"));
        assert_eq!(auto.stdout, never.stdout, "{args:?}");
    }
}

/// What an editor shows on hover: every key of the format has a description, and the keys a
/// newcomer writes first have examples.
#[test]
fn schema_keys_have_descriptions_and_examples() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/runbook.schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        match v {
            // `allOf` holds the per-kind `if` conditions, not keys a user writes.
            serde_json::Value::Object(o) if !path.ends_with("/allOf") => {
                if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                    for (k, p) in props {
                        if p.get("description").is_none() {
                            missing.push(format!("{path}/{k}"));
                        }
                    }
                }
                for (k, c) in o {
                    walk(c, &format!("{path}/{k}"), missing);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, path, missing)),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "keys without a description: {missing:?}"
    );
    let step = &schema["$defs"]["Step"]["properties"];
    for key in [
        "id", "run", "when", "capture", "timeout", "until", "every", "for",
    ] {
        assert!(
            step[key]["examples"].is_array(),
            "steps[].{key} has no example"
        );
    }
    assert!(schema["properties"]["name"]["examples"].is_array());
}
