//! What every rule sees ([`Ctx`]): the snapshot, the window's evidence, the NAT paths and
//! redirect targets computed once, and the phrases rules share ("the forwarder" or the
//! programs by name; what the decision log said about a redirect).

use std::collections::BTreeMap;

use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Evidence, Finding};
use crate::forwarder::{ForwarderStatus, Role};
use crate::netlink::xdp_features::kinds::{xmit_of_kind, Xmit};
use crate::probes::EventKind;
use crate::snapshot::{Iface, NatPath, NsState, Snapshot, Target, TargetSource};

/// What every rule sees.
pub struct Ctx<'a> {
    /// The static state.
    pub snap: &'a Snapshot,
    /// What the window saw.
    pub ev: &'a Evidence,
    /// The path of every known NAT entry (empty when the entries are unknown).
    pub paths: Vec<NatPath>,
    /// Every redirect target: the static ones and those the tracepoints saw, by ifindex.
    pub targets: Vec<Target>,
}

impl<'a> Ctx<'a> {
    /// The context of one diagnosis: paths and targets computed once.
    pub fn new(snap: &'a Snapshot, ev: &'a Evidence) -> Self {
        let mut targets: BTreeMap<u32, Target> = snap
            .redirect_targets()
            .into_iter()
            .map(|t| (t.ifindex, t))
            .collect();
        // Targets the redirect tracepoints saw (programs that call bpf_redirect() have no
        // static list), in the diagnosed namespace only.
        for pc in &ev.probes.counts {
            let redirect = matches!(
                pc.kind,
                EventKind::Redirect | EventKind::RedirectErr | EventKind::DevmapXmit
            );
            let elsewhere = pc.target_netns_inode != 0 && pc.target_netns_inode != snap.netns_inode;
            if !redirect
                || pc.netns_inode != snap.netns_inode
                || pc.target_ifindex == 0
                || elsewhere
            {
                continue; // (redirect-target-other-netns reports the ones that leave)
            }
            if snap.home().iface(pc.target_ifindex).is_none() {
                continue;
            }
            let native = snap.xdp.native_on(pc.ifindex).is_some();
            targets
                .entry(pc.target_ifindex)
                .and_modify(|t| t.native |= native)
                .or_insert(Target {
                    ifindex: pc.target_ifindex,
                    native,
                    source: TargetSource::Observed,
                });
        }
        Ctx {
            snap,
            ev,
            paths: crate::snapshot::paths::nat_paths(snap),
            targets: targets.into_values().collect(),
        }
    }

    /// The diagnosed namespace (where the XDP programs run).
    pub fn home(&self) -> &'a NsState {
        self.snap.home()
    }

    /// The NAT paths whose target a container behind a veth of the diagnosed namespace holds:
    /// (entry number, path, that veth), in entry order.
    pub fn paths_with_veth(&self) -> impl Iterator<Item = (usize, &NatPath, &'a Iface)> + '_ {
        let home = self.home();
        self.paths
            .iter()
            .enumerate()
            .filter_map(move |(n, p)| Some((n, p, home.iface(p.intended?)?)))
    }

    /// xdpdoctor's forwarder, when it is the one running here.
    pub fn ours(&self) -> Option<&'a ForwarderStatus> {
        self.snap.forwarder.as_ref()
    }

    /// `from -> to` of the NAT entries whose packets leave through `ifindex`.
    pub fn entries_via(&self, ifindex: u32) -> Vec<String> {
        self.paths
            .iter()
            .filter(|p| p.out_ifindex() == Some(ifindex))
            .map(|p| format!("{} -> {}", p.from, p.to))
            .collect()
    }

    /// `from -> to` of the NAT entries whose replies come back through `ifindex`: the veth
    /// (or bridge port) towards the container holding the target. That is the egress for a
    /// routed veth, but not when the route leaves through a device stacked on the veth (a
    /// macvlan or VLAN device, whose replies still arrive on the veth) or a bridge.
    pub fn entries_replying_via(&self, ifindex: u32) -> Vec<String> {
        self.paths
            .iter()
            .filter(|p| replies_via(p, ifindex))
            .map(|p| format!("{} -> {}", p.from, p.to))
            .collect()
    }

    /// Like [`Ctx::order_of`], for the entries whose replies come back through `ifindex`.
    pub fn order_replying_via(&self, ifindex: u32) -> u32 {
        if self.paths.is_empty() {
            return ifindex;
        }
        self.paths
            .iter()
            .position(|p| replies_via(p, ifindex))
            .unwrap_or(usize::MAX >> 33) as u32
    }

    /// Index of the first NAT entry leaving through `ifindex` (sort key within a stage);
    /// without entries, the ifindex orders.
    pub fn order_of(&self, ifindex: u32) -> u32 {
        if self.paths.is_empty() {
            return ifindex;
        }
        self.paths
            .iter()
            .position(|p| p.out_ifindex() == Some(ifindex))
            .unwrap_or(usize::MAX >> 33) as u32
    }

    /// Every redirect target that is an interface of the diagnosed namespace.
    pub fn redirect_targets(&self) -> impl Iterator<Item = (&'a Iface, &Target)> + '_ {
        let home = self.home();
        self.targets
            .iter()
            .filter_map(move |t| home.iface(t.ifindex).map(|i| (i, t)))
    }

    /// Whether `ifindex` is known to be an external (DNAT) interface.
    pub fn is_external(&self, ifindex: u32) -> bool {
        self.snap.role(ifindex) == Some(Role::External)
    }

    /// Kernel at least `major.minor` (unknown counts as the newest).
    pub fn kernel_at_least(&self, major: u32, minor: u32) -> bool {
        self.snap
            .kernel_version()
            .is_none_or(|v| v >= (major, minor))
    }

    /// A counter of our forwarder: total since deploy, and the delta over the window (0, 0
    /// for a program xdpdoctor did not deploy).
    pub fn counter(&self, c: Counter) -> (u64, u64) {
        (self.snap.counter(c), self.ev.counter_delta(c))
    }

    /// How people call the XDP programs in findings: "the forwarder" for ours, else the
    /// programs by name and id.
    pub fn who(&self) -> String {
        let ids: Vec<u32> = self
            .snap
            .xdp
            .attachments
            .iter()
            .map(|a| a.prog_id)
            .collect();
        self.programs(&ids)
    }

    /// The native-mode programs that redirect to `ifindex`, as [`Ctx::who`] names them: by
    /// their devmaps, or (no redirect map) seen doing it during the window.
    pub fn who_reaches(&self, ifindex: u32) -> String {
        let xdp = &self.snap.xdp;
        // Each distinct program once: a forwarder attached to 500 veths is one program whose
        // devmap holds 501 devices (asked per attachment, this rule took 4 s at 500 containers).
        let native: std::collections::BTreeSet<u32> = xdp
            .attachments
            .iter()
            .filter(|a| a.mode == crate::netlink::rtnl::XdpMode::Driver)
            .map(|a| a.prog_id)
            .collect();
        let home = self.snap.netns_inode;
        let ids: Vec<u32> = native
            .into_iter()
            .filter(|&id| {
                let t = xdp.targets_of(id);
                t.devices.contains(&ifindex)
                    || (t.unknown
                        && xdp.attachments.iter().any(|a| {
                            a.prog_id == id
                                && self.ev.redirected_from(home, a.ifindex, Some(ifindex))
                        }))
            })
            .collect();
        if ids.is_empty() {
            self.who()
        } else {
            self.programs(&ids)
        }
    }

    /// "the forwarder", "the XDP program NAME (id N)" or "the XDP programs A (id 1), B (id 2)".
    pub fn programs(&self, ids: &[u32]) -> String {
        if self.ours().is_some() {
            return "the forwarder".into();
        }
        let names: Vec<String> = ids
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .map(|id| {
                let name = self
                    .snap
                    .xdp
                    .program(id)
                    .map(|p| p.name.as_str())
                    .unwrap_or("?");
                format!("{name} (id {id})")
            })
            .collect();
        match names.len() {
            0 => "the XDP program".into(),
            1 => format!("the XDP program {}", names[0]),
            _ => format!("the XDP programs {}", names.join(" and ")),
        }
    }

    /// The window's evidence that packets sent to `v` died after the program: the probes'
    /// failure counts of `kinds` from namespace `ns` (`veth_xdp_xmit` names the veth itself,
    /// counted "on" it; the others "to" it), the forwarder's redirects, and the decision
    /// log's line about them.
    pub fn observe_redirects_into(&self, f: &mut Finding, ns: u64, v: &Iface, kinds: &[EventKind]) {
        for &kind in kinds {
            let (as_target, word) = if kind == EventKind::VethXdpXmit {
                (false, "on")
            } else {
                (true, "to")
            };
            for pc in self.ev.probe_count(kind, ns, v.index(), as_target) {
                f.observe(
                    format!("{kind} {} ({}) {word} {}", pc.code, pc.code_name, v.name()),
                    pc.count,
                );
            }
        }
        // Only the probes' failure counts above say the packets died.
        let died = !f.observed.is_empty();
        f.observe(
            "forwarder redirected (window; dropped after the redirect)",
            self.ev.counter_delta(Counter::Redirected),
        );
        if let Some(line) = self.decided_redirects(v.index(), v.name(), died) {
            f.evidence.push(line);
        }
    }

    /// The evidence line of the forwarder's decision log for redirects to `ifindex` (named
    /// `name`) during the window, if it logged any: the seed incident's own reasoning, "the
    /// forwarder redirected to ve-m1: the packet dies after the program". `died`: the window saw
    /// the redirects fail (probe counts), so the sentence may say where they die.
    pub fn decided_redirects(&self, ifindex: u32, name: &str, died: bool) -> Option<String> {
        let (n, to) = self.ev.decisions.redirected_to(ifindex);
        if n == 0 {
            return None;
        }
        let sample = if self.ev.decisions.limited > 0 {
            " (a rate-limited sample)"
        } else {
            ""
        };
        Some(format!(
            "decision log: the forwarder redirected {n} packet(s){sample} to {name} ({ifindex}), \
             translated to {}{}",
            to.join(", "),
            if died {
                ": the packet dies after the program"
            } else {
                ""
            }
        ))
    }
}

/// Why a device cannot take XDP frames redirected to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoXmit {
    /// Its `xdp_features` (6.3+) lack `ndo-xmit`: the bits.
    Features(u64),
    /// Its kind has no `ndo_xdp_xmit` (older kernels: the table in
    /// `netlink::xdp_features::kinds`).
    Kind,
}

/// Whether `v`, which is not a veth, cannot take redirected XDP frames: its `xdp_features`
/// say so (6.3+), or, where the kernel has none, its kind never can. None: it can, or it
/// depends on its driver. A veth's case is its peer's (`veth-peer-no-xdp`), never this.
pub fn cannot_take_frames(v: &Iface) -> Option<NoXmit> {
    if v.is_veth() {
        return None;
    }
    match (v.xdp_features, v.ndo_xmit()) {
        (Some(bits), Some(false)) => Some(NoXmit::Features(bits)),
        (Some(_), _) => None,
        (None, _) => (xmit_of_kind(v.link.kind.as_ref(), v.name() == "lo") == Xmit::Never)
            .then_some(NoXmit::Kind),
    }
}

/// The sentence-initial form of `s` ("the forwarder" -> "The forwarder").
pub fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether the replies of `p`'s entry arrive on `ifindex`: its veth towards the container, or
/// its egress when no such veth is known.
fn replies_via(p: &NatPath, ifindex: u32) -> bool {
    p.intended.or(p.out_ifindex()) == Some(ifindex)
}
