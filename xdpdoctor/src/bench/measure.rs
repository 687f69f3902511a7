//! The measuring part of a bench run, inside the bench's lab: resolve the topology, prepare
//! the lab ([`super::setup`]), then on a thread inside vm's namespace load the programs, warm
//! up, run the rounds ([`super::rounds`]) and the ns/packet table ([`super::cost`]); finally
//! turn the samples into the report's rows and ratios ([`super::summary`], `report::Ratio`).

use super::cost::{self, CostRow, CostSetup};
use super::report::{self, BenchReport, Ratio};
use super::rounds::{self, Feed, Rounds, SizeFlows};
use super::setup::Prepared;
use super::topology::Topology;
use super::traffic::{Dest, FlowSet, FRAME_SIZES, TTL};
use super::variants::{Programs, Variant};
use super::{checks, setup, summary, topology};
use crate::lab::Scenario;
use crate::progress::{Progress, Update};
use crate::Result;

/// The checked plan.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) packets: u64,
    pub(super) rounds: usize,
    pub(super) flows: u16,
    pub(super) cost_repeat: u32,
    pub(super) prefix: String,
    /// Other work on the machine before the bench started (/proc/loadavg).
    pub(super) loadavg_at_start: Option<[f64; 3]>,
}

/// Measures in the lab `plan.prefix` built from `sc`; the caller takes the lab down.
pub(super) fn measure_lab(
    sc: &Scenario,
    plan: &Plan,
    quick: bool,
    progress: &Progress,
) -> Result<BenchReport> {
    let topo = topology::topology(sc, &plan.prefix)?;
    let prep = setup::prepare(&topo)?;
    let (rounds, costs, notes) = topo.vm.run(|| in_vm(&topo, &prep, plan, progress))?;
    drop(prep); // detaches xdp_count
    Ok(report(&topo, plan, quick, rounds, costs, notes))
}

/// Everything that runs inside vm's namespace: programs, warm-up, rounds, ns/packet.
fn in_vm(
    topo: &Topology,
    prep: &Prepared,
    plan: &Plan,
    progress: &Progress,
) -> Result<(Rounds, Vec<CostRow>, Vec<String>)> {
    let tunables = prep.deployment.tunables();
    let mut progs = Programs::load(
        topo.int_index,
        &topo.all_indexes,
        &prep.deployment.pin_dir,
        prep.deployment.netns_inode,
        tunables,
    )?;
    let flows = FRAME_SIZES
        .iter()
        .map(|&s| {
            Ok(SizeFlows {
                frame_size: s,
                service: FlowSet::new(&topo.endpoints, s, plan.flows, Dest::Service, TTL)?,
                target: FlowSet::new(&topo.endpoints, s, plan.flows, Dest::Target, TTL)?,
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
    let rounds = rounds::run(&mut progs, &prep.sink, &feed, plan.rounds, progress)?;
    drop(progs);
    progress.report(Update::Busy {
        what: "measuring ns/packet",
    });
    let costs = cost::measure(
        &CostSetup {
            ingress: topo.ext_index,
            pin_ifindex: prep.pin_ifindex,
            target: topo.int_index,
            devices: &topo.all_indexes,
            entries: &topo.cfg.entries,
            tunables,
            endpoints: &topo.endpoints,
        },
        &FRAME_SIZES,
        plan.cost_repeat,
    )?;
    notes.extend(checks::path_notes(&rounds.samples));
    Ok((rounds, costs, notes))
}

/// The report: one throughput row per variant and frame size, the ratios, the notes.
fn report(
    topo: &Topology,
    plan: &Plan,
    quick: bool,
    rounds: Rounds,
    costs: Vec<CostRow>,
    mut notes: Vec<String>,
) -> BenchReport {
    let mut throughput = Vec::new();
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
    let ratios = Ratio::all(&FRAME_SIZES, &throughput);
    let machine = report::Machine::here(plan.loadavg_at_start);
    let decision_log = summary::decision_log(&rounds.samples, machine.cpus);
    for l in &decision_log {
        notes.push(format!(
            "{}forwarder+log {}B: the log let {} records through ({} received, {} refused, {} \
             lost for a full ring) in {:.2} s on ({} measurement(s)) at {}/s per CPU; bound \
             {} CPUs x ({} x {} + {}/s x {:.2} s) = {:.0}: {}",
            if l.holds { "" } else { "WARNING " },
            l.frame_size,
            l.log.allowed,
            l.log.received,
            l.log.limited,
            l.log.lost,
            l.log.seconds,
            l.measurements,
            l.rate,
            l.cpus,
            l.burst,
            l.measurements,
            l.rate,
            l.log.seconds,
            l.bound,
            if l.holds { "holds" } else { "EXCEEDED" }
        ));
    }
    notes.push(format!(
        "frames go to {} (router-peer: {}) in {} via ifindex {}; delivered = xdp_count on {} in {}",
        topo.endpoints.service,
        topo.endpoints.target,
        topo.vm.name,
        topo.ext_index,
        topo.container_if,
        topo.container.name
    ));
    BenchReport {
        machine,
        decision_log,
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
    }
}
