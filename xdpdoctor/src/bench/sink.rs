//! The delivery counter: `xdp_count` attached to the container's `host0`.
//!
//! Counting at the far end, not at the sender, is what makes variants comparable: a frame
//! counts once it reached the container's XDP hook, whatever dropped the others (veth ring
//! full, stack drops, a wrong verdict). Attaching an XDP program to host0 also gives the veth
//! peer an XDP receive queue, which makes XDP redirects into ve-m1 valid (KERNEL-NOTES).
//! The counter drops the IPv4 frames it counted (`drop_ipv4`): the delivery point is the
//! container's XDP hook, and nothing behind it (skb allocation, GRO, the container's TCP
//! stack answering SYNs) adds a cost that would be the same for every variant and hide their
//! differences. ARP still passes. Before dropping, it writes the generator's TTL back
//! (`restore_ttl`): the page goes back to the generator and, recycled, must not arrive one
//! hop older (the forwarder and the router peer decrement TTL). The attachment is a bpf_link held in memory: dropping the
//! [`Sink`] (or the process dying) detaches it. The bench keeps two ([`Sinks`]): on m1's
//! host0 for the routed variants, on b1's eth0 (a bridge port's peer) for the bridged ones.

use aya::maps::{MapData, PerCpuArray};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};

use crate::bpf::forwarder_abi as abi;
use crate::bpf::objects;
use crate::netns::Netns;
use crate::{Error, Result};

/// The attached counter.
pub struct Sink {
    /// Keeps the program and its link alive.
    ebpf: Ebpf,
    rx_count: PerCpuArray<MapData, u64>,
    /// Where it is attached.
    pub ifname: String,
    /// In which namespace.
    pub netns: String,
}

impl Sink {
    /// Loads `xdp_count` and attaches it (driver mode) to `ifname` in `ns`; IPv4 frames get
    /// TTL `restore_ttl` back and are dropped after counting.
    pub fn attach(ns: &Netns, ifname: &str, restore_ttl: u8) -> Result<Sink> {
        let ifname = ifname.to_string();
        let ns_name = ns.name.clone();
        ns.run(move || {
            let mut ebpf = EbpfLoader::new()
                .override_global(abi::GLOBAL_COUNT_DROP_IPV4, &1u32, true)
                .override_global(abi::GLOBAL_COUNT_RESTORE_TTL, &restore_ttl, true)
                .load(objects::COUNT)
                .map_err(|e| Error::bpf("load", "count.bpf.o", e))?;
            let prog: &mut Xdp = ebpf
                .program_mut(abi::PROG_COUNT)
                .ok_or_else(|| Error::bpf("find program", abi::PROG_COUNT, "missing"))?
                .try_into()
                .map_err(|e| Error::bpf("program type", abi::PROG_COUNT, e))?;
            prog.load()
                .map_err(|e| Error::bpf("load program", abi::PROG_COUNT, e))?;
            prog.attach(&ifname, XdpMode::Driver).map_err(|e| {
                Error::bpf(
                    "attach",
                    format!("{} to {ifname} in {ns_name}", abi::PROG_COUNT),
                    e,
                )
            })?;
            let map = ebpf
                .take_map(abi::RX_COUNT_MAP)
                .ok_or_else(|| Error::bpf("find map", abi::RX_COUNT_MAP, "missing"))?;
            let rx_count = PerCpuArray::try_from(map)
                .map_err(|e| Error::bpf("map type", abi::RX_COUNT_MAP, e))?;
            Ok(Sink {
                ebpf,
                rx_count,
                ifname,
                netns: ns_name,
            })
        })
    }

    /// Frames counted so far (sum over CPUs).
    pub fn delivered(&self) -> Result<u64> {
        let v = self
            .rx_count
            .get(&0, 0)
            .map_err(|e| Error::bpf("read", abi::RX_COUNT_MAP, e))?;
        Ok(v.iter().sum())
    }

    /// The counter program's runtime statistics so far (`run_time_ns`, `run_cnt`; they move
    /// only while BPF runtime statistics are on).
    pub fn run_stats(&self) -> Result<(u64, u64)> {
        let prog: &Xdp = self
            .ebpf
            .program(abi::PROG_COUNT)
            .ok_or_else(|| Error::bpf("find program", abi::PROG_COUNT, "missing"))?
            .try_into()
            .map_err(|e| Error::bpf("program type", abi::PROG_COUNT, e))?;
        let info = prog
            .info()
            .map_err(|e| Error::bpf("program info", abi::PROG_COUNT, e))?;
        Ok((info.run_time().as_nanos() as u64, info.run_count()))
    }
}

/// The delivery counters of the bench's lab: one per container that receives frames.
pub struct Sinks {
    /// On m1's host0 (the routed variants).
    pub routed: Sink,
    /// On b1's eth0, behind vm's bridge (the bridged variants).
    pub bridged: Sink,
}

impl Sinks {
    /// The counter `v`'s frames are delivered to.
    pub fn of(&self, v: super::variants::Variant) -> &Sink {
        if v.is_bridged() {
            &self.bridged
        } else {
            &self.routed
        }
    }
}
