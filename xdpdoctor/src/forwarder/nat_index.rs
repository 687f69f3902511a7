//! The NAT index: an open-addressing copy of each NAT map (`dnat_entries`, `snat_entries`) in
//! a plain array (`nat_index`), which the forwarder probes per packet instead of looking the
//! hash map up: a few inlined array reads instead of a hash-map lookup (~20 ns of the ~160
//! ns the program took; docs/performance.md). Layout, lookup and update protocol are in
//! `forwarder-ebpf/include/forwarder.h`; in short:
//!
//! - the hash maps stay the authoritative entries (status, diagnose and fixes read and edit
//!   them); the index is rebuilt from a map after every change of it, through [`republish`]
//!   (deploy writes it with [`fill`]). An entry the builder cannot place within
//!   `NAT_PROBES` slots of its home is left to the hash map, which the program asks when it
//!   finds that window full, so a lookup answers exactly what the map would;
//! - each direction has two halves. A writer fills the half the programs do not read, flips
//!   `nat_active[dir]` to it (one byte changes, so a reader sees the old or the new value),
//!   then waits until no program run can still be reading the old half
//!   ([`sys::wait_for_program_runs`]) before returning. Program runs therefore always see one
//!   complete table, never a half-written one;
//! - writers of one deployment are serialized by a lock on its pin directory. Editing the
//!   pinned hash maps with another tool (bpftool) bypasses the index: the forwarder then
//!   keeps translating by the old entries until xdpdoctor next republishes.

use std::borrow::BorrowMut;

use aya::maps::{Array, HashMap as BpfHashMap, MapData};
use aya::Ebpf;

use crate::bpf::forwarder_abi::{
    self as abi, nat_hash, Direction, Endpoint, NatSlot, NAT_BITS, NAT_PROBES, NAT_SLOTS,
};
use crate::bpf::object::{map_mut, pinned_map};
use crate::bpf::sys;
use crate::{state, Error, Result};

/// One half of the index for one direction, built from a NAT map's entries.
#[derive(Debug, Clone)]
pub struct Table {
    slots: Vec<NatSlot>,
    /// Entries placed in the index.
    pub placed: usize,
    /// Entries left to the hash map (their probe window was full).
    pub deferred: usize,
}

/// Builds a table from `(key, value)` entries by linear probing from each key's home slot.
/// Keys with address 0.0.0.0 (which marks an empty slot, and which no config can produce)
/// are left to the hash map.
pub fn build(entries: impl IntoIterator<Item = (Endpoint, Endpoint)>) -> Table {
    let mut t = Table {
        slots: vec![NatSlot::default(); NAT_SLOTS as usize],
        placed: 0,
        deferred: 0,
    };
    for (key, to) in entries {
        let home = nat_hash(&key);
        let free = (0..NAT_PROBES)
            .map(|i| ((home + i) & (NAT_SLOTS - 1)) as usize)
            .find(|&p| t.slots[p].key.addr == [0; 4]);
        match free {
            Some(p) if key.addr != [0; 4] => {
                t.slots[p] = NatSlot { key, to };
                t.placed += 1;
            }
            _ => t.deferred += 1,
        }
    }
    t
}

impl Table {
    /// What a program's lookup of `key` finds: `Some(Some(to))` from the index, `Some(None)`
    /// if the index says there is no entry, `None` if it defers to the hash map.
    pub fn lookup(&self, key: &Endpoint) -> Option<Option<Endpoint>> {
        let home = nat_hash(key);
        for i in 0..NAT_PROBES {
            let s = &self.slots[((home + i) & (NAT_SLOTS - 1)) as usize];
            if s.key.addr == [0; 4] {
                return Some(None);
            }
            if s.key.addr == key.addr && s.key.port == key.port {
                return Some(Some(s.to));
            }
        }
        None
    }
}

/// Writes `table` into the half of `dir` the programs do not read, makes it the one they
/// read, and returns once no program run can still read the other (see the module docs).
pub fn publish<T, U>(
    index: &mut Array<T, NatSlot>,
    active: &mut Array<U, u32>,
    dir: Direction,
    table: &Table,
) -> Result<()>
where
    T: BorrowMut<MapData>,
    U: BorrowMut<MapData>,
{
    let d = dir as u32;
    let err = |op: &'static str, m: &str, e| Error::bpf(op, format!("{m} {dir:?}"), e);
    let next = (active
        .get(&d, 0)
        .map_err(|e| err("read", abi::NAT_ACTIVE_MAP, e))?
        & 1)
        ^ 1;
    let base = (d * 2 + next) << NAT_BITS;
    for (i, s) in table.slots.iter().enumerate() {
        index
            .set(base + i as u32, s, 0)
            .map_err(|e| err("update", abi::NAT_INDEX_MAP, e))?;
    }
    active
        .set(d, next, 0)
        .map_err(|e| err("update", abi::NAT_ACTIVE_MAP, e))?;
    sys::wait_for_program_runs();
    Ok(())
}

/// Builds and publishes both directions' index in a loaded, not yet shared forwarder object
/// (deploy, the bench's private instance, tests): `entries` are (from, to) pairs, DNAT
/// `from -> to` and SNAT `to -> from`.
pub fn fill(ebpf: &mut Ebpf, object: &str, entries: &[(Endpoint, Endpoint)]) -> Result<()> {
    let dnat = build(entries.iter().map(|&(from, to)| (from, to)));
    let snat = build(entries.iter().map(|&(from, to)| (to, from)));
    fill_tables(
        ebpf,
        object,
        &[(Direction::Inbound, &dnat), (Direction::Outbound, &snat)],
    )
}

/// Publishes the given tables into a freshly loaded forwarder object's index: its
/// `nat_active` is still 0 everywhere and nothing runs its programs yet, so writing half 1's
/// occupied slots and flipping to it is the whole publication.
pub fn fill_tables(ebpf: &mut Ebpf, object: &str, tables: &[(Direction, &Table)]) -> Result<()> {
    const FRESH_HALF: u32 = 1;
    let mut index: Array<&mut MapData, NatSlot> = map_mut(ebpf, object, abi::NAT_INDEX_MAP)?;
    for (dir, table) in tables {
        let base = (*dir as u32 * 2 + FRESH_HALF) << NAT_BITS;
        for (i, s) in table.slots.iter().enumerate() {
            if s.key.addr != [0; 4] {
                index
                    .set(base + i as u32, s, 0)
                    .map_err(|e| Error::bpf("update", abi::NAT_INDEX_MAP, e))?;
            }
        }
    }
    let mut active: Array<&mut MapData, u32> = map_mut(ebpf, object, abi::NAT_ACTIVE_MAP)?;
    for (dir, _) in tables {
        active
            .set(*dir as u32, FRESH_HALF, 0)
            .map_err(|e| Error::bpf("update", abi::NAT_ACTIVE_MAP, e))?;
    }
    Ok(())
}

/// Rebuilds and publishes the index of `dir` of the forwarder deployed in namespace `key`
/// from its pinned NAT map; returns the table published. Holds the namespace's writer lock
/// (`state::lock`, re-entrant: deploy and fix already hold it) so two xdpdoctor processes
/// never write one index at once.
pub fn republish(key: state::NsKey, dir: Direction) -> Result<Table> {
    let pins = state::forwarder_pin_dir(key);
    let _lock = state::lock(state::LockKey::Netns(key), crate::cancel::interrupted)?;
    let map: BpfHashMap<MapData, Endpoint, Endpoint> =
        pinned_map(&pins.join(dir.map()), aya::maps::Map::HashMap)?;
    let mut entries = Vec::new();
    for kv in map.iter() {
        entries.push(kv.map_err(|e| Error::bpf("iterate", dir.map(), e))?);
    }
    let table = build(entries);
    let mut index: Array<MapData, NatSlot> =
        pinned_map(&pins.join(abi::NAT_INDEX_MAP), aya::maps::Map::Array)?;
    let mut active: Array<MapData, u32> =
        pinned_map(&pins.join(abi::NAT_ACTIVE_MAP), aya::maps::Map::Array)?;
    publish(&mut index, &mut active, dir, &table)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(a: u8, b: u8, port: u16) -> Endpoint {
        Endpoint::new(Ipv4Addr::new(10, a, b, 1), port)
    }

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let entries: Vec<_> = (0..4096u32)
            .map(|i| {
                (
                    ep((i >> 8) as u8, i as u8, 8080),
                    ep(200, (i % 250) as u8, 80),
                )
            })
            .collect();
        let t = build(entries.iter().copied());
        assert_eq!(t.placed + t.deferred, entries.len());
        for (k, v) in &entries {
            match t.lookup(k) {
                Some(Some(to)) => assert_eq!(to, *v),
                Some(None) => panic!("{k} reported absent"),
                None => {} // deferred to the hash map, which has it
            }
        }
        for i in 0..2000u16 {
            let k = Endpoint::new(Ipv4Addr::new(172, 16, (i >> 8) as u8, i as u8), 443);
            assert!(!matches!(t.lookup(&k), Some(Some(_))), "{k} found");
        }
        // At the maximum load (1/2) almost everything is in the index.
        assert!(t.deferred * 100 <= entries.len(), "{} deferred", t.deferred);
    }

    #[test]
    fn a_full_window_defers_to_the_map() {
        // Keys sharing one home fill its window; the next one must be deferred, and a
        // lookup of it must not claim "absent".
        let mut same_home = Vec::new();
        let home = nat_hash(&ep(0, 0, 1));
        for port in 1..u16::MAX {
            let k = ep(0, 0, port);
            if nat_hash(&k) == home {
                same_home.push((k, ep(9, 9, port)));
            }
            if same_home.len() > NAT_PROBES as usize {
                break;
            }
        }
        assert!(same_home.len() > NAT_PROBES as usize);
        let t = build(same_home.iter().copied());
        let last = same_home.last().unwrap().0;
        assert_eq!(t.deferred, 1);
        assert_eq!(t.lookup(&last), None);
        assert_eq!(t.lookup(&same_home[0].0), Some(Some(same_home[0].1)));
    }

    #[test]
    fn unspecified_address_is_never_indexed() {
        let zero = Endpoint::new(Ipv4Addr::UNSPECIFIED, 80);
        let t = build([(zero, ep(1, 1, 80))]);
        assert_eq!((t.placed, t.deferred), (0, 1));
    }
}
