//! A small packet-path diagram per NAT entry, marking the stages where packets die:
//!
//! ```text
//! 192.168.9.1:8080 -> 10.123.1.1:80
//!   client -> vm/eth0 -> fib -> devmap -> vm/ve-m1 => m1/host0 -> reply -> client
//!                        ✗ interface-no-address     ✗ veth-peer-no-xdp   ✗ veth-tx-csum-offload
//! ```
//! Rendered as one line per stage for readability on narrow terminals.

use super::Style;
use crate::diagnose::{Finding, Report};
use crate::snapshot::{paths::nat_paths, PathStage};

/// The diagram for every NAT entry of the report.
pub fn diagram(r: &Report, st: Style) -> String {
    let snap = &r.snapshot;
    let fwd = snap.forwarder_ns();
    let ext: Vec<&str> = snap
        .forwarder
        .interfaces
        .iter()
        .filter(|i| i.role == crate::forwarder::Role::External)
        .map(|i| i.name.as_str())
        .collect();
    let mut s = String::new();
    for p in nat_paths(snap) {
        let entry = format!("{} -> {}", p.from, p.to);
        let hits = |stage: PathStage| -> Vec<&Finding> {
            r.diagnosis
                .findings
                .iter()
                .filter(|f| {
                    f.stage == stage && (f.entries.is_empty() || f.entries.contains(&entry))
                })
                .collect()
        };
        let out = p
            .out_ifindex()
            .and_then(|i| fwd.iface(i))
            .map(|i| i.name().to_string())
            .unwrap_or_else(|| "?".into());
        let container = p
            .container
            .and_then(|(ino, idx)| {
                let ns = snap.ns(ino)?;
                Some(format!("{}/{}", ns.name, ns.iface(idx)?.name()))
            })
            .unwrap_or_else(|| "?".into());
        let stages = [
            (
                PathStage::Attach,
                format!("{}/{} XDP programs", fwd.name, ext.join(",")),
            ),
            (
                PathStage::Ingress,
                format!("DNAT {} on {}", p.from, ext.join(",")),
            ),
            (PathStage::Fib, format!("bpf_fib_lookup {}", p.to.ip())),
            (PathStage::Devmap, format!("bpf_redirect_map -> {out}")),
            (
                PathStage::Veth,
                format!("{}/{out} => {container}", fwd.name),
            ),
            (
                PathStage::Container,
                format!("{container} :{}", p.to.port()),
            ),
            (
                PathStage::Reply,
                format!("{container} -> {out} SNAT -> {}", ext.join(",")),
            ),
            (PathStage::Client, "client".to_string()),
        ];
        s += &format!("{entry}\n");
        let mut dead = false;
        for (stage, label) in stages {
            let h = hits(stage);
            let mark = if !h.is_empty() {
                dead = true;
                st.bad("✗")
            } else if dead {
                "·".to_string()
            } else {
                st.good("✓")
            };
            let ids: Vec<&str> = h.iter().map(|f| f.id.as_str()).collect();
            s += &format!(
                "  {mark} {:<10} {label}{}\n",
                stage.label(),
                if ids.is_empty() {
                    String::new()
                } else {
                    format!("   <- {}", st.bad(&ids.join(", ")))
                }
            );
        }
    }
    s
}
