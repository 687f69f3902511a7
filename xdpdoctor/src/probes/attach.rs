//! Loading and attaching: every variant of every family is tried in preference order until
//! one attaches; each refusal is kept as a [`ProbeStatus`] in plain words. One object, many
//! programs, each loaded on its own (`Program::load`), so one refusal does not sink the rest.

use std::os::fd::AsRawFd;
use std::time::Duration;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::{BtfTracePoint, FExit, KProbe, ProgramError, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use super::attribute::{self, Attribution, ProgOwners};
use super::decode::Names;
use super::tracefs::{self, DropReasons};
use super::{events, skb, Aggregate, Event, Filter, ProbeKind, ProbeStatus, Variant};
use crate::bpf::objects;
use crate::bpf::probes_abi::{self as abi, XdAggKey, XdEvent};
use crate::{Error, Result};

/// The attached probes and their maps. Dropping it detaches and unloads everything.
pub struct ProbeSet {
    // Field order is drop order: maps and programs go with `ebpf`.
    ring: RingBuf<MapData>,
    counts: PerCpuHashMap<MapData, XdAggKey, u64>,
    lost: PerCpuArray<MapData, u64>,
    ebpf: Ebpf,
    status: Vec<ProbeStatus>,
    reasons: DropReasons,
    names: Names,
    filter: Filter,
}

/// What the variant checks need to know about the machine.
struct Env {
    tracefs: std::result::Result<(), String>,
    btf: std::result::Result<Btf, String>,
    reasons: std::result::Result<DropReasons, String>,
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
        let env = Env {
            tracefs: tracefs::ensure_mounted().map_err(|e| format!("{e:#}")),
            btf: Btf::from_sys_fs().map_err(|e| format!("/sys/kernel/btf/vmlinux: {e}")),
            reasons: DropReasons::read().map_err(|e| format!("{e:#}")),
        };
        let reasons = env.reasons.clone().unwrap_or_default();
        let mask = skb::reason_mask(&reasons, skb::DEFAULT_DROP_REASONS);
        // Past the kernel filter's capacity, keep everything in the kernel: callers filter
        // aggregates by namespace themselves (diagnose does), so nothing is misattributed.
        let fits = filter.netns_inodes.len() <= abi::MAX_FILTER_NETNS;
        if !fits {
            log::info!(
                "{} namespaces exceed the in-kernel filter ({}); filtering in user space",
                filter.netns_inodes.len(),
                abi::MAX_FILTER_NETNS
            );
        }
        let filter_on = u32::from(!filter.netns_inodes.is_empty() && fits);
        let reason_offset = reasons.reason_offset.unwrap_or(0);

        let mut ebpf = EbpfLoader::new()
            .override_global(abi::GLOBAL_FILTER_NETNS, &filter_on, true)
            .override_global(abi::GLOBAL_DROP_REASON_MASK, &mask, true)
            .override_global(abi::GLOBAL_KFREE_REASON_OFFSET, &reason_offset, true)
            .load(objects::TRACE)
            .map_err(|e| Error::bpf("load", "trace.bpf.o", e))?;

        if filter_on != 0 {
            let mut m: BpfHashMap<_, u64, u8> = BpfHashMap::try_from(
                ebpf.map_mut(abi::MAP_NETNS_FILTER)
                    .ok_or_else(|| missing(abi::MAP_NETNS_FILTER))?,
            )
            .map_err(|e| Error::bpf("open map", abi::MAP_NETNS_FILTER, e))?;
            for ino in &filter.netns_inodes {
                m.insert(ino, 1, 0)
                    .map_err(|e| Error::bpf("insert", abi::MAP_NETNS_FILTER, e))?;
            }
        }

        let mut status = Vec::new();
        for fam in super::families() {
            let mut active: Option<ProbeKind> = None;
            for v in fam.variants {
                let st = if let Some(k) = active {
                    ProbeStatus {
                        name: fam.name.into(),
                        kind: v.kind,
                        active: false,
                        reason: Some(format!(
                            "fallback, not needed: the {} probe is active",
                            k.as_str()
                        )),
                    }
                } else {
                    let r = if exclude.contains(&v.kind) {
                        Err("excluded by the caller".to_string())
                    } else {
                        try_variant(&mut ebpf, v, &env)
                    };
                    match &r {
                        Ok(()) => {
                            active = Some(v.kind);
                            log::info!("probe {} ({}) attached", fam.name, v.kind.as_str());
                        }
                        Err(why) => {
                            log::info!("probe {} ({}): {why}", fam.name, v.kind.as_str());
                        }
                    }
                    ProbeStatus {
                        name: fam.name.into(),
                        kind: v.kind,
                        active: r.is_ok(),
                        reason: r.err(),
                    }
                };
                status.push(st);
            }
        }

        let ring = RingBuf::try_from(
            ebpf.take_map(abi::MAP_EVENTS)
                .ok_or_else(|| missing(abi::MAP_EVENTS))?,
        )
        .map_err(|e| Error::bpf("open map", abi::MAP_EVENTS, e))?;
        let counts = PerCpuHashMap::try_from(
            ebpf.take_map(abi::MAP_COUNTS)
                .ok_or_else(|| missing(abi::MAP_COUNTS))?,
        )
        .map_err(|e| Error::bpf("open map", abi::MAP_COUNTS, e))?;
        let lost = PerCpuArray::try_from(
            ebpf.take_map(abi::MAP_LOST)
                .ok_or_else(|| missing(abi::MAP_LOST))?,
        )
        .map_err(|e| Error::bpf("open map", abi::MAP_LOST, e))?;

        Ok(ProbeSet {
            ring,
            counts,
            lost,
            ebpf,
            status,
            reasons,
            names: Names::scan(),
            filter: filter.clone(),
        })
    }

    /// Every probe variant, active or not, with the reason in words.
    pub fn report(&self) -> Vec<ProbeStatus> {
        self.status.clone()
    }

    /// Waits up to `timeout` for events and returns them decoded (possibly none).
    pub fn poll_events(&mut self, timeout: Duration) -> Result<Vec<Event>> {
        let raw = self.read_raw(timeout)?;
        let unknown = raw.iter().any(|e| {
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
            .filter_map(|e| events::decode(e, &self.names, &self.reasons))
            .filter(|e| self.filter.accepts(e.netns_inode, e.target_netns_inode))
            .collect())
    }

    /// Drains the ring buffer without decoding (counts live in the kernel anyway).
    pub(super) fn drain_raw(&mut self, timeout: Duration) -> Result<usize> {
        self.read_raw(timeout).map(|v| v.len())
    }

    fn read_raw(&mut self, timeout: Duration) -> Result<Vec<XdEvent>> {
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
        out.retain(|e| self.filter.accepts(e.netns, e.target_netns));
        Ok(out)
    }

    fn drain_into(&mut self, out: &mut Vec<XdEvent>) {
        while let Some(item) = self.ring.next() {
            if let Some(e) = XdEvent::from_bytes(&item) {
                out.push(e);
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
            let Some(kind) = super::EventKind::from_abi(k.kind) else {
                continue;
            };
            v.push(Aggregate {
                netns_inode: k.netns,
                ifindex: k.ifindex,
                kind,
                code: k.code,
                code_name: events::code_name(kind, k.code, &self.reasons),
                target_ifindex: k.target_ifindex,
                prog_id: k.prog_id,
                attribution: if k.netns == 0 {
                    Attribution::Unattributed
                } else {
                    Attribution::Device
                },
                count: per_cpu.iter().sum(),
            });
        }
        // Deployments are read now, not at attach: a forwarder may have been (re)deployed
        // during the window.
        let owners = if v.iter().any(|a| a.netns_inode == 0 && a.prog_id != 0) {
            let mut inodes: Vec<u64> = self.names.namespaces().iter().map(|n| n.0).collect();
            inodes.extend(&self.filter.netns_inodes);
            inodes.sort_unstable();
            inodes.dedup();
            ProgOwners::load(inodes)
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

fn missing(map: &str) -> Error {
    Error::not_found(format!("map {map} in trace.bpf.o"), None)
}

/// Loads and attaches one variant; on failure returns the reason in words and leaves nothing
/// loaded.
fn try_variant(ebpf: &mut Ebpf, v: &Variant, env: &Env) -> std::result::Result<(), String> {
    let is_tp = matches!(v.kind, ProbeKind::TpBtf | ProbeKind::Tracepoint);
    if is_tp {
        if let Err(e) = &env.tracefs {
            return Err(format!("tracefs unavailable ({e})"));
        }
        if !tracefs::tracepoint_exists(v.category, v.target) {
            return Err("tracepoint absent on this kernel".into());
        }
    }
    if v.category == "skb" && v.target == "kfree_skb" {
        match &env.reasons {
            Err(e) => return Err(format!("drop reason names unavailable ({e})")),
            Ok(r) if v.kind == ProbeKind::Tracepoint && r.reason_offset.is_none() => {
                return Err("no `reason` field in the tracepoint's format".into())
            }
            Ok(_) => {}
        }
    }
    let btf = || env.btf.as_ref().map_err(|e| format!("BTF missing ({e})"));
    if v.kind == ProbeKind::Kretprobe {
        for name in std::iter::once(v.program).chain(v.entry) {
            if ebpf.program(name).is_none() {
                return Err(format!("program {name} missing from trace.bpf.o"));
            }
        }
        return attach_kprobe_pair(ebpf, v).map_err(|(e, stage)| refusal(v, stage, &e));
    }
    let prog = ebpf
        .program_mut(v.program)
        .ok_or_else(|| format!("program {} missing from trace.bpf.o", v.program))?;
    let res: std::result::Result<(), (ProgramError, &str)> = match v.kind {
        ProbeKind::TpBtf => {
            let btf = btf()?;
            let p: &mut BtfTracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
            p.load(v.target, btf)
                .map_err(|e| (e, "load"))
                .and_then(|_| p.attach().map(drop).map_err(|e| (e, "attach")))
                .inspect_err(|_| {
                    let _ = p.unload();
                })
        }
        ProbeKind::Tracepoint => {
            let p: &mut TracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
            p.load()
                .map_err(|e| (e, "load"))
                .and_then(|_| {
                    p.attach(v.category, v.target)
                        .map(drop)
                        .map_err(|e| (e, "attach"))
                })
                .inspect_err(|_| {
                    let _ = p.unload();
                })
        }
        ProbeKind::Fexit => {
            let btf = btf()?;
            let p: &mut FExit = prog.try_into().map_err(|e| format!("{e}"))?;
            p.load(v.target, btf)
                .map_err(|e| (e, "load"))
                .and_then(|_| p.attach().map(drop).map_err(|e| (e, "attach")))
                .inspect_err(|_| {
                    let _ = p.unload();
                })
        }
        ProbeKind::Kretprobe => unreachable!("handled above"),
    };
    res.map_err(|(e, stage)| refusal(v, stage, &e))
}

/// A kretprobe variant: its kretprobe (`program`) and, if it has one, the kprobe at the
/// function's entry (`entry`) that keeps the arguments for it. Both are loaded (verified)
/// first, then attached, the kretprobe first so the entry probe never fills the map with
/// calls nobody reads back. Both attach or neither: on failure everything this loaded is
/// unloaded (which detaches it).
fn attach_kprobe_pair(
    ebpf: &mut Ebpf,
    v: &Variant,
) -> std::result::Result<(), (ProgramError, &'static str)> {
    let names: Vec<&'static str> = std::iter::once(v.program).chain(v.entry).collect();
    let mut loaded: Vec<&'static str> = Vec::new();
    let mut step = |ebpf: &mut Ebpf, name: &'static str, attach: bool| {
        let prog = ebpf
            .program_mut(name)
            .ok_or((ProgramError::NotLoaded, "load"))?;
        let p: &mut KProbe = prog.try_into().map_err(|e| (e, "load"))?;
        if attach {
            p.attach(v.target, 0).map(drop).map_err(|e| (e, "attach"))
        } else {
            p.load().map_err(|e| (e, "load"))?;
            loaded.push(name);
            Ok(())
        }
    };
    let res = names
        .iter()
        .try_for_each(|n| step(ebpf, n, false))
        .and_then(|_| names.iter().try_for_each(|n| step(ebpf, n, true)));
    if res.is_err() {
        for name in loaded {
            if let Some(prog) = ebpf.program_mut(name) {
                let p: std::result::Result<&mut KProbe, _> = prog.try_into();
                if let Ok(p) = p {
                    let _ = p.unload();
                }
            }
        }
    }
    res
}

/// A refusal in plain words, from the variant kind and the errno behind the error.
fn refusal(v: &Variant, stage: &str, e: &ProgramError) -> String {
    log::debug!(
        "{} ({}): {stage}: {}",
        v.target,
        v.kind.as_str(),
        crate::error::chain(e)
    );
    let errno = os_errno(e);
    if let (ProgramError::LoadError { io_error, .. }, Some(n)) = (e, errno) {
        if n == libc::EACCES || n == libc::EINVAL {
            return format!(
                "the verifier rejected the program ({}: {io_error}; -vv shows its log)",
                super::decode::errno_name(n)
            );
        }
    }
    match (v.kind, errno) {
        (ProbeKind::Fexit, Some(libc::EPERM)) => {
            "fentry/fexit refused by the kernel (EPERM)".into()
        }
        (ProbeKind::Kretprobe, _) if !tracefs::kprobes_configured() => {
            "kprobes not configured (CONFIG_KPROBES off)".into()
        }
        (ProbeKind::Fexit | ProbeKind::TpBtf, None) if stage == "load" => {
            format!(
                "{} not found in the kernel's BTF ({})",
                v.target,
                crate::error::chain(e)
            )
        }
        (_, Some(n)) => format!(
            "{stage} refused by the kernel ({}): {}",
            super::decode::errno_name(n),
            crate::error::chain(e)
        ),
        (_, None) => format!("{stage} failed: {}", crate::error::chain(e)),
    }
}

fn os_errno(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
        }
        cur = err.source();
    }
    None
}
