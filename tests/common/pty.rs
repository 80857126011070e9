//! A process in a pseudo-terminal, driven with keys as a person would: the PTY half of the
//! harness (rb's prompts, and steps that get the terminal).

use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Session};

pub struct Pty {
    session: expectrl::session::OsSession,
}

impl Pty {
    /// Starts `cmd` in a new pseudo-terminal; every wait for text fails after 20 s.
    pub fn spawn(cmd: Command) -> Pty {
        let mut session = Session::spawn(cmd).expect("spawn in a pty");
        session.set_expect_timeout(Some(Duration::from_secs(20)));
        Pty { session }
    }

    /// Starts `cmd` in a pseudo-terminal of `cols` columns and `rows` rows.
    pub fn spawn_sized(cmd: Command, cols: u16, rows: u16) -> Pty {
        let mut p = Pty::spawn(cmd);
        p.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("set the window size");
        p
    }

    /// Waits until the terminal shows `text`; returns everything shown before it since the last
    /// wait.
    pub fn expect_before(&mut self, text: &str) -> String {
        match self.session.expect(text) {
            Ok(found) => String::from_utf8_lossy(found.before()).into_owned(),
            Err(e) => panic!("did not see {text:?}: {e}"),
        }
    }

    /// Waits until the terminal shows `text`.
    pub fn expect(&mut self, text: &str) {
        if let Err(e) = self.session.expect(text) {
            panic!("did not see {text:?}: {e}");
        }
    }

    /// Types `keys` (no Enter).
    pub fn key(&mut self, keys: &str) {
        self.session.send(keys).expect("send keys");
    }

    /// Types `line` and Enter.
    pub fn line(&mut self, line: &str) {
        self.session.send_line(line).expect("send a line");
    }

    /// Waits for the process to exit and returns its exit code (fails if a signal ended it).
    pub fn exit_code(&mut self) -> i32 {
        let _ = self.session.expect(Eof);
        match self.session.get_process().wait().expect("wait") {
            expectrl::process::unix::WaitStatus::Exited(_, code) => code,
            other => panic!("the process did not exit normally: {other:?}"),
        }
    }
}
