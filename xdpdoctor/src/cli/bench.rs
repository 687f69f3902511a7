//! `xdpdoctor bench [--json [FILE]] [--quick] [--packets N]`: builds its own lab, measures
//! the forwarder against kernel NAT and redirect-only (and with trace attached), prints the
//! tables, removes the lab. Exit 0 when the bench ran (targets missed are reported, not an
//! error), 2 on error.
#![allow(clippy::print_stdout)] // the CLI prints results; the library never does

use std::path::PathBuf;

use anyhow::{Context, Result};
use comfy_table::Cell;
use xdpdoctor::bench::{self, report::Ratios, BenchOptions, BenchReport};

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
            std::fs::write(path, serde_json::to_string_pretty(&r)? + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
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
    println!(
        "xdpdoctor bench: Linux {}, {} CPU(s), {} | {} frames x {} round(s), {} flows{}",
        r.machine.kernel,
        r.machine.cpus,
        r.machine.date,
        r.packets,
        r.rounds,
        r.flows,
        if r.quick { " (quick)" } else { "" }
    );
    let mut t = table(&[
        "variant",
        "frame",
        "delivered Mpps",
        "offered Mpps",
        "wall Mpps",
        "delivered",
        "rounds (Mpps)",
    ]);
    for row in &r.throughput {
        t.add_row(vec![
            Cell::new(row.variant.name()),
            Cell::new(format!("{} B", row.frame_size)),
            Cell::new(row.skipped.clone().unwrap_or_else(|| f2(row.mpps))),
            Cell::new(f2(row.offered_mpps)),
            Cell::new(f2(row.wall_mpps)),
            Cell::new(
                row.delivered_ratio
                    .map(|d| format!("{:.1}%", d * 100.0))
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::new(
                row.rounds_mpps
                    .iter()
                    .map(|m| format!("{m:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]);
    }
    println!("{t}");

    let mut t = table(&[
        "frame",
        "forwarder / kernel-nat (>= 3x)",
        "forwarder / redirect-only (>= 90%)",
        "fib-cache / redirect-only (>= 90%)",
        "with trace / without (>= 95%)",
    ]);
    for q in &r.ratios {
        t.add_row(vec![
            Cell::new(format!("{} B", q.frame_size)),
            Cell::new(ratio_cell(
                q,
                q.forwarder_over_kernel_nat,
                "forwarder_over_kernel_nat>=3",
                false,
            )),
            Cell::new(ratio_cell(
                q,
                q.forwarder_over_redirect_only,
                "forwarder_over_redirect_only>=0.90",
                true,
            )),
            Cell::new(ratio_cell(
                q,
                q.fib_cache_over_redirect_only,
                "fib_cache_over_redirect_only>=0.90",
                true,
            )),
            Cell::new(ratio_cell(
                q,
                q.with_trace_over_without,
                "with_trace_over_without>=0.95",
                true,
            )),
        ]);
    }
    println!("{t}");

    let mut t = table(&[
        "frame",
        "xdp_pass ns/pkt",
        "restore+pass ns/pkt",
        "redirect-only ns/pkt",
        "forwarder ns/pkt",
        "forwarder own ns/pkt",
    ]);
    for c in &r.ns_per_packet {
        t.add_row(vec![
            format!("{} B", c.frame_size),
            format!("{:.0}", c.xdp_pass_ns),
            format!("{:.0}", c.restore_pass_ns),
            format!("{:.0}", c.redirect_only_ns),
            format!("{:.0}", c.forwarder_ns),
            format!("{:.0}", c.forwarder_own_ns),
        ]);
    }
    println!("{t}");
    println!("{}", r.diagnose_timing_note);
    if let Some(rows) = &r.diagnose_timing {
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
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "total: {:.1} s (lab {} removed)",
        r.total_seconds, r.lab_prefix
    );
}

fn ratio_cell(q: &Ratios, v: Option<f64>, target: &str, percent: bool) -> String {
    let Some(v) = v else {
        return "- (a side was not measured)".into();
    };
    let text = if percent {
        format!("{:.1}%", v * 100.0)
    } else {
        format!("{v:.2}x")
    };
    match q.targets_met.get(target) {
        Some(true) => format!("{text} {}", good("met")),
        Some(false) => format!("{text} {}", bad("below target")),
        None => text,
    }
}
