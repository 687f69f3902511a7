//! The measuring part of a bench run, inside the bench's lab: resolve the topology, prepare
//! the lab ([`super::setup`]), then on a thread inside vm's namespace load the programs, warm
//! up, run the rounds ([`super::rounds`]) and the ns/packet table ([`super::cost`]); finally
//! turn the samples into the report's rows and ratios ([`super::summary`], `report::Ratio`).

use super::cost::{self, CostSetup};
use super::report::{self, BenchReport, Ratio};
use super::rounds::{self, Feed, SizeFlows};
use super::traffic::{Dest, FlowSet, FRAME_SIZES, TTL};
use super::variants::{Programs, Variant};
use super::{checks, setup, summary, topology, Plan};
use crate::lab::Scenario;
use crate::Result;

/// Measures in the lab `plan.prefix` built from `sc`; the caller takes the lab down.
pub(super) fn measure_lab(sc: &Scenario, plan: &Plan, quick: bool) -> Result<BenchReport> {
    let topo = topology::topology(sc, &plan.prefix)?;
    let prep = setup::prepare(&topo)?;
    let tunables = prep.deployment.tunables();

    let (prep_ref, topo_ref) = (&prep, &topo);
    let (rounds, costs, mut notes) = topo.vm.run(move || {
        let (topo, prep) = (topo_ref, prep_ref);
        let mut progs = Programs::load(
            topo.int_index,
            &topo.all_indexes,
            &prep.deployment.pin_dir,
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
        let rounds = rounds::run(&mut progs, &prep.sink, &feed, plan.rounds)?;
        drop(progs);
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
    })?;
    drop(prep); // detaches xdp_count

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
    notes.push(format!(
        "frames go to {} (router-peer: {}) in {} via ifindex {}; delivered = xdp_count on {} in {}",
        topo.endpoints.service,
        topo.endpoints.target,
        topo.vm.name,
        topo.ext_index,
        topo.container_if,
        topo.container.name
    ));
    Ok(BenchReport {
        machine: report::Machine::here(plan.loadavg_at_start),
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
