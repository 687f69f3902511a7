//! The bench's second table: how long `diagnose` takes on the seed lab and on generated labs
//! of 10, 100 and 500 containers (`lab::fleet`), static part and total, so its growth with the
//! size of a host is visible. Each lab has the seed's three default faults on, so the rules
//! have work to do; each is built, measured and taken down before the next.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::diagnose::{self, ObserveOptions};
use crate::forwarder::AttachMode;
use crate::lab::{self, fleet, LabState, Scenario, UpOptions};
use crate::netns::Netns;
use crate::progress::Progress;
use crate::{cancel, Result};

/// How long `diagnose` took on one lab.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnoseTiming {
    /// The scenario (`seed`, `fleet-N`).
    pub lab: String,
    /// Containers in it.
    pub containers: usize,
    /// Network namespaces in it (containers, router, client).
    pub namespaces: usize,
    /// Seconds `lab up` took (context: the cost of building the lab itself).
    pub lab_up_s: f64,
    /// `diagnose --observe 0`: snapshot + rules.
    pub static_ms: u64,
    /// `diagnose` with the default observe window (probes, captures, snmp).
    pub total_ms: u64,
    /// The observe window asked for.
    pub window_ms: u64,
    /// Findings the diagnose reported.
    pub findings: usize,
    /// static_ms per container, to read the growth.
    pub static_ms_per_container: f64,
}

/// Sizes measured: the seed lab, then fleet sizes.
pub fn sizes(quick: bool) -> Vec<Option<usize>> {
    if quick {
        vec![None, Some(10)]
    } else {
        vec![None, Some(10), Some(100), Some(500)]
    }
}

/// Measures every size; labs are removed even when a measurement fails.
pub fn measure(
    exe: &std::path::Path,
    prefix_base: &str,
    quick: bool,
    window: Duration,
    progress: &Progress,
) -> Result<Vec<DiagnoseTiming>> {
    let mut out = Vec::new();
    let all = sizes(quick);
    for (i, size) in all.iter().copied().enumerate() {
        cancel::check()?;
        progress.steps("diagnose timing (labs)", i as u64, all.len() as u64);
        let (sc, file) = match size {
            None => crate::lab::catalog::load("seed", None)?,
            Some(n) => (fleet::fleet(n)?, format!("(generated) fleet {n}").into()),
        };
        let prefix = format!("{prefix_base}d{i}");
        let opts = UpOptions {
            prefix: prefix.clone(),
            faults: vec![],
            no_faults: false,
            exe: exe.to_path_buf(),
            mode: AttachMode::Driver,
            forwarder: true,
            progress: progress.clone(),
        };
        let t0 = Instant::now();
        lab::up(&sc, &file, &opts)?;
        let lab_up_s = t0.elapsed().as_secs_f64();
        let res = one(&sc, &prefix, window);
        let down = lab::down(&prefix);
        let (static_ms, total_ms, findings) = res?;
        down?;
        let containers = size.unwrap_or(2);
        out.push(DiagnoseTiming {
            lab: sc.name.clone(),
            containers,
            namespaces: sc.nodes.len(),
            lab_up_s,
            static_ms,
            total_ms,
            window_ms: window.as_millis() as u64,
            findings,
            static_ms_per_container: static_ms as f64 / containers as f64,
        });
    }
    Ok(out)
}

fn one(sc: &Scenario, prefix: &str, window: Duration) -> Result<(u64, u64, usize)> {
    let node = sc
        .forwarder
        .as_ref()
        .map(|f| f.node.as_str())
        .unwrap_or("vm");
    let ns = Netns::named(&LabState::ns_name(prefix, node));
    let quiet = ObserveOptions {
        window: Duration::ZERO,
        ..Default::default()
    };
    let t = Instant::now();
    let r = diagnose::diagnose(&ns, None, &quiet)?;
    let static_ms = t.elapsed().as_millis() as u64;
    let full = ObserveOptions {
        window,
        traffic: Some(std::sync::Arc::new(crate::lab::LabClient::of_prefix(
            prefix,
        )?)),
        ..Default::default()
    };
    let t = Instant::now();
    diagnose::diagnose(&ns, None, &full)?;
    let total_ms = t.elapsed().as_millis() as u64;
    Ok((static_ms, total_ms, r.diagnosis.findings.len()))
}
