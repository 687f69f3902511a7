//! Issue 10 stress test: `kill -9` of `lab up`, `deploy` and `fix --apply` at random points,
//! then `lab down` / `teardown` / `fix --revert`, and nothing may be left: no namespace of the
//! test's prefixes, no pin or state file of its namespaces, no XDP program on its interfaces,
//! no responder, no lock; every journal seen in between parses, and the next normal run of
//! the command works.
//!
//! Each command is first run unkilled (median of three) to measure how long it takes; kill
//! delays are then drawn from [0, 1.1 x that], and for `lab up` a third of them from its
//! first tenth (where the namespaces are created). Bounded: `XDPDOCTOR_STRESS_ITERATIONS` per command
//! (default 10, so 30 kills), seed from `XDPDOCTOR_STRESS_SEED` (printed, to replay a run).
//! Leaks are counted over all iterations and reported together at the end.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::reliability::journal;

/// xorshift64*: a few random numbers, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, max).
    fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % us)
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    /// Killed while still running (the others had finished before the kill).
    killed: usize,
    leaks: Vec<String>,
}

impl Tally {
    fn leak(&mut self, what: String) {
        eprintln!("LEAK: {what}");
        self.leaks.push(what);
    }
}

/// Runs `args`, SIGKILLs it after `delay` (by PID: our child); true if it was still running.
fn run_and_kill(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn xdpdoctor");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("try_wait").is_none();
    if running {
        child.kill().expect("kill -9");
    }
    child.wait().expect("wait");
    running
}

/// How long `args` takes unkilled: the median of three runs (one run on a loaded machine
/// can be far off); `undo` runs after each.
fn timed(args: &[&str], undo: &dyn Fn()) -> Duration {
    let mut d: Vec<Duration> = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let out = xdpdoctor(args);
            let took = t0.elapsed();
            assert!(out.status.success(), "unkilled run of {args:?} failed");
            undo();
            took
        })
        .collect();
    d.sort();
    d[1]
}

fn alive_named_inodes() -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok().map(|m| m.ino()))
                .collect()
        })
        .unwrap_or_default()
}

fn xdp_on(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-d", "-o", "link"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("prog/xdp"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .collect()
}

/// Whether the journal (if any) parses and every entry has a known state.
fn journal_consistent(vm: &str) -> Result<usize, String> {
    let p = format!("/run/xdpdoctor/fixes/{}.json", crate::common::netns_key(vm));
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Ok(0);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{p} does not parse: {e}"))?;
    let entries = v["entries"].as_array().ok_or(format!("{p}: no entries"))?;
    for e in entries {
        let st = e["state"].as_str().unwrap_or("done");
        if st != "done" && st != "pending" {
            return Err(format!("{p}: entry state {st:?}"));
        }
        if e["action"]["kind"].as_str().is_none() {
            return Err(format!("{p}: entry without action: {e}"));
        }
    }
    Ok(entries.len())
}

fn lab_up_kills(n: usize, rng: &mut Rng, t: &mut Tally) {
    let p0 = unique_prefix("sk");
    let full = timed(&["lab", "up", "seed", "--prefix", &p0], &|| {
        assert!(xdpdoctor(&["lab", "down", "--prefix", &p0])
            .status
            .success())
    });
    eprintln!("stress: lab up takes {full:?} unkilled");
    for i in 0..n {
        let prefix = unique_prefix("sk");
        let window = if i % 3 == 0 {
            full / 10
        } else {
            full * 11 / 10
        };
        let delay = rng.below(window);
        let killed = run_and_kill(&["lab", "up", "seed", "--prefix", &prefix], delay);
        t.runs += 1;
        t.killed += usize::from(killed);
        let ours: Vec<u64> = {
            use std::os::unix::fs::MetadataExt;
            netns_names(&prefix)
                .iter()
                .filter_map(|n| std::fs::metadata(format!("/run/netns/{n}")).ok())
                .map(|m| m.ino())
                .collect()
        };
        let out = xdpdoctor(&["lab", "down", "--prefix", &prefix]);
        let left = netns_names(&prefix);
        // "not found" is fine only when the kill came before anything was made.
        let nothing_made = stderr_has(&out, "not found") && left.is_empty();
        if !(out.status.success() || nothing_made) {
            t.leak(format!("lab up killed at {delay:?}: lab down failed"));
        }
        if !left.is_empty() {
            t.leak(format!(
                "lab up killed at {delay:?}: namespaces left {left:?}"
            ));
        }
        // Ours are deleted now; an inode alive again belongs to someone else's namespace.
        let alive = alive_named_inodes();
        let gone: Vec<u64> = ours.into_iter().filter(|i| !alive.contains(i)).collect();
        for l in leftovers_of(&gone) {
            t.leak(format!("lab up killed at {delay:?}: {l}"));
        }
        for tmp in temporaries("labs", &prefix) {
            t.leak(format!("lab up killed at {delay:?}: {tmp}"));
        }
        for (what, p) in [
            ("lab state", format!("/run/xdpdoctor/labs/{prefix}.json")),
            ("lab files", format!("/run/xdpdoctor/labs/{prefix}")),
            (
                "lab lock",
                format!("/run/xdpdoctor/locks/lab-{prefix}.lock"),
            ),
        ] {
            if std::path::Path::new(&p).exists() {
                t.leak(format!("lab up killed at {delay:?}: {what} {p}"));
            }
        }
        if let Some(r) = responders_of(&prefix) {
            t.leak(format!("lab up killed at {delay:?}: responder left: {r}"));
        }
    }
}

fn netns_names(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_string)
        .collect()
}

fn responders_of(prefix: &str) -> Option<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .find(|c| c.contains("serve-http") && c.contains(&format!("{prefix}-")))
}

fn stderr_has(o: &std::process::Output, s: &str) -> bool {
    String::from_utf8_lossy(&o.stderr).contains(s)
}

fn deploy_kills(n: usize, rng: &mut Rng, t: &mut Tally) {
    let lab = Lab::up("sd", &["--no-faults"]);
    let vm = lab.ns("vm");
    let ino = netns_inode(&vm);
    let cfg = format!("/run/xdpdoctor/labs/{}/forwarder.json", lab.prefix);
    let deploy = ["--netns", vm.as_str(), "deploy", "--config", cfg.as_str()];
    assert!(xdpdoctor(&["--netns", &vm, "teardown"]).status.success());
    let full = timed(&deploy, &|| {
        assert!(xdpdoctor(&["--netns", &vm, "teardown"]).status.success())
    });
    eprintln!("stress: deploy takes {full:?} unkilled");
    for _ in 0..n {
        let delay = rng.below(full * 11 / 10);
        let killed = run_and_kill(&deploy, delay);
        t.runs += 1;
        t.killed += usize::from(killed);
        let out = xdpdoctor(&["--netns", &vm, "teardown"]);
        if !out.status.success() && !stderr_has(&out, "not found") {
            t.leak(format!("deploy killed at {delay:?}: teardown failed"));
        }
        let xdp = xdp_on(&vm);
        if !xdp.is_empty() {
            t.leak(format!("deploy killed at {delay:?}: XDP left on {xdp:?}"));
        }
        for l in leftovers_of(&[ino]) {
            t.leak(format!("deploy killed at {delay:?}: {l}"));
        }
        // And the next deploy works (nothing half-made blocks it).
        let out = xdpdoctor(&deploy);
        if !out.status.success() {
            t.leak(format!(
                "deploy killed at {delay:?}: the next deploy failed"
            ));
        }
        let _ = xdpdoctor(&["--netns", &vm, "teardown"]);
    }
}

fn fix_kills(n: usize, rng: &mut Rng, t: &mut Tally) {
    let lab = Lab::up("sf", &[]);
    let vm = lab.ns("vm");
    let (m1, m2) = (lab.ns("m1"), lab.ns("m2"));
    let inodes = [netns_inode(&m1), netns_inode(&m2)];
    let apply = ["--netns", vm.as_str(), "fix", "--apply"];
    let full = timed(&apply, &|| {
        assert!(xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .success())
    });
    eprintln!("stress: fix --apply takes {full:?} unkilled");
    for _ in 0..n {
        let delay = rng.below(full * 11 / 10);
        let killed = run_and_kill(&apply, delay);
        t.runs += 1;
        t.killed += usize::from(killed);
        match journal_consistent(&vm) {
            Ok(k) => eprintln!("journal after kill at {delay:?}: {k} entries"),
            Err(e) => t.leak(format!("fix --apply killed at {delay:?}: {e}")),
        }
        let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
        if !out.status.success() {
            t.leak(format!("fix --apply killed at {delay:?}: revert failed"));
        }
        if journal(&vm).is_some() {
            t.leak(format!("fix --apply killed at {delay:?}: journal left"));
        }
        for m in [&m1, &m2] {
            let xdp = xdp_on(m);
            if !xdp.is_empty() {
                t.leak(format!(
                    "fix --apply killed at {delay:?}: XDP left on {m} {xdp:?}"
                ));
            }
        }
        for l in leftovers_of(&inodes) {
            t.leak(format!("fix --apply killed at {delay:?}: {l}"));
        }
        let lock = format!(
            "/run/xdpdoctor/locks/netns-{}.lock",
            crate::common::netns_key(&vm)
        );
        if std::path::Path::new(&lock).exists() {
            t.leak(format!("fix --apply killed at {delay:?}: lock left {lock}"));
        }
        let addrs = in_ns(&vm, &["ip", "-4", "-br", "addr"]);
        if addrs.contains("10.123.1.254") || addrs.contains("10.123.2.254") {
            t.leak(format!(
                "fix --apply killed at {delay:?}: address left: {addrs}"
            ));
        }
        for m in [&m1, &m2] {
            let k = in_ns(m, &["ethtool", "-k", "host0"]);
            if !k.contains("tx-checksum-ip-generic: on") {
                t.leak(format!(
                    "fix --apply killed at {delay:?}: tx checksum not restored on {m}"
                ));
            }
        }
    }
}

#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn stress_kill_9_then_revert_or_down_leaves_nothing() {
    require_root();
    let n: usize = std::env::var("XDPDOCTOR_STRESS_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("XDPDOCTOR_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("stress: {n} iterations per command, XDPDOCTOR_STRESS_SEED={seed}");
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let mut report = Vec::new();
    let mut leaks = Vec::new();
    for (name, f) in [
        ("lab up", lab_up_kills as fn(usize, &mut Rng, &mut Tally)),
        ("deploy", deploy_kills),
        ("fix --apply", fix_kills),
    ] {
        let mut t = Tally::default();
        f(n, &mut rng, &mut t);
        report.push(format!(
            "{name}: {} runs, {} killed while running, {} leak(s)",
            t.runs,
            t.killed,
            t.leaks.len()
        ));
        leaks.extend(t.leaks);
    }
    eprintln!(
        "stress summary ({:.0?}, seed {seed}):\n  {}",
        t0.elapsed(),
        report.join("\n  ")
    );
    assert!(
        leaks.is_empty(),
        "{} leak(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
