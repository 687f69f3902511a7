//! Taking a [`Snapshot`]: one thread per namespace, everything read through the sockets and
//! /proc/sys files of that thread.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{Iface, NatInfo, NatSource, NsState, PeerRef, Snapshot, SNAPSHOT_VERSION};
use crate::forwarder::{self, Deployment, ForwarderConfig, ForwarderStatus};
use crate::netlink::rtnl::{LinkKind, Rtnl};
use crate::netlink::{ethtool, nftables, nsid, sockets, sysctl, xdp_features::Netdev};
use crate::netns::{self, Netns, NsInfo, NsRef};
use crate::xdp::{self, Owner, XdpView};
use crate::{state, Error, Result};

/// What the user knows of the NAT of XDP programs xdpdoctor did not load: their config in
/// the seed's format (`interfaces.external/internal`, `entries[].from/to`).
#[derive(Debug, Clone)]
pub struct NatHint {
    /// Where it came from (for the report).
    pub file: PathBuf,
    /// The parsed config.
    pub config: ForwarderConfig,
}

/// Snapshots the XDP programs attached in `ns` (xdpdoctor's forwarder or anyone's) and every
/// namespace its veths lead to. `hint` names the NAT entries of a program xdpdoctor did not
/// deploy; it is ignored (with a warning) when xdpdoctor's forwarder runs there.
pub fn take(ns: &Netns, hint: Option<&NatHint>) -> Result<Snapshot> {
    let id = NsRef::of(ns)?;
    let inode = id.inode;
    let ours = match Deployment::load(id.key())? {
        Some(_) => Some(forwarder::status(ns)?),
        None => None,
    };
    let cands = netns::all();
    let (home, supported) = collect_ns(ns, id, &cands, true)?;
    let links: Vec<_> = home.interfaces.iter().map(|i| i.link.clone()).collect();
    let mut xdp = xdp::discover(&links);
    if xdp.is_empty() && ours.is_none() {
        return Err(Error::not_found(
            format!("XDP program attached in namespace {ns}"),
            Some(
                "nothing to diagnose here; `xdpdoctor diagnose --all-netns` looks in every namespace"
                    .into(),
            ),
        ));
    }
    mark_owners(&mut xdp, ours.as_ref());
    let nat = nat_info(ours.as_ref(), hint);

    // Every namespace a veth of the diagnosed namespace leads to, once.
    let mut peers: BTreeMap<u64, &NsInfo> = BTreeMap::new();
    for i in &home.interfaces {
        if let Some(p) = i.peer {
            if p.netns_inode != inode {
                if let Some(c) = cands.iter().find(|c| c.inode == p.netns_inode) {
                    peers.insert(c.inode, c);
                }
            }
        }
    }
    // Peers mostly reference the diagnosed namespace: try its candidate first.
    let mut peer_cands = cands.clone();
    peer_cands.sort_by_key(|c| c.inode != inode);
    let mut namespaces = vec![home];
    for pns in peers.into_values() {
        match collect_ns(&pns.netns, NsRef::from(pns), &peer_cands, false) {
            Ok((s, _)) => namespaces.push(s),
            Err(e) => log::warn!("peer namespace {}: {e}", pns.netns),
        }
    }
    Ok(Snapshot {
        version: SNAPSHOT_VERSION,
        kernel: kernel_release(),
        xdp_features_supported: supported,
        netns_inode: inode,
        veth_xdp_max_mtu: veth_xdp_max_mtu(),
        xdp,
        forwarder: ours,
        nat,
        namespaces,
    })
}

/// Marks the programs of xdpdoctor's forwarder and of its fixes (pinned pass-through links).
fn mark_owners(xdp: &mut XdpView, ours: Option<&ForwarderStatus>) {
    let fwd: BTreeSet<u32> = ours
        .map(|f| f.interfaces.iter().map(|i| i.prog_id).collect())
        .unwrap_or_default();
    let fixes = fix_programs();
    for p in &mut xdp.programs {
        p.owner = if fwd.contains(&p.id) {
            Owner::Forwarder
        } else if fixes.contains(&p.id) {
            Owner::Fix
        } else {
            Owner::Foreign
        };
    }
}

/// Program ids of the pass-through links `fix` pinned (`fix-<inode>-<ifname>`).
fn fix_programs() -> BTreeSet<u32> {
    let Ok(rd) = std::fs::read_dir(state::PIN_ROOT) else {
        return BTreeSet::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| state::fix_pin_key(&e.file_name().to_string_lossy()).is_some())
        .filter_map(|e| {
            let fd = crate::bpf::sys::obj_get(&e.path()).ok()?;
            crate::bpf::sys::link_prog_id(std::os::fd::AsFd::as_fd(&fd)).ok()
        })
        .collect()
}

/// The NAT entries and roles: our forwarder's, else the user's config, else unknown.
fn nat_info(ours: Option<&ForwarderStatus>, hint: Option<&NatHint>) -> NatInfo {
    if let Some(f) = ours {
        if let Some(h) = hint {
            log::warn!(
                "{}: ignored, xdpdoctor's own forwarder runs here and its maps are read",
                h.file.display()
            );
        }
        return NatInfo {
            source: NatSource::Forwarder,
            entries: f
                .dnat
                .iter()
                .map(|e| forwarder::Entry {
                    from: e.key,
                    to: e.value,
                })
                .collect(),
            roles: f
                .interfaces
                .iter()
                .map(|i| (i.name.clone(), i.role))
                .collect(),
        };
    }
    match hint {
        Some(h) => NatInfo {
            source: NatSource::Config {
                file: h.file.display().to_string(),
            },
            entries: h.config.entries.clone(),
            roles: h
                .config
                .interfaces()
                .map(|(n, r)| (n.to_string(), r))
                .collect(),
        },
        None => NatInfo::default(),
    }
}

/// The largest peer MTU with which XDP (without frags) attaches to a veth, by the kernel's
/// own arithmetic in `veth_xdp_set` (the same from 5.x to 6.18): `PAGE_SIZE -
/// VETH_XDP_HEADROOM (XDP_PACKET_HEADROOM 256 + NET_IP_ALIGN, 0 on x86) -
/// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) - ETH_HLEN`. The struct's size comes from
/// the running kernel's BTF. Measured on 6.18: 3506 attaches, 3507 is refused with "veth:
/// Peer MTU is too large to set XDP".
pub fn veth_xdp_max_mtu() -> Option<u32> {
    let shinfo = crate::bpf::btf::vmlinux_struct_size("skb_shared_info")
        .inspect_err(|e| log::debug!("skb_shared_info size: {e}"))
        .ok()??;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u32::try_from(page).ok()?;
    let aligned = shinfo.div_ceil(64) * 64; // SMP_CACHE_BYTES on x86_64
    page.checked_sub(256 + aligned + 14)
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

/// Reads one namespace (with its nf_tables ruleset when `netfilter`). Returns its state and
/// whether xdp_features could be read.
fn collect_ns(
    ns: &Netns,
    mut id: NsRef,
    cands: &[NsInfo],
    netfilter: bool,
) -> Result<(NsState, bool)> {
    let cands = cands.to_vec();
    let (name, inode) = (id.name.clone(), id.inode);
    ns.block_on(|| async move {
        // A peer found by the enumerator has no cookie yet: read it here, inside (fixes of
        // this namespace are keyed by it).
        if id.cookie.is_none() {
            id.cookie = crate::netns::cookie_here().ok().flatten();
        }
        let rt = Rtnl::new()?;
        let links = rt.links().await?;
        // One dump each for addresses and neighbours: both families come in it.
        let (addresses, addresses6) = rt.addresses_both().await?;
        let routes = rt.routes().await?;
        let (neighbours, neighbours6) = rt.neighbours_both().await?;
        let fdb = rt
            .fdb()
            .await
            .inspect_err(|e| log::debug!("bridge fdb in {name}: {e}"))
            .unwrap_or_default();
        // A namespace without IPv6 (ipv6.disable) has no IPv6 table to dump.
        let routes6 = rt
            .routes6()
            .await
            .inspect_err(|e| log::debug!("IPv6 routes in {name}: {e}"))
            .unwrap_or_default();
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
            let accept_local =
                flag(sysctl::read_path(sysctl::iface_path(&l.name, "accept_local")).ok());
            let forwarding6 = flag(
                sysctl::read_path(std::path::PathBuf::from(format!(
                    "/proc/sys/net/ipv6/conf/{}/forwarding",
                    l.name
                )))
                .ok(),
            );
            let peer = match (&l.kind, l.peer_ifindex, l.link_netnsid) {
                (Some(LinkKind::Veth), Some(idx), Some(id)) => ids.get(&id).map(|c| PeerRef {
                    netns_inode: c.inode,
                    ifindex: idx,
                }),
                (Some(LinkKind::Veth), Some(idx), None) if idx != 0 => Some(PeerRef {
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
                accept_local,
                forwarding6,
                peer,
            });
        }
        let forwarding_all = flag(sysctl::read("net.ipv4.conf.all.forwarding").ok());
        let rp_filter_all = sysctl::read("net.ipv4.conf.all.rp_filter")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let accept_local_all = flag(sysctl::read("net.ipv4.conf.all.accept_local").ok());
        let forwarding6_all = flag(sysctl::read("net.ipv6.conf.all.forwarding").ok());
        let tcp_listen = sockets::listening()
            .inspect_err(|e| log::debug!("listening sockets in {name}: {e}"))
            .ok();
        let netfilter = if netfilter {
            nftables::read()
                .inspect_err(|e| log::debug!("nftables ruleset of {name}: {e}"))
                .ok()
        } else {
            None
        };
        Ok((
            NsState {
                ns: id,
                forwarding_all,
                rp_filter_all,
                accept_local_all,
                interfaces,
                addresses,
                routes,
                neighbours,
                forwarding6_all,
                addresses6,
                routes6,
                neighbours6,
                tcp_listen,
                fdb,
                netfilter,
            },
            supported,
        ))
    })
}
