//! Fix for `veth-peer-no-xdp`: attach the pass-through program (`xdp_pass`, native mode) to
//! the veth peer, so the veth accepts XDP redirects (up to 6.2: the peer gets NAPI for
//! `veth_xdp_xmit`; 6.3+: the veth advertises ndo-xmit). The attachment is a bpf_link pinned
//! at `/sys/fs/bpf/xdpdoctor/fix-<netns inode>-<ifname>`, so it outlives this command;
//! removing the pin detaches it.

use std::path::PathBuf;

use aya::programs::{links::FdLink, Xdp, XdpMode};

use super::Previous;
use crate::bpf::{forwarder_abi::PROG_PASS, object, objects};
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::state::{self, PIN_ROOT};
use crate::{Error, Result};

const OBJECT: &str = "passthrough.bpf.o";

/// Attaches `xdp_pass` to `ifname` in `ns` (inode `inode`) and pins its link.
pub fn apply(ns: &Netns, inode: u64, ifname: &str) -> Result<Option<Previous>> {
    let pin = state::fix_pin(inode, ifname);
    let ifname = ifname.to_string();
    ns.block_on(|| async move {
        let link = Rtnl::new()?.link(&ifname).await?;
        if link.xdp.as_ref().is_some_and(|x| x.prog_id != 0) {
            log::info!("{ifname} in {ns} already has XDP program {:?}", link.xdp);
            return Ok(None);
        }
        state::bpffs::ensure_dir(std::path::Path::new(PIN_ROOT))?;
        let mut ebpf =
            aya::Ebpf::load(objects::PASSTHROUGH).map_err(|e| Error::bpf("load", OBJECT, e))?;
        let prog: &mut Xdp = object::program_mut(&mut ebpf, OBJECT, PROG_PASS)?;
        prog.load()
            .map_err(|e| Error::bpf("load program", PROG_PASS, e))?;
        let id = prog
            .attach_to_if_index(link.index, XdpMode::Driver)
            .map_err(|e| Error::bpf("attach", format!("{PROG_PASS} to {ifname} in {ns}"), e))?;
        let l = prog
            .take_link(id)
            .map_err(|e| Error::bpf("take link", &ifname, e))?;
        let fd: FdLink = l
            .try_into()
            .map_err(|e| Error::bpf("attach", &ifname, format!("no bpf_link ({e}); cannot pin")))?;
        fd.pin(&pin)
            .map_err(|e| Error::bpf("pin", pin.display().to_string(), e))?;
        Ok(Some(Previous::Pinned {
            pin: pin.display().to_string(),
        }))
    })
}

/// Unpins the link the fix made (detaching the program).
pub fn revert(prev: &Previous) -> Result<()> {
    let Previous::Pinned { pin } = prev else {
        return Ok(());
    };
    let p = PathBuf::from(pin);
    if !p.exists() {
        return Ok(());
    }
    crate::forwarder::pins::unpin_link(&p)?;
    let _ = std::fs::remove_dir(PIN_ROOT);
    Ok(())
}
