//! Shared output helpers: colour policy (NO_COLOR, TTY, --color), tables, JSON.

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
