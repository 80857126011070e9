//! An interactive step gets the terminal: it is made the terminal's foreground group (else the
//! kernel stops it with SIGTTIN when it reads), and rb takes the terminal back afterwards. Needs a
//! real terminal: the test re-runs its own binary inside a pseudo-terminal (expectrl), where the
//! child half runs the step.

mod common;

use std::io::Write;
use std::time::Duration;

use common::bash;
use expectrl::Expect;
use nix::unistd::{getpgrp, tcgetpgrp};
use rb::exec::runner::{ProcessRunner, Runner};

const CHILD: &str = "RB_RUNNER_PTY_CHILD";

#[test]
fn interactive_step_reads_the_terminal_and_rb_gets_it_back() {
    if std::env::var_os(CHILD).is_some() {
        return child_side();
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "interactive_step_reads_the_terminal_and_rb_gets_it_back",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    let mut session = expectrl::Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    session.expect("prompt>").unwrap();
    session.send_line("hello").unwrap();
    session.expect("got:hello").unwrap();
    session
        .expect("ended:Exited(0) rb-owns-terminal:true")
        .unwrap();
}

fn child_side() {
    let mut runner = ProcessRunner::new().unwrap();
    let mut spec = bash(r#"echo "prompt>"; read -r line; echo "got:$line""#);
    spec.interactive = true;
    let outcome = runner
        .run(&spec, &mut |_, bytes| {
            let mut out = std::io::stdout();
            out.write_all(bytes).unwrap();
            out.flush().unwrap();
        })
        .unwrap();
    let owns = tcgetpgrp(std::io::stdin()) == Ok(getpgrp());
    println!("ended:{:?} rb-owns-terminal:{owns}", outcome.ended);
}
