//! `xdpdoctor trace [--netns NAME|PATH] [--all-netns] [--duration S] [--json] [--redirects]
//! [--pcap FILE] [--without KIND]... [--decisions [--decision-rate N]]`
//!
//! Prints the probe report (stderr), then a live stream of decoded events (stdout; one JSON
//! object per line with `--json`), then a summary of the kernel's counts when the duration
//! ends or on Ctrl-C (with `--json`: one last line `{"summary": ...}`). With `--pcap FILE`
//! every event shown is also written to FILE as pcapng (`probes::pcap`): the packet bytes
//! the skb probes copied, a comment naming probe, place and reason. With `--decisions`, the
//! decisions of the forwarder deployed in the namespace are printed among the events; its
//! log is on only while the trace runs. The probes are detached and the log turned off when
//! the command returns, whatever the path.
//!
//! The command only parses and prints: `trace/lowargs.rs` is what clap parses ([`Args`]),
//! `trace/hiargs.rs` checks it into the library's `trace::Plan`, `xdpdoctor::trace` runs the
//! session and `report::trace` renders what it returns.

mod hiargs;
mod lowargs;

use anyhow::{Context, Result};
use xdpdoctor::netns::Netns;
use xdpdoctor::report::trace::Line;
use xdpdoctor::report::{self, Style};

pub use lowargs::Args;
use xdpdoctor::trace::TraceSession;

/// Starts the trace, prints what it shows until it ends, then the kernel's counts.
pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let plan = hiargs::plan(a, ns)?;
    let mut session = TraceSession::start(plan).context("loading the probes")?;
    eprintln!("{}", super::probes::render(&session.report()));
    eprintln!("{}", report::trace::banner(session.scope()));
    while let Some(items) = session.poll()? {
        print_items(&items, a.json);
    }
    let mut done = session.finish()?;
    print_items(&done.last, a.json);
    // Text: the file's line is part of the summary (stdout); with --json it is in the
    // summary object, and said on stderr for people.
    if let (Some(p), true) = (&done.pcap, a.json) {
        eprintln!("{}", report::trace::pcap_written(p));
    }
    let code = match &done.pcap {
        Some(p) if p.error.is_some() => super::EXIT_OUTPUT,
        _ => super::EXIT_OK,
    };
    if a.json {
        println!("{}", report::trace::summary_json(&done.summary));
    } else {
        let st = Style {
            color: super::output::color(),
        };
        let text =
            report::trace::summary_text(&done.summary, &mut done.names, done.interrupted, st);
        println!("{text}");
    }
    Ok(code)
}

/// Results on stdout, notes about the trace on stderr: one write each per batch.
fn print_items(items: &[xdpdoctor::trace::Item], json: bool) {
    let (mut out, mut notes) = (String::new(), String::new());
    for i in items {
        let (buf, line) = match report::trace::item(i, json) {
            Line::Result(line) => (&mut out, line),
            Line::Note(note) => (&mut notes, note),
        };
        buf.push_str(&line);
        buf.push('\n');
    }
    if !notes.is_empty() {
        eprint!("{notes}");
    }
    if !out.is_empty() {
        print!("{out}");
    }
}
