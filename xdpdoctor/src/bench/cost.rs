//! The forwarder program's own cost: non-live `BPF_PROG_TEST_RUN` with `repeat` = N, the
//! kernel's duration / N, next to a bare XDP_PASS program (the harness floor) and
//! redirect-only. Nothing is transmitted in this mode; verdicts are returned, not executed.
//!
//! The forwarder here is a private instance (own maps, never pinned) filled like a
//! deployment. Non-live repeats run on the *same* buffer, so after the first run the frame is
//! already translated: an identity DNAT entry per target keeps every repeat on the full path
//! (lookup hit, `bpf_fib_lookup` SUCCESS, rewrite, redirect), checked with the counters.

use aya::maps::{DevMapHash, HashMap as BpfHashMap, PerCpuArray};
use aya::{Ebpf, EbpfLoader};
use serde::Serialize;

use super::traffic::FlowSet;
use super::variants::{
    load_prog, load_restore, read_counters, set_pristine, xdp, PROG_RESTORE_PASS,
};
use crate::bpf::forwarder_abi::{self as abi, Counter, Endpoint};
use crate::bpf::objects;
use crate::bpf::test_run::run_xdp;
use crate::forwarder::Entry;
use crate::{cancel, Error, Result};

const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
/// Samples per figure; the median is reported.
const SAMPLES: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    pub frame_size: usize,
    /// `xdp_pass`: the test-run floor (context setup, program call).
    pub xdp_pass_ns: f64,
    /// `xdp_restore_pass`, the kernel-NAT variant's entry program: its excess over
    /// `xdp_pass` is the generator's extra cost in that variant.
    pub restore_pass_ns: f64,
    pub redirect_only_ns: f64,
    pub forwarder_ns: f64,
    /// forwarder - xdp_pass: what parsing, lookups, fib and rewrite add per packet.
    pub forwarder_own_ns: f64,
}

/// Measures in the current thread's namespace (vm's): `ingress` is eth0, `target` ve-m1,
/// `devices` every ifindex for the forwarder's devmap.
pub fn measure(
    ingress: u32,
    target: u32,
    devices: &[u32],
    entries: &[Entry],
    full_csum: bool,
    flows: &[FlowSet],
    repeat: u32,
) -> Result<Vec<CostRow>> {
    let mut pass =
        Ebpf::load(objects::PASSTHROUGH).map_err(|e| Error::bpf("load", "passthrough.bpf.o", e))?;
    load_prog(&mut pass, abi::PROG_PASS)?;

    let (restore, mut pristine) = load_restore()?;

    let mut redirect = EbpfLoader::new()
        .override_global(abi::GLOBAL_TARGET_IFINDEX, &target, true)
        .load(objects::REDIRECT_ONLY)
        .map_err(|e| Error::bpf("load", "redirect_only.bpf.o", e))?;
    {
        let m = redirect
            .map_mut(abi::REDIRECT_DEVMAP)
            .ok_or_else(|| Error::bpf("find map", abi::REDIRECT_DEVMAP, "missing"))?;
        DevMapHash::try_from(m)
            .map_err(|e| Error::bpf("map type", abi::REDIRECT_DEVMAP, e))?
            .insert(target, target, None, 0)
            .map_err(|e| Error::bpf("insert", abi::REDIRECT_DEVMAP, e))?;
    }
    load_prog(&mut redirect, abi::PROG_REDIRECT_ONLY)?;

    let full = u32::from(full_csum);
    let mut fwd = EbpfLoader::new()
        .override_global(abi::GLOBAL_FULL_CSUM, &full, true)
        .load(objects::FORWARDER)
        .map_err(|e| Error::bpf("load", "forwarder.bpf.o", e))?;
    {
        let m = fwd
            .map_mut(abi::DNAT_MAP)
            .ok_or_else(|| Error::bpf("find map", abi::DNAT_MAP, "missing"))?;
        let mut dnat: BpfHashMap<_, Endpoint, Endpoint> =
            BpfHashMap::try_from(m).map_err(|e| Error::bpf("map type", abi::DNAT_MAP, e))?;
        for e in entries {
            let to = Endpoint::from(e.to);
            for key in [Endpoint::from(e.from), to] {
                dnat.insert(key, to, 0)
                    .map_err(|err| Error::bpf("insert", abi::DNAT_MAP, err))?;
            }
        }
    }
    {
        let m = fwd
            .map_mut(abi::DEVMAP)
            .ok_or_else(|| Error::bpf("find map", abi::DEVMAP, "missing"))?;
        let mut dm: DevMapHash<_> =
            DevMapHash::try_from(m).map_err(|e| Error::bpf("map type", abi::DEVMAP, e))?;
        for &i in devices {
            dm.insert(i, i, None, 0)
                .map_err(|e| Error::bpf("insert", abi::DEVMAP, e))?;
        }
    }
    load_prog(&mut fwd, abi::PROG_EXTERNAL)?;
    let counters: PerCpuArray<_, u64> = PerCpuArray::try_from(
        fwd.map(abi::COUNTERS_MAP)
            .ok_or_else(|| Error::bpf("find map", abi::COUNTERS_MAP, "missing"))?,
    )
    .map_err(|e| Error::bpf("map type", abi::COUNTERS_MAP, e))?;

    let mut rows = Vec::new();
    for set in flows {
        let frame = set.frame(0);
        let time = |prog: &aya::programs::Xdp, verdict: u32, what: &str| -> Result<f64> {
            let mut v = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                cancel::check()?;
                let r = run_xdp(prog, ingress, frame, repeat, 0)?;
                if r.retval != verdict {
                    return Err(Error::unexpected(
                        format!("{what} on a {}-byte SYN", set.frame_size),
                        format!("verdict {} (expected {verdict})", r.retval),
                    ));
                }
                v.push(r.duration.as_nanos() as f64);
            }
            Ok(super::stats::median(&mut v))
        };
        let before = read_counters(&counters)?;
        let xdp_pass_ns = time(xdp(&pass, abi::PROG_PASS)?, XDP_PASS, abi::PROG_PASS)?;
        set_pristine(&mut pristine, frame)?;
        let restore_pass_ns = time(
            xdp(&restore, PROG_RESTORE_PASS)?,
            XDP_PASS,
            PROG_RESTORE_PASS,
        )?;
        let redirect_only_ns = time(
            xdp(&redirect, abi::PROG_REDIRECT_ONLY)?,
            XDP_REDIRECT,
            abi::PROG_REDIRECT_ONLY,
        )?;
        let forwarder_ns = time(
            xdp(&fwd, abi::PROG_EXTERNAL)?,
            XDP_REDIRECT,
            abi::PROG_EXTERNAL,
        )?;
        let after = read_counters(&counters)?;
        let runs = u64::from(repeat.max(1)) * SAMPLES as u64;
        let redirected = after[Counter::Redirected as usize] - before[Counter::Redirected as usize];
        if redirected != runs {
            return Err(Error::unexpected(
                "forwarder cost measurement",
                format!(
                    "{redirected} of {runs} runs took the full NAT path (identity entry missing?)"
                ),
            ));
        }
        rows.push(CostRow {
            frame_size: set.frame_size,
            xdp_pass_ns,
            restore_pass_ns,
            redirect_only_ns,
            forwarder_ns,
            forwarder_own_ns: (forwarder_ns - xdp_pass_ns).max(0.0),
        });
    }
    Ok(rows)
}
