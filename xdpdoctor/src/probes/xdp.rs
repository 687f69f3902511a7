//! The XDP tracepoints: where redirects fail on kernels from 5.6 on.
//!
//! - `xdp:xdp_redirect_err`: the redirect failed before the frame was queued; on 6.3+ a veth
//!   whose peer has no XDP (no `ndo-xmit` feature) fails here with -EOPNOTSUPP.
//! - `xdp:xdp_devmap_xmit`: a queued bulk was flushed into the target's `ndo_xdp_xmit`; we keep
//!   only flushes with drops or an error (up to 6.2, the -ENXIO of a veth without peer XDP).
//! - `xdp:xdp_exception`: XDP_ABORTED, or a verdict the driver cannot honour (a
//!   `bpf_redirect_map` miss with flags 0 returns XDP_ABORTED).
//! - `xdp:xdp_redirect_map_err`: stopped firing in 5.6 and is gone on 6.18; tried for old kernels.
//!
//! Each is a BTF tracepoint where BTF allows (the devices, hence their namespaces, are known),
//! a classic tracepoint otherwise (ifindexes only).

use super::{EventKind, Family, Variant};
use crate::bpf::probes_abi as abi;

pub(super) const FAMILIES: &[Family] = &[
    Family {
        name: "xdp:xdp_redirect_err",
        event: EventKind::RedirectErr,
        variants: &[
            Variant::tp_btf(abi::PROG_REDIRECT_ERR_BTF, "xdp", "xdp_redirect_err"),
            Variant::tracepoint(abi::PROG_REDIRECT_ERR_TP, "xdp", "xdp_redirect_err"),
        ],
    },
    Family {
        name: "xdp:xdp_redirect_map_err",
        event: EventKind::RedirectErr,
        variants: &[Variant::tracepoint(
            abi::PROG_REDIRECT_MAP_ERR_TP,
            "xdp",
            "xdp_redirect_map_err",
        )],
    },
    Family {
        name: "xdp:xdp_devmap_xmit",
        event: EventKind::DevmapXmit,
        variants: &[
            Variant::tp_btf(abi::PROG_DEVMAP_XMIT_BTF, "xdp", "xdp_devmap_xmit"),
            Variant::tracepoint(abi::PROG_DEVMAP_XMIT_TP, "xdp", "xdp_devmap_xmit"),
        ],
    },
    Family {
        name: "xdp:xdp_exception",
        event: EventKind::XdpException,
        variants: &[
            Variant::tp_btf(abi::PROG_EXCEPTION_BTF, "xdp", "xdp_exception"),
            Variant::tracepoint(abi::PROG_EXCEPTION_TP, "xdp", "xdp_exception"),
        ],
    },
];
