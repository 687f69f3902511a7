//! Background processes a lab starts (the HTTP responders): spawned detached so they outlive
//! `lab up`, recorded by PID, and stopped only after checking that the PID still runs our
//! command for our namespace (a recycled PID is never killed).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Marker argument every responder carries; used to recognise our processes.
pub const SERVE_VERB: &str = "serve-http";

/// Starts `exe lab serve-http --netns NS --port P --body B` detached; returns its PID.
pub fn spawn_responder(exe: &Path, netns: &str, port: u16, body: &str) -> Result<u32> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "lab",
        SERVE_VERB,
        "--netns",
        netns,
        "--port",
        &port.to_string(),
        "--body",
        body,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it detaches the child from our session so a
    // Ctrl-C in the terminal that ran `lab up` does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::io("spawn responder", exe, e))?;
    Ok(child.id())
}

/// True if `pid` runs a responder for `netns`.
pub fn is_our_responder(pid: u32, netns: &str) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let has = |s: &str| args.contains(&s.as_bytes());
    has(SERVE_VERB) && has(netns)
}

/// Responders serving one of `namespaces` (by command line: `... serve-http --netns NAME`),
/// as (pid, namespace). Finds those a killed `lab up` started but never recorded.
pub fn find_responders(namespaces: &[String]) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pid in rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
        if !args.contains(&SERVE_VERB.as_bytes()) {
            continue;
        }
        let netns = args
            .windows(2)
            .find(|w| w[0] == b"--netns")
            .map(|w| String::from_utf8_lossy(w[1]).into_owned());
        if let Some(n) = netns.filter(|n| namespaces.contains(n)) {
            out.push((pid, n));
        }
    }
    out
}

/// Stops a responder we started: SIGTERM, then SIGKILL after 2 s. Not ours or gone: Ok.
pub fn stop_responder(pid: u32, netns: &str) -> Result<()> {
    if !is_our_responder(pid, netns) {
        log::debug!("pid {pid} is not our responder for {netns} (already gone?)");
        return Ok(());
    }
    // SAFETY: plain kill(2) on a PID we verified above.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        if !is_our_responder(pid, netns) || is_zombie(pid) {
            reap(pid);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) on the PID verified above (still our responder 2 s ago).
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    reap(pid);
    Ok(())
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// Reaps the child if it is ours (when `lab up` and `lab down` run in one process).
fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: WNOHANG waitpid on a specific pid; ECHILD if not our child, which is fine.
    unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
}
