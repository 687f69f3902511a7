//! The bench's tables, one function each; every table names the method its figures come
//! from, and a method that did not run prints no table.

use comfy_table::Cell;
use xdpdoctor::bench::cost::{FEW_UNDISTURBED, UNDISTURBED};
use xdpdoctor::bench::cpu::Basis;
use xdpdoctor::bench::handover::Handover;
use xdpdoctor::bench::method::Method;
use xdpdoctor::bench::report::{Ratio, RATIOS};
use xdpdoctor::bench::BenchReport;

use crate::cli::output::{bad, good, table};

fn f2(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn f0(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|d| format!("{:.1}%", d * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn ran(r: &BenchReport, m: Method) -> bool {
    r.methods.iter().any(|s| s.method == m && s.runs())
}

/// live-frames: delivered Mpps per variant and frame size.
pub fn live(r: &BenchReport) {
    if r.throughput.is_empty() {
        return;
    }
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
            Cell::new(pct(row.delivered_ratio)),
        ]);
    }
    println!(
        "method live-frames: delivered per second of BPF_PROG_TEST_RUN live-frame time \
         (program, redirect, veth and stack on the generator's CPU):\n{t}"
    );
}

/// af-packet: CPU per delivered packet, the generator's own cost, runtime statistics.
pub fn af_packet(r: &BenchReport) {
    if r.path_cost.is_empty() && r.generator.is_empty() {
        return;
    }
    let mut t = table(&[
        "run",
        "frame",
        "path ns/packet",
        "rounds",
        "spread",
        "CPU ns/packet (with generator)",
        "cross-check",
        "softirq",
        "program ns/run",
        "sink ns/run",
        "delivered",
        "generator Mpps (offered)",
    ]);
    for g in &r.generator {
        t.add_row(vec![
            "generator -> XDP_DROP".to_string(),
            format!("{} B", g.frame_size),
            "-".into(),
            g.rounds_cpu_ns
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            "-".into(),
            f0(g.cpu_ns_per_packet),
            f0(g.cross_check_cpu_ns),
            "-".into(),
            f0(g.drop_ns_per_run),
            "-".into(),
            format!("{} of {}", g.counted, g.sent),
            f2(g.mpps),
        ]);
    }
    for p in &r.path_cost {
        t.add_row(vec![
            p.variant.name().to_string(),
            format!("{} B", p.frame_size),
            f0(p.path_ns_per_packet),
            p.rounds_path_ns
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            p.spread_pct
                .map(|s| format!("{s:.1}%"))
                .unwrap_or_else(|| "-".into()),
            f0(p.cpu_ns_per_packet),
            f0(p.cross_check_path_ns),
            pct(p.softirq_share),
            f0(p.program_ns_per_run),
            f0(p.sink_ns_per_run),
            pct(p.delivered_ratio),
            f2(p.generator_mpps),
        ]);
    }
    let cpu = r.generator.first().map(|g| g.cpu).unwrap_or_default();
    let (basis, check) = r
        .af_packet_basis
        .as_ref()
        .map(|b| (basis_name(b.basis), basis_name(b.cross_check)))
        .unwrap_or_default();
    let handover = match &r.af_packet_handover {
        Some(h) if h.mode == Handover::Batched => format!(
            "hand-over batched (vm's eth0 polled every {} µs, as a loaded NIC)",
            h.gro_flush_timeout_ns / 1000
        ),
        _ => "hand-over per frame".to_string(),
    };
    println!(
        "method af-packet: CPU time on CPU {cpu} per delivered packet ({basis}; cross-check: \
         {check}); {handover}; path = minus the generator's own cost (its frames into an \
         XDP_DROP sink on vm's eth0); the generator's rate is what it offered, not a path's \
         capacity:\n{t}"
    );
}

fn basis_name(b: Basis) -> &'static str {
    match b {
        Basis::Tasks => "generator thread + ksoftirqd",
        Basis::TasksAndIrq => "generator thread + ksoftirqd + the CPU's softirq and hardirq",
        Basis::PerCpu => "the CPU's system + softirq + hardirq",
    }
}

/// One row per method and ratio, one column per frame size: value, [min - max] over rounds,
/// verdict.
pub fn ratios(r: &BenchReport) {
    let mut sizes: Vec<usize> = r.ratios.iter().map(|q| q.frame_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut header = vec!["method".to_string(), "ratio".into(), "target".into()];
    header.extend(sizes.iter().map(|s| format!("{s} B [rounds min - max]")));
    let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for def in RATIOS.iter().filter(|d| ran(r, d.method)) {
        let factor = def.denominator.is_kernel_nat();
        let mut row = vec![
            def.method.name().to_string(),
            format!("{} / {}", def.numerator.name(), def.denominator.name()),
            def.target
                .map(|x| format!(">= {}", fmt_ratio(x.min, factor)))
                .unwrap_or_else(|| "-".into()),
        ];
        for &size in &sizes {
            let q = r
                .ratios
                .iter()
                .find(|q| q.id == def.id && q.method == def.method && q.frame_size == size);
            row.push(q.map(|q| ratio_cell(q, factor)).unwrap_or_default());
        }
        t.add_row(row);
    }
    println!("ratios (each within one method; never across methods):\n{t}");
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

/// program-cost: ns per run of each program.
pub fn program_cost(r: &BenchReport) {
    if r.ns_per_packet.is_empty() {
        return;
    }
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
    let loads = r.ns_per_packet.first().map_or(1, |c| c.loads);
    let samples = r
        .ns_per_packet
        .first()
        .and_then(|c| c.samples_ns.values().next())
        .map_or(1, Vec::len);
    println!(
        "method program-cost: ns per run (non-live BPF_PROG_TEST_RUN, kernel time per run, \
         the program alone; each figure the fastest of {samples} samples, each sample the \
         mean over {loads} loads of the program: a disturbance only adds time):\n{t}"
    );
    for c in &r.ns_per_packet {
        let n = |k: &str| c.undisturbed.get(k).copied().unwrap_or(0);
        let (router, fwd) = (n("router_peer"), n("forwarder"));
        let busy = if router.min(fwd) <= FEW_UNDISTURBED {
            ": few, a busy host; a figure may be high"
        } else {
            ""
        };
        println!(
            "  {} B, samples within {:.0}% of the fastest: router-peer {router}/{samples}, \
             forwarder {fwd}/{samples}{busy}",
            c.frame_size,
            UNDISTURBED * 100.0,
        );
    }
}

/// The decision log: off against compiled out (live ratio and ns per run), on at its
/// default rate against the rate limit's bound (live frames).
pub fn decision_log(r: &BenchReport) {
    if r.ns_per_packet.is_empty() && r.decision_log.is_empty() {
        return;
    }
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
    let mut sizes: Vec<usize> = r
        .ns_per_packet
        .iter()
        .map(|c| c.frame_size)
        .chain(r.decision_log.iter().map(|l| l.frame_size))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        let ratio = |id: &str| {
            r.ratios
                .iter()
                .find(|q| q.id == id && q.method == Method::LiveFrames && q.frame_size == size)
                .map(|q| ratio_cell(q, false))
                .unwrap_or_else(|| "-".into())
        };
        let c = r.ns_per_packet.iter().find(|c| c.frame_size == size);
        let ns = |f: fn(&xdpdoctor::bench::cost::CostRow) -> f64, sign: bool| {
            c.map(|c| {
                if sign {
                    format!("{:+.0}", f(c))
                } else {
                    format!("{:.0}", f(c))
                }
            })
            .unwrap_or_else(|| "-".into())
        };
        let l = r.decision_log.iter().find(|l| l.frame_size == size);
        t.add_row(vec![
            format!("{size} B"),
            ratio("log_off_over_compiled_out"),
            ns(|c| c.forwarder_nolog_ns, false),
            ns(|c| c.forwarder_ns, false),
            ns(|c| c.log_off_cost_ns, true),
            ns(|c| c.forwarder_log_on_ns, false),
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
         forwarder+log: on at 1000/s per CPU, burst 100; ns: program-cost, ratios and records: \
         live-frames):\n{t}"
    );
}

/// `diagnose` on the seed lab and on generated fleets.
pub fn diagnose_timing(r: &BenchReport) {
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
