//! `veth-ring-overflow`: frames redirected into a veth died because the ring that hands them
//! to its peer was full: the peer drained it more slowly than the redirects filled it.
//!
//! How the kernel does it (drivers/net/veth.c, kernel/bpf/devmap.c): a redirect into a devmap
//! is queued per CPU (16 frames) and flushed into the target's `ndo_xdp_xmit`. A veth's
//! `veth_xdp_xmit` puts each frame into a ring of the peer's receive queue (a `ptr_ring` of
//! `VETH_RING_SIZE` = 256 slots per queue, not configurable; the queue is the sending CPU
//! modulo the peer's queue count) and the peer's NAPI drains it. When the ring is full,
//! `__ptr_ring_produce` fails (-ENOSPC) and veth_xdp_xmit stops: it returns how many it
//! took, never an error. So a full ring is seen only as `xdp:xdp_devmap_xmit` with drops
//! above zero and `err` = 0. Frames longer than the peer's MTU are dropped in that loop too,
//! with the same record, so this rule holds back where the peer's MTU is below the veth's.
//! The kernel also counts them as the veth's TX dropped and the peer's RX dropped
//! (`ip -s link`; `ethtool -S`: `tx_queue_N_xdp_xmit_errors`), with no drop reason and no
//! kfree_skb (XDP frames are not skbs).
//!
//! It takes load, not a misconfiguration: a burst larger than the ring while the peer's NAPI
//! is busy (on another CPU, or slowed by what the peer does with each packet). When producer
//! and peer share one CPU, NAPI's budget (64) drains each batch before the next and the ring
//! does not fill (measured: docs/performance.md, docs/rules.md). There is no safe automatic
//! fix; the finding names the target, the drop count and the rate, and what helps.

use std::collections::BTreeMap;

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

/// Slots of a veth receive queue's XDP ring (`VETH_RING_SIZE`, drivers/net/veth.c, since 4.19).
pub const VETH_RING_SIZE: u32 = 256;

pub const RULE: Rule = Rule {
    id: RuleId::VethRingOverflow,
    kind: Kind::Cause,
    title: "frames redirected into a veth were dropped because its ring to the peer was full",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    // Target ifindex -> frames dropped with err 0 during the window.
    let mut drops: BTreeMap<u32, u64> = BTreeMap::new();
    for pc in &c.ev.probes.counts {
        let here = pc.target_netns_inode == 0 || pc.target_netns_inode == home.ns.inode;
        if pc.kind == EventKind::DevmapXmit
            && pc.code == 0
            && pc.count > 0
            && pc.netns_inode == home.ns.inode
            && here
        {
            *drops.entry(pc.target_ifindex).or_default() += pc.count;
        }
    }
    let secs = c.ev.window_ms as f64 / 1000.0;
    let mut out = Vec::new();
    for (ifindex, n) in drops {
        let Some(v) = home.iface(ifindex).filter(|v| v.is_veth()) else {
            continue;
        };
        let peer = c.snap.peer_of(v);
        // Frames longer than the peer's MTU are dropped in the same loop, with the same
        // record: not a full ring then (redirect-target-mtu is about MTUs).
        if peer.is_some_and(|(_, p)| p.link.mtu != 0 && p.link.mtu < v.link.mtu) {
            continue;
        }
        let mut f = Finding::new(
            RULE.id,
            Severity::Warning,
            PathStage::Veth,
            Subject::new(home, Some(v.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        let rate = if secs > 0.0 {
            format!(
                ", {:.0} frames/s over the {secs:.1} s window",
                n as f64 / secs
            )
        } else {
            String::new()
        };
        let peer_name = peer
            .map(|(pns, p)| pns.ns.at(p.name()))
            .unwrap_or_else(|| "its peer".into());
        f.why = format!(
            "{} redirected frames into {} faster than {peer_name} took them: {n} frame(s) \
             found the veth's ring to its peer full and were dropped{rate}. The ring holds \
             {VETH_RING_SIZE} frames per receive queue of the peer and cannot be resized; \
             the kernel reports no error, only a shorter count (xdp:xdp_devmap_xmit drops \
             with err=0).",
            super::capitalized(&c.who_reaches(v.index())),
            v.name(),
        );
        f.evidence.push(format!(
            "xdp_devmap_xmit to {} in {}: {n} frame(s) dropped with err=0 (ring full){rate}",
            v.name(),
            home.ns.name
        ));
        if let Some((pns, p)) = peer {
            f.evidence.push(format!(
                "{}: XDP {}, GRO requested {}, MTU {} (not below {}'s {}: no frame was too long)",
                pns.ns.at(p.name()),
                if p.has_xdp() { "attached" } else { "none" },
                match p.gro_requested {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "unknown",
                },
                p.link.mtu,
                v.name(),
                v.link.mtu
            ));
        }
        f.observe(
            format!("xdp_devmap_xmit drops (ring full) to {}", v.name()),
            n,
        );
        let redirected = c.ev.counter_delta(Counter::Redirected);
        f.observe("forwarder redirected (window)", redirected);
        if redirected > 0 {
            f.evidence.push(format!(
                "the forwarder redirected {redirected} packet(s) in the window: {:.1}% of \
                 them (at most) died at the ring",
                100.0 * n.min(redirected) as f64 / redirected as f64
            ));
        }
        f.manual_fix = Some(format!(
            "the ring cannot grow: spread the load over more rings (recreate the pair with \
             more queues, `ip link add {} numtxqueues N numrxqueues N type veth peer name {} \
             numtxqueues N numrxqueues N` where the pair is made, before the peer moves into its \
             namespace: the kernel picks the peer's ring by the sending CPU), \
             make the peer drain faster (an XDP program on it that drops or redirects what its \
             stack need not see, less work per packet there), or pace the sender; `{}` counts \
             the same drops as TX dropped",
            crate::netns::quote(v.name()),
            peer.map(|(_, p)| crate::netns::quote(p.name()).into_owned())
                .unwrap_or_else(|| "PEER".into()),
            home.ns.clone().shell(&format!(
                "ip -s link show {}",
                crate::netns::quote(v.name())
            ))
        ));
        out.push(f);
    }
    out
}
