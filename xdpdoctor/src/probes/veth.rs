//! `veth_xdp_xmit`'s return value: the probe of the original incident (a kretprobe that saw
//! -6, ENXIO). Up to 6.2 it is where a redirect into a veth whose peer has no XDP fails; from
//! 6.3 the redirect fails earlier (`xdp:xdp_redirect_err`, -EOPNOTSUPP) and this function is
//! never called for it. fexit is preferred (arguments and return value, no kprobe machinery);
//! the fallback is a kprobe + kretprobe pair: the kprobe keeps the `dev` argument (hence its
//! namespace) and the frame count per task (`pid_tgid`), the kretprobe reads them back with
//! the return value, so its events carry a device and a namespace too. Both go together:
//! either both attach or neither.
//!
//! Where veth is a module (Debian's kernels), the function is in `/sys/kernel/btf/veth`, not
//! in vmlinux's BTF: fexit is then loaded against the module's BTF object
//! ([`crate::bpf::tracing`]), and until the module is loaded (no veth created since boot)
//! neither variant can attach: the family says so and, for `trace`, waits for it.

use super::{Aggregate, EventKind, Family, ProbeStatus, Variant};
use crate::bpf::probes_abi as abi;

pub(super) const FAMILIES: &[Family] = &[Family {
    name: "veth_xdp_xmit",
    event: EventKind::VethXdpXmit,
    on_request: false,
    // CONFIG_VETH=m on Debian's kernels (built in on the development machines).
    module: Some("veth"),
    variants: &[
        Variant::fexit(abi::PROG_VETH_FEXIT, "veth_xdp_xmit"),
        Variant::kretprobe(
            abi::PROG_VETH_KPROBE,
            abi::PROG_VETH_KRETPROBE,
            "veth_xdp_xmit",
        ),
    ],
}];

/// Why an active `veth_xdp_xmit` probe saw nothing while redirects into veths failed with
/// -EOPNOTSUPP: from 6.3 such a redirect fails in `__xdp_enqueue` (the veth lacks `ndo-xmit`
/// in `xdp_features`) before `veth_xdp_xmit` could be called, so silence there is expected,
/// not a blind probe. `None` when that is not the situation.
pub fn silence_note(report: &[ProbeStatus], aggregates: &[Aggregate]) -> Option<String> {
    let active = report
        .iter()
        .find(|s| s.name == FAMILIES[0].name && s.active)?;
    let saw = |k: EventKind| aggregates.iter().any(|a| a.kind == k);
    let refused: u64 = aggregates
        .iter()
        .filter(|a| a.kind == EventKind::RedirectErr && a.code == -libc::EOPNOTSUPP)
        .map(|a| a.count)
        .sum();
    (!saw(EventKind::VethXdpXmit) && refused > 0).then(|| {
        format!(
            "veth_xdp_xmit ({}) saw nothing: the {refused} redirect(s) refused with EOPNOTSUPP \
             failed before it is called (xdp_features without ndo-xmit, Linux 6.3+); up to 6.2 \
             the same fault is -ENXIO from veth_xdp_xmit",
            active.kind.as_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::{Attribution, ProbeKind};

    fn agg(kind: EventKind, code: i32, count: u64) -> Aggregate {
        Aggregate {
            netns_inode: 1,
            ifindex: 3,
            kind,
            code,
            code_name: String::new(),
            target_ifindex: 5,
            target_netns_inode: 1,
            prog_id: 0,
            attribution: Attribution::Device,
            count,
        }
    }

    fn status(active: bool) -> Vec<ProbeStatus> {
        vec![ProbeStatus {
            name: "veth_xdp_xmit".into(),
            kind: ProbeKind::Fexit,
            active,
            reason: None,
        }]
    }

    #[test]
    fn silence_is_explained_only_when_redirects_failed_before_the_function() {
        let eopnotsupp = [agg(EventKind::RedirectErr, -95, 4)];
        let note = silence_note(&status(true), &eopnotsupp).expect("a note");
        assert!(
            note.contains("4 redirect(s)") && note.contains("fexit"),
            "{note}"
        );
        // Probe not active, or it did see something, or nothing failed: no note.
        assert_eq!(silence_note(&status(false), &eopnotsupp), None);
        let seen = [
            agg(EventKind::RedirectErr, -95, 4),
            agg(EventKind::VethXdpXmit, -6, 1),
        ];
        assert_eq!(silence_note(&status(true), &seen), None);
        assert_eq!(
            silence_note(&status(true), &[agg(EventKind::DevmapXmit, -6, 2)]),
            None
        );
    }
}
