//! `trace`'s arguments checked and resolved (ripgrep's lowargs -> hiargs): the flags clap
//! parsed ([`Args`]) become a [`Plan`] the library runs. Everything a bad argument can
//! get wrong is found here, before a probe loads: a duration that is not a positive number, a
//! namespace that does not exist, a `--pcap` file that cannot be created, `--decisions` in a
//! namespace without xdpdoctor's forwarder (only it writes decisions) or whose log another
//! xdpdoctor reads, a rate the forwarder's bucket cannot take.

use std::time::Duration;

use anyhow::{Context, Result};
use xdpdoctor::decisions::{Session, Settings};
use xdpdoctor::files::Replace;
use xdpdoctor::forwarder::Deployment;
use xdpdoctor::netns::Netns;
use xdpdoctor::probes::{Filter, ProbeOptions};
use xdpdoctor::trace::{DecisionPlan, PcapOut, Plan};

use super::lowargs::Args;

/// The plan of `trace` with arguments `a` in namespace `ns`.
pub fn plan(a: &Args, ns: &Netns) -> Result<Plan> {
    let duration = match a.duration {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            anyhow::bail!("--duration {s}: must be a positive number of seconds")
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let filter = if a.all_netns || *ns == Netns::current() {
        Filter::all()
    } else {
        let ino = ns
            .inode()
            .with_context(|| format!("--netns {ns}: cannot find the namespace"))?;
        Filter::netns(ino)
    };
    // Checked before the probes load, like everything here: a bad rate, no forwarder of ours
    // in the namespace, another reader of its log (exit 2).
    let decisions = if a.decisions {
        Some(decisions(ns, a.decision_rate)?)
    } else {
        None
    };
    anyhow::ensure!(
        (1..=1 << 20).contains(&a.pcap_limit),
        "--pcap-limit {}: use 1 to 1048576 MiB",
        a.pcap_limit
    );
    let replace = if a.force {
        Replace::Own
    } else {
        Replace::Never
    };
    let pcap = a
        .pcap
        .as_deref()
        .map(|p| {
            PcapOut::create(p, replace, a.pcap_limit << 20)
                .with_context(|| format!("--pcap {}", p.display()))
        })
        .transpose()?;
    Ok(Plan {
        netns: ns.clone(),
        filter,
        // veth_xdp_xmit before the first veth exists (veth as a module): attach it when it
        // loads.
        probes: ProbeOptions {
            redirects: a.redirects,
            wait_for_modules: true,
            exclude: a.without.iter().map(|&k| k.into()).collect(),
        },
        duration,
        pcap,
        decisions,
    })
}

/// The forwarder deployed in `ns`, whose log `--decisions` reads, and the right to read it
/// (one reader at a time).
fn decisions(ns: &Netns, rate: u64) -> Result<DecisionPlan> {
    Settings {
        rate,
        ..Default::default()
    }
    .validate()
    .context("--decision-rate")?;
    let key = ns
        .key()
        .with_context(|| format!("--decisions: namespace {ns}"))?;
    let deployment = Deployment::load(key)?.with_context(|| {
        format!(
            "--decisions: no forwarder deployed by xdpdoctor in namespace {ns}; the decision \
             log is written by xdpdoctor's forwarder only (other XDP programs have none). \
             Deploy one (`xdpdoctor deploy`), or trace without --decisions"
        )
    })?;
    let lock = Session::lock(key).context("--decisions")?;
    Ok(DecisionPlan {
        deployment,
        lock,
        rate,
    })
}
