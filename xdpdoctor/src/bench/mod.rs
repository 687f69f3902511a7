//! `bench`: how fast the forwarder is, next to the kernel's NAT and the XDP redirect limit,
//! and what watching it with `trace` costs. Measured side by side in one run on one lab.
//!
//! The bench builds its own healthy `seed` lab under a unique prefix (`xdb<pid>`), measures,
//! and always takes the lab down again, on errors and Ctrl-C too. One generator drives every
//! variant ([`traffic`]: live-frames `BPF_PROG_TEST_RUN` as if received on vm's eth0);
//! delivered frames are counted at the container ([`sink`]: `xdp_count` on m1's host0). The
//! variants ([`variants`]) differ only in the program the frames are pushed into. [`cost`]
//! adds the programs' own ns/packet from non-live test runs; [`report`] is the result.
//!
//! Order inside the lab: kernel-NAT ruleset in vm -> sink (count, drop IPv4) on m1's host0 ->
//! identity DNAT entries -> programs -> warm-up (vm learns m1's MAC) -> rounds of
//! (frame size x variant) -> ns/packet. See docs/performance.md for the method and caveats.

pub mod cost;
pub mod diagnose_timing;
pub mod nft;
pub mod report;
pub mod sink;
pub mod stats;
pub mod traffic;
pub mod variants;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bpf::forwarder_abi::{self as abi, Counter};
use crate::forwarder::{self, deploy::Deployment, AttachMode, ForwarderConfig};
use crate::lab::{self, LabState, Scenario, UpOptions};
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::progress::{Progress, Update};
use crate::{cancel, Error, Result};

pub use report::BenchReport;
use traffic::{Endpoints, FlowSet, FRAME_SIZES};
use variants::{Programs, Variant};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Short run for tests (~20 s): fewer packets, one round.
    pub quick: bool,
    /// Frames per measurement (default: 2,000,000; quick: 200,000).
    pub packets: Option<u64>,
    /// The xdpdoctor binary (the lab re-executes it as the HTTP responder).
    pub exe: PathBuf,
    /// Lab prefix (default `xdb<pid>`).
    pub prefix: Option<String>,
    /// Where the bench reports its phases and measurements.
    pub progress: Progress,
}

/// The checked plan.
#[derive(Debug, Clone)]
struct Plan {
    packets: u64,
    rounds: usize,
    flows: u16,
    cost_repeat: u32,
    prefix: String,
}

const MIN_PACKETS: u64 = 10_000;
const MAX_PACKETS: u64 = 100_000_000;
/// Time for the target veth's NAPI to drain after the last test run, before reading counts.
const SETTLE: Duration = Duration::from_millis(30);

impl BenchOptions {
    fn plan(&self) -> Result<Plan> {
        let packets = self
            .packets
            .unwrap_or(if self.quick { 200_000 } else { 2_000_000 });
        if !(MIN_PACKETS..=MAX_PACKETS).contains(&packets) {
            return Err(Error::invalid(
                format!("--packets {packets}"),
                format!("use {MIN_PACKETS}..={MAX_PACKETS}"),
            ));
        }
        Ok(Plan {
            packets,
            rounds: if self.quick { 1 } else { 3 },
            flows: 64,
            cost_repeat: if self.quick { 100_000 } else { 1_000_000 },
            prefix: self
                .prefix
                .clone()
                .unwrap_or_else(|| format!("xdb{}", std::process::id())),
        })
    }
}

/// Builds the lab, measures, takes the lab down (always), returns the report.
pub fn run(opts: &BenchOptions) -> Result<BenchReport> {
    let plan = opts.plan()?;
    let started = Instant::now();
    let (sc, file) = lab::catalog::load("seed", None)?;
    let up = UpOptions {
        prefix: plan.prefix.clone(),
        faults: vec![],
        no_faults: true,
        exe: opts.exe.clone(),
        mode: AttachMode::Driver,
        forwarder: true,
        progress: opts.progress.clone(),
    };
    log::info!("bench: building lab {} (healthy seed)", plan.prefix);
    // `up` cleans up after itself when it fails or is interrupted.
    lab::up(&sc, &file, &up)?;
    let res = measure_lab(&sc, &plan, opts.quick, &opts.progress);
    log::info!("bench: removing lab {}", plan.prefix);
    let down = lab::down(&plan.prefix).map(drop);
    match (res, down) {
        (Ok(mut r), Ok(())) => {
            // Second table: diagnose on the seed lab and on generated fleets.
            let window = std::time::Duration::from_secs(if opts.quick { 1 } else { 3 });
            let t = diagnose_timing::measure(
                &opts.exe,
                &plan.prefix,
                opts.quick,
                window,
                &opts.progress,
            );
            opts.progress.report(Update::Done);
            let t = t?;
            r.diagnose_timing_note = format!(
                "diagnose timing: {} lab(s), default faults on, observe window {} ms",
                t.len(),
                window.as_millis()
            );
            r.diagnose_timing = Some(t);
            r.total_seconds = started.elapsed().as_secs_f64();
            Ok(r)
        }
        (Ok(_), Err(e)) | (Err(e), Ok(())) => Err(e),
        (Err(e), Err(e2)) => Err(Error::Many(vec![e, e2])),
    }
}

/// Names and numbers of the lab the bench needs, resolved from the scenario and netlink.
struct Topology {
    vm: Netns,
    /// The container receiving entry 0's traffic, and its interface (host0).
    container: Netns,
    container_if: String,
    cfg: ForwarderConfig,
    ext_index: u32,
    /// vm's side of the container link (ve-m1).
    int_index: u32,
    all_indexes: Vec<u32>,
    endpoints: Endpoints,
}

fn topology(sc: &Scenario, prefix: &str) -> Result<Topology> {
    let ns = |n: &str| Netns::named(&LabState::ns_name(prefix, n));
    let bad = |m: &str| Error::invalid(format!("bench scenario {}", sc.name), m.to_string());
    let f = sc
        .forwarder
        .as_ref()
        .ok_or_else(|| bad("has no forwarder"))?;
    let cfg = sc.forwarder_config(f);
    let entry = *cfg.entries.first().ok_or_else(|| bad("has no NAT entry"))?;
    let client = &sc
        .traffic
        .as_ref()
        .ok_or_else(|| bad("has no client"))?
        .client;
    let has_ip = |addr: &Option<lab::scenario::Cidr>, ip: std::net::Ipv4Addr| {
        addr.is_some_and(|c| c.addr == ip)
    };
    let ext_link = sc
        .links
        .iter()
        .find(|l| l.a.node == f.node && &l.b.node == client)
        .ok_or_else(|| bad("no link between the forwarder node and the client"))?;
    let int_link = sc
        .links
        .iter()
        .find(|l| l.a.node == f.node && has_ip(&l.b.addr, *entry.to.ip()))
        .ok_or_else(|| bad("no link to the first entry's target"))?;

    let client_if = ext_link.b.name.clone();
    let client_ip = ext_link
        .b
        .addr
        .map(|c| c.addr)
        .ok_or_else(|| bad("the client's interface has no address"))?;
    let client_mac =
        ns(client).block_on(|| async move { Ok(Rtnl::new()?.link(&client_if).await?.mac) })?;
    let (ext_name, int_name) = (ext_link.a.name.clone(), int_link.a.name.clone());
    let vm = ns(&f.node);
    let (ext, int, all) = vm.block_on(|| async move {
        let rt = Rtnl::new()?;
        let links = rt.links().await?;
        let find = |n: &str| {
            links
                .iter()
                .find(|l| l.name == n)
                .cloned()
                .ok_or_else(|| Error::not_found(format!("interface {n}"), None))
        };
        Ok((
            find(&ext_name)?,
            find(&int_name)?,
            links.iter().map(|l| l.index).collect::<Vec<_>>(),
        ))
    })?;
    Ok(Topology {
        container: ns(&int_link.b.node),
        container_if: int_link.b.name.clone(),
        ext_index: ext.index,
        int_index: int.index,
        all_indexes: all,
        endpoints: Endpoints {
            src_mac: traffic::parse_mac(&client_mac)?,
            dst_mac: traffic::parse_mac(&ext.mac)?,
            client: client_ip,
            service: entry.from,
        },
        vm,
        cfg,
    })
}

/// Adds `to -> to` to the deployed forwarder's DNAT map for every entry.
///
/// Live-frames test runs recycle their pages without re-copying the frame within one call
/// (see [`traffic::PER_CALL`]), so a redirected frame can come back already translated. With
/// the identity entry it takes the same full path again (lookup hit, fib SUCCESS, rewrite,
/// redirect) instead of NO_ENTRY; the counters check it. Bench-only: the lab is deleted
/// afterwards, and no real client could address the container's endpoint on eth0.
fn add_identity_entries(vm: &Netns, entries: &[forwarder::Entry]) -> Result<()> {
    let inode = vm.inode()?;
    for e in entries {
        if forwarder::maps::nat_get(inode, abi::DNAT_MAP, e.to)?.is_none() {
            forwarder::maps::nat_insert(inode, abi::DNAT_MAP, e.to, e.to)?;
        }
    }
    Ok(())
}

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    sent: u64,
    delivered: u64,
    kernel_time: Duration,
    elapsed: Duration,
    fwd_seen: u64,
    fwd_redirected: u64,
    fwd_cache_hits: u64,
}

fn measure_lab(
    sc: &Scenario,
    plan: &Plan,
    quick: bool,
    progress: &Progress,
) -> Result<BenchReport> {
    let topo = topology(sc, &plan.prefix)?;
    cancel::check()?;
    let ext_name = topo.cfg.external.first().cloned().unwrap_or_default();
    nft::apply(
        &topo.vm.name,
        &nft::kernel_nat_ruleset(&ext_name, &topo.cfg.entries),
    )?;
    let sink_guard = sink::Sink::attach(&topo.container, &topo.container_if)?;
    add_identity_entries(&topo.vm, &topo.cfg.entries)?;
    let dep = Deployment::load(topo.vm.inode()?)?
        .ok_or_else(|| Error::not_found("the lab's forwarder deployment", None))?;

    let sink = &sink_guard;
    let topo = &topo;
    let (samples, skipped, costs, mut notes) = topo.vm.run(move || {
        let progs = Programs::load(topo.int_index, &dep.pin_dir, dep.config.full_checksum)?;
        let flows = FRAME_SIZES
            .iter()
            .map(|&s| FlowSet::new(&topo.endpoints, s, plan.flows))
            .collect::<Result<Vec<_>>>()?;
        let mut notes = vec![warm_up(&progs, topo.ext_index, &flows, plan.packets)?];

        let mut samples: BTreeMap<(Variant, usize), Vec<Sample>> = BTreeMap::new();
        let mut skipped: BTreeMap<Variant, String> = BTreeMap::new();
        let total = (plan.rounds * flows.len() * Variant::ALL.len()) as u64;
        let mut done = 0;
        for round in 0..plan.rounds {
            for set in &flows {
                for v in Variant::ALL {
                    progress.steps("measuring", done, total);
                    done += 1;
                    if skipped.contains_key(&v) {
                        continue;
                    }
                    // The trace probes are attached only around their own measurement.
                    let _trace = match v {
                        Variant::ForwarderTrace => match variants::attach_trace() {
                            Ok(g) => Some(g),
                            Err(reason) => {
                                log::warn!("bench: {v}: {reason}");
                                skipped.insert(v, reason);
                                continue;
                            }
                        },
                        _ => None,
                    };
                    let s = measure_one(&progs, sink, v, topo.ext_index, set, plan.packets)?;
                    log::info!(
                        "bench: round {round} {v} {}B: {} sent, {} delivered in {:?} (wall {:?})",
                        set.frame_size,
                        s.sent,
                        s.delivered,
                        s.kernel_time,
                        s.elapsed
                    );
                    samples.entry((v, set.frame_size)).or_default().push(s);
                }
            }
        }
        progress.report(Update::Busy {
            what: "measuring ns/packet",
        });
        let costs = cost::measure(
            topo.ext_index,
            topo.int_index,
            &topo.all_indexes,
            &topo.cfg.entries,
            dep.config.full_checksum,
            &flows,
            plan.cost_repeat,
        )?;
        notes.extend(path_checks(&samples));
        Ok((samples, skipped, costs, notes))
    })?;
    drop(sink_guard); // detaches xdp_count

    let mut throughput = Vec::new();
    for &size in &FRAME_SIZES {
        for v in Variant::ALL {
            throughput.push(summarise(v, size, samples.get(&(v, size)), skipped.get(&v)));
        }
    }
    let ratios = FRAME_SIZES
        .iter()
        .map(|&s| report::Ratios::compute(s, &throughput))
        .collect();
    notes.push(format!(
        "frames go to {} in {} via {}; delivered = xdp_count on {} in {}",
        topo.endpoints.service, topo.vm.name, ext_name, topo.container_if, topo.container.name
    ));
    Ok(BenchReport {
        machine: report::Machine::here(),
        lab_prefix: plan.prefix.clone(),
        quick,
        packets: plan.packets,
        flows: plan.flows,
        rounds: plan.rounds,
        throughput,
        ratios,
        ns_per_packet: costs,
        diagnose_timing: None,
        diagnose_timing_note: String::new(),
        notes,
        total_seconds: 0.0,
    })
}

fn measure_one(
    progs: &Programs,
    sink: &sink::Sink,
    v: Variant,
    ingress: u32,
    set: &FlowSet,
    packets: u64,
) -> Result<Sample> {
    let prog = progs.program(v)?;
    let f0 = progs.forwarder_counters()?;
    let d0 = sink.delivered()?;
    let off = traffic::push_live(prog, ingress, set, packets, &mut progs.before_call(v))?;
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
    })
}

/// Warms every path (and lets vm resolve the container's MAC: until then the forwarder's fib
/// lookup answers NO_NEIGH and passes the packets to the stack, which sends the ARP request).
fn warm_up(progs: &Programs, ingress: u32, flows: &[FlowSet], packets: u64) -> Result<String> {
    let fwd = progs.program(Variant::Forwarder)?;
    let mut tries = 0;
    loop {
        cancel::check()?;
        let before = progs.forwarder_counters()?;
        traffic::push_live(fwd, ingress, &flows[0], 64, &mut |_| Ok(()))?;
        let after = progs.forwarder_counters()?;
        let ok = after[Counter::FibSuccess as usize] > before[Counter::FibSuccess as usize];
        if ok {
            break;
        }
        tries += 1;
        if tries >= 40 {
            return Err(Error::unexpected(
                "bench warm-up",
                "the forwarder's fib lookup never succeeded (no neighbour entry for the container?)",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for v in [
        Variant::RedirectOnly,
        Variant::Forwarder,
        Variant::ForwarderFibCache,
        Variant::KernelNat,
    ] {
        for set in flows {
            let n = (packets / 10).max(1000);
            traffic::push_live(
                progs.program(v)?,
                ingress,
                set,
                n,
                &mut progs.before_call(v),
            )?;
        }
    }
    Ok(format!(
        "warm-up: fib lookup succeeded after {tries} retries; every path pre-run with {} frames",
        (packets / 10).max(1000)
    ))
}

/// Checks that each variant took the path it is meant to measure.
fn path_checks(samples: &BTreeMap<(Variant, usize), Vec<Sample>>) -> Vec<String> {
    let mut notes = Vec::new();
    for ((v, size), ss) in samples {
        let sent: u64 = ss.iter().map(|s| s.sent).sum();
        let seen: u64 = ss.iter().map(|s| s.fwd_seen).sum();
        let redirected: u64 = ss.iter().map(|s| s.fwd_redirected).sum();
        let hits: u64 = ss.iter().map(|s| s.fwd_cache_hits).sum();
        match v {
            Variant::ForwarderFibCache => notes.push(format!(
                "{v} {size}B: forwarder redirected {redirected} of {sent} frames ({:.1}%), \
                 {hits} next-hop cache hits ({:.1}%)",
                pct(redirected, sent),
                pct(hits, sent)
            )),
            Variant::Forwarder | Variant::ForwarderTrace if hits > 0 => notes.push(format!(
                "WARNING {v} {size}B: {hits} next-hop cache hits with the cache off"
            )),
            Variant::Forwarder | Variant::ForwarderTrace => notes.push(format!(
                "{v} {size}B: forwarder redirected {redirected} of {sent} frames ({:.1}%)",
                pct(redirected, sent)
            )),
            // The deployed forwarder's internal program shares the counters and sees the
            // containers' ARP; only a share of the pushed frames would mean a wrong path.
            Variant::KernelNat | Variant::RedirectOnly if seen * 1000 > sent => notes.push(format!(
                "WARNING {v} {size}B: the deployed forwarder saw {seen} of {sent} frames; the path is not clean"
            )),
            _ => {}
        }
    }
    notes
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

fn summarise(
    v: Variant,
    size: usize,
    ss: Option<&Vec<Sample>>,
    skipped: Option<&String>,
) -> report::Throughput {
    let ss = ss.map(Vec::as_slice).unwrap_or_default();
    let mpps = |n: u64, d: Duration| {
        if d.is_zero() {
            0.0
        } else {
            n as f64 / d.as_secs_f64() / 1e6
        }
    };
    let mut rounds: Vec<f64> = ss
        .iter()
        .map(|s| mpps(s.delivered, s.kernel_time))
        .collect();
    let mut offered: Vec<f64> = ss.iter().map(|s| mpps(s.sent, s.kernel_time)).collect();
    let mut wall: Vec<f64> = ss.iter().map(|s| mpps(s.delivered, s.elapsed)).collect();
    let sent = ss.iter().map(|s| s.sent).sum();
    let delivered = ss.iter().map(|s| s.delivered).sum();
    let has = !ss.is_empty();
    report::Throughput {
        variant: v,
        frame_size: size,
        mpps: has.then(|| stats::median(&mut rounds.clone())),
        offered_mpps: has.then(|| stats::median(&mut offered)),
        wall_mpps: has.then(|| stats::median(&mut wall)),
        delivered_ratio: has.then(|| delivered as f64 / (sent as f64).max(1.0)),
        rounds_mpps: std::mem::take(&mut rounds),
        sent,
        delivered,
        skipped: if has {
            None
        } else {
            Some(
                skipped
                    .cloned()
                    .unwrap_or_else(|| "skipped: not measured".into()),
            )
        },
    }
}
