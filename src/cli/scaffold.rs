//! `rb init` and `rb new`: scaffolding for a team's runbook repository. Both write only new
//! files (an existing file is never overwritten: the command refuses and names it) and check
//! every runbook they write with the same validation `rb validate` runs.

use std::path::{Path, PathBuf};

use super::{CatalogOpts, Ctx};
use crate::exit::{Code, UserError};

/// The example runbook `rb init` writes (it validates; a test proves it).
const EXAMPLE: &str = include_str!("scaffold/example.yaml");
/// The commented skeleton of `rb new`; `NAME`, `TITLE` and `MODELINE` are filled in.
const SKELETON: &str = include_str!("scaffold/skeleton.yaml");
/// The schema file's name, next to the runbooks.
const SCHEMA_FILE: &str = "runbook.schema.json";

const WORKFLOW: &str = r#"# Written by `rb init`: checks every runbook on each push and pull request. Problems appear as
# annotations on the changed lines (rb picks GitHub's format when GITHUB_ACTIONS=true).
# Set the repository variable RB_GIT_URL (Settings > Variables) to the git URL your team installs
# rb from.
name: runbooks
on:
  push:
  pull_request:
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: ~/.cargo
          key: rb-${{ runner.os }}-${{ vars.RB_GIT_URL }}
      - name: install rb
        env:
          RB_GIT_URL: ${{ vars.RB_GIT_URL }}
        run: |
          if [ -z "$RB_GIT_URL" ]; then
            echo "::error::set the repository variable RB_GIT_URL to the git URL of rb"
            exit 1
          fi
          cargo install --locked --git "$RB_GIT_URL" rb
      - run: rb validate runbooks/
"#;

const PRE_COMMIT: &str = r#"# Written by `rb init`: `pre-commit install` runs `rb validate` on the runbooks a commit changes.
# This uses the rb on your PATH (`cargo install --locked --path .` in rb's checkout). To have
# pre-commit build rb itself instead, use rb's repository with its hook `rb-validate`.
repos:
  - repo: local
    hooks:
      - id: rb-validate
        name: rb validate
        entry: rb validate
        language: system
        files: ^runbooks/.*\.ya?ml$
"#;

/// What `rb init` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// The repository to set up (default: the current folder).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// What `rb new` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The new runbook's name (kebab-case); the file is NAME.yaml.
    pub name: String,
    /// Start from a copy of this runbook (a catalog name or a path), renamed.
    #[arg(long, value_name = "EXISTING", add = super::completions::runbook_names())]
    pub from: Option<String>,
    /// Write into DIR.
    #[arg(long = "in", value_name = "DIR", default_value = "runbooks")]
    pub into: PathBuf,
    #[command(flatten)]
    pub opts: CatalogOpts,
}

/// `rb init [DIR]`.
pub fn init(args: &InitArgs) -> Result<Code, UserError> {
    // `runbooks/x.yaml` rather than `./runbooks/x.yaml` in messages.
    let root = if args.dir == Path::new(".") {
        PathBuf::new()
    } else {
        args.dir.clone()
    };
    let files: Vec<(PathBuf, String)> = vec![
        (root.join("runbooks/disk-usage.yaml"), EXAMPLE.to_string()),
        (
            root.join("runbooks").join(SCHEMA_FILE),
            crate::runbook::schema::runbook_schema_json(),
        ),
        (root.join(".github/workflows/runbooks.yml"), WORKFLOW.into()),
        (root.join(".pre-commit-config.yaml"), PRE_COMMIT.into()),
    ];
    let taken: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        let mut e = UserError::usage("`rb init` would overwrite files that exist; nothing written")
            .hint("move them aside, or add runbooks one at a time with `rb new NAME`");
        e.details = taken;
        return Err(e);
    }
    check(&files[0].0, "disk-usage", EXAMPLE)?;
    for (path, text) in &files {
        write_new(path, text)?;
        errln!("wrote {}", path.display());
    }
    errln!(
        "next: `rb validate`, `rb show disk-usage`, `rb new NAME`; set the CI variable RB_GIT_URL \
         (see .github/workflows/runbooks.yml); `pre-commit install` to check before each commit"
    );
    Ok(Code::Ok)
}

/// `rb new NAME [--from EXISTING]`.
pub fn new(ctx: &Ctx, args: &NewArgs) -> Result<Code, UserError> {
    let kebab = regex::Regex::new("^[a-z0-9]+(-[a-z0-9]+)*$").expect("a valid pattern");
    if !kebab.is_match(&args.name) {
        return Err(UserError::usage(format!(
            "`{}` is not a runbook name: use lowercase letters, digits and dashes",
            args.name
        ))
        .hint("for example `rb new cert-expiry`"));
    }
    let path = args.into.join(format!("{}.yaml", args.name));
    if path.exists() {
        return Err(UserError::usage(format!(
            "`{}` exists; `rb new` never overwrites",
            path.display()
        ))
        .hint("pick another name, or edit the file"));
    }
    let modeline = args
        .into
        .join(SCHEMA_FILE)
        .is_file()
        .then(|| format!("# yaml-language-server: $schema={SCHEMA_FILE}\n"));
    let text = match &args.from {
        None => SKELETON
            .replace("MODELINE", modeline.as_deref().unwrap_or(""))
            .replace("TITLE", &args.name.replace('-', " "))
            .replace("NAME", &args.name),
        Some(from) => renamed_copy(ctx, from, &args.name, modeline.as_deref())?,
    };
    check(&path, &args.name, &text)?;
    std::fs::create_dir_all(&args.into).map_err(|e| cannot_write(&args.into, e))?;
    write_new(&path, &text)?;
    errln!("wrote {}", path.display());
    if modeline.is_none() {
        errln!(
            "hint: for completion and checks in your editor, write the schema next to it: \
             `rb schema > {}`, then add `# yaml-language-server: $schema={SCHEMA_FILE}`",
            args.into.join(SCHEMA_FILE).display()
        );
    }
    Ok(Code::Ok)
}

/// The text of runbook `from` with its `name:` set to `name` and its modeline pointing at the
/// schema next to the new file (or removed when there is none). Comments are kept.
fn renamed_copy(
    ctx: &Ctx,
    from: &str,
    name: &str,
    modeline: Option<&str>,
) -> Result<String, UserError> {
    let doc = super::load_runbook(ctx, from)?;
    let text = doc.source.text.to_string();
    let mut renamed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with("# yaml-language-server:") {
            out.push_str(modeline.unwrap_or(""));
        } else if !renamed && line.starts_with("name:") {
            let comment = line.find(" #").map(|i| &line[i..]).unwrap_or("\n");
            out.push_str(&format!("name: {name}{comment}"));
            if !comment.ends_with('\n') {
                out.push('\n');
            }
            renamed = true;
        } else {
            out.push_str(line);
        }
    }
    if !renamed {
        return Err(UserError::usage(format!(
            "cannot find the top-level `name:` line of `{from}` to rename it"
        ))
        .hint("copy the file by hand and change its `name:`"));
    }
    Ok(out)
}

/// Validates `text` as the runbook at `path`; a failure is rb's own bug or a bad source, and
/// nothing is written.
fn check(path: &Path, name: &str, text: &str) -> Result<(), UserError> {
    let display = path.display().to_string();
    crate::runbook::validate::validate(&display, Some(name), text.as_bytes()).map_err(|diags| {
        let mut e = UserError::usage(format!(
            "the runbook for `{display}` would not validate; nothing written"
        ));
        e.details = diags.iter().map(|d| d.headline()).collect();
        e.hint("fix the runbook it is copied from (`rb validate`), then try again")
    })?;
    Ok(())
}

fn write_new(path: &Path, text: &str) -> Result<(), UserError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| cannot_write(dir, e))?;
    }
    // create_new: a file that appeared since the check is still not overwritten.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| cannot_write(path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| cannot_write(path, e))
}

fn cannot_write(path: &Path, e: std::io::Error) -> UserError {
    UserError::usage(format!("cannot write `{}`: {e}", path.display()))
}
