//! `rb list` and `rb show` answer from a cache of each valid runbook's title and checklist
//! (`src/catalog/summary.rs`): what they print must always be what validating the file now would
//! print, whatever happened to the file since the cache was filled.

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary::Rb;

fn runbook(title: &str, command: &str) -> String {
    format!(
        "version: 1\nname: mine\ntitle: {title}\nsteps:\n  - id: look\n    run: {command}\n    read_only: true\n"
    )
}

/// `rb ARGS` in `dir` with its own cache folder; returns stdout, failing on a non-zero exit.
fn rb(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = Rb::in_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .args(args)
        .timeout(Duration::from_secs(10))
        .output();
    (o.code, o.stdout)
}

#[test]
fn list_and_show_follow_every_change_to_a_cached_runbook() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("runbooks")).unwrap();
    let file = dir.join("runbooks/mine.yaml");
    std::fs::write(&file, runbook("First title", "df -h /")).unwrap();
    for _ in 0..2 {
        // The first run fills the cache, the second answers from it: the same text.
        assert!(
            rb(dir, &["list"])
                .1
                .contains("  First title  (runbooks/mine.yaml)")
        );
        assert!(rb(dir, &["show", "mine"]).1.contains("$      df -h /"));
    }
    assert!(dir.join("cache/rb/summaries").read_dir().unwrap().count() > 0);

    // Same size, and the old mtime put back: ctime still tells the file changed.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, runbook("Other title", "du -s /")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert!(
        rb(dir, &["list"])
            .1
            .contains("  Other title  (runbooks/mine.yaml)")
    );
    assert!(rb(dir, &["show", "mine"]).1.contains("$      du -s /"));

    // Now invalid: listed as such, and `show` fails with exit 2, cache or not.
    std::fs::write(&file, "version: 1\nname: mine\ntitle: Broken\nsteps: []\n").unwrap();
    assert!(
        rb(dir, &["list"])
            .1
            .contains("  (invalid: run `rb validate`)  (runbooks/mine.yaml)")
    );
    assert_eq!(rb(dir, &["show", "mine"]).0, Some(2));
}
