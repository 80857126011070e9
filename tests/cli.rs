//! `rb list`, `rb show`, `rb validate` and `rb schema` through the real binary.

mod common;

use std::path::Path;

use common::binary::{Out, Rb, Sandbox};

const VALID: &str = "version: 1\nname: NAME\ntitle: TITLE\nsteps:\n  - id: usage\n    run: df -h /\n    read_only: true\n";

fn runbook(name: &str, title: &str) -> String {
    VALID.replace("NAME", name).replace("TITLE", title)
}

#[test]
fn list_shows_name_title_origin_and_shadowing() {
    let tmp = Sandbox::new();
    tmp.write(
        "mine/disk-full.yaml",
        &runbook("disk-full", "Our own disk runbook"),
    );
    tmp.write(
        "mine/cert-expiry.yaml",
        &runbook("cert-expiry", "Certificate expires soon"),
    );
    tmp.write("mine/broken.yaml", "version: 1\nname: broken\n");
    let out = tmp.run(&["list", "--dir", "mine"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let line = |name: &str, origin: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")) && l.contains(origin))
            .unwrap_or_else(|| panic!("no `{name}` from {origin} in:\n{}", out.stdout))
    };
    let ours = line("disk-full", "(mine/disk-full.yaml)");
    assert!(
        ours.contains("Our own disk runbook") && !ours.contains("[shadowed]"),
        "{ours}"
    );
    let builtin = line("disk-full", "(built-in)");
    assert!(builtin.ends_with("[shadowed]"), "{builtin}");
    assert!(line("cert-expiry", "(mine/cert-expiry.yaml)").contains("Certificate expires soon"));
    assert!(line("broken", "(mine/broken.yaml)").contains("(invalid: run `rb validate`)"));
    // The one in use comes first.
    let pos = |needle: &str| out.stdout.find(needle).expect("present");
    assert!(pos("(mine/disk-full.yaml)") < pos("(built-in)"));
}

#[test]
fn list_without_local_runbooks_shows_the_builtins() {
    let tmp = Sandbox::new();
    let out = tmp.run(&["list"]);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("disk-full ") && l.ends_with("(built-in)")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("[shadowed]"), "{}", out.stdout);
}

#[test]
fn show_disk_full_prints_a_checklist() {
    let tmp = Sandbox::new();
    let out = tmp.run(&["show", "disk-full"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn show_an_unknown_name_suggests_the_closest() {
    let tmp = Sandbox::new();
    let out = tmp.run(&["show", "disk-ful"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!(out.stderr, @r"
    error: no runbook named `disk-ful`
      = hint: did you mean `disk-full`?
      = hint: `rb list` shows the runbooks rb can find
    ");
}

#[test]
fn show_an_invalid_runbook_prints_its_diagnostics_and_exits_2() {
    let tmp = Sandbox::new();
    tmp.write(
        "runbooks/bad.yaml",
        "version: 1\nname: bad\ntitle: Bad\nsteps:\n  - id: x\n    run: echo {{ nope }}\n",
    );
    let out = tmp.run(&["show", "bad"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("runbooks/bad.yaml:6:10: error[undefined-variable]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("error: `runbooks/bad.yaml` is not a valid runbook (1 problem(s))\n  = hint: fix it, then check with `rb validate runbooks/bad.yaml`\n"), "{}", out.stderr);
}

#[test]
fn rb_path_is_searched_after_local_folders() {
    let tmp = Sandbox::new();
    tmp.write("a/other.yaml", &runbook("other", "Other"));
    tmp.write(
        "b/cert-expiry.yaml",
        &runbook("cert-expiry", "From RB_PATH"),
    );
    let rb_path = format!("{}:{}", tmp.path("a").display(), tmp.path("b").display());
    let out = tmp
        .rb()
        .env("RB_PATH", &rb_path)
        .args(["show", "cert-expiry"])
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("cert-expiry — From RB_PATH\n"),
        "{}",
        out.stdout
    );
    // Without RB_PATH the name is unknown.
    let out = tmp.run(&["show", "cert-expiry"]);
    assert_eq!(out.code, Some(2));
    // ./runbooks comes before RB_PATH.
    tmp.write(
        "runbooks/cert-expiry.yaml",
        &runbook("cert-expiry", "From ./runbooks"),
    );
    let out = tmp
        .rb()
        .env("RB_PATH", &rb_path)
        .args(["show", "cert-expiry"])
        .output();
    assert!(
        out.stdout.starts_with("cert-expiry — From ./runbooks\n"),
        "{}",
        out.stdout
    );
    let out = tmp.rb().env("RB_PATH", &rb_path).arg("list").output();
    let b = tmp.path("b/cert-expiry.yaml").display().to_string();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(&b) && l.ends_with("[shadowed]")),
        "{}",
        out.stdout
    );
}

#[test]
fn validate_defaults_to_the_catalog() {
    let tmp = Sandbox::new();
    let out = tmp.run(&["validate"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.ends_with(" runbook(s) valid\n"),
        "{}",
        out.stderr
    );
    // A broken runbook found through the catalog makes it fail.
    tmp.write(
        "runbooks/broken.yaml",
        "version: 1\nname: broken\ntitle: Broken\n",
    );
    let out = tmp.run(&["validate"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.starts_with("runbooks/broken.yaml:1:1: error[missing-key]: the runbook is missing the required key `steps`\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("\n1 of "), "{}", out.stderr);
}

#[test]
fn validate_exit_codes() {
    let tmp = Sandbox::new();
    tmp.write("good.yaml", &runbook("good", "Good"));
    tmp.write("bad.yaml", &runbook("not-bad", "Bad"));
    let code = |args: &[&str]| tmp.run(args).code;
    assert_eq!(code(&["validate", "good.yaml"]), Some(0));
    assert_eq!(code(&["validate", "bad.yaml"]), Some(2));
    assert_eq!(code(&["validate", "good.yaml", "bad.yaml"]), Some(2));
    assert_eq!(code(&["validate", "."]), Some(2));
    assert_eq!(code(&["validate", "missing.yaml"]), Some(2));
    assert_eq!(code(&["validate", "--format", "xml"]), Some(2));
    assert_eq!(code(&["no-such-command"]), Some(2));
    let out = Rb::in_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["validate", "runbooks/"])
        .output();
    assert_eq!(
        out.code,
        Some(0),
        "the built-in runbooks are valid: {}",
        out.stderr
    );
}

#[test]
fn validate_json_is_machine_readable() {
    let tmp = Sandbox::new();
    tmp.write("good.yaml", &runbook("good", "Good"));
    tmp.write("bad.yaml",
        "version: 1\nname: bad\ntitle: Bad\nsteps:\n  - id: x\n    run: echo\n    timout: 5m\n  - id: x\n    run: echo\n",
    );
    let out = tmp.run(&["validate", "--format", "json", "good.yaml", "bad.yaml"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr, "", "json mode keeps stderr quiet");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["valid"], false);
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], "good.yaml");
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["diagnostics"], serde_json::json!([]));
    assert_eq!(files[1]["file"], "bad.yaml");
    assert_eq!(files[1]["valid"], false);
    let d = &files[1]["diagnostics"][0];
    assert_eq!(d["file"], "bad.yaml");
    assert_eq!(d["line"], 7);
    assert_eq!(d["column"], 5);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "unknown-key");
    assert_eq!(d["message"], "unknown key `timout` in a step");
    assert_eq!(d["hints"], serde_json::json!(["did you mean `timeout`?"]));
    assert_eq!(d["pointer"], "/steps/0/timout");
    // Every stage reports in one run: the schema's unknown key and the semantic duplicate id.
    let codes: Vec<&str> = files[1]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["unknown-key", "duplicate-id"]);

    let out = tmp.run(&["validate", "--format", "json", "good.yaml"]);
    assert_eq!(out.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["valid"], true);
}

#[test]
fn schema_matches_the_checked_in_file_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out: Out = Rb::in_dir(root).arg("schema").output();
    assert_eq!(out.code, Some(0));
    let on_disk = std::fs::read(root.join("schemas/runbook.schema.json")).expect("schema file");
    assert!(
        out.stdout_bytes == on_disk,
        "`rb schema` differs from schemas/runbook.schema.json"
    );
}

#[test]
fn exit_codes_tell_usage_from_a_refusing_system() {
    let tmp = Sandbox::new();
    // A path that does not exist is the user's to fix: 2.
    let out = tmp.run(&["postmortem", "no-such-transcript.jsonl"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    // A system that refuses a write (a full device) is not a usage error: 74.
    let dry = tmp.run(&["run", "disk-full", "--dry-run", "--transcript", "t.jsonl"]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    let out = tmp.run(&["postmortem", "t.jsonl", "-o", "/dev/full"]);
    assert_eq!(out.code, Some(74), "{}", out.stderr);
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
}

/// Issue 15: one `rb validate` shows a typo'd key, a watch missing `until` and an undefined
/// `{{ mnt }}` together (the semantic checks run on what could be typed).
#[test]
fn validate_reports_every_stage_in_one_run() {
    let tmp = Sandbox::new();
    tmp.write(
        "staged.yaml",
        "version: 1\nname: staged\ntitle: Staged\nparams:\n  mount: { default: / }\nsteps:\n  - id: usage\n    run: df -- {{ mount }}\n    read_only: true\n    timout: 5m\n  - id: watch\n    kind: watch\n    run: df -- {{ mnt }}\n    for: 1m\n",
    );
    let out = tmp.run(&["validate", "staged.yaml"]);
    assert_eq!(out.code, Some(2));
    for code in ["unknown-key", "missing-key", "undefined-variable"] {
        assert!(
            out.stderr.contains(&format!("error[{code}]")),
            "{code}: {}",
            out.stderr
        );
    }
}
