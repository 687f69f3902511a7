//! Shared helpers of the integration tests: the root guard of privileged tests, running the
//! real `xdpdoctor` binary, and a `Lab` guard that brings a scenario up under a unique prefix
//! and always takes it down (also when the test panics).

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_xdpdoctor");

/// First statement of every privileged test. Privileged tests are marked
/// `#[ignore = "needs root: <reason>"]`, so without root the runner reports them as ignored,
/// with that reason; one that is run anyway without root (`--include-ignored` as a normal
/// user) fails here with a message saying so, instead of passing without having run.
#[track_caller]
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert!(
        uid == 0,
        "privileged test run without root (uid {uid}): it builds namespaces or loads BPF \
         programs and cannot run here; run it as root (./scripts/test.sh) or leave it ignored"
    );
}

/// A unique lab prefix: short (namespace names), per process and per call.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    // pid and a clock tick, so leftovers of an earlier crashed run never collide.
    let tick = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 1000)
        .unwrap_or(0);
    format!(
        "xt{}{}{:03}-{}",
        tag,
        std::process::id() % 100000,
        tick,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs xdpdoctor with `args`; returns the output (never panics on a non-zero exit).
pub fn xdpdoctor(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run xdpdoctor");
    eprintln!(
        "$ xdpdoctor {}\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a tool inside a namespace (`ip netns exec NS ...`), for independent checks.
pub fn in_ns(ns: &str, cmd: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .expect("ip netns exec");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A running lab; `lab down` on drop.
pub struct Lab {
    pub prefix: String,
}

impl Lab {
    /// `lab up seed --prefix <unique> <extra args>`; panics if it fails.
    pub fn up(tag: &str, extra: &[&str]) -> Lab {
        let prefix = unique_prefix(tag);
        let mut args = vec!["lab", "up", "seed", "--prefix", &prefix];
        args.extend_from_slice(extra);
        let out = xdpdoctor(&args);
        let lab = Lab {
            prefix: prefix.clone(),
        };
        assert!(out.status.success(), "lab up failed");
        lab
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// `lab connect --json`: per entry (target, ok).
    pub fn connect(&self) -> Vec<(String, bool)> {
        let out = xdpdoctor(&[
            "lab",
            "connect",
            "--prefix",
            &self.prefix,
            "--timeout",
            "3",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("connect json");
        let res: Vec<(String, bool)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["target"].as_str().unwrap().to_string(),
                    r["ok"].as_bool().unwrap(),
                )
            })
            .collect();
        assert!(!res.is_empty(), "lab connect tried no target");
        let all_ok = res.iter().all(|(_, ok)| *ok);
        assert_eq!(
            out.status.code(),
            Some(if all_ok { 0 } else { 1 }),
            "connect exit code"
        );
        res
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = Command::new(BIN)
            .args(["lab", "down", "--prefix", &self.prefix])
            .output()
            .expect("lab down");
        if !out.status.success() {
            eprintln!(
                "lab down {} failed: {}",
                self.prefix,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Asserts nothing of lab `prefix` is left: namespaces, pins, state, processes.
pub fn assert_nothing_left(prefix: &str) {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(!ns.contains(&format!("{prefix}-")), "namespaces left: {ns}");
    assert!(
        !std::path::Path::new(&format!("/run/xdpdoctor/labs/{prefix}.json")).exists(),
        "lab state left"
    );
    // Our responders, by their command line (no `ps` needed).
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("serve-http") && c.contains(prefix))
        .collect();
    assert!(left.is_empty(), "responder left: {left:?}");
}

/// The running kernel's (major, minor), from `uname -r` (`6.1.0-56-amd64` -> (6, 1)).
pub fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    let mut it = r
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// How a redirect into a veth whose peer has no XDP (and no GRO) fails on this kernel
/// (docs/kernel-matrix.md): from 6.3 the veth lacks `ndo-xmit` in `xdp_features` and the
/// redirect fails at once (`xdp:xdp_redirect_err` -EOPNOTSUPP); up to 6.2 the frame is queued
/// and `veth_xdp_xmit` refuses it at the flush (`xdp:xdp_devmap_xmit` and the function's
/// return value, -ENXIO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNoXdpEra {
    /// 6.3+: `redirect_err` EOPNOTSUPP (-95) from eth0 into the veth.
    Eopnotsupp,
    /// Up to 6.2: `devmap_xmit` ENXIO (-6) from eth0 into the veth, and `veth_xdp_xmit` -6 on it.
    Enxio,
}

impl PeerNoXdpEra {
    /// This kernel's.
    pub fn current() -> Self {
        if kernel_version() >= (6, 3) {
            PeerNoXdpEra::Eopnotsupp
        } else {
            PeerNoXdpEra::Enxio
        }
    }

    /// The event kind that shows the drop, and its code.
    pub fn event(self) -> (&'static str, i64, &'static str) {
        match self {
            PeerNoXdpEra::Eopnotsupp => ("redirect_err", -95, "EOPNOTSUPP"),
            PeerNoXdpEra::Enxio => ("devmap_xmit", -6, "ENXIO"),
        }
    }
}
