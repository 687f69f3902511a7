//! The programs under test and how one measurement of a variant runs.
//!
//! Every variant is driven by the same generator ([`super::traffic::push_live`]) with
//! `ingress_ifindex` = vm's eth0, in vm's namespace; only the program the frames are pushed
//! into differs:
//!
//! | variant           | program pushed into                       | path after it                |
//! |-------------------|-------------------------------------------|------------------------------|
//! | xdp-redirect-only | `xdp_redirect_only` -> ve-m1               | devmap, veth ring, host0     |
//! | forwarder         | `xdp_fwd_external`, maps of the lab's one  | same                         |
//! | forwarder-fib-cache | same, next-hop cache on ([`FIB_CACHE_MS`]) | same                       |
//! | forwarder+trace   | same, with every probe of `trace` attached | same                         |
//! | kernel-nat        | `xdp_restore_pass` (headers reset, PASS)   | stack: conntrack, nft DNAT, forward, ve-m1 |
//!
//! Kernel NAT cannot use the bare `xdp_pass`: the stack translates the frame in place and
//! live-frames test runs hand the same page back (see `traffic::PER_CALL` and
//! `forwarder-ebpf/bench_restore.bpf.c`). Its extra cost is reported next to `xdp_pass`.
//!
//! The forwarder is loaded fresh from the embedded object but **reuses the deployed
//! forwarder's pinned maps** (`EbpfLoader::map_pin_path`): same code, same NAT entries, same
//! devmap, same counters, so `xdpdoctor status` sees the bench's packets. (A live-frames test
//! run needs a program fd; the deployment pins links and maps, not programs.)

use std::cell::RefCell;
use std::path::Path;

use aya::maps::{Array, DevMapHash, MapData, PerCpuArray};
use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};
use serde::{Deserialize, Serialize};

use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::bpf::objects;
use crate::{Error, Result};

/// `bench_restore.bpf.c`: restore the first [`RESTORE_LEN`] bytes from a map, then XDP_PASS.
pub const PROG_RESTORE_PASS: &str = abi::PROG_RESTORE_PASS;
/// ARRAY[1] of the pristine frame head, written before each test run.
pub const PRISTINE_MAP: &str = abi::PRISTINE_MAP;
/// `BENCH_HDR_LEN`: covers Ethernet + IPv4 + TCP headers without options.
pub const RESTORE_LEN: usize = 64;

/// The next-hop cache lifetime of the forwarder-fib-cache variant (`fib_cache_ms`).
pub const FIB_CACHE_MS: u32 = 100;

/// Maps the deployed forwarder pins; the bench's forwarder instances share them.
const SHARED_MAPS: [&str; 4] = [abi::DNAT_MAP, abi::SNAT_MAP, abi::DEVMAP, abi::COUNTERS_MAP];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    #[serde(rename = "xdp-redirect-only")]
    RedirectOnly,
    Forwarder,
    ForwarderFibCache,
    #[serde(rename = "forwarder+trace")]
    ForwarderTrace,
    KernelNat,
}

impl Variant {
    pub const ALL: [Variant; 5] = [
        Variant::RedirectOnly,
        Variant::Forwarder,
        Variant::ForwarderFibCache,
        Variant::ForwarderTrace,
        Variant::KernelNat,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Variant::RedirectOnly => "xdp-redirect-only",
            Variant::Forwarder => "forwarder",
            Variant::ForwarderFibCache => "forwarder-fib-cache",
            Variant::ForwarderTrace => "forwarder+trace",
            Variant::KernelNat => "kernel-nat",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The loaded programs, owned by the vm namespace thread.
pub struct Programs {
    redirect: Ebpf,
    forwarder: Ebpf,
    /// The same object and pinned maps with `fib_cache_ns` set (its `fib_cache` is private).
    forwarder_cached: Ebpf,
    restore: Ebpf,
    pristine: RefCell<Array<MapData, [u8; RESTORE_LEN]>>,
    fwd_counters: PerCpuArray<MapData, u64>,
}

impl Programs {
    /// Loads all three objects. `target_ifindex` is ve-m1 (redirect-only's fixed target);
    /// `pin_dir` is the deployed forwarder's pin directory. Call inside vm's namespace.
    pub fn load(target_ifindex: u32, pin_dir: &Path, full_csum: bool) -> Result<Programs> {
        let mut redirect = EbpfLoader::new()
            .override_global(abi::GLOBAL_TARGET_IFINDEX, &target_ifindex, true)
            .load(objects::REDIRECT_ONLY)
            .map_err(|e| Error::bpf("load", "redirect_only.bpf.o", e))?;
        {
            let m = redirect
                .map_mut(abi::REDIRECT_DEVMAP)
                .ok_or_else(|| Error::bpf("find map", abi::REDIRECT_DEVMAP, "missing"))?;
            let mut dm: DevMapHash<_> = DevMapHash::try_from(m)
                .map_err(|e| Error::bpf("map type", abi::REDIRECT_DEVMAP, e))?;
            dm.insert(target_ifindex, target_ifindex, None, 0)
                .map_err(|e| Error::bpf("insert", abi::REDIRECT_DEVMAP, e))?;
        }
        load_prog(&mut redirect, abi::PROG_REDIRECT_ONLY)?;

        let mut forwarder = load_forwarder(pin_dir, full_csum, 0)?;
        let forwarder_cached =
            load_forwarder(pin_dir, full_csum, u64::from(FIB_CACHE_MS) * 1_000_000)?;
        let fwd_counters = PerCpuArray::try_from(
            forwarder
                .take_map(abi::COUNTERS_MAP)
                .ok_or_else(|| Error::bpf("find map", abi::COUNTERS_MAP, "missing"))?,
        )
        .map_err(|e| Error::bpf("map type", abi::COUNTERS_MAP, e))?;

        let (restore, pristine) = load_restore()?;
        Ok(Programs {
            redirect,
            forwarder,
            forwarder_cached,
            restore,
            pristine: RefCell::new(pristine),
            fwd_counters,
        })
    }

    /// What the generator must do before each call for `v`: store the frame head for
    /// `xdp_restore_pass` (kernel NAT), nothing for the others.
    pub fn before_call(&self, v: Variant) -> impl FnMut(&[u8]) -> Result<()> + '_ {
        move |frame| {
            if v == Variant::KernelNat {
                set_pristine(&mut self.pristine.borrow_mut(), frame)?;
            }
            Ok(())
        }
    }

    /// The program the generator pushes frames into for `v`.
    pub fn program(&self, v: Variant) -> Result<&Xdp> {
        match v {
            Variant::RedirectOnly => xdp(&self.redirect, abi::PROG_REDIRECT_ONLY),
            Variant::Forwarder | Variant::ForwarderTrace => {
                xdp(&self.forwarder, abi::PROG_EXTERNAL)
            }
            Variant::ForwarderFibCache => xdp(&self.forwarder_cached, abi::PROG_EXTERNAL),
            Variant::KernelNat => xdp(&self.restore, PROG_RESTORE_PASS),
        }
    }

    /// The deployed forwarder's counters (shared map), summed over CPUs.
    pub fn forwarder_counters(&self) -> Result<[u64; Counter::COUNT]> {
        read_counters(&self.fwd_counters)
    }
}

/// Loads the forwarder object with the deployment's pinned maps and `xdp_fwd_external` loaded.
/// `fib_cache_ns` 0 is the deployed default (cache off).
fn load_forwarder(pin_dir: &Path, full_csum: bool, fib_cache_ns: u64) -> Result<Ebpf> {
    // Reuse the deployment's pins. aya creates (and pins) a map whose pin is missing, so
    // check first: the bench must never add pins. `fib_cache` is not shared: never pinned.
    let mut loader = EbpfLoader::new();
    let full = u32::from(full_csum);
    loader.override_global(abi::GLOBAL_FULL_CSUM, &full, true);
    loader.override_global(abi::GLOBAL_FIB_CACHE_NS, &fib_cache_ns, true);
    let paths: Vec<_> = SHARED_MAPS.iter().map(|m| (*m, pin_dir.join(m))).collect();
    for (name, p) in &paths {
        if !p.exists() {
            return Err(Error::not_found(
                format!("pinned forwarder map {}", p.display()),
                Some("is the lab's forwarder deployed?".into()),
            ));
        }
        loader.map_pin_path(name, p.as_path());
    }
    let mut forwarder = loader
        .load(objects::FORWARDER)
        .map_err(|e| Error::bpf("load", "forwarder.bpf.o (pinned maps)", e))?;
    load_prog(&mut forwarder, abi::PROG_EXTERNAL)?;
    Ok(forwarder)
}

/// The forwarder's counters from a per-CPU `counters` map (derived from its outcome slots).
pub fn read_counters<T: std::borrow::Borrow<MapData>>(
    m: &PerCpuArray<T, u64>,
) -> Result<[u64; Counter::COUNT]> {
    crate::forwarder::maps::counters_of(m)
}

/// Loads `xdp_restore_pass` and returns its pristine-header map.
pub fn load_restore() -> Result<(Ebpf, Array<MapData, [u8; RESTORE_LEN]>)> {
    let mut restore = Ebpf::load(objects::BENCH_RESTORE)
        .map_err(|e| Error::bpf("load", "bench_restore.bpf.o", e))?;
    load_prog(&mut restore, PROG_RESTORE_PASS)?;
    let pristine = Array::try_from(
        restore
            .take_map(PRISTINE_MAP)
            .ok_or_else(|| Error::bpf("find map", PRISTINE_MAP, "missing"))?,
    )
    .map_err(|e| Error::bpf("map type", PRISTINE_MAP, e))?;
    Ok((restore, pristine))
}

/// Stores the first [`RESTORE_LEN`] bytes of `frame` (which must be at least that long).
pub fn set_pristine(m: &mut Array<MapData, [u8; RESTORE_LEN]>, frame: &[u8]) -> Result<()> {
    let head: [u8; RESTORE_LEN] = frame
        .get(..RESTORE_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            Error::invalid("bench frame", format!("shorter than {RESTORE_LEN} bytes"))
        })?;
    m.set(0, head, 0)
        .map_err(|e| Error::bpf("update", PRISTINE_MAP, e))
}

pub fn load_prog(ebpf: &mut Ebpf, name: &str) -> Result<()> {
    let p: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::bpf("find program", name, "missing from object"))?
        .try_into()
        .map_err(|e| Error::bpf("program type", name, e))?;
    p.load().map_err(|e| Error::bpf("load program", name, e))
}

pub fn xdp<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp> {
    ebpf.program(name)
        .ok_or_else(|| Error::bpf("find program", name, "missing from object"))?
        .try_into()
        .map_err(|e| Error::bpf("program type", name, e))
}

/// Whatever keeps the trace probes attached; dropping it detaches them.
pub type TraceGuard = Box<dyn std::any::Any>;

/// Attaches every probe of `trace` (system-wide: no namespace filter), or says why not.
///
/// ===== SWITCH POINT for the forwarder+trace variant (the only call site) =====
/// If `xdpdoctor::probes` is missing or stops compiling, replace the body with
/// `Err("skipped: probes module unavailable".into())`: the variant is then reported as
/// skipped with that reason, never with a number.
///
/// The ring buffer is not drained while the bench measures (trace's reader would run in
/// userspace, on the other CPU); once it is full, the probes' reserve fails fast and counts a
/// lost event, so a long measurement sees the probes' steady-state cost without the reader.
pub fn attach_trace() -> std::result::Result<TraceGuard, String> {
    crate::probes::ProbeSet::attach(&crate::probes::Filter {
        netns_inodes: vec![],
    })
    .map(|p| Box::new(p) as TraceGuard)
    .map_err(|e| format!("skipped: probes failed to attach: {e}"))
}
