//! The `xdpdoctor` command: parses arguments, runs one verb from `cli/`, prints the result,
//! and maps errors to documented exit codes:
//!
//! * 0: success (and, for `diagnose`/`check`, a healthy forwarder)
//! * 1: the command ran and found problems (findings, failed connections)
//! * 2: the command could not do its job (bad input, missing privileges, kernel errors)

// The CLI is the one place that prints (the library uses `log`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
