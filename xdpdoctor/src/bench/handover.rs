//! How vm's eth0 hands the af-packet method's frames to its NAPI: in batches, as a loaded NIC
//! does, or one frame at a time.
//!
//! A veth hands each frame it is sent to its peer's NAPI at once: the generator's send
//! schedules vm's poll, which runs in the softirq that follows, for that one frame. So vm's
//! NAPI, the devmap flush, ve-m1's ring and host0's NAPI run once per frame, where a NIC
//! under load hands over up to 64 frames per poll (the NAPI budget) and the live-frames
//! method runs in batches of 64. Per frame, those fixed costs weigh more on the short XDP
//! paths than on kernel NAT's long one, which put a ceiling on this method's kernel-NAT ratio
//! (docs/performance.md).
//!
//! **Batched** (the default) turns on the kernel's own interrupt deferral for vm's eth0, the
//! mechanism busy hosts use on their NICs: `napi_defer_hard_irqs` and `gro_flush_timeout`.
//! A poll that did work does not re-arm the veth's notification; a timer polls again after
//! [`DEFER_TIMEOUT_NS`], and the frames sent meanwhile wait in the ring (256 frames). 100 µs
//! is ~70 frames per poll on the XDP paths here and ~45 on kernel NAT (0.7 and 0.45 Mpps
//! offered), and leaves the ring room for the generator's bursts: at 200 µs the ring
//! overflowed (4-5% of the generator's frames refused, each a send that delivers nothing
//! on the measured CPU), at 150 µs once, at 100 µs never; the ratios of the three settings
//! were within noise of each other (docs/performance.md, 2026-12-08). The same setting
//! serves every run, the generator's own included.
//! **Per-frame** leaves the veth as it is: the method as it was before 2026-12-08.
//!
//! The attributes are set on the bench's own lab device and written back at the end; the lab
//! is deleted afterwards anyway, so a killed bench leaves nothing behind here.

use serde::Serialize;

use crate::netns::{set_device_attrs, DeviceAttr, Netns};
use crate::Result;

/// How long a poll's notification is deferred (ns): `gro_flush_timeout`.
pub const DEFER_TIMEOUT_NS: u64 = 100_000;

/// Deferrals allowed after a poll that did work: `napi_defer_hard_irqs`. Any value of 1 or
/// more keeps deferring while frames keep coming; 2 also covers one empty timer poll.
pub const DEFER_IRQS: u64 = 2;

const GRO_FLUSH_TIMEOUT: DeviceAttr = DeviceAttr("gro_flush_timeout");
const NAPI_DEFER_HARD_IRQS: DeviceAttr = DeviceAttr("napi_defer_hard_irqs");

/// The hand-over asked for (`xdpdoctor bench --handover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// NAPI interrupt deferral on vm's eth0: frames handed over in batches.
    #[default]
    Batched,
    /// The veth as it is: one frame per poll.
    PerFrame,
}

impl Handover {
    /// Every hand-over, in the order `--handover` lists them.
    pub const ALL: [Handover; 2] = [Handover::Batched, Handover::PerFrame];

    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Handover::Batched => "batched",
            Handover::PerFrame => "per-frame",
        }
    }

    /// The hand-over named `name`.
    pub fn parse(name: &str) -> Option<Handover> {
        Handover::ALL.into_iter().find(|h| h.name() == name)
    }
}

/// The hand-over the af-packet method ran with (JSON `af_packet_handover`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoverReport {
    /// What ran: batched or per-frame.
    pub mode: Handover,
    /// `gro_flush_timeout` of vm's eth0 during the method (ns); 0 per-frame.
    pub gro_flush_timeout_ns: u64,
    /// `napi_defer_hard_irqs` of vm's eth0 during the method; 0 per-frame.
    pub napi_defer_hard_irqs: u64,
    /// Why per-frame ran where batched was asked for (the kernel refused the attributes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// The deferral set on a device, written back when dropped.
pub struct Deferral {
    ns: Netns,
    dev: String,
    old: Vec<(DeviceAttr, u64)>,
    /// What is in effect.
    pub report: HandoverReport,
}

impl Deferral {
    /// Applies `mode` to `dev` in `ns`. Batched where the kernel refuses the attributes (a
    /// kernel before 5.7 has no `napi_defer_hard_irqs`) falls back to per-frame and says why.
    pub fn apply(ns: &Netns, dev: &str, mode: Handover) -> Deferral {
        let mut d = Deferral {
            ns: ns.clone(),
            dev: dev.to_string(),
            old: Vec::new(),
            report: HandoverReport {
                mode: Handover::PerFrame,
                gro_flush_timeout_ns: 0,
                napi_defer_hard_irqs: 0,
                fallback: None,
            },
        };
        if mode == Handover::PerFrame {
            return d;
        }
        let want = [
            (GRO_FLUSH_TIMEOUT, DEFER_TIMEOUT_NS),
            (NAPI_DEFER_HARD_IRQS, DEFER_IRQS),
        ];
        match set_device_attrs(ns, dev, &want) {
            Ok(old) => {
                d.old = old;
                d.report = HandoverReport {
                    mode: Handover::Batched,
                    gro_flush_timeout_ns: DEFER_TIMEOUT_NS,
                    napi_defer_hard_irqs: DEFER_IRQS,
                    fallback: None,
                };
            }
            Err(e) => {
                let why = crate::error::chain(&e);
                log::warn!("bench: af-packet hand-over per frame: {why}");
                d.report.fallback = Some(why);
            }
        }
        d
    }

    /// Writes the device's previous values back.
    pub fn restore(&mut self) -> Result<()> {
        if self.old.is_empty() {
            return Ok(());
        }
        let old = std::mem::take(&mut self.old);
        set_device_attrs(&self.ns, &self.dev, &old).map(|_| ())
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            log::error!("bench: {}", crate::error::chain(&e));
        }
    }
}
