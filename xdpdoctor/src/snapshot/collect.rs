//! Taking a [`Snapshot`]: one thread per namespace, everything read through the sockets and
//! /proc/sys files of that thread.

use std::collections::BTreeMap;

use super::{Iface, NsState, PeerRef, Snapshot, SNAPSHOT_VERSION};
use crate::forwarder::{self, Deployment};
use crate::netlink::rtnl::Rtnl;
use crate::netlink::{ethtool, nsid, sysctl, xdp_features::Netdev};
use crate::netns::{self, Netns, NsInfo};
use crate::Result;

/// Snapshots the forwarder deployed in `ns` and every namespace its veths lead to.
pub fn take(ns: &Netns) -> Result<Snapshot> {
    let inode = ns.inode()?;
    let dep = Deployment::require(ns)?;
    let status = forwarder::status(ns)?;
    let cands = netns::all();
    let (fwd_ns, supported) = collect_ns(ns, inode, &cands)?;

    // Every namespace a veth of the forwarder's namespace leads to, once.
    let mut peers: BTreeMap<u64, Netns> = BTreeMap::new();
    for i in &fwd_ns.interfaces {
        if let Some(p) = i.peer {
            if p.netns_inode != inode {
                if let Some(c) = cands.iter().find(|c| c.inode == p.netns_inode) {
                    peers.insert(c.inode, c.netns.clone());
                }
            }
        }
    }
    // Peers mostly reference the forwarder's namespace: try its candidate first.
    let mut peer_cands = cands.clone();
    peer_cands.sort_by_key(|c| c.inode != inode);
    let mut namespaces = vec![fwd_ns];
    for (ino, pns) in peers {
        match collect_ns(&pns, ino, &peer_cands) {
            Ok((s, _)) => namespaces.push(s),
            Err(e) => log::warn!("peer namespace {pns}: {e}"),
        }
    }
    Ok(Snapshot {
        version: SNAPSHOT_VERSION,
        kernel: kernel_release(),
        xdp_features_supported: supported,
        forwarder_netns_inode: inode,
        forwarder: status,
        full_checksum: dep.config.full_checksum,
        namespaces,
    })
}

fn kernel_release() -> String {
    // SAFETY: uname fills a struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `u` is ours and large enough.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    // SAFETY: release is NUL-terminated by the kernel.
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn flag(v: Option<String>) -> Option<bool> {
    v.map(|s| s.trim() != "0")
}

/// Reads one namespace. Returns its state and whether xdp_features could be read.
fn collect_ns(ns: &Netns, inode: u64, cands: &[NsInfo]) -> Result<(NsState, bool)> {
    let cands = cands.to_vec();
    let (name, path) = (ns.name.clone(), ns.path.display().to_string());
    ns.block_on(|| async move {
        let rt = Rtnl::new()?;
        let links = rt.links().await?;
        let addresses = rt.addresses().await?;
        let routes = rt.routes().await?;
        let neighbours = rt.neighbours().await?;
        let wanted: std::collections::HashSet<i32> =
            links.iter().filter_map(|l| l.link_netnsid).collect();
        let ids = nsid::nsid_map(rt.handle(), &cands, &wanted).await;
        let mut netdev = Netdev::open().unwrap_or_else(|e| {
            log::debug!("netdev genl in {name}: {e}");
            None
        });
        let supported = netdev.is_some();
        let eth = ethtool::Ethtool::open().ok();
        let mut interfaces = Vec::new();
        for l in links {
            let xdp_features = netdev
                .as_mut()
                .and_then(|n| n.dev(l.index).ok())
                .map(|d| d.xdp_features.bits());
            let feats = eth.as_ref().and_then(|e| e.features(&l.name).ok());
            let gro_requested = feats.as_ref().and_then(|f| f.gro_requested());
            let tx_csum_active = feats.as_ref().map(|f| f.tx_csum_active());
            let forwarding =
                flag(sysctl::read_path(sysctl::iface_path(&l.name, "forwarding")).ok());
            let rp_filter = sysctl::read_path(sysctl::iface_path(&l.name, "rp_filter"))
                .ok()
                .and_then(|s| s.parse().ok());
            let peer = match (l.kind.as_deref(), l.peer_ifindex, l.link_netnsid) {
                (Some("veth"), Some(idx), Some(id)) => ids.get(&id).map(|c| PeerRef {
                    netns_inode: c.inode,
                    ifindex: idx,
                }),
                (Some("veth"), Some(idx), None) if idx != 0 => Some(PeerRef {
                    netns_inode: inode,
                    ifindex: idx,
                }),
                _ => None,
            };
            interfaces.push(Iface {
                link: l,
                xdp_features,
                gro_requested,
                tx_csum_active,
                forwarding,
                rp_filter,
                peer,
            });
        }
        let forwarding_all = flag(sysctl::read("net.ipv4.conf.all.forwarding").ok());
        Ok((
            NsState {
                name,
                path,
                inode,
                forwarding_all,
                interfaces,
                addresses,
                routes,
                neighbours,
            },
            supported,
        ))
    })
}
