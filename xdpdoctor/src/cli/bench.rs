//! `xdpdoctor bench [--json [FILE]] [--quick] [--packets N] [--method M[,M]]`: asks the
//! kernel what it allows, builds its own lab, measures the forwarder against a plain XDP
//! router, kernel NAT and redirect-only (and with trace attached) by every method that runs,
//! prints the tables (one function each, every figure with its method), removes the lab.
//! Exit 0 when the bench ran (targets missed are reported, not an error), 2 on error
//! (a method named with `--method` that the kernel refuses included).
#![allow(clippy::print_stdout)] // the CLI prints results; the library never does

mod tables;

use std::path::PathBuf;

use anyhow::{Context, Result};
use xdpdoctor::bench::handover::Handover;
use xdpdoctor::bench::method::{self, Status};
use xdpdoctor::bench::{self, BenchOptions, BenchReport};

use super::output::{bad, print_json};
use super::progress::Bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the report as JSON: to FILE (tables still printed), or to stdout instead of the
    /// tables when no FILE is given.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// Short run: one round, 200k live frames and 0.5 s of af-packet sending per measurement.
    #[arg(long)]
    pub quick: bool,
    /// Frames per live-frames measurement (default 2,000,000; with --quick 200,000). An
    /// af-packet measurement lasts 2 s (--quick 0.5 s).
    #[arg(long, value_name = "N")]
    pub packets: Option<u64>,
    /// Methods to run, comma-separated: live-frames, program-cost, af-packet; or auto (every
    /// method this kernel allows: `xdpdoctor probes` lists the capabilities). A named method
    /// the kernel refuses is an error.
    #[arg(long, value_name = "METHOD[,METHOD]", default_value = "auto")]
    pub method: Vec<String>,
    /// How the af-packet method's frames reach vm's eth0's NAPI: batched (interrupt deferral
    /// on the veth, as a loaded NIC hands over up to 64 frames per poll) or per-frame (one
    /// frame per poll, the veth as it is).
    #[arg(long, value_name = "HANDOVER", default_value = "batched",
          value_parser = clap::builder::PossibleValuesParser::new(Handover::ALL.map(Handover::name)))]
    pub handover: String,
    /// Lab prefix (default xdb<pid>).
    #[arg(long, hide = true)]
    pub prefix: Option<String>,
}

pub fn run(a: &Args) -> Result<i32> {
    if let Some(Some(path)) = &a.json {
        xdpdoctor::files::check_target(path, xdpdoctor::files::Replace::Own)
            .with_context(|| format!("--json {}", path.display()))?;
    }
    // The tables go to stdout; `--json` alone makes stdout JSON: no bar then.
    let bar = Bar::new(matches!(a.json, Some(None)));
    let opts = BenchOptions {
        quick: a.quick,
        packets: a.packets,
        exe: std::env::current_exe().context("locating the xdpdoctor binary")?,
        prefix: a.prefix.clone(),
        methods: method::parse_choice(&a.method)?,
        handover: Handover::parse(&a.handover)
            .with_context(|| format!("--handover {}", a.handover))?,
        progress: bar.progress(),
    };
    let r = bench::run(&opts).context("running the benchmark");
    drop(bar);
    let r = r?;
    match &a.json {
        Some(None) => print_json(&r)?,
        Some(Some(path)) => {
            let text = serde_json::to_string_pretty(&r)? + "\n";
            xdpdoctor::files::write(path, text.as_bytes(), xdpdoctor::files::Replace::Own)
                .with_context(|| format!("--json {}", path.display()))?;
            print_tables(&r);
            println!("JSON report: {}", path.display());
        }
        None => print_tables(&r),
    }
    Ok(super::EXIT_OK)
}

fn print_tables(r: &BenchReport) {
    print_header(r);
    tables::live(r);
    tables::af_packet(r);
    tables::ratios(r);
    tables::program_cost(r);
    tables::decision_log(r);
    tables::diagnose_timing(r);
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "total: {:.1} s (lab {} removed)",
        r.total_seconds, r.lab_prefix
    );
}

fn print_header(r: &BenchReport) {
    let load = |l: Option<[f64; 3]>| {
        l.map(|[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
            .unwrap_or_else(|| "?".into())
    };
    println!(
        "xdpdoctor bench: Linux {}, {} CPU(s), {} | {} frames (af-packet {:.1} s) x {} \
         round(s), {} flows{} | load average at start {}, at end {}",
        r.machine.kernel,
        r.machine.cpus,
        r.machine.date,
        r.packets,
        r.af_packet_seconds,
        r.rounds,
        r.flows,
        if r.quick { " (quick)" } else { "" },
        load(r.machine.loadavg_at_start),
        load(r.machine.loadavg_at_end),
    );
    for m in &r.methods {
        match m.status {
            Status::Ran => println!("method {}: ran", m.method),
            Status::Refused => println!(
                "method {}: {} ({})",
                m.method,
                bad("refused by this kernel"),
                m.reason.as_deref().unwrap_or("")
            ),
            Status::NotRequested => println!("method {}: not requested", m.method),
        }
    }
}
