//! A window of probes for a caller that wants counts, not events ([`observe`]: `diagnose`'s
//! evidence window).

use std::time::Duration;

use serde::Serialize;

use super::{Aggregate, DroppedFlow, Filter, ProbeOptions, ProbeSet, ProbeStatus};
use crate::Result;

/// Result of [`observe`].
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// Every probe variant and whether it was live.
    pub probes: Vec<ProbeStatus>,
    /// The kernel's counts for the window.
    pub aggregates: Vec<Aggregate>,
    /// Events the ring buffer had no room for (the counts include them).
    pub lost: u64,
    /// The packets `kfree_skb` saw dropped, by tuple (those the ring buffer delivered).
    pub dropped_flows: Vec<DroppedFlow>,
}

/// Attaches every probe possible, waits `window` (returns early with `Error::Interrupted` on
/// Ctrl-C), reads the kernel's counts and detaches.
pub fn observe(filter: &Filter, window: Duration) -> Result<Observation> {
    observe_ready(filter, &crate::cancel::Window::new(window), None)
}

/// `observe`, telling `ready` once every probe is attached (attaching takes a while: BTF and
/// the verifier), so a caller can start its traffic then and not before. `ready` is also
/// dropped if attaching fails, which wakes a waiting caller.
pub fn observe_ready(
    filter: &Filter,
    window: &crate::cancel::Window,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> Result<Observation> {
    let opts = ProbeOptions {
        redirects: true,
        ..Default::default()
    };
    let mut set = ProbeSet::attach_with(filter, &opts)?;
    if let Some(r) = ready {
        let _ = r.send(());
    }
    let mut dropped_flows = Vec::new();
    while let Some(left) = window.left() {
        // Drain the ring so it never fills (counts are kept in the kernel either way),
        // keeping the tuples of dropped packets.
        set.drain_flows(left.min(Duration::from_millis(50)), &mut dropped_flows)?;
    }
    set.drain_flows(Duration::ZERO, &mut dropped_flows)?;
    crate::cancel::check()?;
    Ok(Observation {
        probes: set.report(),
        aggregates: set.aggregates()?,
        lost: set.lost(),
        dropped_flows,
    })
}
