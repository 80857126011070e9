//! Test binaries whose own executable doubles as a helper process (`harness = false`): `main`
//! runs a helper when called as `BINARY --helper NAME ARGS…`, and the tests otherwise, through
//! libtest-mimic (so `cargo test` and nextest list and filter them as usual). A helper is never
//! listed as a test.

use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Trial};

/// A helper: a name and the function run with the arguments after it.
pub type Helper = (&'static str, fn(&[String]));

/// The `main` of a test binary with helpers.
pub fn main(tests: Vec<Trial>, helpers: &[Helper]) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--helper") {
        let name = args.get(2).map_or("", String::as_str);
        let Some((_, helper)) = helpers.iter().find(|(n, _)| *n == name) else {
            eprintln!("no helper named `{name}`");
            return ExitCode::from(2);
        };
        helper(&args[3..]);
        return ExitCode::SUCCESS;
    }
    libtest_mimic::run(&Arguments::from_args(), tests).exit_code()
}

/// The command that runs helper `name` of this test binary with `args`.
pub fn helper(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.arg("--helper").arg(name).args(args);
    cmd
}

/// A test of a `harness = false` binary: the function panics on failure, as a `#[test]` does.
pub fn trial(name: &'static str, test: fn()) -> Trial {
    Trial::test(name, move || {
        test();
        Ok(())
    })
}
