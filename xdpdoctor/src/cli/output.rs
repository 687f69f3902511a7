//! Shared output helpers: colour policy (NO_COLOR, TTY, --color), tables, JSON, and what
//! happens when the reader of stdout goes away (`xdpdoctor status | head -1`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

static COLOR: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub fn set_color(c: ColorChoice) {
    let on = match c {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    };
    COLOR.store(on, Ordering::Relaxed);
}

pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// Green/red/yellow words when colour is on, plain otherwise.
pub fn good(s: &str) -> String {
    paint(s, owo_colors::AnsiColors::Green)
}
pub fn bad(s: &str) -> String {
    paint(s, owo_colors::AnsiColors::Red)
}
#[allow(dead_code)]
pub fn warn(s: &str) -> String {
    paint(s, owo_colors::AnsiColors::Yellow)
}

fn paint(s: &str, c: owo_colors::AnsiColors) -> String {
    use owo_colors::OwoColorize;
    if color() {
        s.color(c).bold().to_string()
    } else {
        s.to_string()
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if !color() {
        t.force_no_tty();
    }
    t.set_header(header.to_vec());
    t
}

pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Whether a panic payload is std's "failed printing to stdout/stderr" for a closed pipe
/// (`println!` panics on EPIPE because Rust ignores SIGPIPE).
pub fn is_broken_pipe_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to std")
        && msg.contains(&std::io::Error::from_raw_os_error(libc::EPIPE).to_string())
}

/// Whether an error says the output pipe was closed.
pub fn is_broken_pipe_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Keeps the panic hook quiet for a closed stdout/stderr (no message, no backtrace); any
/// other panic is reported as usual.
pub fn quiet_broken_pipe_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe_panic(info.payload()) {
            default(info)
        }
    }));
}

/// Ends the process the way other Unix tools end when their reader goes away: killed by
/// SIGPIPE (shell status 141), silently. Called after the command unwound, so its cleanup
/// (guards, probes, temporary labs) has run.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default disposition and raising a signal at ourselves.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached unless SIGPIPE is blocked: exit with the status a shell would show.
    std::process::exit(128 + libc::SIGPIPE)
}
