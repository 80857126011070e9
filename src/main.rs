//! The `rb` binary: parse arguments, dispatch, exit with the code the command chose.

fn main() -> std::process::ExitCode {
    rb::cli::main()
}
