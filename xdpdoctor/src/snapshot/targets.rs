//! Where the XDP programs of the diagnosed namespace send packets, as far as the static state
//! tells: the egress of every known NAT entry and the external interfaces replies leave by
//! (our forwarder, or a user's config), or else every device in the programs' devmaps.
//! Rules add the targets the redirect tracepoints saw during the window; the evidence window
//! captures on these targets' peers.

use std::collections::BTreeMap;

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
            // Whatever program redirects there: any native attachment that can reach it.
            let native_to = |i: u32| self.native_reaches(i);
            for p in super::paths::nat_paths(self) {
                if let Some(i) = p.out_ifindex() {
                    add(i, native_to(i), TargetSource::NatEntry);
                }
            }
            for i in &self.home().interfaces {
                if self.role(i.index()) == Some(Role::External) {
                    add(i.index(), native_to(i.index()), TargetSource::Reply);
                }
            }
        } else {
            for a in &self.xdp.attachments {
                let native = a.mode == crate::netlink::rtnl::XdpMode::Driver;
                for d in self.xdp.targets_of(a.prog_id).devices {
                    if self.home().iface(d).is_some() {
                        add(d, native, TargetSource::Devmap);
                    }
                }
            }
        }
        t.into_values().collect()
    }

    /// Whether a native-mode program of the diagnosed namespace can redirect to `ifindex`:
    /// its devmaps hold it, or it has no redirect map (then it may call `bpf_redirect()`).
    /// Our forwarder's devmap holds every interface of the namespace.
    pub fn native_reaches(&self, ifindex: u32) -> bool {
        self.xdp
            .attachments
            .iter()
            .filter(|a| a.mode == crate::netlink::rtnl::XdpMode::Driver)
            .any(|a| {
                let t = self.xdp.targets_of(a.prog_id);
                t.unknown || t.devices.contains(&ifindex)
            })
    }
}
