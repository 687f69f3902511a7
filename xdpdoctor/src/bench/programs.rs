//! Loading the programs the bench runs, shared by the live measurements ([`super::variants`])
//! and the ns/packet table ([`super::cost`]): redirect-only, the router peer, the kernel-NAT
//! entry program, the XDP_PASS floor, and forwarder instances. The forwarder always comes
//! from `forwarder::object`, its one loader, so the bench runs the deployed code with the
//! deployed tunables. Every function loads into the kernel (verifier included) and, where a
//! program redirects, fills its devmap: call them inside vm's namespace, whose ifindexes the
//! devmaps name (docs/KERNEL-NOTES: devmap values resolve in the caller's namespace).

use std::path::Path;

use aya::maps::{Array, DevMapHash, HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::xdp::XdpLink;
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};

use crate::bpf::forwarder_abi::{self as abi, Direction, Endpoint};
use crate::bpf::object::{map_mut, program_mut, take_map};
use crate::bpf::objects;
use crate::forwarder::object::{self as fwd_object, Build, Tunables};
use crate::forwarder::{nat_index, Entry, Role};
use crate::{Error, Result};

/// `BENCH_HDR_LEN` of `bench_restore.bpf.c`: Ethernet + IPv4 + TCP headers without options.
pub const RESTORE_LEN: usize = 64;

/// The pristine-frame-head map of `xdp_restore_pass`.
pub type Pristine = Array<MapData, [u8; RESTORE_LEN]>;

/// `xdp_redirect_only`, redirecting everything to `target` (its devmap holds it).
pub fn redirect_only(target: u32) -> Result<Ebpf> {
    const OBJ: &str = "redirect_only.bpf.o";
    let mut ebpf = EbpfLoader::new()
        .override_global(abi::GLOBAL_TARGET_IFINDEX, &target, true)
        .load(objects::REDIRECT_ONLY)
        .map_err(|e| Error::bpf("load", OBJ, e))?;
    fill_devmap(&mut ebpf, OBJ, abi::REDIRECT_DEVMAP, &[target])?;
    load(&mut ebpf, OBJ, abi::PROG_REDIRECT_ONLY)?;
    Ok(ebpf)
}

/// `xdp_router`, the plain XDP router, allowed to redirect to every one of `devices`.
pub fn router_peer(devices: &[u32]) -> Result<Ebpf> {
    const OBJ: &str = "router_peer.bpf.o";
    let mut ebpf = Ebpf::load(objects::ROUTER_PEER).map_err(|e| Error::bpf("load", OBJ, e))?;
    fill_devmap(&mut ebpf, OBJ, abi::ROUTER_DEVMAP, devices)?;
    load(&mut ebpf, OBJ, abi::PROG_ROUTER)?;
    Ok(ebpf)
}

/// `xdp_restore_pass` (kernel NAT's entry program) and its pristine-header map.
pub fn restore_pass() -> Result<(Ebpf, Pristine)> {
    const OBJ: &str = "bench_restore.bpf.o";
    let mut ebpf = Ebpf::load(objects::BENCH_RESTORE).map_err(|e| Error::bpf("load", OBJ, e))?;
    load(&mut ebpf, OBJ, abi::PROG_RESTORE_PASS)?;
    let pristine = take_map(&mut ebpf, OBJ, abi::PRISTINE_MAP)?;
    Ok((ebpf, pristine))
}

/// `xdp_pass`: the test-run floor.
pub fn pass() -> Result<Ebpf> {
    const OBJ: &str = "passthrough.bpf.o";
    let mut ebpf = Ebpf::load(objects::PASSTHROUGH).map_err(|e| Error::bpf("load", OBJ, e))?;
    load(&mut ebpf, OBJ, abi::PROG_PASS)?;
    Ok(ebpf)
}

/// `xdp_count` dropping every IPv4 frame after counting it (`drop_ipv4`, TTL left alone):
/// the af-packet method's XDP_DROP sink on vm's eth0, where the generator's own cost is
/// measured. Returns the object (program loaded, not attached) and its counter.
pub fn drop_counter() -> Result<(Ebpf, PerCpuArray<MapData, u64>)> {
    const OBJ: &str = "count.bpf.o";
    let mut ebpf = EbpfLoader::new()
        .override_global(abi::GLOBAL_COUNT_DROP_IPV4, &1u32, true)
        .load(objects::COUNT)
        .map_err(|e| Error::bpf("load", OBJ, e))?;
    load(&mut ebpf, OBJ, abi::PROG_COUNT)?;
    let counter = take_map(&mut ebpf, OBJ, abi::RX_COUNT_MAP)?;
    Ok((ebpf, counter))
}

/// The external (DNAT) program of a fresh forwarder instance that shares the deployment's
/// pinned maps in `pin_dir` (NAT entries, devmap, counters).
pub fn forwarder_pinned(pin_dir: &Path, t: Tunables) -> Result<Ebpf> {
    forwarder_pinned_build(pin_dir, t, Build::Standard)
}

/// [`forwarder_pinned`] of another build (the one without the decision log shares every map
/// it has).
pub fn forwarder_pinned_build(pin_dir: &Path, t: Tunables, build: Build) -> Result<Ebpf> {
    let mut ebpf = fwd_object::load_build(build, t, Some(pin_dir))?;
    fwd_object::load_program(&mut ebpf, Role::External)?;
    Ok(ebpf)
}

/// A private forwarder instance (own maps, never pinned), filled like a deployment: DNAT
/// entries (and their index) plus an identity entry per target (so a frame the program already translated
/// takes the same path again), and a devmap of `devices`. Its external program is loaded.
pub fn forwarder_private(t: Tunables, entries: &[Entry], devices: &[u32]) -> Result<Ebpf> {
    forwarder_private_build(Build::Standard, t, entries, devices)
}

/// [`forwarder_private`] of another build.
pub fn forwarder_private_build(
    build: Build,
    t: Tunables,
    entries: &[Entry],
    devices: &[u32],
) -> Result<Ebpf> {
    let mut ebpf = fwd_object::load_build(build, t, None)?;
    let mut dnat_entries = Vec::new();
    {
        let mut dnat: BpfHashMap<_, Endpoint, Endpoint> =
            map_mut(&mut ebpf, fwd_object::OBJECT, abi::DNAT_MAP)?;
        for e in entries {
            let to = Endpoint::from(e.to);
            for key in [Endpoint::from(e.from), to] {
                dnat.insert(key, to, 0)
                    .map_err(|err| Error::bpf("insert", abi::DNAT_MAP, err))?;
                dnat_entries.push((key, to));
            }
        }
    }
    let table = nat_index::build(dnat_entries);
    nat_index::fill_tables(
        &mut ebpf,
        fwd_object::OBJECT,
        &[(Direction::Inbound, &table)],
    )?;
    fill_devmap(&mut ebpf, fwd_object::OBJECT, abi::DEVMAP, devices)?;
    fwd_object::load_program(&mut ebpf, Role::External)?;
    Ok(ebpf)
}

/// Stores the first [`RESTORE_LEN`] bytes of `frame` (which must be at least that long).
pub fn set_pristine(m: &mut Pristine, frame: &[u8]) -> Result<()> {
    let head: [u8; RESTORE_LEN] = frame
        .get(..RESTORE_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            Error::invalid("bench frame", format!("shorter than {RESTORE_LEN} bytes"))
        })?;
    m.set(0, head, 0)
        .map_err(|e| Error::bpf("update", abi::PRISTINE_MAP, e))
}

/// The loaded program `name` of `ebpf`.
pub fn xdp<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp> {
    ebpf.program(name)
        .ok_or_else(|| Error::bpf("find program", name, "missing from object"))?
        .try_into()
        .map_err(|e| Error::bpf("program type", name, e))
}

/// Keeps the program `name` of `ebpf` in the kernel's XDP dispatcher while the returned link
/// lives, by attaching it in generic (skb) mode to `ifindex`, the bench's idle pin device.
///
/// Why: every `BPF_PROG_TEST_RUN` call with `repeat > 1` adds its program to the XDP
/// dispatcher and removes it afterwards, and on 6.18 each change waits for an RCU-tasks grace
/// period: 10-20 ms of idle wall time per call (outside the kernel's timer). A program
/// already attached somewhere is only reference-counted, so the calls go back to back. The
/// pin device is down and has no address: nothing ever runs the attached program.
pub fn pin_in_dispatcher(ebpf: &mut Ebpf, name: &str, ifindex: u32) -> Result<XdpLink> {
    let p: &mut Xdp = program_mut(ebpf, "bench program", name)?;
    let id = p
        .attach_to_if_index(ifindex, XdpMode::Skb)
        .map_err(|e| Error::bpf("attach (skb mode, dispatcher pin)", name, e))?;
    p.take_link(id)
        .map_err(|e| Error::bpf("take link", name, e))
}

fn load(ebpf: &mut Ebpf, object: &str, name: &str) -> Result<()> {
    let p: &mut Xdp = program_mut(ebpf, object, name)?;
    p.load().map_err(|e| Error::bpf("load program", name, e))
}

/// Inserts ifindex -> ifindex for every one of `devices` into the devmap `map`.
fn fill_devmap(ebpf: &mut Ebpf, object: &str, map: &str, devices: &[u32]) -> Result<()> {
    let mut dm: DevMapHash<_> = map_mut(ebpf, object, map)?;
    for &i in devices {
        dm.insert(i, i, None, 0)
            .map_err(|e| Error::bpf("insert", format!("{map} ifindex {i}"), e))?;
    }
    Ok(())
}
