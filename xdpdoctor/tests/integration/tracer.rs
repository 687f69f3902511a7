//! A running `xdpdoctor trace --json` and the namespace lookups around it; used by `trace.rs`
//! and by the trace throughput measurement (`benches/trace_throughput.rs`, which includes this
//! file and `common.rs` with `#[path]`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{in_ns, BIN};

/// A running `xdpdoctor trace --json`; `finish` waits for it and parses its stdout.
pub struct Trace {
    /// `None` once `finish` took it; a trace still running when a test panics is killed.
    child: Option<Child>,
    /// stdout, read concurrently so a busy trace never blocks on a full pipe.
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Trace {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Trace {
    /// Starts the trace and waits until the probes are attached (its "tracing ..." line).
    pub fn start(extra: &[&str], secs: &str) -> Trace {
        let mut child = Command::new(BIN)
            .args(["trace", "--json", "--duration", secs])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xdpdoctor trace");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[trace] {line}");
                if !sent && line.starts_with("tracing ") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("trace did not report that it attached");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut s);
            s
        });
        Trace {
            child: Some(child),
            stdout: Some(stdout),
        }
    }

    /// The trace process's pid (for its CPU use in /proc).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Ends the trace as Ctrl-C would, after a short tail for the last events: for tests
    /// whose traffic takes an unknown time (seconds under emulation), with a long
    /// `--duration` as the bound. Returns (events, summary).
    pub fn stop(self) -> (Vec<Value>, Value) {
        std::thread::sleep(Duration::from_millis(500));
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill(2) on the PID of the trace this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGINT) };
        self.finish()
    }

    /// Waits for the trace to end; returns (events, summary).
    pub fn finish(mut self) -> (Vec<Value>, Value) {
        let mut child = self.child.take().expect("running");
        let status = child.wait().expect("wait for trace");
        assert!(status.success(), "trace exited with {status:?}");
        let stdout = self.stdout.take().unwrap().join().expect("stdout reader");
        let mut events = Vec::new();
        let mut summary = Value::Null;
        for line in stdout.lines() {
            let v: Value = serde_json::from_str(line).expect("one JSON object per line");
            if v.get("summary").is_some() {
                summary = v["summary"].clone();
            } else {
                events.push(v);
            }
        }
        assert!(!summary.is_null(), "no summary line");
        (events, summary)
    }
}

/// The inode (identity) of the namespace `/run/netns/<name>`.
pub fn netns_inode(name: &str) -> u64 {
    std::fs::metadata(format!("/run/netns/{name}"))
        .expect("lab namespace")
        .ino()
}

/// The ifindex of `dev` in namespace `ns`.
pub fn ifindex_in(ns: &str, dev: &str) -> u32 {
    in_ns(ns, &["cat", &format!("/sys/class/net/{dev}/ifindex")])
        .trim()
        .parse()
        .unwrap()
}
