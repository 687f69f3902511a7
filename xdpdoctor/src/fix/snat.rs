//! Fix for `nat-entry-asymmetric`: add the SNAT entry that mirrors a DNAT entry (replies
//! from the target are translated back to the public endpoint).

use std::net::SocketAddrV4;

use aya::maps::{HashMap as BpfHashMap, Map, MapData};

use super::Previous;
use crate::bpf::forwarder_abi::{self as abi, Endpoint};
use crate::forwarder::deploy::open_pinned_map;
use crate::netns::Netns;
use crate::{Error, Result};

pub fn apply(ns: &Netns, key: SocketAddrV4, value: SocketAddrV4) -> Result<Option<Previous>> {
    let inode = ns.inode()?;
    let mut m: BpfHashMap<MapData, Endpoint, Endpoint> =
        Map::HashMap(open_pinned_map(inode, abi::SNAT_MAP)?)
            .try_into()
            .map_err(|e| Error::bpf("map type", abi::SNAT_MAP, e))?;
    if m.get(&Endpoint::from(key), 0).ok() == Some(Endpoint::from(value)) {
        return Ok(None);
    }
    let prev = m.get(&Endpoint::from(key), 0).ok();
    m.insert(Endpoint::from(key), Endpoint::from(value), 0)
        .map_err(|e| Error::bpf("insert", format!("{} {key}", abi::SNAT_MAP), e))?;
    Ok(Some(match prev {
        None => Previous::Absent,
        Some(v) => Previous::Value {
            value: SocketAddrV4::from(v).to_string(),
        },
    }))
}

pub fn revert(ns: &Netns, key: SocketAddrV4, prev: &Previous) -> Result<()> {
    match prev {
        Previous::Absent => crate::forwarder::deploy::snat_remove(ns, key),
        Previous::Value { value } => {
            let v: SocketAddrV4 = value
                .parse()
                .map_err(|_| Error::invalid("journal snat value", value.clone()))?;
            let inode = ns.inode()?;
            let mut m: BpfHashMap<MapData, Endpoint, Endpoint> =
                Map::HashMap(open_pinned_map(inode, abi::SNAT_MAP)?)
                    .try_into()
                    .map_err(|e| Error::bpf("map type", abi::SNAT_MAP, e))?;
            m.insert(Endpoint::from(key), Endpoint::from(v), 0)
                .map_err(|e| Error::bpf("insert", format!("{} {key}", abi::SNAT_MAP), e))
        }
        _ => Ok(()),
    }
}
