//! The observation window, in phases: decide where to look ([`Plan`]), read counters before,
//! start every observer and wait until each is attached, make traffic, collect, read counters
//! after.
//!
//! The window ends as soon as the evidence is conclusive: with a client making traffic, once
//! every connection has its result (each bounded by `connect_timeout`) and a short tail has
//! let replies, drops and the probe ring drain; `--observe` is only the upper bound. A passive
//! window (nobody makes traffic) keeps its full length: it waits for what happens to flow.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{
    decisions, probes, snmp, CaptureEvidence, CsumErrors, DecisionEvidence, Evidence,
    NsCounterDelta, ObserveOptions, Traffic,
};
use crate::bpf::forwarder_abi::Counter;
use crate::capture;
use crate::forwarder::maps::read_counters;
use crate::forwarder::Role;
use crate::netns::Netns;
use crate::progress::Update;
use crate::snapshot::{NsState, Snapshot};
use crate::Result;

/// How long observers may take to attach before the window starts anyway. BTF parsing and
/// the verifier take seconds on a loaded 2-core machine, and more than 15 s under software
/// emulation (the kernel matrix's 6.1 guest: the window started without its probes and
/// observed nothing). Observers normally attach or fail well within it; the bound only
/// matters where attaching is that slow, and there evidence without the probes is worse
/// than waiting.
const ATTACH_WAIT: Duration = Duration::from_secs(90);
/// Observers run this much past the traffic, for the replies of the last connection and the
/// drops they cause (a lab answers in microseconds; a drop shows up the same way).
const TAIL: Duration = Duration::from_millis(150);

fn netns_of(ns: &NsState) -> Netns {
    ns.ns.netns()
}

/// Where to look during the window.
struct Plan {
    /// Container-side interfaces to capture on: (namespace inode, interface) -> namespace.
    captures: BTreeMap<(u64, String), Netns>,
    /// Namespaces whose `TcpInCsumErrors` (and UDP's) are counted.
    csum_ns: BTreeMap<u64, Netns>,
    /// The diagnosed namespace, whose reverse-path drops are counted.
    home: (u64, Netns),
}

impl Plan {
    fn new(snap: &Snapshot, opts: &ObserveOptions) -> Plan {
        let home = snap.home();
        // The peers of the redirect targets: where redirected packets arrive, and where
        // replies leave from (the external side's peer is the client).
        let mut captures = BTreeMap::new();
        for t in snap.redirect_targets() {
            if snap.role(t.ifindex) == Some(Role::External) {
                continue;
            }
            let Some(v) = home.iface(t.ifindex) else {
                continue;
            };
            if let Some((pns, pif)) = snap.peer_of(v) {
                if pns.ns.inode != home.ns.inode {
                    captures.insert((pns.ns.inode, pif.name().to_string()), netns_of(pns));
                }
            }
        }
        let mut csum_ns: BTreeMap<u64, Netns> = captures
            .iter()
            .map(|((ino, _), ns)| (*ino, ns.clone()))
            .collect();
        match opts.traffic.as_ref().and_then(|t| t.client_netns()) {
            Some(c) => {
                if let Ok(ino) = c.inode() {
                    csum_ns.insert(ino, c);
                }
            }
            // No client: the namespaces behind external veths stand in for it.
            None => {
                for v in &home.interfaces {
                    if snap.role(v.index()) != Some(Role::External) {
                        continue;
                    }
                    if let Some((pns, _)) = snap.peer_of(v) {
                        if pns.ns.inode != home.ns.inode {
                            csum_ns.insert(pns.ns.inode, netns_of(pns));
                        }
                    }
                }
            }
        }
        Plan {
            captures,
            csum_ns,
            home: (home.ns.inode, netns_of(home)),
        }
    }
}

/// What the counters said before the window.
struct Before {
    counters: Option<Vec<(Counter, u64)>>,
    snmp: BTreeMap<u64, snmp::Mib>,
    home: Option<snmp::Mib>,
}

fn read_before(snap: &Snapshot, plan: &Plan, notes: &mut Vec<String>) -> Before {
    let mut snmp_before = BTreeMap::new();
    for (ino, ns) in &plan.csum_ns {
        match snmp::mib(ns) {
            Ok(v) => {
                snmp_before.insert(*ino, v);
            }
            Err(e) => notes.push(format!("TcpInCsumErrors in {ns}: {e}")),
        }
    }
    Before {
        counters: our_counters(snap),
        snmp: snmp_before,
        home: snmp::mib(&plan.home.1).ok(),
    }
}

/// Runs the window described by `opts` against the forwarder of `snap`.
pub fn observe(snap: &Snapshot, opts: &ObserveOptions) -> Result<Evidence> {
    if opts.window.is_zero() {
        return Ok(Evidence::static_only(
            "--observe 0: static diagnosis only (no probes, captures or traffic)",
        ));
    }
    let plan = Plan::new(snap, opts);
    let mut notes = Vec::new();
    let before = read_before(snap, &plan, &mut notes);
    let t_start = Instant::now();
    let (captures, probes, decisions, traffic) = run_window(snap, &plan, opts);
    if matches!(traffic, Traffic::Passive) {
        notes.push(
            "passive window: no client to make traffic, only packets that happened to flow were seen"
                .into(),
        );
    }
    if !probes.available {
        notes.push(probes.note.clone());
    }
    crate::cancel::check()?;
    let (csum_errors, rp_filter_drops, counter_deltas) =
        read_after(snap, &plan, before, &mut notes);
    Ok(Evidence {
        window_ms: t_start.elapsed().as_millis() as u64,
        traffic,
        probes,
        decisions,
        captures,
        csum_errors,
        rp_filter_drops,
        counter_deltas,
        notes,
    })
}

/// Starts every observer (probes, the decision log, one capture per interface), waits until
/// each says it is attached, makes traffic, and collects what they saw.
fn run_window(
    snap: &Snapshot,
    plan: &Plan,
    opts: &ObserveOptions,
) -> (
    Vec<CaptureEvidence>,
    super::ProbeEvidence,
    DecisionEvidence,
    Traffic,
) {
    // The window's length runs from when every observer is attached (or the wait gave up):
    // a window that ran from here was over before the traffic whenever attaching took longer
    // than `--observe` (seen under emulation: traffic flowed, no probe or decision saw it).
    let window = crate::cancel::Window::pending(opts.window + TAIL);
    let window = &window;
    std::thread::scope(|s| {
        // Every observer says when it is attached; traffic starts only then, so a slow attach
        // on a loaded machine cannot miss the packets.
        let (tx, rx) = mpsc::channel();
        let probe_handle = opts.probes.then(|| {
            let mut inodes: Vec<u64> = snap.namespaces.iter().map(|n| n.ns.inode).collect();
            inodes.sort_unstable();
            inodes.dedup();
            let tx = tx.clone();
            s.spawn(move || probes::observe(&inodes, window, Some(tx)))
        });
        let decision_handle = (opts.decisions && snap.forwarder.is_some()).then(|| {
            let tx = tx.clone();
            s.spawn(move || decisions::observe(snap.forwarder.as_ref(), window, Some(tx)))
        });
        let cap_handles: Vec<_> = plan
            .captures
            .iter()
            .map(|((ino, ifname), ns)| {
                let tx = tx.clone();
                let (ino, ifname, ns) = (*ino, ifname.clone(), ns.clone());
                let keep = opts.keep_packets;
                s.spawn(move || {
                    let r = capture::capture_tcp_keeping(&ns, &ifname, window, Some(tx), keep);
                    let note = r.as_ref().err().map(|e| crate::error::chain(e));
                    let c = r.ok();
                    CaptureEvidence {
                        netns: ns.name.clone(),
                        netns_inode: ino,
                        interface: ifname,
                        note,
                        not_kept: c.as_ref().map_or(0, |c| c.not_kept),
                        stats: c.as_ref().map(|c| c.stats.clone()),
                        packets: c.map(|c| c.packets).unwrap_or_default(),
                    }
                })
            })
            .collect();
        drop(tx);
        opts.progress.report(Update::Busy {
            what: "attaching probes and captures",
        });
        wait_attached(
            &rx,
            cap_handles.len()
                + usize::from(probe_handle.is_some())
                + usize::from(decision_handle.is_some()),
        );
        window.start();
        // Said at info (`-v`): a script that makes its own load (the kernel matrix's burst)
        // starts it on this line, so the load falls inside the window and nothing is
        // attached while it runs.
        log::info!(
            "observing for {:.1} s: every observer attached",
            (opts.window + TAIL).as_secs_f64()
        );
        opts.progress.report(Update::Countdown {
            what: "observing",
            total: opts.window + TAIL,
        });
        let traffic = make_traffic(snap, opts, Instant::now());
        if matches!(traffic, Traffic::Client { .. }) {
            // Every connection has its result: the evidence is in once the tail drained.
            std::thread::sleep(TAIL);
            window.end_now();
        }
        let captures = cap_handles
            .into_iter()
            .map(|h| h.join().expect("capture thread"))
            .collect();
        let probes = match probe_handle {
            Some(h) => h.join().expect("probe thread"),
            None => super::ProbeEvidence::unavailable("probes disabled (--no-probes)"),
        };
        let decisions = match decision_handle {
            Some(h) => h.join().expect("decision log thread"),
            None if !opts.decisions => DecisionEvidence::unavailable("not read (disabled)"),
            None => decisions::observe(None, window, None),
        };
        opts.progress.report(Update::Done);
        (captures, probes, decisions, traffic)
    })
}

/// Waits for `observers` attach messages, at most [`ATTACH_WAIT`].
fn wait_attached(rx: &mpsc::Receiver<()>, observers: usize) {
    let deadline = Instant::now() + ATTACH_WAIT;
    for _ in 0..observers {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(
                    "an observer did not attach within {ATTACH_WAIT:?}; starting traffic anyway"
                );
                return;
            }
            // Every remaining observer gave up (its error is in the evidence).
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Connects through every DNAT entry with the caller's traffic source, if there is one.
fn make_traffic(snap: &Snapshot, opts: &ObserveOptions, t0: Instant) -> Traffic {
    let Some(src) = &opts.traffic else {
        return Traffic::Passive;
    };
    let targets: Vec<_> = snap
        .nat
        .entries
        .iter()
        .map(|e| (e.from, Some(e.to)))
        .collect();
    if targets.is_empty() {
        log::info!("no NAT entries known: the window stays passive (give --config to name them)");
        return Traffic::Passive;
    }
    let budget = opts
        .window
        .saturating_sub(t0.elapsed())
        .min(opts.connect_timeout)
        .max(Duration::from_millis(100));
    match src.run(&targets, budget) {
        Ok(results) => Traffic::Client {
            by: src.label(),
            results,
        },
        Err(e) => {
            log::warn!("traffic from {}: {e}", src.label());
            Traffic::Passive
        }
    }
}

/// Our forwarder's counters, if it runs here and they can be read.
fn our_counters(snap: &Snapshot) -> Option<Vec<(Counter, u64)>> {
    read_counters(snap.forwarder.as_ref()?.key()).ok()
}

/// Checksum-error deltas, reverse-path drops of the diagnosed namespace and forwarder counter
/// deltas over the window.
fn read_after(
    snap: &Snapshot,
    plan: &Plan,
    before: Before,
    notes: &mut Vec<String>,
) -> (Vec<CsumErrors>, Vec<NsCounterDelta>, Vec<(Counter, u64)>) {
    let mut csum_errors = Vec::new();
    for (ino, ns) in &plan.csum_ns {
        if let (Some(b), Ok(a)) = (before.snmp.get(ino), snmp::mib(ns)) {
            csum_errors.push(CsumErrors {
                netns: ns.name.clone(),
                netns_inode: *ino,
                delta: a.tcp_csum.saturating_sub(b.tcp_csum),
                udp_delta: a.udp_csum.saturating_sub(b.udp_csum),
            });
        }
    }
    let mut rp_filter_drops = Vec::new();
    let (ino, ns) = &plan.home;
    if let (Some(Some(b)), Ok(Some(a))) = (
        before.home.map(|m| m.rp_filter),
        snmp::mib(ns).map(|m| m.rp_filter),
    ) {
        if a > b {
            rp_filter_drops.push(NsCounterDelta {
                netns: ns.name.clone(),
                netns_inode: *ino,
                delta: a - b,
            });
        }
    }
    let deltas = match (before.counters, our_counters(snap)) {
        (Some(b), Some(a)) => a
            .into_iter()
            .zip(b)
            .filter_map(|((n, av), (_, bv))| (av > bv).then_some((n, av - bv)))
            .collect(),
        _ if snap.forwarder.is_none() => Vec::new(),
        _ => {
            notes.push("forwarder counters could not be read twice".into());
            Vec::new()
        }
    };
    (csum_errors, rp_filter_drops, deltas)
}
