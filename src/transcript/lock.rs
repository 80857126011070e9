//! The run lock: a live run holds an exclusive lock for its whole life, so nothing else can
//! continue the same run beside it (`rb resume` while rb still runs, two resumes at once).
//!
//! The lock is `flock` on a small file beside the transcript (`NAME.jsonl.lock`, mode 0600,
//! never through a symlink) that names the holder's pid. It is not a lock on the transcript
//! itself: `rb note` and `rb mark` must still append while the run is live. The kernel releases
//! it when the holder dies, however it dies, so a killed run never leaves it stuck.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A held run lock; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds it: its pid, as it wrote it.
    Held(Option<u32>),
    Io(io::Error),
}

impl RunLock {
    /// Takes the lock of the run recorded at `transcript`, without waiting.
    pub fn acquire(transcript: &Path) -> Result<RunLock, LockError> {
        let path = lock_path(transcript);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(LockError::Io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(LockError::Io)?;
        if let Err(e) = file.try_lock() {
            return match e {
                std::fs::TryLockError::WouldBlock => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    Err(LockError::Held(text.trim().parse().ok()))
                }
                std::fs::TryLockError::Error(e) => Err(LockError::Io(e)),
            };
        }
        // The pid is for the message of whoever is refused; on a full disk it may not fit, and
        // the lock holds all the same (it is on the file, not in it).
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(RunLock { file, path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so nobody takes a lock on a file that is going away.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// `NAME.jsonl` → `NAME.jsonl.lock`.
pub fn lock_path(transcript: &Path) -> PathBuf {
    let mut name = transcript.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("run.jsonl");
        let held = RunLock::acquire(&t).unwrap();
        match RunLock::acquire(&t) {
            Err(LockError::Held(Some(pid))) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(!lock_path(&t).exists());
        RunLock::acquire(&t).unwrap();
    }
}
