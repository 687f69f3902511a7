//! `nat-entry-asymmetric`: a DNAT entry without the matching SNAT entry (replies leave
//! untranslated and the client resets or ignores them), or an SNAT entry without its DNAT
//! entry (connections in never reach the target).

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::{Counter, DNAT_MAP, SNAT_MAP};
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::SnatAdd;
use crate::model::{Action, Fix};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::NatEntryAsymmetric,
    kind: Kind::Cause,
    title: "a NAT entry has no matching reverse entry",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.home();
    let Some(st) = c.ours() else {
        return Vec::new(); // only xdpdoctor's forwarder shows its NAT maps
    };
    let mut out = Vec::new();
    let iface_to = |to: std::net::SocketAddrV4| {
        c.paths
            .iter()
            .find(|p| p.to == to)
            .and_then(|p| p.out_ifindex())
            .and_then(|i| fwd.iface(i))
            .map(|i| i.name().to_string())
    };
    for (n, d) in st.dnat.iter().enumerate() {
        let rev = st.snat.iter().find(|s| s.key == d.value);
        if rev.is_some_and(|s| s.value == d.key) {
            continue;
        }
        let ifname = iface_to(d.value);
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Reply,
            Subject::new(fwd, ifname.as_deref()),
        );
        f.order = n as u32;
        f.entries = vec![format!("{} -> {}", d.key, d.value)];
        f.why = match rev {
            None => format!(
                "Connections to {} are translated to {}, but there is no SNAT entry for {}, so \
                 its replies leave with the internal address and port. The client does not \
                 recognise them and the connection never completes.",
                d.key, d.value, d.value
            ),
            Some(s) => format!(
                "Connections to {} go to {}, but replies from {} are translated to {}, not {}: \
                 the client does not recognise them.",
                d.key, d.value, d.value, s.value, d.key
            ),
        };
        f.evidence
            .push(format!("{DNAT_MAP}: {} -> {}", d.key, d.value));
        f.evidence.push(match rev {
            None => format!("{SNAT_MAP}: no key {}", d.value),
            Some(s) => format!("{SNAT_MAP}: {} -> {}", s.key, s.value),
        });
        let (t, dl) = c.counter(Counter::NoEntry);
        f.observe("forwarder no_entry (since deploy)", t);
        f.observe("forwarder no_entry (window)", dl);
        f.fix = Some(Fix::new(
            format!("add {SNAT_MAP} {} -> {}", d.value, d.key),
            Action::SnatAdd(SnatAdd {
                netns: fwd.ns.clone(),
                key: d.value,
                value: d.key,
            }),
        ));
        out.push(f);
    }
    for s in &st.snat {
        if st.dnat.iter().any(|d| d.value == s.key) {
            continue;
        }
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Ingress,
            Subject::new(fwd, iface_to(s.key).as_deref()),
        );
        f.entries = vec![format!("{} -> {}", s.value, s.key)];
        f.why = format!(
            "Replies from {} are translated to {}, but there is no DNAT entry sending {} to \
             {}: connections from outside never reach the target.",
            s.key, s.value, s.value, s.key
        );
        f.evidence
            .push(format!("{SNAT_MAP}: {} -> {}", s.key, s.value));
        f.evidence
            .push(format!("{DNAT_MAP}: nothing translates to {}", s.key));
        f.manual_fix = Some(format!(
            "redeploy with an entry {{ from = \"{}\", to = \"{}\" }}",
            s.value, s.key
        ));
        out.push(f);
    }
    out
}
