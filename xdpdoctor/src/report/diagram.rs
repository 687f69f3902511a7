//! A small packet-path diagram per NAT entry, marking the stages where packets die:
//!
//! ```text
//! 192.168.9.1:8080 -> 10.123.1.1:80
//!   client -> vm/eth0 -> fib -> devmap -> vm/ve-m1 => m1/host0 -> reply -> client
//!                        ✗ interface-no-address     ✗ veth-peer-no-xdp   ✗ veth-tx-csum-offload
//! ```
//! Rendered as one line per stage for readability on narrow terminals. When the NAT entries
//! are not known (a program xdpdoctor did not load, no `--config`), one diagram per redirect
//! target instead: ingress -> redirect target -> peer namespace, and no entry is invented.

use super::Style;
use crate::diagnose::{Finding, Report};
use crate::snapshot::{paths::nat_paths, PathStage, TargetSource};

/// The diagram for every NAT entry of the report (or every redirect target, entries unknown).
pub fn diagram(r: &Report, st: Style) -> String {
    let snap = &r.snapshot;
    if !snap.entries_known() {
        return target_diagrams(r, st);
    }
    let fwd = snap.home();
    let ext: Vec<&str> = snap
        .nat
        .roles
        .iter()
        .filter(|(_, role)| *role == crate::forwarder::Role::External)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut s = String::new();
    for p in nat_paths(snap) {
        let entry = format!("{} -> {}", p.from, p.to);
        let hits = |stage: PathStage| -> Vec<&Finding> {
            r.diagnosis
                .findings
                .iter()
                .filter(|f| {
                    f.is_root()
                        && f.stage == stage
                        && (f.entries.is_empty() || f.entries.contains(&entry))
                })
                .collect()
        };
        let out = p
            .out_ifindex()
            .and_then(|i| fwd.iface(i))
            .map(|i| i.name().to_string())
            .unwrap_or_else(|| "?".into());
        // Behind a bridge: the port the destination is behind.
        let port = p
            .bridge
            .as_ref()
            .and(p.intended)
            .and_then(|i| fwd.iface(i))
            .map(|i| format!(" port {}", i.name()))
            .unwrap_or_default();
        let replies_in = p
            .intended
            .and_then(|i| fwd.iface(i))
            .map(|i| i.name().to_string())
            .unwrap_or_else(|| out.clone());
        let container = p
            .container
            .and_then(|(ino, idx)| {
                let ns = snap.ns(ino)?;
                Some(ns.ns.at(ns.iface(idx)?.name()))
            })
            .unwrap_or_else(|| "?".into());
        let stages = [
            (
                PathStage::Attach,
                format!("{}/{} XDP programs", fwd.ns.name, ext.join(",")),
            ),
            (
                PathStage::Ingress,
                format!("DNAT {} on {}", p.from, ext.join(",")),
            ),
            (PathStage::Fib, format!("bpf_fib_lookup {}", p.to.ip())),
            (PathStage::Devmap, format!("bpf_redirect_map -> {out}")),
            (
                PathStage::Veth,
                format!("{}/{out}{port} => {container}", fwd.ns.name),
            ),
            (
                PathStage::Container,
                format!("{container} :{}", p.to.port()),
            ),
            (
                PathStage::Reply,
                format!("{container} -> {replies_in} SNAT -> {}", ext.join(",")),
            ),
            (PathStage::Client, "client".to_string()),
        ];
        s += &format!("{entry}\n");
        s += &render(&stages, hits, st);
    }
    s
}

/// One line per stage: ✓ until the first stage with findings, ✗ there, · after it.
fn render<'a>(
    stages: &[(PathStage, String)],
    hits: impl Fn(PathStage) -> Vec<&'a Finding>,
    st: Style,
) -> String {
    let mut s = String::new();
    let mut dead = false;
    for (stage, label) in stages {
        let h = hits(*stage);
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
            "  {mark} {:<10} {}{}\n",
            stage.label(),
            super::escape::text(label),
            if ids.is_empty() {
                String::new()
            } else {
                format!("   <- {}", st.bad(&ids.join(", ")))
            }
        );
    }
    s
}

/// Entries unknown: one diagram per redirect target, "ingress -> target -> peer".
fn target_diagrams(r: &Report, st: Style) -> String {
    let snap = &r.snapshot;
    let home = snap.home();
    let ingress: Vec<String> = snap
        .xdp
        .attachments
        .iter()
        .map(|a| {
            let name = snap
                .xdp
                .program(a.prog_id)
                .map(|p| p.name.as_str())
                .unwrap_or("?");
            format!("{} ({name}, id {}, {:?})", a.ifname, a.prog_id, a.mode)
        })
        .collect();
    let mut s = String::from(
        "NAT entries unknown (give --config to name them): paths by redirect target\n",
    );
    // Findings about the namespace as a whole (a devmap's entries that lead nowhere here)
    // belong to no single path: said once, never marked on every target's path.
    let wide: Vec<&str> = r
        .diagnosis
        .findings
        .iter()
        .filter(|f| f.is_root() && f.subject.interface.is_none())
        .map(|f| f.id.as_str())
        .collect();
    if !wide.is_empty() {
        s += &format!(
            "  {} in {} (not one path): {}\n",
            st.bad("✗"),
            super::escape::text(&home.ns.name),
            st.bad(&wide.join(", "))
        );
    }
    for t in snap.redirect_targets() {
        let Some(v) = home.iface(t.ifindex) else {
            continue;
        };
        let peer = snap.peer_of(v);
        let peer_label = peer
            .map(|(ns, i)| ns.ns.at(i.name()))
            .unwrap_or_else(|| "(no peer)".into());
        // Findings about this target, its peer, or the whole namespace.
        let about = |f: &Finding| {
            let on_target = f.subject.netns.inode == home.ns.inode
                && f.subject.interface.as_deref() == Some(v.name());
            let on_peer = peer.is_some_and(|(ns, i)| {
                f.subject.netns.inode == ns.ns.inode
                    && f.subject.interface.as_deref() == Some(i.name())
            });
            on_target || on_peer
        };
        let hits = |stage: PathStage| -> Vec<&Finding> {
            r.diagnosis
                .findings
                .iter()
                .filter(|f| f.is_root() && f.stage == stage && about(f))
                .collect()
        };
        let stages = [
            (
                PathStage::Attach,
                format!("{}: {}", home.ns.name, ingress.join(", ")),
            ),
            (
                PathStage::Fib,
                format!(
                    "route to the network behind {}{}",
                    v.name(),
                    networks_via(home, v.index())
                ),
            ),
            (
                PathStage::Devmap,
                match t.source {
                    // A devmap holds an ifindex as its writer's namespace resolved it; the
                    // name is this namespace's interface of that number.
                    TargetSource::Devmap => format!(
                        "redirect -> {} (devmap entry: ifindex {}, named here; the kernel does \
                         not say from which namespace it was written)",
                        v.name(),
                        v.index()
                    ),
                    other => format!("redirect -> {} ({other:?})", v.name()),
                },
            ),
            (
                PathStage::Veth,
                format!("{}/{} => {peer_label}", home.ns.name, v.name()),
            ),
            (
                PathStage::Reply,
                format!("{peer_label} -> {} (replies)", v.name()),
            ),
            (PathStage::Client, "client".to_string()),
        ];
        s += &format!("-> {}\n", super::escape::text(v.name()));
        s += &render(&stages, hits, st);
    }
    s
}

/// ": 10.123.1.0/24, fd00:1::/64": the IPv4 and IPv6 networks the main table routes through
/// interface `ifindex` (link-local and default routes left out), or nothing.
fn networks_via(home: &crate::snapshot::NsState, ifindex: u32) -> String {
    let v4 = home
        .routes
        .iter()
        .filter(|r| r.oif == Some(ifindex) && r.is_unicast() && r.prefix > 0)
        .map(|r| format!("{}/{}", r.dst, r.prefix));
    let v6 = home
        .routes6
        .iter()
        .filter(|r| r.oif == Some(ifindex) && r.is_global_unicast() && r.prefix > 0)
        .map(|r| format!("{}/{}", r.dst, r.prefix));
    let all: Vec<String> = v4.chain(v6).collect();
    if all.is_empty() {
        String::new()
    } else {
        format!(": {}", all.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{NatInfo, Snapshot};
    use crate::xdp::{MapEntry, Owner};

    /// The healthy seed lab as a foreign program's (entries unknown), its devmap grown to 513
    /// entries, 509 of them ifindexes this namespace does not have.
    fn big_devmap() -> Snapshot {
        let mut s: Snapshot =
            serde_json::from_str(include_str!("../../tests/fixtures/seed-healthy.json")).unwrap();
        s.forwarder = None;
        s.nat = NatInfo::default();
        for p in &mut s.xdp.programs {
            p.owner = Owner::Foreign;
        }
        let m = &mut s.xdp.maps[0];
        m.entries.extend((100..609).map(|i| MapEntry {
            key: i,
            value: i,
            prog_id: None,
        }));
        s
    }

    #[test]
    fn a_big_devmap_is_summarized_and_marks_no_good_path() {
        let r = crate::diagnose::diagnose_saved(big_devmap());
        let f = &r.diagnosis.findings;
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].subject.interface.is_none());
        for line in f[0].evidence.iter().chain([&f[0].why]) {
            assert!(line.len() < 400, "{} characters: {line}", line.len());
        }
        assert!(
            f[0].evidence[0].contains("513 entries (key -> ifindex)")
                && f[0].evidence[0].contains("100-608 -> 100-608"),
            "{}",
            f[0].evidence[0]
        );
        assert!(
            f[0].evidence[1].contains("does not say"),
            "{:?}",
            f[0].evidence
        );
        let d = diagram(&r, Style { color: false });
        // Said once for the namespace; every (healthy) target path stays good.
        assert_eq!(d.matches("redirect-target-other-netns").count(), 1, "{d}");
        assert!(!d.contains("  ✗ devmap"), "{d}");
        assert!(d.contains("named here"), "{d}");
    }
}
