//! What "accepts XDP redirects" takes on the running kernel, for lab ends that ask for it.
//!
//! A scenario gives GRO to the ends that must take redirected frames (the client's veth, a
//! stand-in for a real NIC, and healthy containers' host0): from 5.13 GRO requested on a veth
//! gives its peer NAPI, which `veth_xdp_xmit` needs. Before 5.13 it needs an XDP program on the
//! receiving end (`rq->xdp_prog`), GRO is not enough: measured on Debian's 5.10 under QEMU, the
//! seed lab's GRO-only ends dropped every redirect into them (`xdp:xdp_devmap_xmit` err=-6,
//! `veth_xdp_xmit` -ENXIO). There the lab also attaches the pass-through program to such an
//! end, through netlink, so the attachment belongs to the device and goes with its namespace
//! at `lab down`. docs/kernel-matrix.md has the era table.

use std::os::fd::{AsFd, AsRawFd};

use aya::programs::Xdp;

use crate::bpf::{forwarder_abi::PROG_PASS, object, objects};
use crate::netlink::rtnl::Rtnl;
use crate::{Error, Result};

const OBJECT: &str = "passthrough.bpf.o";

/// Whether requested GRO lets a veth take XDP frames on the running kernel (5.13+; an
/// unreadable release counts as new).
pub fn gro_takes_xdp_frames() -> bool {
    running_kernel().is_none_or(|v| v >= (5, 13))
}

/// (major, minor) of the running kernel.
fn running_kernel() -> Option<(u32, u32)> {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = r.trim().split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Attaches the pass-through program to `ifname` (ifindex `index`) in the calling thread's
/// namespace, in native mode.
pub async fn attach_pass(rt: &Rtnl, ifname: &str, index: u32) -> Result<()> {
    let mut ebpf =
        aya::Ebpf::load(objects::PASSTHROUGH).map_err(|e| Error::bpf("load", OBJECT, e))?;
    let prog: &mut Xdp = object::program_mut(&mut ebpf, OBJECT, PROG_PASS)?;
    prog.load()
        .map_err(|e| Error::bpf("load program", PROG_PASS, e))?;
    let fd = prog
        .fd()
        .map_err(|e| Error::bpf("program fd", PROG_PASS, e))?;
    log::info!("{ifname}: GRO does not take XDP frames before Linux 5.13; attaching {PROG_PASS}");
    rt.attach_xdp_native(index, fd.as_fd().as_raw_fd()).await
}
