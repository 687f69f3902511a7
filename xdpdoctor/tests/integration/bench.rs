//! `xdpdoctor bench --quick --json` end to end on labs of its own, on any kernel: the bench
//! probes what the kernel allows and runs the methods it can (live-frames, program-cost,
//! af-packet). Each test checks the JSON fields of every method that ran
//! (`bench_fields.rs`) and that nothing is left behind (namespaces, lab state, responders,
//! pins); a method that did not run is reported in the test's output as
//! `ignored: <reason>`, with its absence from the report checked, never passed as run.
//! No timing is asserted.
//!
//! - `bench_quick_runs_every_allowed_method...`: the default, `--method auto`, on this kernel.
//! - `bench_quick_where_live_frames_are_refused...`: the same where the kernel refuses
//!   live-frame test runs with EPERM, as on the CI machines of 2026-12. Where this kernel
//!   allows them, the refusal is made by `strace` (an independent tool, no hook in the
//!   product): it fails the capability probe's live-frame `BPF_PROG_TEST_RUN` (the main
//!   thread's third bpf(2) call, checked in strace's log) with EPERM. Auto then runs
//!   program-cost and af-packet, and `--method live-frames` fails before building anything.
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::process::Output;

use serde_json::Value;

use crate::bench_fields::{self, absent};
use crate::common::{self, assert_nothing_left, require_root, BIN};

/// Forwarder pin directories under /sys/fs/bpf/xdpdoctor.
fn pin_dirs() -> BTreeSet<String> {
    std::fs::read_dir("/sys/fs/bpf/xdpdoctor")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Pins or forwarder state of lab `prefix` still present: a state file naming one of its
/// namespaces, or a forwarder pin directory (`fwd-KEY`, the only kind the bench makes) made
/// during the bench that has no state file (an orphan). Other kinds (`fix-KEY-IFNAME`) are
/// made by tests running beside it (the suite runs two at a time) and are not the bench's.
fn pins_left(prefix: &str, before: &BTreeSet<String>) -> Vec<String> {
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
    for d in pin_dirs()
        .difference(before)
        .filter(|d| d.starts_with("fwd-"))
    {
        let inode = d.trim_start_matches("fwd-");
        if !std::path::Path::new(&format!("/run/xdpdoctor/forwarders/{inode}.json")).exists() {
            left.push(format!("/sys/fs/bpf/xdpdoctor/{d}"));
        }
    }
    left
}

/// `xdpdoctor bench --quick --prefix PREFIX ARGS`, its output, and a check that nothing of
/// the lab is left afterwards, whatever the exit status. With `refuse_live`, under strace
/// failing the live-frame capability probe with EPERM (checked in strace's log).
fn bench(prefix: &str, args: &[&str], refuse_live: bool) -> Output {
    let pins_before = pin_dirs();
    let mut all = vec!["bench", "--quick", "--prefix", prefix];
    all.extend_from_slice(args);
    let log = std::env::temp_dir().join(format!("{prefix}.strace"));
    let mut cmd = if refuse_live {
        // Without -f: only the main thread, where bench::run probes first.
        let mut c = std::process::Command::new("strace");
        c.arg("-qq").arg("-o").arg(&log).args([
            "-e",
            "trace=bpf",
            "-e",
            "inject=bpf:error=EPERM:when=3",
            BIN,
        ]);
        c
    } else {
        std::process::Command::new(BIN)
    };
    let out = cmd
        .args(&all)
        .env("NO_COLOR", "1")
        .output()
        .expect("run xdpdoctor bench (strace: apt-get install strace)");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    if refuse_live {
        let text = std::fs::read_to_string(&log).expect("strace log");
        let _ = std::fs::remove_file(&log);
        let injected: Vec<&str> = text.lines().filter(|l| l.contains("INJECTED")).collect();
        assert_eq!(injected.len(), 1, "{text}");
        assert!(
            injected[0].contains("BPF_PROG_TEST_RUN")
                && injected[0].contains("BPF_F_TEST_XDP_LIVE_FRAMES"),
            "strace failed another call than the live-frame probe: {}",
            injected[0]
        );
    }
    assert_nothing_left(prefix);
    let left = pins_left(prefix, &pins_before);
    assert!(left.is_empty(), "pins left: {left:?}");
    out
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "bench failed: {:?}", out.status);
    let r: Value = serde_json::from_slice(&out.stdout).expect("bench --json output is JSON");
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    r
}

/// The capability `name` from the report: (allowed, reason).
fn capability(r: &Value, name: &str) -> (bool, String) {
    let c = r["capabilities"]
        .as_array()
        .expect("capabilities array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("capability {name} not listed"));
    let allowed = c["allowed"].as_bool().expect("allowed");
    if !allowed {
        let why = c["reason"]
            .as_str()
            .expect("a refused capability has a reason");
        assert!(c["errno"].is_string() || why.contains("verdict"), "{c}");
        return (false, why.to_string());
    }
    (true, String::new())
}

/// The method `name` from the report: its status, and its reason when it did not run.
fn method(r: &Value, name: &str) -> (String, Option<String>) {
    let m = r["methods"]
        .as_array()
        .expect("methods array")
        .iter()
        .find(|m| m["method"] == name)
        .unwrap_or_else(|| panic!("method {name} not listed"));
    (
        m["status"].as_str().expect("status").to_string(),
        m["reason"].as_str().map(String::from),
    )
}

/// How the af-packet method warns about its measurement, not a path: the generator's CPU
/// idled or ran other work, or vm's ring was full (frames refused).
const MEASUREMENT: [&str; 2] = [
    "the generator's CPU was busy",
    "the client's device refused",
];

/// Checks each method's fields if it ran, or its absence and reason if not; `expect_run` says
/// which should have run given what was asked and what the kernel allows.
fn methods(r: &Value, expect: &[(&str, bool)]) {
    let (stats, _) = capability(r, "bpf-stats");
    for &(name, should_run) in expect {
        let (status, reason) = method(r, name);
        if should_run {
            assert_eq!(status, "ran", "{name}: {reason:?}");
            match name {
                "live-frames" => bench_fields::live(r),
                "program-cost" => bench_fields::program_cost(r),
                _ => bench_fields::af_packet(r, stats),
            }
        } else {
            assert_ne!(status, "ran", "{name}");
            let reason = reason.expect("a method that did not run has a reason");
            eprintln!("method {name}: ignored: {reason}");
            absent(r, name);
        }
    }
    let (measurement, warnings): (Vec<&str>, Vec<&str>) = r["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with("WARNING"))
        .partition(|n| MEASUREMENT.iter().any(|m| n.contains(m)));
    assert!(warnings.is_empty(), "paths not clean: {warnings:?}");
    // Other tests share the CPUs here: the af-packet figures may then be off, which the
    // report says; the paths are what this test checks.
    for w in measurement {
        eprintln!("{w}");
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads BPF programs"]
fn bench_quick_runs_every_allowed_method_with_its_fields_and_leaves_nothing() {
    require_root();
    let prefix = common::unique_prefix("bn");
    let r = json(&bench(&prefix, &["--json"], false));
    assert_eq!(r["lab_prefix"], prefix.as_str());
    assert!(!r["machine"]["kernel"].as_str().unwrap().is_empty());
    bench_fields::positive(&r["machine"]["cpus"], "machine.cpus");
    bench_fields::positive(&r["packets"], "packets");
    assert!(r["diagnose_timing_note"].is_string());
    // Auto: a method runs exactly when the kernel allows what it needs.
    let (live, live_why) = capability(&r, "test-run-live-frames");
    let (test_run, _) = capability(&r, "test-run");
    let (af_packet, _) = capability(&r, "af-packet-tx");
    if !live {
        assert_eq!(method(&r, "live-frames").0, "refused");
        assert_eq!(
            method(&r, "live-frames").1.as_deref(),
            Some(live_why.as_str())
        );
    }
    methods(
        &r,
        &[
            ("live-frames", live),
            ("program-cost", test_run),
            ("af-packet", af_packet),
        ],
    );
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads BPF programs"]
fn bench_quick_where_live_frames_are_refused_runs_the_other_methods_and_refuses_early() {
    require_root();
    let prefix = common::unique_prefix("bf");
    let r = json(&bench(&prefix, &["--json"], true));
    let (live, why) = capability(&r, "test-run-live-frames");
    assert!(!live, "live frames not refused");
    assert!(why.contains("EPERM"), "{why}");
    assert_eq!(method(&r, "live-frames").0, "refused");
    let (test_run, _) = capability(&r, "test-run");
    let (af_packet, _) = capability(&r, "af-packet-tx");
    assert!(
        test_run && af_packet,
        "this kernel refuses the fallbacks too"
    );
    methods(
        &r,
        &[
            ("live-frames", false),
            ("program-cost", true),
            ("af-packet", true),
        ],
    );
    // Named with --method, the refused method is an error (exit 2) naming the refusal.
    let prefix = common::unique_prefix("bl");
    let out = bench(&prefix, &["--method", "live-frames"], true);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--method live-frames") && err.contains(&why),
        "stderr: {err}"
    );
}
