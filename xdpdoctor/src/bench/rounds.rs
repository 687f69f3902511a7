//! The live measurements: warm-up, then rounds of (frame size x variant), interleaved so that
//! every round holds one measurement of each variant taken close together in time. One
//! measurement pushes the requested frames into a variant's program and reads the delivery
//! counter and the forwarder's counters before and after.

use std::collections::BTreeMap;
use std::time::Duration;

use super::decision_log::{LogOn, LogSample};
use super::sink::Sinks;
use super::traffic::{self, Dest, FlowSet};
use super::variants::{self, Programs, Variant};
use crate::bpf::forwarder_abi::Counter;
use crate::progress::Progress;
use crate::{cancel, Error, Result};

/// Time for the target veth's NAPI to drain after the last test run, before reading counts.
const SETTLE: Duration = Duration::from_millis(30);

/// One measurement of one variant at one frame size.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sample {
    /// Frames pushed.
    pub sent: u64,
    /// Frames counted at the container.
    pub delivered: u64,
    /// The kernel's test-run time.
    pub kernel_time: Duration,
    /// Wall time of the calls.
    pub elapsed: Duration,
    /// The deployed forwarder's (shared) counters over the measurement: `seen`,
    pub fwd_seen: u64,
    /// `redirected`,
    pub fwd_redirected: u64,
    /// `fib_cache_hit`,
    pub fwd_cache_hits: u64,
    /// `ttl_exceeded`,
    pub fwd_ttl_exceeded: u64,
    /// `bridge_port` (redirected to a bridge's port).
    pub fwd_bridge_port: u64,
    /// forwarder+log: what the decision log did.
    pub log: Option<LogSample>,
}

/// Samples per (variant, frame size), one per round; variants that could not run, with why.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    /// Per (variant, frame size), in round order.
    pub samples: BTreeMap<(Variant, usize), Vec<Sample>>,
    /// Variants not measured, with the reason.
    pub skipped: BTreeMap<Variant, String>,
}

/// The frames of one size, to both destinations.
pub(super) struct SizeFlows {
    /// Bytes per frame.
    pub frame_size: usize,
    /// Frames to the forwarder's public endpoint.
    pub service: FlowSet,
    /// Frames to the container's endpoint (the router peer's).
    pub target: FlowSet,
    /// Frames to the bridged container's public endpoint (the bridged variants').
    pub bridged: FlowSet,
}

impl SizeFlows {
    /// The flow set `v`'s frames come from.
    pub fn for_variant(&self, v: Variant) -> &FlowSet {
        match v.dest() {
            Dest::Service => &self.service,
            Dest::Target => &self.target,
            Dest::Bridged => &self.bridged,
        }
    }
}

/// Where the frames go in and how many: the same for every measurement.
pub(super) struct Feed<'a> {
    /// vm's eth0: `ingress_ifindex` of the test runs.
    pub ingress: u32,
    /// The idle device that keeps the measured program in the XDP dispatcher.
    pub pin_ifindex: u32,
    /// Frames per measurement.
    pub packets: u64,
    /// The frames, per size.
    pub flows: &'a [SizeFlows],
}

/// Runs `rounds` rounds over every frame size and variant.
pub(super) fn run(
    progs: &mut Programs,
    sinks: &Sinks,
    feed: &Feed,
    rounds: usize,
    progress: &Progress,
) -> Result<Rounds> {
    let mut out = Rounds::default();
    let total = (rounds * feed.flows.len() * Variant::ALL.len()) as u64;
    let mut done = 0;
    for round in 0..rounds {
        for set in feed.flows {
            for v in Variant::ALL {
                progress.steps("measuring", done, total);
                done += 1;
                if out.skipped.contains_key(&v) {
                    continue;
                }
                // The trace probes are attached only around their own measurement.
                let _trace = match v {
                    Variant::ForwarderTrace => match variants::attach_trace() {
                        Ok(g) => Some(g),
                        Err(reason) => {
                            log::warn!("bench: {v}: {reason}");
                            out.skipped.insert(v, reason);
                            continue;
                        }
                    },
                    _ => None,
                };
                let pin = progs.pin(v, feed.pin_ifindex)?;
                // The decision log is on only around its own measurement.
                let log = match v {
                    Variant::ForwarderLog => Some(LogOn::start(progs.log_target())?),
                    _ => None,
                };
                let measured = measure_one(progs, sinks, v, feed, set.for_variant(v));
                let log = log.map(LogOn::stop).transpose()?;
                let s = Sample { log, ..measured? };
                drop(pin);
                log::info!(
                    "bench: round {round} {v} {}B: {} sent, {} delivered in {:?} (wall {:?})",
                    set.frame_size,
                    s.sent,
                    s.delivered,
                    s.kernel_time,
                    s.elapsed
                );
                out.samples.entry((v, set.frame_size)).or_default().push(s);
            }
        }
    }
    Ok(out)
}

fn measure_one(
    progs: &Programs,
    sinks: &Sinks,
    v: Variant,
    feed: &Feed,
    set: &FlowSet,
) -> Result<Sample> {
    let prog = progs.program(v)?;
    let sink = sinks.of(v);
    let f0 = progs.forwarder_counters()?;
    let d0 = sink.delivered()?;
    let off = traffic::push_live(
        prog,
        feed.ingress,
        set,
        feed.packets,
        &mut progs.before_call(v),
    )?;
    std::thread::sleep(SETTLE);
    let d1 = sink.delivered()?;
    let f1 = progs.forwarder_counters()?;
    let delta = |c: Counter| f1[c as usize] - f0[c as usize];
    Ok(Sample {
        sent: off.sent,
        delivered: d1 - d0,
        kernel_time: off.kernel_time,
        elapsed: off.elapsed,
        fwd_seen: delta(Counter::Seen),
        fwd_redirected: delta(Counter::Redirected),
        fwd_cache_hits: delta(Counter::FibCacheHit),
        fwd_ttl_exceeded: delta(Counter::TtlExceeded),
        fwd_bridge_port: delta(Counter::BridgePort),
        log: None,
    })
}

/// Warms every path (and lets vm resolve the container's MAC: until then the forwarder's fib
/// lookup answers NO_NEIGH and passes the packets to the stack, which sends the ARP request).
pub(super) fn warm_up(progs: &mut Programs, feed: &Feed) -> Result<String> {
    let (ingress, flows) = (feed.ingress, feed.flows);
    let mut tries = 0;
    loop {
        cancel::check()?;
        let before = progs.forwarder_counters()?;
        let fwd = progs.program(Variant::Forwarder)?;
        traffic::push_live(fwd, ingress, &flows[0].service, 64, &mut |_| Ok(()))?;
        let after = progs.forwarder_counters()?;
        let ok = after[Counter::Redirected as usize] > before[Counter::Redirected as usize];
        if ok {
            break;
        }
        tries += 1;
        if tries >= 40 {
            return Err(Error::unexpected(
                "bench warm-up",
                "the forwarder never redirected (no neighbour entry for the container?)",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = (feed.packets / 10).max(1000);
    for v in Variant::ALL {
        if matches!(v, Variant::ForwarderTrace | Variant::ForwarderLog) {
            continue; // the forwarder's own path, warmed above
        }
        let pin = progs.pin(v, feed.pin_ifindex)?;
        for set in flows {
            let prog = progs.program(v)?;
            traffic::push_live(
                prog,
                ingress,
                set.for_variant(v),
                n,
                &mut progs.before_call(v),
            )?;
        }
        drop(pin);
    }
    Ok(format!(
        "warm-up: the forwarder redirected after {tries} retries; every path pre-run with {n} frames"
    ))
}
