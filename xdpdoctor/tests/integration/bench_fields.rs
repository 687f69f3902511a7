//! What `bench --json` must hold for each method that ran, checked field by field (helpers of
//! `bench.rs`). No timing is asserted: figures must exist, be numbers of the right sign, carry
//! their method, and each ratio its target and a verdict consistent with its value.

use serde_json::Value;

pub const SIZES: [u64; 2] = [64, 1500];

/// Live-frames variants, all measured in every run.
const LIVE_VARIANTS: [&str; 10] = [
    "xdp-redirect-only",
    "router-peer",
    "forwarder",
    "forwarder-nolog",
    "forwarder+log",
    "forwarder-fib-cache",
    "forwarder+trace",
    "kernel-nat",
    "forwarder-bridged",
    "kernel-nat-bridged",
];

/// af-packet variants.
const PATH_VARIANTS: [&str; 6] = [
    "xdp-redirect-only",
    "router-peer",
    "forwarder",
    "kernel-nat",
    "forwarder-bridged",
    "kernel-nat-bridged",
];

/// The report's notes.
fn notes(r: &Value) -> Vec<&str> {
    r["notes"]
        .as_array()
        .expect("notes array")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// The bridged variants took their path: every frame of forwarder-bridged was redirected,
/// each to the bridge's port (the forwarder's `bridge_port` counter, in the run's notes), and
/// kernel-nat-bridged's frames reached the bridged container (not m1's host0) through vm's
/// stack without the forwarder seeing them.
fn bridged_paths(r: &Value) {
    let notes = notes(r);
    for size in SIZES {
        for v in ["forwarder-bridged", "kernel-nat-bridged"] {
            let bad: Vec<_> = notes
                .iter()
                .filter(|n| n.starts_with("WARNING") && n.contains(&format!("{v} {size}B")))
                .collect();
            assert!(bad.is_empty(), "{v} {size}B: {bad:?}");
        }
        let prefix = format!("forwarder-bridged {size}B: forwarder redirected ");
        let note = notes
            .iter()
            .find(|n| n.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no forwarder-bridged {size}B note: {notes:?}"));
        // "... redirected N of N frames (100.0%), N to the bridge's port; ..."
        let words: Vec<&str> = note[prefix.len()..].split_whitespace().collect();
        let (redirected, sent, to_port) = (words[0], words[2], words[5]);
        assert_eq!(redirected, sent, "{note}");
        assert_eq!(to_port, redirected, "{note}");
        assert!(note.contains("to the bridge's port"), "{note}");
    }
    let bridged_to = notes
        .iter()
        .find(|n| n.starts_with("live-frames: frames go to"))
        .expect("the live-frames destination note");
    assert!(
        bridged_to.contains("bridged variants: 192.168.9.1:8082")
            && bridged_to.contains("(bridged: eth0 in "),
        "{bridged_to}"
    );
}

pub fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {v}"));
    assert!(x > 0.0 && x.is_finite(), "{what}: {x} is not positive");
    x
}

fn number(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {v}"));
    assert!(x.is_finite(), "{what}: {x}");
    x
}

/// The ratio `id` of `method` at `size`.
fn ratio<'a>(r: &'a Value, method: &str, id: &str, size: u64) -> &'a Value {
    r["ratios"]
        .as_array()
        .expect("ratios array")
        .iter()
        .find(|q| q["id"] == id && q["method"] == method && q["frame_size"] == size)
        .unwrap_or_else(|| panic!("no ratio {id} ({method}) at {size}"))
}

/// A ratio with a target: the target's value, and `met` agreeing with `value`. One round
/// (--quick): no spread to judge noise by. A value may be missing only where `may_miss`
/// allows it (a side skipped, or a cost figure that came out at or below zero).
fn targeted(q: &Value, target: f64, may_miss: bool) {
    let what = format!("{} ({})", q["id"], q["method"]);
    assert_eq!(q["target"]["min"].as_f64(), Some(target), "{what} target");
    assert!(q["within_noise"].is_null(), "{what}: {q}");
    if q["value"].is_null() {
        assert!(may_miss, "{what} has no value: {q}");
        assert!(q["met"].is_null(), "{what}: {q}");
        return;
    }
    let v = positive(&q["value"], &what);
    assert_eq!(q["met"].as_bool(), Some(v >= target), "{what} met");
}

/// Rows of `key` whose `method` is not `method`: there must be none.
fn all_of_method(r: &Value, key: &str, method: &str) {
    for row in r[key].as_array().unwrap_or_else(|| panic!("{key} array")) {
        assert_eq!(row["method"], method, "{key}: {row}");
    }
}

/// No rows and no ratios of a method that did not run.
pub fn absent(r: &Value, method: &str) {
    let key = match method {
        "live-frames" => "throughput",
        "program-cost" => "ns_per_packet",
        _ => "path_cost",
    };
    assert!(r[key].as_array().unwrap().is_empty(), "{key} present");
    if method == "af-packet" {
        assert!(r["generator"].as_array().unwrap().is_empty());
        assert!(r["af_packet_basis"].is_null());
        assert!(r["af_packet_handover"].is_null());
    }
    if method == "live-frames" {
        assert!(r["decision_log"].as_array().unwrap().is_empty());
    }
    let stray: Vec<&Value> = r["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["method"] == method)
        .collect();
    assert!(stray.is_empty(), "ratios of {method}: {stray:?}");
}

/// live-frames: every variant and size with positive numbers (forwarder+trace may be
/// skipped, with a reason), every ratio with its target, the decision log's rate limit held.
pub fn live(r: &Value) {
    all_of_method(r, "throughput", "live-frames");
    bridged_paths(r);
    let rows = r["throughput"].as_array().unwrap();
    for v in LIVE_VARIANTS {
        for size in SIZES {
            let row = rows
                .iter()
                .find(|t| t["variant"] == v && t["frame_size"] == size)
                .unwrap_or_else(|| panic!("no throughput row for {v} {size}"));
            let what = format!("{v} {size}B");
            if row["mpps"].is_null() {
                assert_eq!(v, "forwarder+trace", "{what} has no number");
                let why = row["skipped"].as_str().expect("skipped reason");
                assert!(why.starts_with("skipped"), "{what}: {why}");
                continue;
            }
            for k in [
                "mpps",
                "offered_mpps",
                "wall_mpps",
                "delivered_ratio",
                "delivered",
            ] {
                positive(&row[k], &format!("{what} {k}"));
            }
        }
    }
    let trace_measured = rows
        .iter()
        .any(|t| t["variant"] == "forwarder+trace" && !t["mpps"].is_null());
    for size in SIZES {
        targeted(
            ratio(r, "live-frames", "forwarder_over_router_peer", size),
            0.90,
            false,
        );
        targeted(
            ratio(r, "live-frames", "forwarder_over_kernel_nat", size),
            3.5,
            false,
        );
        // Into bridged containers against kernel NAT through the bridge.
        targeted(
            ratio(r, "live-frames", "bridged_forwarder_over_kernel_nat", size),
            3.0,
            false,
        );
        targeted(
            ratio(r, "live-frames", "with_trace_over_without", size),
            0.95,
            !trace_measured,
        );
        for id in [
            "forwarder_over_redirect_only",
            "router_peer_over_redirect_only",
            "fib_cache_over_router_peer",
            "fib_cache_over_forwarder",
            "log_off_over_compiled_out",
            "log_on_over_off",
            "bridged_forwarder_over_forwarder",
        ] {
            let q = ratio(r, "live-frames", id, size);
            positive(&q["value"], &format!("{id} {size}B"));
            assert!(q["target"].is_null() && q["met"].is_null(), "{id}: {q}");
        }
        // The decision log on at its default rate: records were read, and the rate limit
        // held under the bench's load (records the buckets let through against
        // CPUs x (burst + rate x time on)); every record let through was read, or lost for a
        // full ring (a starved reader).
        let l = r["decision_log"]
            .as_array()
            .expect("decision_log array")
            .iter()
            .find(|l| l["frame_size"] == size)
            .unwrap_or_else(|| panic!("no decision_log row for {size}"));
        positive(&l["log"]["received"], &format!("{size}B records received"));
        let n = |k: &str| l["log"][k].as_u64().unwrap();
        assert_eq!(n("received") + n("lost"), n("allowed"), "{l}");
        assert_eq!(l["holds"], true, "{l}");
        assert!(l["log"]["allowed"].as_f64() <= l["bound"].as_f64(), "{l}");
    }
}

/// program-cost: ns per run of every program per size, and its ratios (the router-peer one
/// with its target).
pub fn program_cost(r: &Value) {
    all_of_method(r, "ns_per_packet", "program-cost");
    let costs = r["ns_per_packet"].as_array().unwrap();
    for size in SIZES {
        let c = costs
            .iter()
            .find(|c| c["frame_size"] == size)
            .unwrap_or_else(|| panic!("no ns_per_packet for {size}"));
        for k in [
            "xdp_pass_ns",
            "restore_pass_ns",
            "redirect_only_ns",
            "router_peer_ns",
            "forwarder_ns",
            "forwarder_fib_cache_ns",
            "forwarder_nolog_ns",
            "forwarder_log_on_ns",
        ] {
            positive(&c[k], &format!("{size}B {k}"));
        }
        // Each figure is the mean over several loads of each program (bench/cost.rs).
        assert!(c["loads"].as_u64().unwrap() >= 2, "{size}B loads: {c}");
        // ... and the fastest of its samples, all of which are in the report.
        for (k, samples) in c["samples_ns"].as_object().expect("samples_ns") {
            let s: Vec<f64> = samples
                .as_array()
                .unwrap_or_else(|| panic!("{size}B samples_ns.{k}: {samples}"))
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(
                s.len() >= 3 && s.iter().all(|v| *v > 0.0),
                "{size}B {k}: {s:?}"
            );
            let min = s.iter().copied().fold(f64::INFINITY, f64::min);
            let fig = c[format!("{k}_ns")].as_f64().unwrap();
            assert!(
                (fig - min).abs() < 1e-9,
                "{size}B {k}_ns {fig} vs samples {s:?}"
            );
            // The fastest counts itself: 1..=samples within 3% of it, as many as there are.
            let near = s.iter().filter(|v| **v <= min * 1.03).count() as u64;
            assert_eq!(c["undisturbed"][k].as_u64(), Some(near), "{size}B {k}: {c}");
        }
        assert_eq!(
            c["samples_ns"].as_object().map(|m| m.len()),
            Some(8),
            "{size}B: a sample list per program"
        );
        number(&c["forwarder_own_ns"], "forwarder_own_ns");
        number(&c["log_off_cost_ns"], "log_off_cost_ns");
        // The ratio is the router's ns over the forwarder's: exactly, from the same row.
        let q = ratio(r, "program-cost", "forwarder_over_router_peer", size);
        targeted(q, 0.90, false);
        let want = c["router_peer_ns"].as_f64().unwrap() / c["forwarder_ns"].as_f64().unwrap();
        assert!(
            (q["value"].as_f64().unwrap() - want).abs() < 1e-9,
            "{q} vs {want}"
        );
        for id in [
            "forwarder_over_redirect_only",
            "fib_cache_over_forwarder",
            "log_off_over_compiled_out",
        ] {
            positive(&ratio(r, "program-cost", id, size)["value"], id);
        }
        // Kernel NAT is not a program: no such ratio in this method.
        assert!(!r["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["method"] == "program-cost" && q["id"] == "forwarder_over_kernel_nat"));
    }
}

/// The af-packet hand-over (bench/handover.rs): `--handover` is not given in these tests, so
/// batched, with the deferral it ran with; only a kernel without `napi_defer_hard_irqs`
/// (before 5.7) may fall back to per-frame, and then says why. The note says the same.
fn handover(r: &Value) {
    let h = &r["af_packet_handover"];
    let notes = notes(r);
    let has_note = |s: &str| notes.iter().any(|n| n.contains(s));
    match h["mode"].as_str() {
        Some("batched") => {
            assert!(positive(&h["gro_flush_timeout_ns"], "gro_flush_timeout_ns") >= 50_000.0);
            positive(&h["napi_defer_hard_irqs"], "napi_defer_hard_irqs");
            assert!(h["fallback"].is_null(), "{h}");
            assert!(has_note("af-packet: hand-over batched"), "{notes:?}");
        }
        Some("per-frame") => {
            let why = h["fallback"]
                .as_str()
                .expect("per-frame without --handover: why");
            assert!(
                crate::common::kernel_version() < (5, 7),
                "batched refused on a kernel that has napi_defer_hard_irqs: {why}"
            );
            eprintln!("af-packet hand-over per frame: {why}");
            assert!(
                has_note("WARNING af-packet: hand-over per frame"),
                "{notes:?}"
            );
        }
        _ => panic!("af_packet_handover: {h}"),
    }
}

/// af-packet: the generator's own cost and every variant's CPU per delivered packet per size,
/// delivery counted, runtime statistics where the kernel allows them, the three targeted
/// ratios (the bridged pair's among them).
pub fn af_packet(r: &Value, stats_allowed: bool) {
    all_of_method(r, "generator", "af-packet");
    all_of_method(r, "path_cost", "af-packet");
    // Which CPU reading the figures come from, and the other one as the cross-check.
    let b = &r["af_packet_basis"];
    let basis = b["basis"].as_str().expect("af_packet_basis.basis");
    assert!(
        ["tasks", "tasks-and-irq", "per-cpu"].contains(&basis),
        "{b}"
    );
    assert_ne!(b["cross_check"], b["basis"], "{b}");
    assert!(!b["why"].as_str().unwrap_or_default().is_empty(), "{b}");
    handover(r);
    for size in SIZES {
        let g = r["generator"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["frame_size"] == size)
            .unwrap_or_else(|| panic!("no generator row for {size}"));
        positive(
            &g["cpu_ns_per_packet"],
            &format!("generator {size}B cpu_ns"),
        );
        positive(
            &g["cross_check_cpu_ns"],
            &format!("generator {size}B cross-check"),
        );
        positive(&g["mpps"], "generator mpps");
        let sent = positive(&g["sent"], "generator sent");
        // Every frame the device took reached the XDP_DROP sink.
        assert!(g["counted"].as_f64().unwrap() >= sent, "{g}");
        assert!(g["cpu"].is_u64(), "{g}");
        for v in PATH_VARIANTS {
            let p = r["path_cost"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["variant"] == v && p["frame_size"] == size)
                .unwrap_or_else(|| panic!("no path_cost row for {v} {size}"));
            let what = format!("af-packet {v} {size}B");
            positive(&p["cpu_ns_per_packet"], &format!("{what} cpu_ns"));
            number(&p["path_ns_per_packet"], &format!("{what} path_ns"));
            number(
                &p["cross_check_path_ns"],
                &format!("{what} cross_check_path_ns"),
            );
            assert_eq!(p["rounds_path_ns"].as_array().map(Vec::len), Some(1), "{p}");
            positive(&p["sent"], &format!("{what} sent"));
            let d = positive(&p["delivered_ratio"], &format!("{what} delivered_ratio"));
            assert!(d > 0.95, "{what}: only {d} delivered");
            positive(&p["generator_mpps"], &format!("{what} generator_mpps"));
            if stats_allowed {
                positive(&p["program_ns_per_run"], &format!("{what} program ns/run"));
                positive(&p["sink_ns_per_run"], &format!("{what} sink ns/run"));
            } else {
                assert!(p["program_ns_per_run"].is_null(), "{p}");
            }
        }
        // A ratio has no value only if a side's path figure came out at or below zero
        // (noise larger than the path, on a busy machine).
        let path = |v: &str| {
            r["path_cost"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["variant"] == v && p["frame_size"] == size)
                .and_then(|p| p["path_ns_per_packet"].as_f64())
                .is_some_and(|ns| ns > 0.0)
        };
        let (fwd, peer, nat) = (path("forwarder"), path("router-peer"), path("kernel-nat"));
        targeted(
            ratio(r, "af-packet", "forwarder_over_router_peer", size),
            0.90,
            !(fwd && peer),
        );
        targeted(
            ratio(r, "af-packet", "forwarder_over_kernel_nat", size),
            3.5,
            !(fwd && nat),
        );
        let (bfwd, bnat) = (path("forwarder-bridged"), path("kernel-nat-bridged"));
        targeted(
            ratio(r, "af-packet", "bridged_forwarder_over_kernel_nat", size),
            3.0,
            !(bfwd && bnat),
        );
    }
}
