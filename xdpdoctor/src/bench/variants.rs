//! The variants measured side by side, and the programs their frames are pushed into.
//!
//! Every variant is driven by the same generator ([`super::traffic::push_live`]) with
//! `ingress_ifindex` = vm's eth0, in vm's namespace; only the program (and, for the router
//! peer, the destination of the frames) differs:
//!
//! | variant             | program pushed into                          | path after it                |
//! |---------------------|----------------------------------------------|------------------------------|
//! | xdp-redirect-only   | `xdp_redirect_only` -> ve-m1                  | devmap, veth ring, host0     |
//! | router-peer         | `xdp_router` (xdp_fwd's logic, no NAT); frames to the container | same          |
//! | forwarder           | `xdp_fwd_external`, maps of the lab's one     | same                         |
//! | forwarder-fib-cache | same, next-hop cache on ([`FIB_CACHE_MS`])    | same                         |
//! | forwarder+trace     | same as forwarder, every probe of `trace` attached | same                    |
//! | forwarder-nolog     | `xdp_fwd_external` of `forwarder_nolog.bpf.o` (decision log compiled out), same maps | same |
//! | forwarder+log       | same as forwarder, decision log on at the default rate, read by a thread ([`super::decision_log`]) | same |
//! | kernel-nat          | `xdp_restore_pass` (headers reset, PASS)      | stack: conntrack, nft DNAT, forward, ve-m1 |
//! | forwarder-bridged   | as forwarder; frames to the bridged container's public endpoint | the FIB answers the bridge: redirect to its port vb-b1, veth ring, b1's eth0 |
//! | kernel-nat-bridged  | as kernel-nat, same frames as forwarder-bridged | stack: conntrack, nft DNAT, forward, bridge xdb-br, vb-b1, b1's eth0 |
//!
//! Kernel NAT cannot use the bare `xdp_pass`: the stack translates the frame in place and
//! live-frames test runs hand the same page back (see `traffic::PER_CALL` and
//! `forwarder-ebpf/bench_restore.bpf.c`). Its extra cost is reported next to `xdp_pass`.
//!
//! The forwarder is loaded fresh by `forwarder::object` but **reuses the deployed forwarder's
//! pinned maps**: same code, same NAT entries, same devmap, same counters, so `xdpdoctor
//! status` sees the bench's packets. (A live-frames test run needs a program fd; the
//! deployment pins links and maps, not programs.)

use std::cell::RefCell;
use std::path::Path;

use aya::maps::{MapData, PerCpuArray};
use aya::programs::xdp::XdpLink;
use aya::programs::Xdp;
use aya::Ebpf;
use serde::{Deserialize, Serialize};

use super::programs::{self, Pristine};
use super::traffic::Dest;
use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::bpf::object::take_map;
use crate::forwarder::maps::counters_of;
use crate::forwarder::object::{Build, Tunables, OBJECT};
use crate::Result;

/// The next-hop cache lifetime of the forwarder-fib-cache variant (`fib_cache_ms`).
pub const FIB_CACHE_MS: u32 = 100;

/// One program (and path) the bench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Redirect every frame to ve-m1, unparsed: the XDP redirect limit.
    #[serde(rename = "xdp-redirect-only")]
    RedirectOnly,
    /// A plain XDP router (samples/bpf/xdp_fwd's logic, no NAT): the forwarder's peer.
    RouterPeer,
    /// The deployed forwarder's code and maps.
    Forwarder,
    /// The same with the next-hop cache on.
    ForwarderFibCache,
    /// The forwarder with every probe of `trace` attached.
    #[serde(rename = "forwarder+trace")]
    ForwarderTrace,
    /// The forwarder built without its decision log (`-DXD_NO_DECISION_LOG`).
    ForwarderNolog,
    /// The forwarder with its decision log on (rate-limited), records read as they come.
    #[serde(rename = "forwarder+log")]
    ForwarderLog,
    /// XDP_PASS into the stack: conntrack and nftables NAT, `ip_forward`.
    KernelNat,
    /// The forwarder into a container behind a bridge: redirect to the bridge port.
    ForwarderBridged,
    /// Kernel NAT into the same container: DNAT, forward through the bridge (what Docker's
    /// published ports do).
    KernelNatBridged,
}

impl Variant {
    /// Every variant, in measuring order within a round.
    pub const ALL: [Variant; 10] = [
        Variant::RedirectOnly,
        Variant::RouterPeer,
        Variant::Forwarder,
        Variant::ForwarderNolog,
        Variant::ForwarderLog,
        Variant::ForwarderFibCache,
        Variant::ForwarderTrace,
        Variant::KernelNat,
        Variant::ForwarderBridged,
        Variant::KernelNatBridged,
    ];

    /// The name in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Variant::RedirectOnly => "xdp-redirect-only",
            Variant::RouterPeer => "router-peer",
            Variant::Forwarder => "forwarder",
            Variant::ForwarderFibCache => "forwarder-fib-cache",
            Variant::ForwarderTrace => "forwarder+trace",
            Variant::ForwarderNolog => "forwarder-nolog",
            Variant::ForwarderLog => "forwarder+log",
            Variant::KernelNat => "kernel-nat",
            Variant::ForwarderBridged => "forwarder-bridged",
            Variant::KernelNatBridged => "kernel-nat-bridged",
        }
    }

    /// Where this variant's frames are addressed: the router has no NAT, so it gets what a
    /// router forwards to the container; every other variant gets the public endpoint.
    pub const fn dest(self) -> Dest {
        match self {
            Variant::RouterPeer => Dest::Target,
            Variant::ForwarderBridged | Variant::KernelNatBridged => Dest::Bridged,
            _ => Dest::Service,
        }
    }

    /// True for the variants whose frames go to the bridged container.
    pub const fn is_bridged(self) -> bool {
        matches!(self, Variant::ForwarderBridged | Variant::KernelNatBridged)
    }

    /// True for the variants that pass the frames to vm's stack (kernel NAT).
    pub const fn is_kernel_nat(self) -> bool {
        matches!(self, Variant::KernelNat | Variant::KernelNatBridged)
    }

    /// True for the variants that run the forwarder's code (its counters move).
    pub const fn is_forwarder(self) -> bool {
        matches!(
            self,
            Variant::Forwarder
                | Variant::ForwarderFibCache
                | Variant::ForwarderTrace
                | Variant::ForwarderNolog
                | Variant::ForwarderLog
                | Variant::ForwarderBridged
        )
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The loaded programs of the live variants, owned by the vm namespace thread.
pub struct Programs {
    redirect: Ebpf,
    router: Ebpf,
    forwarder: Ebpf,
    /// The build without the decision log, on the same pinned maps.
    forwarder_nolog: Ebpf,
    /// Where forwarder+log's reader finds the log (the deployment's pins, `forwarder`'s id).
    log: super::decision_log::LogTarget,
    /// The same object and pinned maps with `fib_cache_ns` set (its `fib_cache` is private).
    forwarder_cached: Ebpf,
    restore: Ebpf,
    pristine: RefCell<Pristine>,
    fwd_counters: PerCpuArray<MapData, u64>,
}

impl Programs {
    /// Loads every variant's program. `target_ifindex` is ve-m1 (redirect-only's fixed
    /// target), `devices` every ifindex of vm (the router's devmap), `pin_dir` the deployed
    /// forwarder's pin directory and `t` its tunables. Call inside vm's namespace.
    pub fn load(
        target_ifindex: u32,
        devices: &[u32],
        pin_dir: &Path,
        netns_inode: u64,
        t: Tunables,
    ) -> Result<Programs> {
        let cached = Tunables {
            fib_cache_ns: u64::from(FIB_CACHE_MS) * 1_000_000,
            ..t
        };
        let uncached = Tunables {
            fib_cache_ns: 0,
            ..t
        };
        let mut forwarder = programs::forwarder_pinned(pin_dir, uncached)?;
        // The shared (pinned) counters, read through this instance's handle.
        let fwd_counters = take_map(&mut forwarder, OBJECT, abi::COUNTERS_MAP)?;
        let (restore, pristine) = programs::restore_pass()?;
        let log = super::decision_log::LogTarget {
            netns_inode,
            pin_dir: pin_dir.to_path_buf(),
            prog_id: programs::xdp(&forwarder, abi::PROG_EXTERNAL)?
                .info()
                .map_err(|e| crate::Error::bpf("program info", abi::PROG_EXTERNAL, e))?
                .id(),
        };
        Ok(Programs {
            redirect: programs::redirect_only(target_ifindex)?,
            router: programs::router_peer(devices)?,
            forwarder_nolog: programs::forwarder_pinned_build(
                pin_dir,
                uncached,
                Build::NoDecisionLog,
            )?,
            log,
            forwarder,
            forwarder_cached: programs::forwarder_pinned(pin_dir, cached)?,
            restore,
            pristine: RefCell::new(pristine),
            fwd_counters,
        })
    }

    /// What the generator must do before each call for `v`: store the frame head for
    /// `xdp_restore_pass` (kernel NAT), nothing for the others.
    pub fn before_call(&self, v: Variant) -> impl FnMut(&[u8]) -> Result<()> + '_ {
        move |frame| {
            if v.is_kernel_nat() {
                programs::set_pristine(&mut self.pristine.borrow_mut(), frame)?;
            }
            Ok(())
        }
    }

    /// The program the generator pushes frames into for `v`.
    pub fn program(&self, v: Variant) -> Result<&Xdp> {
        match v {
            Variant::RedirectOnly => programs::xdp(&self.redirect, abi::PROG_REDIRECT_ONLY),
            Variant::RouterPeer => programs::xdp(&self.router, abi::PROG_ROUTER),
            Variant::Forwarder
            | Variant::ForwarderTrace
            | Variant::ForwarderLog
            | Variant::ForwarderBridged => programs::xdp(&self.forwarder, abi::PROG_EXTERNAL),
            Variant::ForwarderNolog => programs::xdp(&self.forwarder_nolog, abi::PROG_EXTERNAL),
            Variant::ForwarderFibCache => programs::xdp(&self.forwarder_cached, abi::PROG_EXTERNAL),
            Variant::KernelNat | Variant::KernelNatBridged => {
                programs::xdp(&self.restore, abi::PROG_RESTORE_PASS)
            }
        }
    }

    /// Keeps `v`'s program in the XDP dispatcher while the link lives
    /// ([`programs::pin_in_dispatcher`]).
    pub fn pin(&mut self, v: Variant, pin_ifindex: u32) -> Result<XdpLink> {
        let (ebpf, name) = match v {
            Variant::RedirectOnly => (&mut self.redirect, abi::PROG_REDIRECT_ONLY),
            Variant::RouterPeer => (&mut self.router, abi::PROG_ROUTER),
            Variant::Forwarder
            | Variant::ForwarderTrace
            | Variant::ForwarderLog
            | Variant::ForwarderBridged => (&mut self.forwarder, abi::PROG_EXTERNAL),
            Variant::ForwarderNolog => (&mut self.forwarder_nolog, abi::PROG_EXTERNAL),
            Variant::ForwarderFibCache => (&mut self.forwarder_cached, abi::PROG_EXTERNAL),
            Variant::KernelNat | Variant::KernelNatBridged => {
                (&mut self.restore, abi::PROG_RESTORE_PASS)
            }
        };
        programs::pin_in_dispatcher(ebpf, name, pin_ifindex)
    }

    /// Where the forwarder+log variant's reader finds the decision log.
    pub fn log_target(&self) -> &super::decision_log::LogTarget {
        &self.log
    }

    /// The deployed forwarder's counters (shared map), summed over CPUs.
    pub fn forwarder_counters(&self) -> Result<[u64; Counter::COUNT]> {
        counters_of(&self.fwd_counters)
    }
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
