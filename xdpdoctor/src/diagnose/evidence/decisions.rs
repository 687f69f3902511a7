//! The forwarder's own word during the window: its decision log, read for the
//! window only and summed into [`DecisionEvidence`]. What it adds is the seed incident's first
//! reasoning step: "the forwarder redirected the packet to ve-m1, so the program is right; the
//! packet dies after it" (rules `veth-peer-no-xdp`, `redirect-errors`).
//!
//! Kept harmless for the diagnosis: only xdpdoctor's forwarder has the log; the log is on only
//! while the window runs, rate-limited ([`RATE`] per CPU), and turned off when the window ends
//! or anything fails (`decisions::Session`); if another reader holds the log (a running
//! `trace --decisions`), the window leaves it alone and says so. Any failure becomes the
//! evidence's note, never an error of the diagnosis.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::decisions::{Session, Settings};
use crate::forwarder::decision::{Decision, Verdict};
use crate::forwarder::ForwarderStatus;

/// Records per second per CPU during the window.
pub const RATE: u64 = 1000;

/// What the decision log said during the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEvidence {
    /// The log was read for the window.
    pub available: bool,
    /// One line: how many decisions were read, or why none could be.
    pub note: String,
    /// Decisions read.
    pub decisions: u64,
    /// Decisions the rate limit refused: when not 0, the counts are a sample.
    pub limited: u64,
    /// Redirects, by ingress, egress and translated endpoint.
    pub redirects: Vec<RedirectCount>,
    /// Passes and drops, by verdict and reason.
    pub others: Vec<VerdictCount>,
}

/// Packets the forwarder redirected one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectCount {
    /// The interface they arrived on (ifindex in the forwarder's namespace).
    pub ingress_ifindex: u32,
    /// The interface they were redirected to.
    pub egress_ifindex: u32,
    /// The endpoint the NAT translated to (`10.123.1.1:80`).
    pub nat: String,
    /// How many.
    pub count: u64,
}

/// Packets the forwarder passed or dropped for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCount {
    /// `pass` or `drop`.
    pub verdict: String,
    /// The outcome counter's name (`no_neigh`, `blackhole`, ...).
    pub reason: String,
    /// How many.
    pub count: u64,
}

impl DecisionEvidence {
    /// No decisions, `note` saying why.
    pub fn unavailable(note: impl Into<String>) -> Self {
        DecisionEvidence {
            note: note.into(),
            ..Default::default()
        }
    }

    /// Redirects to `ifindex` and the endpoints they were translated to.
    pub fn redirected_to(&self, ifindex: u32) -> (u64, Vec<&str>) {
        let mut n = 0;
        let mut to = Vec::new();
        for r in self
            .redirects
            .iter()
            .filter(|r| r.egress_ifindex == ifindex)
        {
            n += r.count;
            if !to.contains(&r.nat.as_str()) {
                to.push(r.nat.as_str());
            }
        }
        (n, to)
    }

    fn add(&mut self, d: &Decision) {
        self.decisions += 1;
        match (d.verdict, d.redirected_to()) {
            (Verdict::Redirect, Some(egress)) => {
                let nat = d.nat.map(|e| e.to_string()).unwrap_or_default();
                match self.redirects.iter_mut().find(|r| {
                    r.ingress_ifindex == d.ingress_ifindex
                        && r.egress_ifindex == egress
                        && r.nat == nat
                }) {
                    Some(r) => r.count += 1,
                    None => self.redirects.push(RedirectCount {
                        ingress_ifindex: d.ingress_ifindex,
                        egress_ifindex: egress,
                        nat,
                        count: 1,
                    }),
                }
            }
            (v, _) => {
                let verdict = if v == Verdict::Drop { "drop" } else { "pass" };
                let reason = d.reason.map(|r| r.as_str()).unwrap_or("?");
                match self
                    .others
                    .iter_mut()
                    .find(|o| o.verdict == verdict && o.reason == reason)
                {
                    Some(o) => o.count += 1,
                    None => self.others.push(VerdictCount {
                        verdict: verdict.into(),
                        reason: reason.into(),
                        count: 1,
                    }),
                }
            }
        }
    }
}

/// Reads the decision log of `fwd` for the window; tells `ready` once the log is on (or
/// drops it when the log cannot be read, which wakes the waiting caller too).
pub fn observe(
    fwd: Option<&ForwarderStatus>,
    window: &crate::cancel::Window,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> DecisionEvidence {
    let Some(fwd) = fwd else {
        return DecisionEvidence::unavailable(
            "no decision log: the XDP program here is not xdpdoctor's forwarder",
        );
    };
    let Some(prog) = fwd.interfaces.first().map(|i| i.prog_id) else {
        return DecisionEvidence::unavailable("no decision log: the forwarder has no interface");
    };
    let settings = Settings {
        rate: RATE,
        ..Settings::on(log::Level::Info)
    };
    let pins = std::path::Path::new(&fwd.pin_dir);
    let mut session = match Session::open(fwd.netns_inode, pins, prog, &settings) {
        Ok(s) => s,
        Err(e) => {
            return DecisionEvidence::unavailable(format!(
                "decision log not read: {}",
                crate::error::chain(&e)
            ))
        }
    };
    if let Some(r) = ready {
        let _ = r.send(());
    }
    let mut ev = DecisionEvidence {
        available: true,
        ..Default::default()
    };
    let mut unparsed = 0u64;
    let mut read = |records: Vec<crate::decisions::EbpfRecord>, ev: &mut DecisionEvidence| {
        for r in records {
            match Decision::parse(&r.message) {
                Ok(d) => ev.add(&d),
                Err(_) => unparsed += 1,
            }
        }
    };
    let mut failed = None;
    while let Some(left) = window.left() {
        wait_readable(
            session.as_fd().as_raw_fd(),
            left.min(Duration::from_millis(50)),
        );
        match session.take() {
            Ok(rs) => read(rs, &mut ev),
            Err(e) => {
                failed = Some(crate::error::chain(&e));
                break;
            }
        }
    }
    match session.finish() {
        Ok((rs, stats)) => {
            read(rs, &mut ev);
            ev.limited = stats.limited;
        }
        Err(e) => failed = failed.or(Some(crate::error::chain(&e))),
    }
    let by_egress: BTreeMap<u32, u64> = ev.redirects.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.egress_ifindex).or_default() += r.count;
        m
    });
    ev.note = format!(
        "{} decision(s) read ({} redirected{}), at most {RATE}/s per CPU{}{}",
        ev.decisions,
        by_egress.values().sum::<u64>(),
        if ev.limited > 0 {
            format!("; {} refused by the rate limit: a sample", ev.limited)
        } else {
            String::new()
        },
        if unparsed > 0 {
            format!("; {unparsed} record(s) not understood")
        } else {
            String::new()
        },
        failed
            .map(|e| format!("; reading stopped: {e}"))
            .unwrap_or_default()
    );
    ev
}

fn wait_readable(fd: i32, timeout: Duration) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_summed_by_egress_and_reason() {
        let mut ev = DecisionEvidence::default();
        let redirect = "ingress=3 dir=dnat src=10.99.0.2:1 dst=192.168.9.1:8080 \
            nat=10.123.1.1:80 new_src=10.99.0.2:1 new_dst=10.123.1.1:80 fib=0 egress=5 \
            smac=02:00:00:00:00:01 dmac=02:00:00:00:00:02 verdict=redirect";
        for _ in 0..3 {
            ev.add(&Decision::parse(redirect).unwrap());
        }
        ev.add(
            &Decision::parse(
                "ingress=3 dir=dnat src=10.99.0.2:1 dst=192.168.9.1:8080 nat=10.123.1.1:80 \
                 new_src=10.99.0.2:1 new_dst=10.123.1.1:80 fib=7 verdict=pass reason=no_neigh",
            )
            .unwrap(),
        );
        assert_eq!(ev.decisions, 4);
        assert_eq!(ev.redirected_to(5), (3, vec!["10.123.1.1:80"]));
        assert_eq!(ev.redirected_to(4), (0, vec![]));
        assert_eq!(
            ev.others,
            vec![VerdictCount {
                verdict: "pass".into(),
                reason: "no_neigh".into(),
                count: 1
            }]
        );
    }
}
