//! `xdpdoctor probes [--json]`: which probes this kernel allows, and why the others are refused.
//! Attaches everything for a moment (that is the only honest test) and detaches on return.

use anyhow::{Context, Result};
use comfy_table::Cell;
use xdpdoctor::netns::Netns;
use xdpdoctor::probes::{Filter, ProbeSet, ProbeStatus};

use super::output::{bad, good, print_json, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args, _ns: &Netns) -> Result<i32> {
    let set = ProbeSet::attach(&Filter::all()).context("loading the probes")?;
    let report = set.report();
    drop(set);
    if a.json {
        print_json(&report)?;
    } else {
        println!("{}", render(&report));
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
