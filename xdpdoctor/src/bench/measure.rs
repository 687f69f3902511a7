//! The measuring part of a bench run, inside the bench's lab: resolve the topology, prepare
//! the lab ([`super::setup`]), then run each method that is to run, in this order:
//! live frames (on a thread inside vm's namespace: load the programs, warm up, the rounds of
//! [`super::rounds`]), program cost (same thread kind, [`super::cost`]), af-packet
//! ([`super::path`]: programs loaded in vm, frames sent from the client's namespace);
//! finally turn the samples into the report's rows and ratios, each within its method
//! ([`super::summary`], [`super::path_summary`], [`super::ratios`]).

use super::cost::{self, CostRow, CostSetup};
use super::method::{Method, MethodStatus};
use super::path::{self, PathRounds};
use super::plan::Plan;
use super::ratios::{Ratio, Scores};
use super::report::{self, BenchReport};
use super::rounds::{self, Feed, Rounds, SizeFlows};
use super::setup::Prepared;
use super::topology::Topology;
use super::traffic::{Dest, FlowSet, FRAME_SIZES, TTL};
use super::variants::{Programs, Variant};
use super::{checks, path_summary, setup, summary, topology};
use crate::bpf::capabilities::{self, Capability, CapabilityName};
use crate::lab::Scenario;
use crate::progress::{Progress, Update};
use crate::Result;

/// What the methods that ran measured.
#[derive(Default)]
struct Measured {
    live: Option<Rounds>,
    costs: Vec<CostRow>,
    path: Option<PathRounds>,
    notes: Vec<String>,
}

/// Measures in the lab `plan.prefix` built from `sc` with every method of `methods` that
/// runs; the caller takes the lab down.
pub(super) fn measure_lab(
    sc: &Scenario,
    plan: &Plan,
    methods: &[MethodStatus],
    caps: &[Capability],
    progress: &Progress,
) -> Result<BenchReport> {
    let runs = |m: Method| methods.iter().any(|s| s.method == m && s.runs());
    let topo = topology::topology(sc, &plan.prefix)?;
    let prep = setup::prepare(&topo)?;
    let mut m = Measured::default();
    if runs(Method::LiveFrames) {
        let (r, notes) = topo.vm.run(|| live(&topo, &prep, plan, progress))?;
        m.live = Some(r);
        m.notes.extend(notes);
    }
    if runs(Method::ProgramCost) {
        progress.report(Update::Busy {
            what: "measuring ns/packet (program-cost)",
        });
        m.costs = topo.vm.run(|| {
            cost::measure(
                &CostSetup {
                    ingress: topo.ext_index,
                    pin_ifindex: prep.pin_ifindex,
                    target: topo.int_index,
                    devices: &topo.all_indexes,
                    entries: &topo.cfg.entries,
                    tunables: prep.deployment.tunables(),
                    endpoints: &topo.endpoints,
                },
                &FRAME_SIZES,
                plan.cost_repeat,
                plan.cost_samples,
            )
        })?;
    }
    if runs(Method::AfPacket) {
        let stats = capabilities::find(caps, CapabilityName::BpfStats);
        m.path = Some(path::measure(&topo, &prep, plan, &stats, progress)?);
    }
    drop(prep); // detaches xdp_count
    Ok(report(&topo, plan, caps, methods, m))
}

/// The live-frames method, inside vm's namespace: programs, warm-up, rounds.
fn live(
    topo: &Topology,
    prep: &Prepared,
    plan: &Plan,
    progress: &Progress,
) -> Result<(Rounds, Vec<String>)> {
    let mut progs = Programs::load(
        topo.int_index,
        &topo.all_indexes,
        &prep.deployment.pin_dir,
        prep.deployment.netns_inode,
        prep.deployment.tunables(),
    )?;
    let flows = FRAME_SIZES
        .iter()
        .map(|&s| {
            Ok(SizeFlows {
                frame_size: s,
                service: FlowSet::new(&topo.endpoints, s, plan.flows, Dest::Service, TTL)?,
                target: FlowSet::new(&topo.endpoints, s, plan.flows, Dest::Target, TTL)?,
                bridged: FlowSet::new(&topo.endpoints, s, plan.flows, Dest::Bridged, TTL)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let feed = Feed {
        ingress: topo.ext_index,
        pin_ifindex: prep.pin_ifindex,
        packets: plan.packets,
        flows: &flows,
    };
    let mut notes = vec![rounds::warm_up(&mut progs, &feed)?];
    let rounds = rounds::run(&mut progs, &prep.sinks, &feed, plan.rounds, progress)?;
    notes.extend(checks::path_notes(&rounds.samples));
    Ok((rounds, notes))
}

/// The report: each method's rows, the ratios within each method, the notes.
fn report(
    topo: &Topology,
    plan: &Plan,
    caps: &[Capability],
    methods: &[MethodStatus],
    m: Measured,
) -> BenchReport {
    let Measured {
        live,
        costs,
        path,
        mut notes,
    } = m;
    let machine = report::Machine::here(plan.loadavg_at_start);
    let mut throughput = Vec::new();
    let mut decision_log = Vec::new();
    if let Some(rounds) = &live {
        for &size in &FRAME_SIZES {
            for v in Variant::ALL {
                throughput.push(summary::throughput(
                    v,
                    size,
                    rounds.samples.get(&(v, size)),
                    rounds.skipped.get(&v),
                ));
            }
        }
        decision_log = summary::decision_log(&rounds.samples, machine.cpus);
        notes.extend(decision_log.iter().map(|l| l.note()));
        notes.push(format!(
            "live-frames: frames go to {} (router-peer: {}; bridged variants: {}) in {} via \
             ifindex {}; delivered = xdp_count on {} in {} (bridged: {} in {})",
            topo.endpoints.service,
            topo.endpoints.target,
            topo.endpoints.bridged,
            topo.vm.name,
            topo.ext_index,
            topo.container_if,
            topo.container.name,
            topo.bridged_if,
            topo.bridged.name
        ));
    }
    let (generator, path_cost) = match &path {
        Some(p) => {
            notes.extend(path_summary::notes(p));
            path_summary::rows(p, &FRAME_SIZES)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut ratios = Vec::new();
    if live.is_some() {
        ratios.extend(Ratio::all(
            Method::LiveFrames,
            &FRAME_SIZES,
            &Scores::live(&throughput),
        ));
    }
    if !costs.is_empty() {
        ratios.extend(Ratio::all(
            Method::ProgramCost,
            &FRAME_SIZES,
            &Scores::program_cost(&costs),
        ));
    }
    if path.is_some() {
        ratios.extend(Ratio::all(
            Method::AfPacket,
            &FRAME_SIZES,
            &Scores::af_packet(&path_cost),
        ));
    }
    BenchReport {
        machine,
        capabilities: caps.to_vec(),
        methods: methods.to_vec(),
        decision_log,
        lab_prefix: plan.prefix.clone(),
        quick: plan.quick,
        packets: plan.packets,
        af_packet_seconds: plan.af_packet_time.as_secs_f64(),
        af_packet_basis: path.as_ref().map(path_summary::BasisNote::of),
        af_packet_handover: path.as_ref().map(|p| p.handover.clone()),
        flows: plan.flows,
        rounds: plan.rounds,
        throughput,
        ratios,
        ns_per_packet: costs,
        generator,
        path_cost,
        diagnose_timing: None,
        diagnose_timing_note: String::new(),
        notes,
        total_seconds: 0.0,
    }
}
