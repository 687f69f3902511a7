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

use super::{EventKind, Family, Variant};
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
