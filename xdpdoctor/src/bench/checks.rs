//! Checks that each variant took the path it is meant to measure, from the deployed
//! forwarder's counters and the delivery counter; each check becomes a note in the report
//! (`WARNING ...` when a path was not clean).

use std::collections::BTreeMap;

use super::rounds::Sample;
use super::variants::Variant;

/// One note per (variant, frame size).
pub(super) fn path_notes(samples: &BTreeMap<(Variant, usize), Vec<Sample>>) -> Vec<String> {
    let mut notes = Vec::new();
    for ((v, size), ss) in samples {
        let sum = |f: fn(&Sample) -> u64| ss.iter().map(f).sum::<u64>();
        let sent = sum(|s| s.sent);
        let seen = sum(|s| s.fwd_seen);
        let redirected = sum(|s| s.fwd_redirected);
        let hits = sum(|s| s.fwd_cache_hits);
        let ttl = sum(|s| s.fwd_ttl_exceeded);
        let bridge_port = sum(|s| s.fwd_bridge_port);
        let delivered = sum(|s| s.delivered);
        if v.is_forwarder() && ttl > 0 {
            notes.push(format!(
                "WARNING {v} {size}B: {ttl} frames arrived with TTL <= 1 (recycled pages not \
                 restored by the sink?)"
            ));
        }
        match v {
            // Into the bridged container: every redirect must be to the bridge's port.
            Variant::ForwarderBridged if bridge_port < redirected || redirected < sent => notes
                .push(format!(
                    "WARNING {v} {size}B: forwarder redirected {redirected} of {sent} frames, \
                     {bridge_port} of them to a bridge port; the path is not clean"
                )),
            Variant::ForwarderBridged => notes.push(format!(
                "{v} {size}B: forwarder redirected {redirected} of {sent} frames ({:.1}%), \
                 {bridge_port} to the bridge's port; delivered {delivered} ({:.1}%)",
                pct(redirected, sent),
                pct(delivered, sent)
            )),
            Variant::ForwarderFibCache => notes.push(format!(
                "{v} {size}B: forwarder redirected {redirected} of {sent} frames ({:.1}%), \
                 {hits} next-hop cache hits ({:.1}%)",
                pct(redirected, sent),
                pct(hits, sent)
            )),
            Variant::Forwarder
            | Variant::ForwarderTrace
            | Variant::ForwarderNolog
            | Variant::ForwarderLog
                if hits > 0 =>
            {
                notes.push(format!(
                    "WARNING {v} {size}B: {hits} next-hop cache hits with the cache off"
                ))
            }
            Variant::Forwarder
            | Variant::ForwarderTrace
            | Variant::ForwarderNolog
            | Variant::ForwarderLog => notes.push(format!(
                "{v} {size}B: forwarder redirected {redirected} of {sent} frames ({:.1}%)",
                pct(redirected, sent)
            )),
            // The deployed forwarder's internal program shares the counters and sees the
            // containers' ARP; only a share of the pushed frames would mean a wrong path.
            Variant::KernelNat
            | Variant::KernelNatBridged
            | Variant::RedirectOnly
            | Variant::RouterPeer
                if seen * 1000 > sent =>
            {
                notes.push(format!(
                    "WARNING {v} {size}B: the deployed forwarder saw {seen} of {sent} frames; \
                     the path is not clean"
                ))
            }
            Variant::RouterPeer | Variant::KernelNatBridged => notes.push(format!(
                "{v} {size}B: delivered {delivered} of {sent} frames ({:.1}%)",
                pct(delivered, sent)
            )),
            _ => {}
        }
    }
    notes
}

/// a / b in percent (0 for b = 0).
pub(super) fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}
