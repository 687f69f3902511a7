//! `xdpdoctor status [--json]`

use anyhow::{Context, Result};
use comfy_table::Cell;
use xdpdoctor::forwarder;
use xdpdoctor::netns::Netns;

use super::output::{bad, good, print_json, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let st = forwarder::status(ns)
        .with_context(|| format!("reading the forwarder in namespace {ns}"))?;
    if a.json {
        print_json(&st)?;
        return Ok(super::EXIT_OK);
    }
    println!(
        "forwarder in {} (netns inode {}), {:?} mode, TCP checksum: {}",
        st.netns,
        st.netns_inode,
        st.mode,
        if st.full_checksum {
            "full recomputation"
        } else {
            "incremental"
        }
    );
    if let Some(c) = &st.config_file {
        println!("config: {c}");
    }
    let mut t = table(&["interface", "ifindex", "role", "program", "attached"]);
    for i in &st.interfaces {
        let att = if i.attached {
            good("yes")
        } else {
            bad(&format!(
                "no (now: {})",
                i.attached_prog_id
                    .map(|p| format!("prog {p}"))
                    .unwrap_or("none".into())
            ))
        };
        t.add_row(vec![
            Cell::new(&i.name),
            Cell::new(i.ifindex),
            Cell::new(i.role),
            Cell::new(i.prog_id),
            Cell::new(att),
        ]);
    }
    println!("{t}");
    let mut t = table(&["dnat: from", "to", "snat: reply from", "becomes"]);
    let n = st.dnat.len().max(st.snat.len());
    for k in 0..n {
        let d = st.dnat.get(k);
        let s = st.snat.get(k);
        t.add_row(vec![
            d.map(|e| e.key.to_string()).unwrap_or_default(),
            d.map(|e| e.value.to_string()).unwrap_or_default(),
            s.map(|e| e.key.to_string()).unwrap_or_default(),
            s.map(|e| e.value.to_string()).unwrap_or_default(),
        ]);
    }
    println!("{t}");
    println!("devmap: {:?}", st.devmap);
    let mut t = table(&["counter", "packets"]);
    for (name, v) in st.counters.iter().filter(|(_, v)| *v > 0) {
        t.add_row(vec![Cell::new(name), Cell::new(v)]);
    }
    println!("{t}");
    Ok(super::EXIT_OK)
}
