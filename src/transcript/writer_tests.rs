//! The writer noticing a transcript deleted, truncated, replaced or overwritten under it, and
//! moving the run to a recovered file; and taking in what `rb note` appends.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::transcript::{Damage, NoteKind, read, verify};

fn run_started() -> Event {
    serde_json::from_value(serde_json::json!({
        "event": "run_started", "schema_version": crate::transcript::SCHEMA_VERSION,
        "run_id": "0123456789abcdef0123456789abcdef", "runbook": "disk-full",
        "source": "runbooks/disk-full.yaml", "sha256": "ab".repeat(32), "mode": "live",
        "params": {}, "operator": "ana", "host": "laptop", "rb_version": "0.1.0",
        "started_at": "2026-11-24T23:05:01.042Z",
    }))
    .unwrap()
}

fn note(text: &str) -> Event {
    Event::Note {
        by: crate::domain::Actor::Operator("ana".into()),
        text: text.into(),
        step: None,
        kind: NoteKind::Plain,
    }
}

/// A new transcript at DIR/run.jsonl holding `run_started` and two notes.
fn started(dir: &Path) -> (PathBuf, TranscriptWriter) {
    let path = dir.join("run.jsonl");
    let mut w = TranscriptWriter::create(&path).unwrap();
    for e in [run_started(), note("one"), note("two")] {
        w.append(&e).unwrap();
    }
    (path, w)
}

fn texts(path: &Path) -> Vec<String> {
    read(path)
        .unwrap()
        .events()
        .filter_map(|e| match e {
            Event::Note { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Appends after the damage; returns what the writer reported, checking the recovered file.
fn recovered_after(path: &Path, mut w: TranscriptWriter) -> (Damage, PathBuf) {
    w.append(&note("three")).unwrap();
    let r = w.take_recovery().expect("the writer moved");
    assert_eq!(r.from, path);
    assert_eq!(r.lines, 3);
    assert_eq!(w.path(), r.to);
    assert_eq!(r.to, path.with_file_name("run.recovered-1.jsonl"));
    assert!(verify(&r.to).unwrap().is_ok());
    assert_eq!(texts(&r.to), ["one", "two", "three"]);
    (r.damage, r.to)
}

#[test]
fn a_deleted_transcript_is_written_whole_to_a_recovered_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::Deleted);
    assert!(!path.exists(), "rb does not write at the old path again");
}

#[test]
fn a_transcript_moved_away_is_reported_as_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    std::fs::rename(&path, dir.path().join("elsewhere")).unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::MovedAway);
}

#[test]
fn a_truncated_transcript_is_written_whole_from_the_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (damage, _) = recovered_after(&path, w);
    assert_eq!(
        damage,
        Damage::Truncated {
            from: len,
            to: len / 2
        }
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len / 2,
        "left as found"
    );
}

#[test]
fn a_replaced_transcript_is_left_alone_and_the_run_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    let other = dir.path().join("other");
    std::fs::write(&other, "someone else's file\n").unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::Replaced);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "someone else's file\n"
    );
}

#[test]
fn lines_appended_that_do_not_continue_the_chain_are_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"not\":\"a line\"}\n").unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::Overwritten);
}

#[test]
fn a_rewritten_last_line_is_an_overwrite_even_with_lines_chained_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, w) = started(dir.path());
    // The same length, one byte changed in rb's last line, then a well-formed append to that.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 4;
    bytes[at] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    let mut other = TranscriptWriter::open_append(&path, Repair::Never).unwrap();
    other.append(&note("forged")).unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::Overwritten);
}

#[test]
fn notes_appended_by_another_writer_are_taken_in() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = started(dir.path());
    let mut other = TranscriptWriter::open_append(&path, Repair::Never).unwrap();
    other.append(&note("from rb note")).unwrap();
    w.append(&note("three")).unwrap();
    assert!(w.take_recovery().is_none());
    assert!(verify(&path).unwrap().is_ok());
    // The private copy took the note in: a later deletion still recovers it.
    std::fs::remove_file(&path).unwrap();
    w.append(&note("four")).unwrap();
    let r = w.take_recovery().unwrap();
    assert_eq!(
        texts(&r.to),
        ["one", "two", "from rb note", "three", "four"]
    );
}

#[test]
fn without_its_copy_a_writer_recovers_an_unlinked_file_from_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = started(dir.path());
    w.copy = None;
    std::fs::remove_file(&path).unwrap();
    assert_eq!(recovered_after(&path, w).0, Damage::Deleted);
}

#[test]
fn without_its_copy_a_truncated_file_is_an_error_not_a_short_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = started(dir.path());
    w.copy = None;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10)
        .unwrap();
    let e = w.append(&note("three")).unwrap_err().to_string();
    assert!(e.contains("was truncated (from"), "{e}");
    assert!(e.contains("no copy of them"), "{e}");
    assert!(!path.with_file_name("run.recovered-1.jsonl").exists());
}

#[test]
fn a_second_damage_moves_the_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = started(dir.path());
    std::fs::remove_file(&path).unwrap();
    w.append(&note("three")).unwrap();
    let first = w.take_recovery().unwrap();
    std::fs::remove_file(&first.to).unwrap();
    w.append(&note("four")).unwrap();
    let again = w.take_recovery().unwrap();
    assert_eq!(again.from, first.to);
    assert_eq!(again.to, path.with_file_name("run.recovered-2.jsonl"));
    assert_eq!(texts(&again.to), ["one", "two", "three", "four"]);
}

#[test]
fn a_writer_for_someone_elses_record_refuses_instead_of_moving() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _w) = started(dir.path());
    let mut other = TranscriptWriter::open_append(&path, Repair::Never).unwrap();
    std::fs::remove_file(&path).unwrap();
    let e = other.append(&note("late")).unwrap_err().to_string();
    assert!(e.contains("was deleted"), "{e}");
    assert!(other.take_recovery().is_none());
}

#[test]
fn a_recovered_name_already_taken_is_skipped_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = started(dir.path());
    let taken = path.with_file_name("run.recovered-1.jsonl");
    std::fs::write(&taken, "mine\n").unwrap();
    std::fs::remove_file(&path).unwrap();
    w.append(&note("three")).unwrap();
    let r = w.take_recovery().unwrap();
    assert_eq!(r.to, path.with_file_name("run.recovered-2.jsonl"));
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine\n");
}
