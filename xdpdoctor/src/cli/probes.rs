//! `xdpdoctor probes [--json]`: which probes this kernel allows, and why the others are
//! refused; then the kernel capabilities the bench's methods depend on (test runs, live-frame
//! test runs, BPF runtime statistics, AF_PACKET transmit), each with the errno of a refusal.
//! Attaches everything for a moment (that is the only honest test) and detaches on return.
//!
//! `--json` prints one array: the probes' rows (`name`, `kind`, `active`, `reason`), then one
//! row per capability with `kind` = `capability`, `active` = allowed, and `errno` and `probe`
//! (what was tried) added.

use anyhow::{Context, Result};
use comfy_table::Cell;
use serde::Serialize;
use xdpdoctor::bpf::capabilities::{self, Capability};
use xdpdoctor::netns::Netns;
use xdpdoctor::probes::{Filter, ProbeSet, ProbeStatus};

use super::output::{bad, good, print_json, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A capability as a row of the probes' JSON array.
#[derive(Serialize)]
struct CapabilityRow<'a> {
    name: &'a str,
    kind: &'static str,
    active: bool,
    reason: Option<&'a str>,
    errno: Option<&'a str>,
    probe: &'a str,
}

/// One element of `probes --json`.
#[derive(Serialize)]
#[serde(untagged)]
enum Row<'a> {
    Probe(&'a ProbeStatus),
    Capability(CapabilityRow<'a>),
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let set = ProbeSet::attach(&Filter::all()).context("loading the probes")?;
    let report = set.report();
    drop(set);
    let caps = ns.run(|| Ok(capabilities::probe()))?;
    if a.json {
        let rows: Vec<Row> = report
            .iter()
            .map(Row::Probe)
            .chain(caps.iter().map(|c| {
                Row::Capability(CapabilityRow {
                    name: c.name.as_str(),
                    kind: "capability",
                    active: c.allowed,
                    reason: c.reason.as_deref(),
                    errno: c.errno.as_deref(),
                    probe: &c.probe,
                })
            }))
            .collect();
        print_json(&rows)?;
    } else {
        println!("{}", render(&report));
        println!("{}", render_capabilities(&caps));
    }
    Ok(super::EXIT_OK)
}

/// The capability table, shared with `trace`.
pub fn render(report: &[ProbeStatus]) -> comfy_table::Table {
    let mut t = table(&["probe", "via", "status", "why not"]);
    for s in report {
        let standby = s
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("fallback, not needed"));
        let status = if s.active {
            good("active")
        } else if standby {
            "standby".into()
        } else {
            bad("unavailable")
        };
        t.add_row(vec![
            Cell::new(&s.name),
            Cell::new(s.kind.as_str()),
            Cell::new(status),
            Cell::new(s.reason.as_deref().unwrap_or("")),
        ]);
    }
    t
}

/// What the kernel allows the bench's methods (docs/performance.md).
pub fn render_capabilities(caps: &[Capability]) -> comfy_table::Table {
    let mut t = table(&["capability", "status", "probed with", "why not"]);
    for c in caps {
        t.add_row(vec![
            Cell::new(c.name.as_str()),
            Cell::new(if c.allowed {
                good("allowed")
            } else {
                bad("refused")
            }),
            Cell::new(&c.probe),
            // The reason repeats what was tried (it must stand alone elsewhere): not here.
            Cell::new(c.reason.as_deref().map_or("", |r| {
                r.strip_prefix(c.probe.as_str())
                    .map_or(r, |r| r.trim_start_matches(": "))
            })),
        ]);
    }
    t
}
