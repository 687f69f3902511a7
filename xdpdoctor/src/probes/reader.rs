//! [`ProbeSet`]: attached by `attach.rs`, then what the probes report. Kept apart from
//! attaching because this is the part that runs for the whole window: polling the ring buffer
//! and decoding its records, summing the kernel's per-CPU counts and attributing them, and
//! reading the lost-event counter. It touches only the three maps it takes out of the object.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::Ebpf;

use super::attach::{self, Attached, Pending};
use super::attribute::{self, ProgOwners};
use super::decode::Names;
use super::tracefs::DropReasons;
use super::Attribution;
use super::{
    events, Aggregate, DroppedFlow, Event, EventKind, Filter, ProbeKind, ProbeOptions, ProbeStatus,
};

/// Distinct dropped flows a window keeps.
pub const MAX_FLOWS: usize = 256;
use crate::bpf::object;
use crate::bpf::probes_abi::{self as abi, XdAggKey, XdEvent};
use crate::bpf::tracing::TracingLink;
use crate::{Error, Result};

/// The attached probes and their maps. Dropping it detaches and unloads everything.
pub struct ProbeSet {
    // Field order is drop order: programs loaded by hand (fexit on a module's function)
    // first, then maps and programs go with `ebpf`.
    links: Vec<TracingLink>,
    ring: RingBuf<MapData>,
    counts: PerCpuHashMap<MapData, XdAggKey, u64>,
    lost: PerCpuArray<MapData, u64>,
    ebpf: Ebpf,
    status: Vec<ProbeStatus>,
    reasons: DropReasons,
    names: Names,
    filter: Filter,
    pending: Pending,
}

impl ProbeSet {
    /// Loads the probe object and attaches every probe the kernel allows. Fails only if the
    /// object or its maps cannot be created at all; a refused probe is a status, not an error.
    pub fn attach(filter: &Filter) -> Result<ProbeSet> {
        Self::attach_excluding(filter, &[])
    }

    /// [`Self::attach`] without the variants of these kinds (shown as refused, "excluded by
    /// the caller"): `&[ProbeKind::TpBtf]` runs the classic tracepoint fallbacks, as on a
    /// kernel without BTF.
    pub fn attach_excluding(filter: &Filter, exclude: &[ProbeKind]) -> Result<ProbeSet> {
        Self::attach_with(
            filter,
            &ProbeOptions {
                exclude: exclude.to_vec(),
                ..Default::default()
            },
        )
    }

    /// [`Self::attach`] with [`ProbeOptions`] (`attach.rs`).
    pub fn attach_with(filter: &Filter, opts: &ProbeOptions) -> Result<ProbeSet> {
        let Attached {
            mut ebpf,
            status,
            reasons,
            links,
            pending,
        } = attach::attach(filter, opts)?;
        Ok(ProbeSet {
            links,
            pending,
            ring: object::take_map(&mut ebpf, abi::OBJECT, abi::MAP_EVENTS)?,
            counts: object::take_map(&mut ebpf, abi::OBJECT, abi::MAP_COUNTS)?,
            lost: object::take_map(&mut ebpf, abi::OBJECT, abi::MAP_LOST)?,
            ebpf,
            status,
            reasons,
            // Scanned on first use (decoding events): a diagnosis only sums counts.
            names: Names::default(),
            filter: filter.clone(),
        })
    }

    /// Attaches the families that were waiting for their module, if it is loaded now; returns
    /// their new statuses (empty when nothing changed). Cheap when nothing waits; `trace`
    /// calls it about once a second.
    pub fn attach_pending(&mut self) -> Vec<ProbeStatus> {
        let changed = attach::attach_pending(&mut self.ebpf, &mut self.pending, &mut self.links);
        self.replace_status(&changed);
        changed
    }

    /// Every probe variant, active or not, with the reason in words.
    pub fn report(&self) -> Vec<ProbeStatus> {
        self.status.clone()
    }

    /// Replaces the statuses of the variants in `new` (same family and kind).
    fn replace_status(&mut self, new: &[ProbeStatus]) {
        for n in new {
            if let Some(s) = self
                .status
                .iter_mut()
                .find(|s| s.name == n.name && s.kind == n.kind)
            {
                *s = n.clone();
            }
        }
    }

    /// Waits up to `timeout` for events and returns them decoded (possibly none).
    pub fn poll_events(&mut self, timeout: Duration) -> Result<Vec<Event>> {
        let raw = self.read_raw(timeout)?;
        let unknown = raw.iter().map(|(e, _)| e).any(|e| {
            (e.netns != 0 && self.names.ifname(e.netns, e.ifindex).is_none())
                || (e.prog_id != 0 && self.names.prog(e.prog_id).is_none())
        });
        if unknown {
            self.names.refresh();
        }
        // A namespace-less record may now be attributed (by program id) to a namespace
        // outside the filter.
        Ok(raw
            .iter()
            .filter_map(|(e, p)| events::decode(e, p, &self.names, &self.reasons))
            .filter(|e| self.filter.accepts(e.netns_inode, e.target_netns_inode))
            .collect())
    }

    /// Drains the ring buffer (counts live in the kernel anyway), keeping the tuples of the
    /// packets `kfree_skb` saw dropped (at most [`MAX_FLOWS`] distinct ones; the rest are
    /// only counted in the kernel).
    pub(super) fn drain_flows(
        &mut self,
        timeout: Duration,
        flows: &mut Vec<DroppedFlow>,
    ) -> Result<usize> {
        let raw = self.read_raw(timeout)?;
        for (e, bytes) in &raw {
            if EventKind::from_abi(e.kind) != Some(EventKind::KfreeSkb) {
                continue;
            }
            let Some(tuple) = events::packet(e, bytes).and_then(|p| p.tuple()) else {
                continue;
            };
            let same = |f: &DroppedFlow| {
                f.netns_inode == e.netns
                    && f.ifindex == e.ifindex
                    && f.code == e.code
                    && f.tuple == tuple
            };
            match flows.iter().position(same) {
                Some(i) => flows[i].count += 1,
                None if flows.len() < MAX_FLOWS => flows.push(DroppedFlow {
                    netns_inode: e.netns,
                    ifindex: e.ifindex,
                    code: e.code,
                    code_name: events::code_name(EventKind::KfreeSkb, e.code, &self.reasons),
                    tuple,
                    count: 1,
                }),
                None => {}
            }
        }
        Ok(raw.len())
    }

    /// Records as (event, the packet bytes that followed it).
    fn read_raw(&mut self, timeout: Duration) -> Result<Vec<(XdEvent, Vec<u8>)>> {
        let mut out = Vec::new();
        self.drain_into(&mut out);
        if out.is_empty() {
            let mut pfd = libc::pollfd {
                fd: self.ring.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::Sys {
                        op: "poll",
                        target: "probe ring buffer".into(),
                        source: e,
                    });
                }
            }
            self.drain_into(&mut out);
        }
        out.retain(|(e, _)| self.filter.accepts(e.netns, e.target_netns));
        Ok(out)
    }

    fn drain_into(&mut self, out: &mut Vec<(XdEvent, Vec<u8>)>) {
        while let Some(item) = self.ring.next() {
            if let Some(e) = XdEvent::from_bytes(&item) {
                let packet = e.packet_bytes(&item).to_vec();
                out.push((e, packet));
            }
        }
    }

    /// The kernel's counts, summed over CPUs, largest first. Counts without a namespace
    /// (classic xdp tracepoints) are attributed by program id to the namespace whose deployed
    /// forwarder owns the program, or returned as [`Attribution::Unattributed`] with
    /// namespace 0; see [`attribute`].
    pub fn aggregates(&self) -> Result<Vec<Aggregate>> {
        let mut v = Vec::new();
        for r in self.counts.iter() {
            let (k, per_cpu) = r.map_err(|e| Error::bpf("iterate", abi::MAP_COUNTS, e))?;
            let Some(kind) = EventKind::from_abi(k.kind) else {
                continue;
            };
            v.push(Aggregate {
                netns_inode: k.netns,
                ifindex: k.ifindex,
                kind,
                code: k.code,
                code_name: events::code_name(kind, k.code, &self.reasons),
                target_ifindex: k.target_ifindex,
                target_netns_inode: k.target_netns,
                prog_id: k.prog_id,
                attribution: if k.netns == 0 {
                    Attribution::Unattributed
                } else {
                    Attribution::Device
                },
                count: per_cpu.iter().sum(),
            });
        }
        // Attachments are read now, not at attach: a program may have been (re)attached
        // during the window.
        let owners = if v.iter().any(|a| a.netns_inode == 0 && a.prog_id != 0) {
            let wanted = |ino: u64| {
                self.filter.netns_inodes.is_empty() || self.filter.netns_inodes.contains(&ino)
            };
            let namespaces: Vec<(u64, crate::netns::Netns)> = crate::netns::all()
                .into_iter()
                .filter(|n| wanted(n.inode))
                .map(|n| (n.inode, n.netns))
                .collect();
            ProgOwners::scan(&namespaces)
        } else {
            ProgOwners::default()
        };
        Ok(attribute::aggregates(v, &owners, &self.filter))
    }

    /// Events the ring buffer had no room for (their counts are in [`Self::aggregates`]).
    pub fn lost(&self) -> u64 {
        match self.lost.get(&0, 0) {
            Ok(v) => v.iter().sum(),
            Err(e) => {
                log::warn!("reading the lost-event counter: {e}");
                0
            }
        }
    }

    /// The names used to decode events (namespaces, interfaces, forwarder programs).
    pub fn names(&mut self) -> &mut Names {
        &mut self.names
    }

    /// Drop-reason names of this kernel (from the kfree_skb format file).
    pub fn drop_reasons(&self) -> &DropReasons {
        &self.reasons
    }

    /// Number of probe programs attached now.
    pub fn active_count(&self) -> usize {
        let _ = &self.ebpf;
        self.status.iter().filter(|s| s.active).count()
    }
}

impl AsFd for ProbeSet {
    /// The events ring's fd: readable when events wait (for a caller that waits on it together
    /// with other fds, then calls [`ProbeSet::poll_events`] with a zero timeout).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}
