//! The XDP tracepoints: where redirects fail on kernels from 5.6 on.
//!
//! - `xdp:xdp_redirect_err`: the redirect failed before the frame was queued; on 6.3+ a veth
//!   whose peer has no XDP (no `ndo-xmit` feature) fails here with -EOPNOTSUPP.
//! - `xdp:xdp_devmap_xmit`: a queued bulk was flushed into the target's `ndo_xdp_xmit`; we keep
//!   only flushes with drops or an error (up to 6.2, the -ENXIO of a veth without peer XDP).
//! - `xdp:xdp_exception`: XDP_ABORTED, or a verdict the driver cannot honour (a
//!   `bpf_redirect_map` miss with flags 0 returns XDP_ABORTED).
//! - `xdp:xdp_redirect_map_err`: stopped firing in 5.6 and is gone on 6.18; tried for old kernels.
//! - `xdp:xdp_redirect`: every redirect that worked, counted (never queued as events), only on
//!   request: it learns the targets of programs that call `bpf_redirect()` and shows redirects
//!   into another namespace (a devmap filled from the wrong one).
//!
//! Each is a BTF tracepoint where BTF allows (the devices, hence their namespaces, are known),
//! a classic tracepoint otherwise (ifindexes and, for redirect_err and exception, the program
//! id: user space attributes those to the namespace whose deployed forwarder owns the program,
//! see [`super::attribute`]; devmap_xmit has no program id and stays unattributed).

use super::{tracepoint_family, EventKind, Family, Variant};
use crate::bpf::probes_abi as abi;

pub(super) const FAMILIES: &[Family] = &[
    tracepoint_family!(
        EventKind::RedirectErr,
        "xdp",
        "xdp_redirect_err",
        abi::PROG_REDIRECT_ERR_BTF,
        abi::PROG_REDIRECT_ERR_TP,
    ),
    Family {
        name: "xdp:xdp_redirect",
        event: EventKind::Redirect,
        on_request: true,
        module: None,
        variants: &[
            Variant::tp_btf(abi::PROG_REDIRECT_BTF, "xdp", "xdp_redirect"),
            Variant::tracepoint(abi::PROG_REDIRECT_TP, "xdp", "xdp_redirect"),
        ],
    },
    Family {
        name: "xdp:xdp_redirect_map_err",
        event: EventKind::RedirectErr,
        on_request: false,
        module: None,
        variants: &[Variant::tracepoint(
            abi::PROG_REDIRECT_MAP_ERR_TP,
            "xdp",
            "xdp_redirect_map_err",
        )],
    },
    tracepoint_family!(
        EventKind::DevmapXmit,
        "xdp",
        "xdp_devmap_xmit",
        abi::PROG_DEVMAP_XMIT_BTF,
        abi::PROG_DEVMAP_XMIT_TP,
    ),
    tracepoint_family!(
        EventKind::XdpException,
        "xdp",
        "xdp_exception",
        abi::PROG_EXCEPTION_BTF,
        abi::PROG_EXCEPTION_TP,
    ),
];
