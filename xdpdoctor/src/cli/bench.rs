//! `xdpdoctor bench [--json [FILE]] [--quick] [--packets N]`: builds its own lab, measures
//! the forwarder against a plain XDP router, kernel NAT and redirect-only (and with trace
//! attached), prints the tables (one function each), removes the lab. Exit 0 when the bench ran (targets missed are reported, not an
//! error), 2 on error.
#![allow(clippy::print_stdout)] // the CLI prints results; the library never does

use std::path::PathBuf;

use anyhow::{Context, Result};
use comfy_table::Cell;
use xdpdoctor::bench::report::{Ratio, RATIOS};
use xdpdoctor::bench::variants::Variant;
use xdpdoctor::bench::{self, BenchOptions, BenchReport};

use super::output::{bad, good, print_json, table};
use super::progress::Bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the report as JSON: to FILE (tables still printed), or to stdout instead of the
    /// tables when no FILE is given.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// Short run (~20 s): 200k frames per measurement, one round.
    #[arg(long)]
    pub quick: bool,
    /// Frames per measurement (default 2,000,000; with --quick 200,000).
    #[arg(long, value_name = "N")]
    pub packets: Option<u64>,
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

fn f2(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn print_tables(r: &BenchReport) {
    print_header(r);
    print_throughput(r);
    print_ratios(r);
    print_costs(r);
    print_decision_log(r);
    print_diagnose_timing(r);
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
        "xdpdoctor bench: Linux {}, {} CPU(s), {} | {} frames x {} round(s), {} flows{} | \
         load average at start {}, at end {}",
        r.machine.kernel,
        r.machine.cpus,
        r.machine.date,
        r.packets,
        r.rounds,
        r.flows,
        if r.quick { " (quick)" } else { "" },
        load(r.machine.loadavg_at_start),
        load(r.machine.loadavg_at_end),
    );
}

fn print_throughput(r: &BenchReport) {
    let mut t = table(&[
        "variant",
        "frame",
        "delivered Mpps",
        "rounds (Mpps)",
        "spread",
        "offered Mpps",
        "wall Mpps",
        "delivered",
    ]);
    for row in &r.throughput {
        t.add_row(vec![
            Cell::new(row.variant.name()),
            Cell::new(format!("{} B", row.frame_size)),
            Cell::new(row.skipped.clone().unwrap_or_else(|| f2(row.mpps))),
            Cell::new(
                row.rounds_mpps
                    .iter()
                    .map(|m| format!("{m:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Cell::new(
                row.spread_pct
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::new(f2(row.offered_mpps)),
            Cell::new(f2(row.wall_mpps)),
            Cell::new(
                row.delivered_ratio
                    .map(|d| format!("{:.1}%", d * 100.0))
                    .unwrap_or_else(|| "-".into()),
            ),
        ]);
    }
    println!("{t}");
}

/// One row per ratio, one column per frame size: value, [min - max] over rounds, verdict.
fn print_ratios(r: &BenchReport) {
    let sizes: Vec<usize> = r.ns_per_packet.iter().map(|c| c.frame_size).collect();
    let mut header = vec!["ratio".to_string(), "target".to_string()];
    header.extend(sizes.iter().map(|s| format!("{s} B [rounds min - max]")));
    let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for def in &RATIOS {
        let factor = def.denominator == Variant::KernelNat;
        let mut row = vec![
            format!("{} / {}", def.numerator.name(), def.denominator.name()),
            def.target
                .map(|x| format!(">= {}", fmt_ratio(x.min, factor)))
                .unwrap_or_else(|| "-".into()),
        ];
        for &size in &sizes {
            let q = r
                .ratios
                .iter()
                .find(|q| q.id == def.id && q.frame_size == size);
            row.push(q.map(|q| ratio_cell(q, factor)).unwrap_or_default());
        }
        t.add_row(row);
    }
    println!("{t}");
}

fn fmt_ratio(v: f64, factor: bool) -> String {
    if factor {
        format!("{v:.2}x")
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

fn ratio_cell(q: &Ratio, factor: bool) -> String {
    let Some(v) = q.value else {
        return "- (a side was not measured)".into();
    };
    let mut text = fmt_ratio(v, factor);
    if let (Some(lo), Some(hi)) = (q.min, q.max) {
        if q.rounds.len() > 1 {
            text.push_str(&format!(
                " [{} - {}]",
                fmt_ratio(lo, factor),
                fmt_ratio(hi, factor)
            ));
        }
    }
    let noise = if q.within_noise == Some(true) {
        " (within noise)"
    } else {
        ""
    };
    match q.met {
        Some(true) => format!("{text} {}{noise}", good("met")),
        Some(false) => format!("{text} {}{noise}", bad("below target")),
        None => text,
    }
}

fn print_costs(r: &BenchReport) {
    let mut t = table(&[
        "frame",
        "xdp_pass",
        "restore+pass",
        "redirect-only",
        "router-peer",
        "forwarder",
        "fib-cache",
        "forwarder own",
        "forwarder - router",
    ]);
    for c in &r.ns_per_packet {
        t.add_row(vec![
            format!("{} B", c.frame_size),
            format!("{:.0}", c.xdp_pass_ns),
            format!("{:.0}", c.restore_pass_ns),
            format!("{:.0}", c.redirect_only_ns),
            format!("{:.0}", c.router_peer_ns),
            format!("{:.0}", c.forwarder_ns),
            format!("{:.0}", c.forwarder_fib_cache_ns),
            format!("{:.0}", c.forwarder_own_ns),
            format!("{:.0}", c.forwarder_over_router_ns),
        ]);
    }
    println!("ns/packet (non-live BPF_PROG_TEST_RUN, kernel time per run):\n{t}");
}

/// The decision log: off against compiled out (live ratio and ns/packet), on at
/// its default rate against the rate limit's bound.
fn print_decision_log(r: &BenchReport) {
    let mut t = table(&[
        "frame",
        "log off / compiled out (live)",
        "ns compiled out",
        "ns off",
        "off - out",
        "ns on",
        "on / off (live)",
        "records let through",
        "received",
        "bound",
        "rate limit",
    ]);
    for c in &r.ns_per_packet {
        let ratio = |id: &str| {
            r.ratios
                .iter()
                .find(|q| q.id == id && q.frame_size == c.frame_size)
                .map(|q| ratio_cell(q, false))
                .unwrap_or_default()
        };
        let l = r.decision_log.iter().find(|l| l.frame_size == c.frame_size);
        t.add_row(vec![
            format!("{} B", c.frame_size),
            ratio("log_off_over_compiled_out"),
            format!("{:.0}", c.forwarder_nolog_ns),
            format!("{:.0}", c.forwarder_ns),
            format!("{:+.0}", c.log_off_cost_ns),
            format!("{:.0}", c.forwarder_log_on_ns),
            ratio("log_on_over_off"),
            l.map(|l| format!("{} in {:.2} s", l.log.allowed, l.log.seconds))
                .unwrap_or_else(|| "-".into()),
            l.map(|l| format!("{} ({:.0}/s)", l.log.received, l.received_per_s))
                .unwrap_or_else(|| "-".into()),
            l.map(|l| format!("{:.0}", l.bound))
                .unwrap_or_else(|| "-".into()),
            l.map(|l| {
                if l.holds {
                    good("holds")
                } else {
                    bad("exceeded")
                }
            })
            .unwrap_or_else(|| "-".into()),
        ]);
    }
    println!(
        "decision log (forwarder-nolog: built without it; forwarder: compiled in, off; \
         forwarder+log: on at 1000/s per CPU, burst 100):\n{t}"
    );
}

fn print_diagnose_timing(r: &BenchReport) {
    println!("{}", r.diagnose_timing_note);
    let Some(rows) = &r.diagnose_timing else {
        return;
    };
    let mut t = table(&[
        "lab",
        "containers",
        "namespaces",
        "lab up s",
        "diagnose static ms",
        "static ms/container",
        "diagnose total ms",
        "findings",
    ]);
    for d in rows {
        t.add_row(vec![
            d.lab.clone(),
            d.containers.to_string(),
            d.namespaces.to_string(),
            format!("{:.1}", d.lab_up_s),
            d.static_ms.to_string(),
            format!("{:.2}", d.static_ms_per_container),
            d.total_ms.to_string(),
            d.findings.to_string(),
        ]);
    }
    println!("{t}");
}
