//! The observation window: everything starts, traffic runs, everything is read again.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{probes, snmp, CaptureEvidence, CsumErrors, Evidence, ObserveOptions, Traffic};
use crate::capture;
use crate::forwarder::status::read_counters;
use crate::lab::{http, LabState};
use crate::netns::Netns;
use crate::snapshot::{paths::nat_paths, NsState, Snapshot};
use crate::{Error, Result};

/// How long observers may take to attach before the window starts anyway (BTF parsing and
/// the verifier on a loaded 2-core machine take seconds, not milliseconds).
const ATTACH_WAIT: Duration = Duration::from_secs(15);
/// Observers run this much past the window, for the replies of the last connection.
const TAIL: Duration = Duration::from_millis(300);

fn netns_of(ns: &NsState) -> Netns {
    Netns {
        name: ns.name.clone(),
        path: ns.path.clone().into(),
    }
}

/// Runs the window described by `opts` against the forwarder of `snap`.
pub fn observe(snap: &Snapshot, opts: &ObserveOptions) -> Result<Evidence> {
    if opts.window.is_zero() {
        return Ok(Evidence::static_only(
            "--observe 0: static diagnosis only (no probes, captures or traffic)",
        ));
    }
    let window = opts.window;
    let fwd = snap.forwarder_ns();
    let mut notes = Vec::new();

    // Container-side interfaces to capture on, and namespaces whose TcpInCsumErrors count.
    let mut caps: BTreeMap<(u64, String), Netns> = BTreeMap::new();
    for p in nat_paths(snap) {
        let Some(v) = p.out_ifindex().and_then(|i| fwd.iface(i)) else {
            continue;
        };
        if let Some((pns, pif)) = snap.peer_of(v) {
            if pns.inode != fwd.inode {
                caps.insert((pns.inode, pif.name().to_string()), netns_of(pns));
            }
        }
    }
    let mut csum_ns: BTreeMap<u64, Netns> = caps
        .iter()
        .map(|((ino, _), ns)| (*ino, ns.clone()))
        .collect();

    // The lab and its client, when there is one.
    let lab = match &opts.lab {
        Some(p) => Some(
            LabState::load(p)?
                .ok_or_else(|| Error::not_found(format!("lab with prefix {p}"), None))?,
        ),
        None => snap
            .lab
            .as_ref()
            .and_then(|l| LabState::load(&l.prefix).ok().flatten()),
    };
    let client = lab
        .as_ref()
        .and_then(|l| l.client_netns.as_deref())
        .map(Netns::named);
    if let Some(c) = &client {
        if let Ok(ino) = c.inode() {
            csum_ns.insert(ino, c.clone());
        }
    } else {
        // No lab: the namespaces behind external veths stand in for the client.
        for i in &snap.forwarder.interfaces {
            if i.role != "external" {
                continue;
            }
            if let Some((pns, _)) = fwd.iface(i.ifindex).and_then(|v| snap.peer_of(v)) {
                if pns.inode != fwd.inode {
                    csum_ns.insert(pns.inode, netns_of(pns));
                }
            }
        }
    }

    // Before.
    let counters_before = read_counters(snap.forwarder_netns_inode).ok();
    let mut snmp_before = BTreeMap::new();
    for (ino, ns) in &csum_ns {
        match snmp::in_csum_errors(ns) {
            Ok(v) => {
                snmp_before.insert(*ino, v);
            }
            Err(e) => notes.push(format!("TcpInCsumErrors in {ns}: {e}")),
        }
    }

    let t_start = Instant::now();
    let (ev, traffic) = std::thread::scope(|s| {
        // Every observer (probes, each capture) says when it is attached; traffic starts only
        // then, so a slow attach on a loaded machine cannot miss the packets.
        let (tx, rx) = mpsc::channel();
        let probe_handle = opts.probes.then(|| {
            let mut inodes: Vec<u64> = snap.namespaces.iter().map(|n| n.inode).collect();
            inodes.sort_unstable();
            inodes.dedup();
            let tx = tx.clone();
            s.spawn(move || probes::observe(&inodes, window + TAIL, Some(tx)))
        });
        let cap_handles: Vec<_> = caps
            .iter()
            .map(|((ino, ifname), ns)| {
                let tx = tx.clone();
                let (ino, ifname, ns) = (*ino, ifname.clone(), ns.clone());
                s.spawn(move || {
                    let r = capture::capture_tcp(&ns, &ifname, window + TAIL, Some(tx));
                    CaptureEvidence {
                        netns: ns.name.clone(),
                        netns_inode: ino,
                        interface: ifname,
                        note: r.as_ref().err().map(|e| format!("{e:#}")),
                        stats: r.ok(),
                    }
                })
            })
            .collect();
        drop(tx);
        let observers = cap_handles.len() + usize::from(probe_handle.is_some());
        let attach_deadline = Instant::now() + ATTACH_WAIT;
        for _ in 0..observers {
            let left = attach_deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    log::warn!(
                        "an observer did not attach within {ATTACH_WAIT:?}; starting traffic anyway"
                    );
                    break;
                }
                // Every remaining observer gave up (its error is in the evidence).
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let t0 = Instant::now();
        let traffic = match (&lab, &client, opts.traffic) {
            (Some(l), Some(c), true) => {
                let targets: Vec<_> = snap
                    .forwarder
                    .dnat
                    .iter()
                    .map(|e| (e.key, Some(e.value)))
                    .collect();
                let budget = window
                    .saturating_sub(t0.elapsed())
                    .max(Duration::from_secs(1));
                match http::connect_all(c, &targets, budget) {
                    Ok(results) => Traffic::Lab {
                        prefix: l.prefix.clone(),
                        results,
                    },
                    Err(e) => {
                        log::warn!("lab traffic from {c}: {e}");
                        Traffic::Passive
                    }
                }
            }
            _ => Traffic::Passive,
        };
        let captures: Vec<CaptureEvidence> = cap_handles
            .into_iter()
            .map(|h| h.join().expect("capture thread"))
            .collect();
        let probes = match probe_handle {
            Some(h) => h.join().expect("probe thread"),
            None => super::ProbeEvidence::unavailable("probes disabled (--no-probes)"),
        };
        ((captures, probes), traffic)
    });
    let (captures, probes) = ev;
    if matches!(traffic, Traffic::Passive) {
        notes.push(
            "passive window: no lab client to make traffic, only packets that happened to flow were seen"
                .into(),
        );
    }
    if !probes.available {
        notes.push(probes.note.clone());
    }
    crate::cancel::check()?;

    // After.
    let mut csum_errors = Vec::new();
    for (ino, ns) in &csum_ns {
        if let (Some(b), Ok(a)) = (snmp_before.get(ino), snmp::in_csum_errors(ns)) {
            csum_errors.push(CsumErrors {
                netns: ns.name.clone(),
                netns_inode: *ino,
                delta: a.saturating_sub(*b),
            });
        }
    }
    let counter_deltas = match (
        counters_before,
        read_counters(snap.forwarder_netns_inode).ok(),
    ) {
        (Some(b), Some(a)) => a
            .into_iter()
            .zip(b)
            .filter_map(|((n, av), (_, bv))| (av > bv).then(|| (n, av - bv)))
            .collect(),
        _ => {
            notes.push("forwarder counters could not be read twice".into());
            Vec::new()
        }
    };
    Ok(Evidence {
        window_ms: t_start.elapsed().as_millis() as u64,
        traffic,
        probes,
        captures,
        csum_errors,
        counter_deltas,
        notes,
    })
}
