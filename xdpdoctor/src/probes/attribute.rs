//! Which namespace a probe hit belongs to when the probe could not read it.
//!
//! tp_btf, fexit and the kprobe pair read the device's namespace in the kernel; the skb
//! fallbacks read it through the skb. The classic `xdp:*` tracepoints know ifindexes only, and
//! every namespace reuses the same ifindexes, so an ifindex alone says nothing about where a
//! drop happened. What they also carry is the XDP program's id (`xdp_redirect_err`,
//! `xdp_exception`; not `xdp_devmap_xmit`), and program ids are unique on the machine: a hit
//! whose (program id, ifindex) is where that program is attached (`IFLA_XDP` of every
//! namespace: xdpdoctor's forwarder or anyone's XDP program) belongs to that namespace
//! ([`Attribution::ProgId`]). Anything else is [`Attribution::Unattributed`]: never guessed
//! from the ifindex.

use std::collections::HashMap;

use super::{Aggregate, Attribution, Filter};
use crate::netlink::rtnl::{Link, Rtnl};
use crate::netns::Netns;

/// Attached XDP programs: program id -> every (namespace inode, ifindex) it is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgOwners {
    by_prog: HashMap<u32, Vec<(u64, u32)>>,
}

impl ProgOwners {
    /// Reads `IFLA_XDP` of every link in these namespaces (the ones known to be alive).
    pub fn scan(namespaces: &[(u64, Netns)]) -> Self {
        let mut o = ProgOwners::default();
        for (ino, ns) in namespaces {
            match ns.block_on(|| async { Rtnl::new()?.links().await }) {
                Ok(links) => o.add_links(*ino, &links),
                Err(e) => log::debug!("links of namespace {ns}: {e}"),
            }
        }
        o
    }

    /// Adds every XDP program attached to `links`, in namespace `netns`.
    pub fn add_links(&mut self, netns: u64, links: &[Link]) {
        for l in links {
            for (_, prog) in l.xdp.iter().flat_map(|x| x.each()) {
                self.add(netns, l.index, prog);
            }
        }
    }

    /// Records that `prog_id` runs on `ifindex` in namespace `netns`.
    pub fn add(&mut self, netns: u64, ifindex: u32, prog_id: u32) {
        if prog_id == 0 {
            return;
        }
        let v = self.by_prog.entry(prog_id).or_default();
        if !v.contains(&(netns, ifindex)) {
            v.push((netns, ifindex));
        }
    }

    /// Whether no program is known.
    pub fn is_empty(&self) -> bool {
        self.by_prog.is_empty()
    }

    /// The one namespace where `prog_id` runs on `ifindex`; None if none does, or if several
    /// do (the same program attached in two namespaces on equal ifindexes).
    pub fn owner(&self, prog_id: u32, ifindex: u32) -> Option<u64> {
        if prog_id == 0 || ifindex == 0 {
            return None;
        }
        let mut it = self
            .by_prog
            .get(&prog_id)?
            .iter()
            .filter(|(_, i)| *i == ifindex)
            .map(|(ns, _)| *ns);
        let first = it.next()?;
        it.all(|ns| ns == first).then_some(first)
    }

    /// The namespace of a hit the probe saw in `netns` (0: unknown) with this program id and
    /// ifindex, and how it is known.
    pub fn attribute(&self, netns: u64, prog_id: u32, ifindex: u32) -> (u64, Attribution) {
        if netns != 0 {
            return (netns, Attribution::Device);
        }
        match self.owner(prog_id, ifindex) {
            Some(ns) => (ns, Attribution::ProgId),
            None => (0, Attribution::Unattributed),
        }
    }
}

/// Attributes the kernel's counts (namespace 0 = the probe did not know) and keeps those of
/// the filter's namespaces, plus the unattributed ones (the caller decides what to do with
/// them; they are never counted for a namespace). Largest first.
pub fn aggregates(raw: Vec<Aggregate>, owners: &ProgOwners, filter: &Filter) -> Vec<Aggregate> {
    let mut v: Vec<Aggregate> = raw
        .into_iter()
        .map(|mut a| {
            let (ns, how) = owners.attribute(a.netns_inode, a.prog_id, a.ifindex);
            a.netns_inode = ns;
            a.attribution = how;
            a
        })
        .filter(|a| a.attribution == Attribution::Unattributed || filter.accepts(a.netns_inode, 0))
        .collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.kind.cmp(&b.kind))
            .then(a.netns_inode.cmp(&b.netns_inode))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::EventKind;

    /// Programs attached in `netns`: (ifname, ifindex, prog id).
    fn attached(o: &mut ProgOwners, netns: u64, ifaces: &[(&str, u32, u32)]) {
        for (_, ifindex, prog) in ifaces {
            o.add(netns, *ifindex, *prog);
        }
    }

    /// (namespace, [(ifname, ifindex, program)]) per lab.
    type Labs<'a> = &'a [(u64, &'a [(&'a str, u32, u32)])];

    fn labs(labs: Labs) -> ProgOwners {
        let mut o = ProgOwners::default();
        for (ns, ifaces) in labs {
            attached(&mut o, *ns, ifaces);
        }
        o
    }

    fn agg(netns: u64, prog_id: u32, ifindex: u32, kind: EventKind, count: u64) -> Aggregate {
        Aggregate {
            netns_inode: netns,
            ifindex,
            kind,
            code: -95,
            code_name: "EOPNOTSUPP".into(),
            target_ifindex: 5,
            target_netns_inode: 0,
            prog_id,
            attribution: if netns == 0 {
                Attribution::Unattributed
            } else {
                Attribution::Device
            },
            count,
        }
    }

    /// Two labs, same topology, same ifindexes (eth0 = 3, ve-m1 = 5), different programs.
    fn two_labs() -> ProgOwners {
        labs(&[
            (1001, &[("eth0", 3, 41), ("ve-m1", 5, 42)]),
            (2002, &[("eth0", 3, 51), ("ve-m1", 5, 52)]),
        ])
    }

    fn counts_in(v: &[Aggregate], ns: u64) -> u64 {
        v.iter()
            .filter(|a| a.netns_inode == ns && a.attribution != Attribution::Unattributed)
            .map(|a| a.count)
            .sum()
    }

    #[test]
    fn classic_counts_go_to_the_namespace_owning_the_program() {
        let owners = two_labs();
        let raw = vec![
            agg(0, 41, 3, EventKind::RedirectErr, 7),
            agg(0, 51, 3, EventKind::RedirectErr, 2),
            agg(0, 42, 5, EventKind::XdpException, 1),
        ];
        let v = aggregates(raw, &owners, &Filter::all());
        assert_eq!(counts_in(&v, 1001), 8);
        assert_eq!(counts_in(&v, 2002), 2);
        assert!(v.iter().all(|a| a.attribution == Attribution::ProgId));
        let lab_a = v.iter().find(|a| a.prog_id == 41).unwrap();
        assert_eq!((lab_a.netns_inode, lab_a.ifindex), (1001, 3));
    }

    #[test]
    fn same_ifindex_without_an_owned_program_is_never_attributed() {
        let owners = two_labs();
        let raw = vec![
            // An unknown program on eth0's ifindex: some other namespace's XDP.
            agg(0, 99, 3, EventKind::RedirectErr, 5),
            // devmap_xmit has no program id.
            agg(0, 0, 3, EventKind::DevmapXmit, 4),
            // A forwarder's program, but not on the interface it is deployed on.
            agg(0, 41, 5, EventKind::RedirectErr, 3),
        ];
        let v = aggregates(raw, &owners, &Filter::netns(1001));
        assert_eq!(
            v.len(),
            3,
            "unattributed counts are kept, not dropped: {v:?}"
        );
        assert!(v
            .iter()
            .all(|a| a.attribution == Attribution::Unattributed && a.netns_inode == 0));
        assert_eq!(counts_in(&v, 1001), 0);
        assert_eq!(counts_in(&v, 2002), 0);
    }

    #[test]
    fn filter_drops_counts_attributed_to_other_namespaces() {
        let owners = two_labs();
        let raw = vec![
            agg(0, 41, 3, EventKind::RedirectErr, 7),
            agg(0, 51, 3, EventKind::RedirectErr, 2),
            agg(2002, 51, 3, EventKind::RedirectErr, 6),
            agg(1001, 0, 4, EventKind::KfreeSkb, 1),
        ];
        let v = aggregates(raw, &owners, &Filter::netns(1001));
        assert_eq!(counts_in(&v, 1001), 8);
        assert!(v.iter().all(|a| a.netns_inode == 1001), "{v:?}");
        // Largest first.
        assert_eq!(v[0].count, 7);
    }

    #[test]
    fn device_namespace_wins_over_the_program() {
        let owners = two_labs();
        // tp_btf knew the namespace: the program id does not move it.
        let (ns, how) = owners.attribute(2002, 41, 3);
        assert_eq!((ns, how), (2002, Attribution::Device));
    }

    #[test]
    fn a_program_deployed_in_two_namespaces_on_equal_ifindexes_is_ambiguous() {
        let owners = labs(&[(1001, &[("eth0", 3, 41)]), (2002, &[("eth0", 3, 41)])]);
        assert_eq!(owners.owner(41, 3), None);
        assert_eq!(owners.attribute(0, 41, 3), (0, Attribution::Unattributed));
        // On different ifindexes the interface decides.
        let owners = labs(&[(1001, &[("eth0", 3, 41)]), (2002, &[("eth1", 4, 41)])]);
        assert_eq!(owners.owner(41, 4), Some(2002));
    }

    #[test]
    fn no_deployments_nothing_attributed() {
        let owners = ProgOwners::default();
        assert!(owners.is_empty());
        assert_eq!(owners.attribute(0, 41, 3), (0, Attribution::Unattributed));
        assert_eq!(owners.attribute(0, 0, 0), (0, Attribution::Unattributed));
    }
}
