//! Shared output helpers: colour policy (NO_COLOR, TTY, --color), tables, JSON, the one
//! sink every line of the CLI goes through ([`emit`]), and what happens when the reader of
//! stdout goes away (`xdpdoctor status | head -1`) or stops reading.
//!
//! The sink is the last line of defence for the operator's terminal: the renderers already
//! escape what the system names (`report::escape`); whatever still holds a control
//! character, a bidi override or a NUL (an error message quoting a file name, a log line)
//! is escaped here, so only colour sequences of the kinds xdpdoctor paints (SGR `ESC [ ... m`
//! with bold, red, green, yellow or reset, when colour is on) reach it raw. And output never holds a stopped command hostage: on a
//! pipe or socket the sink waits for room with `poll` and, once a stop signal arrived, gives
//! the reader one second before it abandons the output (`trace | cat` with `cat` stopped:
//! Ctrl-C ends the trace, its probes detached and its decision log off).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// Text from the system (a name, a note that quotes one), escaped for a line of output.
pub fn esc(s: impl std::fmt::Display) -> String {
    xdpdoctor::report::escape::text(&s.to_string()).into_owned()
}

/// A table cell holding text from the system (names), escaped; painted text (ours) goes in
/// `Cell::new` directly.
pub fn cell(v: impl std::fmt::Display) -> comfy_table::Cell {
    comfy_table::Cell::new(xdpdoctor::report::escape::text(&v.to_string()))
}

/// A row of such cells.
pub fn row<T: std::fmt::Display>(cells: impl IntoIterator<Item = T>) -> Vec<comfy_table::Cell> {
    cells.into_iter().map(cell).collect()
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

/// `v` as pretty JSON on stdout, unsafe characters of names as `\uXXXX`.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        xdpdoctor::report::escape::json(serde_json::to_string_pretty(v)?)
    );
    Ok(())
}

/// How long a reader that stopped reading may hold the output after a stop signal.
const STALL_AFTER_STOP: Duration = Duration::from_secs(1);

/// What the sink panics with when it abandons an output nobody reads after a stop signal.
const STALLED: &str = "failed printing to std: its reader stopped reading (interrupted)";

/// Prints `args` (and a newline) on `fd` (1 stdout, 2 stderr): the body of the CLI's
/// `println!` family (see main.rs). Unsafe characters are escaped; colour sequences pass
/// when colour is on. Like std's macros it panics when the output fails (a closed pipe: the
/// CLI ends quietly by SIGPIPE), and it panics with [`STALLED`] when a stop signal came and
/// the reader did not take the output within [`STALL_AFTER_STOP`]; both unwind through the
/// command's cleanup.
pub fn emit(fd: i32, args: std::fmt::Arguments, newline: bool) {
    let mut text = std::fmt::format(args);
    if newline {
        text.push('\n');
    }
    let clean = sink_clean(&text, color());
    if let Err(e) = write_fd(fd, clean.as_bytes()) {
        let name = if fd == 1 { "stdout" } else { "stderr" };
        if e.kind() == std::io::ErrorKind::TimedOut {
            panic!("{STALLED}");
        }
        panic!("failed printing to {name}: {e}");
    }
}

/// `s` with every unsafe character escaped but newlines, tabs and, when `sgr` is on, the
/// SGR colour sequences `ESC [ digits ; ... m`.
fn sink_clean(s: &str, sgr: bool) -> std::borrow::Cow<'_, str> {
    use xdpdoctor::report::escape::{plain_ascii, unsafe_char};
    if (plain_ascii(s) && !s.contains('\r'))
        || !s.chars().any(|c| unsafe_char(c) && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' && sgr {
            if let Some(n) = sgr_len(rest) {
                out.push_str(&rest[..n]);
                rest = &rest[n..];
                continue;
            }
        }
        if unsafe_char(c) && c != '\n' && c != '\t' {
            out.push_str(&xdpdoctor::report::escape::text(&rest[..c.len_utf8()]));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// The length of the SGR sequence `s` starts with, if it is one xdpdoctor paints: `ESC [ P m`
/// with every parameter P one of reset (0), bold (1), normal weight (22), red, green, yellow
/// (31-33) or default colour (39). Others (conceal, 8; blink; background colours) are
/// escaped like any control sequence, so a name cannot hide or disguise what follows.
fn sgr_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 3 || b[0] != 0x1b || b[1] != b'[' {
        return None;
    }
    let params = b[2..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b';')
        .count();
    if b.get(2 + params) != Some(&b'm') {
        return None;
    }
    let ours = |p: &str| matches!(p, "" | "0" | "1" | "22" | "31" | "32" | "33" | "39");
    s[2..2 + params].split(';').all(ours).then_some(3 + params)
}

/// Whether `fd` is a pipe or a socket (where a reader can stop reading), once per fd.
fn waits_for_reader(fd: i32) -> bool {
    static KIND: [OnceLock<bool>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let probe = || {
        // SAFETY: fstat fills a plain struct for a descriptor number; failure is handled.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `st` is valid for writes.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return false;
        }
        matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
    };
    match usize::try_from(fd).ok().and_then(|i| KIND.get(i)) {
        Some(k) => *k.get_or_init(probe),
        None => probe(),
    }
}

/// Writes all of `bytes` to `fd`. On a pipe or socket it waits for room with `poll` (so a
/// write never blocks for long) and writes at most PIPE_BUF bytes at a time; after a stop
/// signal, a reader that takes nothing for [`STALL_AFTER_STOP`] ends it with `TimedOut`.
fn write_fd(fd: i32, mut bytes: &[u8]) -> std::io::Result<()> {
    let wait = waits_for_reader(fd);
    let mut stalled: Option<Instant> = None;
    while !bytes.is_empty() {
        if wait {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let r = unsafe { libc::poll(&mut p, 1, 100) };
            if r == 0
                || (r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR))
            {
                if xdpdoctor::cancel::interrupted() {
                    let since = *stalled.get_or_insert_with(Instant::now);
                    if since.elapsed() >= STALL_AFTER_STOP {
                        return Err(std::io::ErrorKind::TimedOut.into());
                    }
                }
                continue;
            }
        }
        let n = bytes.len().min(if wait { libc::PIPE_BUF } else { 1 << 20 });
        // SAFETY: writing `n` initialized bytes from a live slice to a descriptor.
        let w = unsafe { libc::write(fd, bytes.as_ptr().cast(), n) };
        if w < 0 {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock => continue,
                _ => return Err(e),
            }
        }
        bytes = &bytes[w as usize..];
        stalled = None;
    }
    Ok(())
}

/// Whether a panic payload is std's "failed printing to stdout/stderr" for a closed pipe
/// (`println!` panics on EPIPE because Rust ignores SIGPIPE; so does [`emit`]).
pub fn is_broken_pipe_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = panic_message(payload);
    msg.starts_with("failed printing to std")
        && msg.contains(&std::io::Error::from_raw_os_error(libc::EPIPE).to_string())
}

/// Whether a panic payload is [`emit`] abandoning an output nobody read after a stop signal,
/// or an output that went away with its terminal (EIO: the ssh session dropped, SIGHUP).
pub fn is_stalled_output_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = panic_message(payload);
    msg == STALLED
        || (msg.starts_with("failed printing to std")
            && msg.contains(&std::io::Error::from_raw_os_error(libc::EIO).to_string()))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
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
        if !is_broken_pipe_panic(info.payload()) && !is_stalled_output_panic(info.payload()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_escapes_all_but_our_colours() {
        let evil = "pid:7 (\u{1b}[31mEVIL\u{1b}[0m\u{7}) \u{1b}[2K\u{202e}x\0";
        let plain = sink_clean(evil, false);
        assert_eq!(
            plain,
            "pid:7 (\\x1b[31mEVIL\\x1b[0m\\x07) \\x1b[2K\\u{202e}x\\x00"
        );
        // Colour on: SGR passes, erasing a line (ESC [ 2 K) does not.
        let coloured = sink_clean(evil, true);
        assert!(coloured.contains("\u{1b}[31mEVIL\u{1b}[0m"), "{coloured}");
        assert!(
            coloured.contains("\\x1b[2K") && coloured.contains("\\x07"),
            "{coloured}"
        );
        assert_eq!(sink_clean("a\tb\n", false), "a\tb\n");
        assert_eq!(sgr_len("\u{1b}[1;31mX"), Some(7));
        assert_eq!(sgr_len("\u{1b}[2K"), None);
        // Conceal (8) would hide what follows: not one of ours.
        assert_eq!(sgr_len("\u{1b}[8m"), None);
        assert_eq!(sgr_len("\u{1b}[0m"), Some(4));
    }
}
