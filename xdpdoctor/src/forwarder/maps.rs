//! The deployed forwarder's pinned maps, opened by name and type in one place: reading the
//! NAT entries, the devmap and the counters (status, diagnose, bench), and the live edits
//! fixes and lab faults make (devmap and NAT entries; a NAT edit also republishes the
//! forwarder's NAT index). Devmap inserts resolve the ifindex in
//! the calling thread's namespace, so callers run them inside the forwarder's namespace.

use std::borrow::Borrow;
use std::net::SocketAddrV4;

use aya::maps::{DevMapHash, HashMap as BpfHashMap, Map, MapData, PerCpuArray};
use serde::{Deserialize, Serialize};

use super::nat_index;
use crate::bpf::forwarder_abi::{self as abi, Counter, Direction, Endpoint, PortKey, Slot};
use crate::bpf::object::pinned_map;
use crate::state::{self, NsKey};
use crate::{Error, Result};

/// One NAT map entry as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatEntry {
    /// Lookup key: the original endpoint.
    pub key: SocketAddrV4,
    /// The endpoint it is translated to.
    pub value: SocketAddrV4,
}

type NatMap = BpfHashMap<MapData, Endpoint, Endpoint>;

fn path(key: NsKey, name: &str) -> std::path::PathBuf {
    state::forwarder_pin_dir(key).join(name)
}

fn nat(key: NsKey, name: &str) -> Result<NatMap> {
    pinned_map(&path(key, name), Map::HashMap)
}

fn devmap(key: NsKey) -> Result<DevMapHash<MapData>> {
    pinned_map(&path(key, abi::DEVMAP), Map::DevMapHash)
}

/// The entries of the NAT map `name` (`dnat_entries` or `snat_entries`), sorted by key.
pub fn read_nat(key: NsKey, name: &str) -> Result<Vec<NatEntry>> {
    let m = nat(key, name)?;
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

/// The ifindexes in the devmap, sorted.
pub fn read_devmap(key: NsKey) -> Result<Vec<u32>> {
    let m = devmap(key)?;
    let mut v: Vec<u32> = m.keys().filter_map(|k| k.ok()).collect();
    v.sort();
    Ok(v)
}

/// The per-CPU counters summed, in report order ([`Counter::ALL`]).
pub fn read_counters(key: NsKey) -> Result<Vec<(Counter, u64)>> {
    let m: PerCpuArray<MapData, u64> = pinned_map(&path(key, abi::COUNTERS_MAP), Map::PerCpuArray)?;
    Ok(abi::named_counters(&counters_of(&m)?))
}

/// The counters of any forwarder instance's `counters` map (pinned or private), derived from
/// its outcome slots summed over CPUs; indexed by `Counter as usize`. A map whose size is not
/// this build's slot count (a forwarder deployed by another version) is refused rather than
/// misread.
pub fn counters_of<T: Borrow<MapData>>(m: &PerCpuArray<T, u64>) -> Result<[u64; Counter::COUNT]> {
    if m.len() as usize != Slot::COUNT {
        return Err(Error::unexpected(
            format!("forwarder map {}", abi::COUNTERS_MAP),
            format!(
                "{} slots, this xdpdoctor expects {} (deployed by another version? redeploy it)",
                m.len(),
                Slot::COUNT
            ),
        ));
    }
    let mut slots = [0u64; Slot::COUNT];
    for s in Slot::ALL {
        slots[s as usize] = m
            .get(&s.index(), 0)
            .map_err(|e| Error::bpf("read", format!("{} slot {s:?}", abi::COUNTERS_MAP), e))?
            .iter()
            .sum();
    }
    Ok(abi::counters_from_slots(&slots))
}

/// The bridges the forwarder serves, sorted (empty for a deployment pinned before the
/// map existed).
pub fn read_bridges(key: NsKey) -> Result<Vec<u32>> {
    let p = path(key, abi::BRIDGES_MAP);
    if !p.exists() {
        return Ok(Vec::new());
    }
    let m: BpfHashMap<MapData, u32, u32> = pinned_map(&p, Map::HashMap)?;
    let mut v: Vec<u32> = m.keys().filter_map(|k| k.ok()).collect();
    v.sort();
    Ok(v)
}

/// The port map: (bridge, MAC, port), sorted.
pub fn read_bridge_ports(key: NsKey) -> Result<Vec<(u32, String, u32)>> {
    let p = path(key, abi::BRIDGE_PORTS_MAP);
    if !p.exists() {
        return Ok(Vec::new());
    }
    let m: BpfHashMap<MapData, PortKey, u32> = pinned_map(&p, Map::HashMap)?;
    let mut v: Vec<(u32, String, u32)> = m
        .iter()
        .filter_map(|kv| kv.ok())
        .map(|(k, port)| {
            let mac = k
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            (k.bridge, mac, port)
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Whether `ifindex` is in the devmap.
pub fn devmap_contains(key: NsKey, ifindex: u32) -> Result<bool> {
    Ok(devmap(key)?
        .keys()
        .filter_map(|k| k.ok())
        .any(|k| k == ifindex))
}

/// Inserts `ifindex` into the devmap (key = value, as deploy writes it). Call from inside the
/// forwarder's namespace. `false` if it was there already.
pub fn devmap_insert(key: NsKey, ifindex: u32) -> Result<bool> {
    let mut m = devmap(key)?;
    if m.keys().filter_map(|k| k.ok()).any(|k| k == ifindex) {
        return Ok(false);
    }
    m.insert(ifindex, ifindex, None, 0)
        .map_err(|e| Error::bpf("insert", format!("{} {ifindex}", abi::DEVMAP), e))?;
    Ok(true)
}

/// Removes `ifindex` from the devmap (lab fault `devmap-missing-target`; revert of a fix).
pub fn devmap_remove(key: NsKey, ifindex: u32) -> Result<()> {
    devmap(key)?
        .remove(ifindex)
        .map_err(|e| Error::bpf("remove", format!("{} ifindex {ifindex}", abi::DEVMAP), e))
}

/// The value of `entry` in the NAT map `name` of the forwarder in namespace `ns`, if any.
pub fn nat_get(ns: NsKey, name: &str, entry: SocketAddrV4) -> Result<Option<SocketAddrV4>> {
    Ok(nat(ns, name)?
        .get(&Endpoint::from(entry), 0)
        .ok()
        .map(SocketAddrV4::from))
}

/// Sets `entry` -> `value` in the NAT map `name` and republishes that direction's index.
pub fn nat_insert(ns: NsKey, name: &str, entry: SocketAddrV4, value: SocketAddrV4) -> Result<()> {
    nat(ns, name)?
        .insert(Endpoint::from(entry), Endpoint::from(value), 0)
        .map_err(|e| Error::bpf("insert", format!("{name} {entry}"), e))?;
    republish(ns, name)
}

/// Removes `entry` from the NAT map `name` and republishes that direction's index.
pub fn nat_remove(ns: NsKey, name: &str, entry: SocketAddrV4) -> Result<()> {
    nat(ns, name)?
        .remove(&Endpoint::from(entry))
        .map_err(|e| Error::bpf("remove", format!("{name} {entry}"), e))?;
    republish(ns, name)
}

/// The forwarder reads NAT entries through `nat_index`: every change of a NAT map is
/// followed by a rebuild of its direction's index ([`nat_index::republish`]).
fn republish(key: NsKey, name: &str) -> Result<()> {
    let dir = match name {
        abi::DNAT_MAP => Direction::Inbound,
        abi::SNAT_MAP => Direction::Outbound,
        other => return Err(Error::invalid("NAT map", format!("{other} is not one"))),
    };
    nat_index::republish(key, dir).map(drop)
}
