//! `xdpdoctor fix [--apply | --revert] [--prefer xdp|gro] [--csum container|forwarder]`: prints the plan (default), applies
//! it (journaled, idempotent), or restores the journaled previous state.
//!
//! Exit codes: 0 done (or nothing to do), 1 some finding has no automatic fix or a step failed,
//! 2 could not diagnose / read the journal, or interrupted (Ctrl-C stops between steps; the
//! journal holds exactly the steps done, and `fix --revert` undoes them).
#![allow(clippy::print_stdout)] // the CLI prints results; the library never does

use anyhow::{Context, Result};
use comfy_table::Cell;
use serde::Serialize;
use xdpdoctor::diagnose::{self, ObserveOptions};
use xdpdoctor::fix::{self, Action, Applied, PeerFix};
use xdpdoctor::netns::Netns;

use super::output::{bad, cell, good, print_json, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply the plan (default: print it only).
    #[arg(long, conflicts_with = "revert")]
    pub apply: bool,
    /// Restore the state recorded by earlier `--apply` runs and remove their pins.
    #[arg(long)]
    pub revert: bool,
    /// How to let a veth peer accept XDP redirects.
    #[arg(long, value_enum, default_value = "xdp")]
    pub prefer: Prefer,
    /// How to repair partial checksums (veth-tx-csum-offload).
    #[arg(long, value_enum, default_value = "container")]
    pub csum: Csum,
    #[command(flatten)]
    pub nat: super::diagnose::NatArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Csum {
    /// Turn tx checksum offload off on the container-side veth.
    Container,
    /// Have the forwarder compute full checksums (switched without downtime with
    /// BPF_LINK_UPDATE); for hosts where containers cannot be touched.
    Forwarder,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Prefer {
    /// Attach a pass-through XDP program (bpf_link pinned under /sys/fs/bpf/xdpdoctor).
    Xdp,
    /// Request GRO on the peer (5.13+).
    Gro,
}

#[derive(Serialize)]
struct PlanOut<'a> {
    findings: usize,
    manual: Vec<String>,
    actions: &'a [Action],
    /// The equivalent shell command of each action (they run as printed).
    commands: Vec<String>,
    results: &'a [Applied],
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let key = ns.key()?;
    if a.revert {
        let res = fix::revert_all(key).context("reverting fixes")?;
        let failed = res.iter().any(|r| r.outcome.failed());
        print_results(a.json, &[], &[], &res, "nothing to revert (no journal)")?;
        interrupted("fix --revert", &res)?;
        return Ok(if failed {
            super::EXIT_FINDINGS
        } else {
            super::EXIT_OK
        });
    }
    // The one writer of this namespace's fixes, from the diagnosis on: a second `fix
    // --apply` waits, then diagnoses what the first left (nothing to fix).
    let _lock = if a.apply {
        Some(fix::lock(key).context("waiting for another xdpdoctor")?)
    } else {
        None
    };
    let opts = ObserveOptions {
        window: std::time::Duration::ZERO,
        ..Default::default()
    };
    let hint = a.nat.hint()?;
    let r = diagnose::diagnose(ns, hint.as_ref(), &opts)
        .with_context(|| format!("diagnosing the XDP programs in namespace {ns}"))?;
    if matches!(a.csum, Csum::Forwarder) && r.snapshot.forwarder.is_none() {
        anyhow::bail!(
            "--csum forwarder: the XDP programs in {ns} were not deployed by xdpdoctor ({}), so \
             xdpdoctor cannot switch them to full checksums; use --csum container (tx checksum \
             off in the containers) or change the program",
            r.snapshot
                .xdp
                .programs
                .iter()
                .map(|p| format!("{} id {}", p.name, p.id))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if matches!(a.csum, Csum::Forwarder) && r.snapshot.kernel_version().is_some_and(|v| v < (5, 18))
    {
        anyhow::bail!(
            "--csum forwarder: the forwarder's full checksums read the segment with \
             bpf_xdp_load_bytes, which Linux {} lacks (5.18+); nothing changed. Use --csum \
             container (tx checksum off in the containers)",
            r.snapshot.kernel
        );
    }
    let prefer = match a.prefer {
        Prefer::Xdp => PeerFix::Xdp,
        Prefer::Gro => PeerFix::Gro,
    };
    let fwd = r.snapshot.home().ns.clone();
    let actions = match a.csum {
        Csum::Container => fix::plan(&r.diagnosis.findings, prefer),
        Csum::Forwarder => fix::plan_with(&r.diagnosis.findings, prefer, Some(&fwd)),
    };
    let gro = actions.iter().any(|a| matches!(a, Action::SetGro { .. }));
    if gro && r.snapshot.kernel_version().is_some_and(|v| v < (5, 13)) {
        // veth_xdp_xmit needs an XDP program on the peer before 5.13 (GRO gives it no NAPI).
        anyhow::bail!(
            "--prefer gro: on Linux {} requested GRO does not let a veth take redirected XDP \
             frames (that came with 5.13); nothing changed. Use the default, --prefer xdp (a \
             pass-through XDP program on the peer)",
            r.snapshot.kernel
        );
    }
    // Consequences are resolved by their causes' fixes: only root causes can need a hand.
    let manual: Vec<String> = r
        .diagnosis
        .roots()
        .filter(|f| f.fix.is_none())
        .map(|f| format!("{} {}: {}", f.id, f.subject, f.fix_text()))
        .collect();
    let results = if a.apply {
        fix::apply_all(key, &actions).context("applying fixes")?
    } else {
        Vec::new()
    };
    let failed = results.iter().any(|r| r.outcome.failed());
    let stopped = || interrupted("fix --apply", &results);
    if a.json {
        print_json(&PlanOut {
            findings: r.diagnosis.findings.len(),
            manual: manual.clone(),
            actions: &actions,
            commands: actions.iter().map(fix::command).collect(),
            results: &results,
        })?;
    } else {
        print_results(false, &actions, &manual, &results, "nothing to fix")?;
        if !a.apply && !actions.is_empty() {
            println!(
                "dry run: `xdpdoctor fix --apply` applies this plan (`fix --revert` undoes it)"
            );
        }
    }
    stopped()?;
    Ok(if failed || !manual.is_empty() {
        super::EXIT_FINDINGS
    } else {
        super::EXIT_OK
    })
}

/// After Ctrl-C: the error that makes the command exit 2, saying how far it got.
fn interrupted(what: &str, results: &[Applied]) -> Result<()> {
    if !xdpdoctor::cancel::interrupted() {
        return Ok(());
    }
    let done = results
        .iter()
        .filter(|r| !matches!(r.outcome, fix::Outcome::NotRun))
        .count();
    Err(anyhow::Error::new(xdpdoctor::Error::Interrupted).context(format!(
        "{what} stopped between steps after {done} of {} step(s); the journal records exactly what was done (`xdpdoctor fix --revert` undoes it)",
        results.len()
    )))
}

fn print_results(
    json: bool,
    actions: &[Action],
    manual: &[String],
    results: &[Applied],
    empty: &str,
) -> Result<()> {
    if json {
        return print_json(&PlanOut {
            findings: 0,
            manual: manual.to_vec(),
            actions,
            commands: actions.iter().map(fix::command).collect(),
            results,
        });
    }
    if actions.is_empty() && results.is_empty() && manual.is_empty() {
        println!("{empty}");
        return Ok(());
    }
    if results.is_empty() {
        let mut t = table(&["#", "fix", "equivalent command (reference only, not run)"]);
        for (n, a) in actions.iter().enumerate() {
            t.add_row(vec![cell(n + 1), cell(a.id()), cell(fix::command(a))]);
        }
        println!("{t}");
    } else {
        // Revert results carry what each step found; their command is the undo.
        let reverting = results.iter().any(|r| r.detail.is_some());
        let mut t = if reverting {
            table(&["fix", "result", "undo (equivalent command)", "found / done"])
        } else {
            table(&["fix", "result", "equivalent command"])
        };
        for r in results {
            let text = xdpdoctor::report::escape::text(&r.outcome.text()).into_owned();
            let res = if r.outcome.failed() {
                bad(&text)
            } else {
                good(&text)
            };
            let mut row = vec![cell(&r.fix), Cell::new(res), cell(&r.command)];
            if reverting {
                row.push(cell(r.detail.as_deref().unwrap_or("")));
            }
            t.add_row(row);
        }
        println!("{t}");
    }
    for m in manual {
        println!("manual: {}", super::output::esc(m));
    }
    Ok(())
}
