//! Where the XDP programs of the diagnosed namespace send packets, as far as the static state
//! tells: the egress of every known NAT entry and the external interfaces replies leave by
//! (our forwarder, or a user's config), or else every device in the programs' devmaps.
//! Rules add the targets the redirect tracepoints saw during the window; the evidence window
//! captures on these targets' peers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Snapshot;
use crate::forwarder::Role;

/// Why a device counts as a redirect target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetSource {
    /// The egress of a known NAT entry.
    NatEntry,
    /// An external interface: translated replies leave by it.
    Reply,
    /// An entry of a devmap an attached program uses (NAT entries unknown).
    Devmap,
    /// Seen as a redirect target by the tracepoints during the window.
    Observed,
}

/// A device the XDP programs redirect (or can redirect) to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its ifindex in the diagnosed namespace.
    pub ifindex: u32,
    /// A native-mode (driver) program redirects there: the frame arrives through
    /// `ndo_xdp_xmit` (needs ndo-xmit, loses the skb's checksum state). Generic-mode redirects
    /// go through the stack's transmit path and need neither.
    pub native: bool,
    /// Why it is a target (first: the strongest reason).
    pub source: TargetSource,
}

impl Snapshot {
    /// The redirect targets the static state shows, by ifindex.
    pub fn redirect_targets(&self) -> Vec<Target> {
        let mut t: BTreeMap<u32, Target> = BTreeMap::new();
        let mut add = |ifindex: u32, native: bool, source: TargetSource| {
            let e = t.entry(ifindex).or_insert(Target {
                ifindex,
                native,
                source,
            });
            e.native |= native;
            e.source = e.source.min(source);
        };
        if self.entries_known() {
            // Whatever program redirects there: any native attachment whose redirect maps
            // reach it (a program without one is "native" towards a target only once the
            // window sees it redirect there).
            let reach = self.native_reach();
            let native_to = |i: u32| reach.reaches(i);
            let serves = |br: u32| self.forwarder.as_ref().is_some_and(|f| f.serves_bridge(br));
            for p in super::paths::nat_paths(self) {
                if let Some(i) = p.out_ifindex() {
                    add(i, native_to(i), TargetSource::NatEntry);
                }
                // Our forwarder redirects to the port behind the bridge (unless the bridge
                // itself is in its devmap, which the redirect then hits first: fixing that
                // makes the port the target, so it is one already).
                if let (Some(br), Some(port)) = (p.egress, p.intended) {
                    if port != br && serves(br) {
                        add(port, native_to(port), TargetSource::NatEntry);
                    }
                }
            }
            for i in &self.home().interfaces {
                if self.role(i.index()) == Some(Role::External) {
                    add(i.index(), native_to(i.index()), TargetSource::Reply);
                }
            }
        } else {
            // One program is often attached to many interfaces (a forwarder on every veth):
            // its targets are read once.
            let mut programs: BTreeMap<u32, bool> = BTreeMap::new();
            for a in &self.xdp.attachments {
                *programs.entry(a.prog_id).or_default() |=
                    a.mode == crate::netlink::rtnl::XdpMode::Driver;
            }
            for (id, native) in programs {
                for d in self.xdp.targets_of(id).devices {
                    if self.home().iface(d).is_some() {
                        add(d, native, TargetSource::Devmap);
                    }
                }
            }
        }
        t.into_values().collect()
    }

    /// Whether a native-mode program of the diagnosed namespace can redirect to `ifindex` as
    /// far as the static state proves: its devmaps hold it. A program without a redirect map
    /// proves nothing (it may call `bpf_redirect()`, or never redirect: `return XDP_PASS`);
    /// only the window's redirect tracepoints make a device its target (rules add those).
    /// Our forwarder's devmap holds every interface of the namespace.
    pub fn native_reaches(&self, ifindex: u32) -> bool {
        self.native_reach().reaches(ifindex)
    }

    /// Where the native-mode programs can redirect, each distinct program read once: with
    /// 500 containers the forwarder is attached 501 times and its devmap holds 501 devices;
    /// asking per interface and per attachment took 4.4 s of a static diagnose.
    fn native_reach(&self) -> NativeReach {
        let ids: BTreeSet<u32> = self
            .xdp
            .attachments
            .iter()
            .filter(|a| a.mode == crate::netlink::rtnl::XdpMode::Driver)
            .map(|a| a.prog_id)
            .collect();
        let mut r = NativeReach::default();
        for id in ids {
            r.devices.extend(self.xdp.targets_of(id).devices);
        }
        r
    }
}

/// The devices native-mode programs can redirect to, by their redirect maps.
#[derive(Default)]
struct NativeReach {
    devices: BTreeSet<u32>,
}

impl NativeReach {
    fn reaches(&self, ifindex: u32) -> bool {
        self.devices.contains(&ifindex)
    }
}
