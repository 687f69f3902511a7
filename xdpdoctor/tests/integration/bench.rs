//! `xdpdoctor bench --quick --json` runs end to end on a lab of its own: every variant and
//! frame size is in the JSON with a positive number (or, for forwarder+trace only, a stated
//! reason it was skipped), every ratio is there with its target and verdict, ns/packet too,
//! the decision log's rate limit held (records received against its bound),
//! each variant took its path (no WARNING note), and nothing is left behind (namespaces, lab
//! state, responders, pins). No timing is asserted.
#![allow(clippy::print_stderr)]

use serde_json::Value;

use crate::common::{self, assert_nothing_left, require_root, BIN};

const VARIANTS: [&str; 8] = [
    "xdp-redirect-only",
    "router-peer",
    "forwarder",
    "forwarder-nolog",
    "forwarder+log",
    "forwarder-fib-cache",
    "forwarder+trace",
    "kernel-nat",
];
/// Ratios with a target, and the target.
const TARGETS: [(&str, f64); 3] = [
    ("forwarder_over_router_peer", 0.90),
    ("forwarder_over_kernel_nat", 3.5),
    ("with_trace_over_without", 0.95),
];
const SIZES: [u64; 2] = [64, 1500];

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {v}"));
    assert!(x > 0.0 && x.is_finite(), "{what}: {x} is not positive");
    x
}

/// Forwarder pin directories under /sys/fs/bpf/xdpdoctor.
fn pin_dirs() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/sys/fs/bpf/xdpdoctor")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pins or forwarder state of lab `prefix` still present: a state file naming one of its
/// namespaces, or a pin directory made during the bench that has no state file (an orphan).
fn pins_left(prefix: &str, before: &std::collections::BTreeSet<String>) -> Vec<String> {
    let mut left = Vec::new();
    for e in std::fs::read_dir("/run/xdpdoctor/forwarders")
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        if text.contains(&format!("\"{prefix}-")) {
            left.push(e.path().display().to_string());
        }
    }
    for d in pin_dirs().difference(before) {
        let inode = d.trim_start_matches("fwd-");
        if !std::path::Path::new(&format!("/run/xdpdoctor/forwarders/{inode}.json")).exists() {
            left.push(format!("/sys/fs/bpf/xdpdoctor/{d}"));
        }
    }
    left
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads BPF programs"]
fn bench_quick_json_has_every_field_and_leaves_nothing() {
    require_root();
    let prefix = common::unique_prefix("bn");
    let pins_before = pin_dirs();
    let out = std::process::Command::new(BIN)
        .args(["bench", "--quick", "--json", "--prefix", &prefix])
        .env("NO_COLOR", "1")
        .output()
        .expect("run xdpdoctor bench");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "bench failed: {:?}", out.status);
    let r: Value = serde_json::from_slice(&out.stdout).expect("bench --json output is JSON");
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());

    assert_eq!(r["lab_prefix"], prefix.as_str());
    assert!(!r["machine"]["kernel"].as_str().unwrap().is_empty());
    positive(&r["machine"]["cpus"], "machine.cpus");
    positive(&r["packets"], "packets");

    let rows = r["throughput"].as_array().expect("throughput array");
    for v in VARIANTS {
        for size in SIZES {
            let row = rows
                .iter()
                .find(|t| t["variant"] == v && t["frame_size"] == size)
                .unwrap_or_else(|| panic!("no throughput row for {v} {size}"));
            let what = format!("{v} {size}B");
            if row["mpps"].is_null() {
                // Only the trace variant may be skipped (probes not available), with a reason.
                assert_eq!(v, "forwarder+trace", "{what} has no number");
                let why = row["skipped"].as_str().expect("skipped reason");
                assert!(why.starts_with("skipped"), "{what}: {why}");
                continue;
            }
            positive(&row["mpps"], &format!("{what} mpps"));
            positive(&row["offered_mpps"], &format!("{what} offered_mpps"));
            positive(&row["wall_mpps"], &format!("{what} wall_mpps"));
            positive(&row["delivered_ratio"], &format!("{what} delivered_ratio"));
            positive(&row["delivered"], &format!("{what} delivered"));
        }
    }

    let ratios = r["ratios"].as_array().expect("ratios array");
    let trace_measured = rows
        .iter()
        .any(|t| t["variant"] == "forwarder+trace" && !t["mpps"].is_null());
    for size in SIZES {
        let at = |id: &str| {
            ratios
                .iter()
                .find(|q| q["id"] == id && q["frame_size"] == size)
                .unwrap_or_else(|| panic!("no ratio {id} at {size}"))
        };
        for (id, target) in TARGETS {
            let q = at(id);
            assert_eq!(q["target"]["min"].as_f64(), Some(target), "{id} target");
            if id == "with_trace_over_without" && !trace_measured {
                assert!(q["value"].is_null() && q["met"].is_null(), "{id}: {q}");
                continue;
            }
            let v = positive(&q["value"], &format!("{id} {size}B"));
            assert_eq!(q["met"].as_bool(), Some(v >= target), "{id} met");
            // One round (--quick): no spread to judge noise by.
            assert!(q["within_noise"].is_null(), "{id}: {q}");
        }
        for id in [
            "forwarder_over_redirect_only",
            "router_peer_over_redirect_only",
            "fib_cache_over_router_peer",
            "fib_cache_over_forwarder",
            "log_off_over_compiled_out",
            "log_on_over_off",
        ] {
            let q = at(id);
            positive(&q["value"], &format!("{id} {size}B"));
            assert!(q["target"].is_null() && q["met"].is_null(), "{id}: {q}");
        }
    }

    let costs = r["ns_per_packet"].as_array().expect("ns_per_packet array");
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
        assert!(c["forwarder_own_ns"].as_f64().is_some(), "forwarder_own_ns");
        assert!(c["log_off_cost_ns"].as_f64().is_some(), "log_off_cost_ns");
        // The decision log on at its default rate: records were read, and the rate limit
        // held under the bench's load (the records the buckets let through against
        // CPUs x (burst + rate x time on)).
        let l = r["decision_log"]
            .as_array()
            .expect("decision_log array")
            .iter()
            .find(|l| l["frame_size"] == size)
            .unwrap_or_else(|| panic!("no decision_log row for {size}"));
        positive(&l["log"]["received"], &format!("{size}B records received"));
        // Every record let through was read, or lost for a full ring (a starved reader).
        let n = |k: &str| l["log"][k].as_u64().unwrap();
        assert_eq!(n("received") + n("lost"), n("allowed"), "{l}");
        assert_eq!(l["holds"], true, "{l}");
        assert!(l["log"]["allowed"].as_f64() <= l["bound"].as_f64(), "{l}");
    }
    assert!(r["diagnose_timing_note"].is_string());
    let warnings: Vec<&str> = r["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with("WARNING"))
        .collect();
    assert!(warnings.is_empty(), "paths not clean: {warnings:?}");

    assert_nothing_left(&prefix);
    let left = pins_left(&prefix, &pins_before);
    assert!(left.is_empty(), "pins left: {left:?}");
}
