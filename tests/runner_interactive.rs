//! An interactive step gets the terminal: it is made the terminal's foreground group (else the
//! kernel stops it with SIGTTIN when it reads), and rb takes the terminal back afterwards. Needs a
//! real terminal: the test starts this binary's `interactive-step` helper inside a
//! pseudo-terminal (expectrl), and the helper runs the step. `harness = false` (see Cargo.toml):
//! `main` dispatches to the helper or to the tests.

mod common;

use std::io::Write;
use std::process::ExitCode;

use common::bash;
use common::helpers::{self, trial};
use common::pty::Pty;
use nix::unistd::{getpgrp, tcgetpgrp};
use rb::exec::runner::{ProcessRunner, Runner};

fn main() -> ExitCode {
    helpers::main(
        vec![trial(
            "interactive_step_reads_the_terminal_and_rb_gets_it_back",
            interactive_step_reads_the_terminal_and_rb_gets_it_back,
        )],
        &[("interactive-step", interactive_step)],
    )
}

fn interactive_step_reads_the_terminal_and_rb_gets_it_back() {
    let mut p = Pty::spawn(helpers::helper("interactive-step", &[]));
    p.expect("prompt>");
    p.line("hello");
    p.expect("got:hello");
    p.expect("ended:Exited(0) rb-owns-terminal:true");
    assert_eq!(p.exit_code(), 0);
}

/// Runs an interactive step in the terminal this process was given, then says how it ended and
/// whether this process (as rb) is the terminal's foreground group again.
fn interactive_step(_: &[String]) {
    let mut runner = ProcessRunner::new().expect("runner");
    let mut spec = bash(r#"echo "prompt>"; read -r line; echo "got:$line""#);
    spec.interactive = true;
    let outcome = runner
        .run(&spec, &mut |_, bytes| {
            let mut out = std::io::stdout();
            out.write_all(bytes).expect("write");
            out.flush().expect("flush");
        })
        .expect("run");
    let owns = tcgetpgrp(std::io::stdin()) == Ok(getpgrp());
    println!("ended:{:?} rb-owns-terminal:{owns}", outcome.ended);
}
