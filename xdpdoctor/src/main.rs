//! The `xdpdoctor` command: parses arguments, runs one verb from `cli/`, prints the result,
//! and maps errors to documented exit codes:
//!
//! * 0: success (and, for `diagnose`/`check`, a healthy forwarder)
//! * 1: the command ran and found problems (findings, failed connections)
//! * 2: the command could not do its job (bad input, missing privileges, kernel errors)

// The CLI is the one place that prints (the library uses `log`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

// Every `println!`, `print!`, `eprintln!` and `eprint!` of the CLI goes through one sink
// (`cli::output::emit`), declared here before `mod cli` so that these definitions shadow
// std's in every module of the CLI: whatever a line holds, a control character or a bidi
// override that escaped the renderers reaches the terminal escaped (only colour sequences,
// when colour is on, pass), and a reader that stops reading cannot hold the command after a
// stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...: `cancel::SIGNALS`).
macro_rules! println {
    () => {
        $crate::cli::output::emit(1, format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::output::emit(1, format_args!($($arg)*), true)
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::output::emit(1, format_args!($($arg)*), false)
    };
}
macro_rules! eprintln {
    () => {
        $crate::cli::output::emit(2, format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::output::emit(2, format_args!($($arg)*), true)
    };
}
#[allow(unused_macros)] // kept with its siblings, so a new `eprint!` cannot reach std's
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::cli::output::emit(2, format_args!($($arg)*), false)
    };
}

mod cli;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
