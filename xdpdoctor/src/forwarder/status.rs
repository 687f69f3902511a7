//! `status`: what is deployed in a namespace, whether it is still attached where it was
//! deployed, its NAT entries as the kernel holds them, and its per-CPU counters summed.

use std::net::SocketAddrV4;

use aya::maps::{DevMapHash, HashMap as BpfHashMap, Map, MapData, PerCpuArray};
use serde::{Deserialize, Serialize};

use super::deploy::{open_pinned_map, Deployment};
use crate::bpf::forwarder_abi::{self as abi, Endpoint};
use crate::netlink::rtnl::{Rtnl, XdpMode};
use crate::netns::Netns;
use crate::{Error, Result};

/// Attachment state of one interface named in the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    pub ifindex: u32,
    pub role: String,
    /// Program id deploy attached.
    pub prog_id: u32,
    /// What IFLA_XDP reports now (None: nothing attached or the interface is gone).
    pub attached_prog_id: Option<u32>,
    pub attach_mode: Option<XdpMode>,
    /// The forwarder's program is what runs on this interface.
    pub attached: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatEntry {
    pub key: SocketAddrV4,
    pub value: SocketAddrV4,
}

/// Everything `xdpdoctor status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwarderStatus {
    pub netns: String,
    pub netns_inode: u64,
    pub pin_dir: String,
    pub config_file: Option<String>,
    pub mode: super::AttachMode,
    /// The forwarder recomputes full TCP checksums (`full_checksum`).
    #[serde(default)]
    pub full_checksum: bool,
    pub interfaces: Vec<InterfaceStatus>,
    pub dnat: Vec<NatEntry>,
    pub snat: Vec<NatEntry>,
    /// ifindexes present in the devmap.
    pub devmap: Vec<u32>,
    /// Counter name -> packets, summed over CPUs, in ABI order.
    pub counters: Vec<(String, u64)>,
}

/// Reads the state of the forwarder deployed in `ns`.
pub fn status(ns: &Netns) -> Result<ForwarderStatus> {
    let inode = ns.inode()?;
    let dep = Deployment::load(inode)?.ok_or_else(|| {
        Error::not_found(
            format!("forwarder in namespace {ns}"),
            Some("deploy one with `xdpdoctor deploy --config FILE`".into()),
        )
    })?;
    let links = ns.block_on(|| async { Rtnl::new()?.links().await })?;
    let interfaces = dep
        .interfaces
        .iter()
        .map(|d| {
            let live = links
                .iter()
                .find(|l| l.index == d.ifindex && l.name == d.name);
            let xdp = live.and_then(|l| l.xdp);
            InterfaceStatus {
                name: d.name.clone(),
                ifindex: d.ifindex,
                role: if d.external { "external" } else { "internal" }.into(),
                prog_id: d.prog_id,
                attached_prog_id: xdp.map(|x| x.prog_id),
                attach_mode: xdp.map(|x| x.mode),
                attached: xdp.map(|x| x.prog_id) == Some(d.prog_id),
            }
        })
        .collect();
    Ok(ForwarderStatus {
        netns: dep.netns.clone(),
        netns_inode: inode,
        pin_dir: dep.pin_dir.display().to_string(),
        config_file: dep.config_file.as_ref().map(|p| p.display().to_string()),
        mode: dep.mode,
        full_checksum: dep.config.full_checksum,
        interfaces,
        dnat: read_nat(inode, abi::DNAT_MAP)?,
        snat: read_nat(inode, abi::SNAT_MAP)?,
        devmap: read_devmap(inode)?,
        counters: read_counters(inode)?,
    })
}

fn read_nat(inode: u64, name: &str) -> Result<Vec<NatEntry>> {
    let m: BpfHashMap<MapData, Endpoint, Endpoint> = Map::HashMap(open_pinned_map(inode, name)?)
        .try_into()
        .map_err(|e| Error::bpf("map type", name, e))?;
    let mut v = Vec::new();
    for kv in m.iter() {
        let (k, val) = kv.map_err(|e| Error::bpf("iterate", name, e))?;
        v.push(NatEntry {
            key: k.into(),
            value: val.into(),
        });
    }
    v.sort_by_key(|e| (e.key.ip().octets(), e.key.port()));
    Ok(v)
}

fn read_devmap(inode: u64) -> Result<Vec<u32>> {
    let m: DevMapHash<MapData> = Map::DevMapHash(open_pinned_map(inode, abi::DEVMAP)?)
        .try_into()
        .map_err(|e| Error::bpf("map type", abi::DEVMAP, e))?;
    let mut v: Vec<u32> = m.keys().filter_map(|k| k.ok()).collect();
    v.sort();
    Ok(v)
}

/// Sums the per-CPU counters of the forwarder deployed in namespace `inode`.
pub fn read_counters(inode: u64) -> Result<Vec<(String, u64)>> {
    let m: PerCpuArray<MapData, u64> = Map::PerCpuArray(open_pinned_map(inode, abi::COUNTERS_MAP)?)
        .try_into()
        .map_err(|e| Error::bpf("map type", abi::COUNTERS_MAP, e))?;
    let mut out = Vec::new();
    for c in abi::Counter::ALL {
        let vals = m
            .get(&(c as u32), 0)
            .map_err(|e| Error::bpf("read", format!("{} {}", abi::COUNTERS_MAP, c.name()), e))?;
        out.push((c.name().to_string(), vals.iter().sum()));
    }
    Ok(out)
}
