//! Fix for `veth-peer-no-xdp`: attach the pass-through program (`xdp_pass`, native mode) to
//! the veth peer, so the veth accepts XDP redirects (up to 6.2: the peer gets NAPI for
//! `veth_xdp_xmit`; 6.3+: the veth advertises ndo-xmit). The attachment is a bpf_link pinned
//! at `/sys/fs/bpf/xdpdoctor/fix-<netns inode>-<ifname>`, so it outlives this command;
//! removing the pin detaches it.

use std::path::{Path, PathBuf};

use aya::programs::{links::FdLink, links::PinnedLink, Xdp, XdpMode};

use super::Previous;
use crate::bpf::{forwarder_abi::PROG_PASS, objects};
use crate::forwarder::pins::{self, PIN_ROOT};
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::{Error, Result};

pub fn pin_path(inode: u64, ifname: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fix-{inode}-{ifname}"))
}

pub fn apply(ns: &Netns, inode: u64, ifname: &str) -> Result<Option<Previous>> {
    let pin = pin_path(inode, ifname);
    let ifname = ifname.to_string();
    ns.block_on(|| async move {
        let link = Rtnl::new()?.link(&ifname).await?;
        if link.xdp.is_some_and(|x| x.prog_id != 0) {
            log::info!("{ifname} in {ns} already has XDP program {:?}", link.xdp);
            return Ok(None);
        }
        pins::ensure_bpffs()?;
        pins::create_dir(Path::new(PIN_ROOT))?;
        let mut ebpf = aya::Ebpf::load(objects::PASSTHROUGH)
            .map_err(|e| Error::bpf("load", "passthrough.bpf.o", e))?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROG_PASS)
            .ok_or_else(|| Error::bpf("find program", PROG_PASS, "missing from object"))?
            .try_into()
            .map_err(|e| Error::bpf("program type", PROG_PASS, e))?;
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

pub fn revert(prev: &Previous) -> Result<()> {
    let Previous::Pinned { pin } = prev else {
        return Ok(());
    };
    let p = PathBuf::from(pin);
    if !p.exists() {
        return Ok(());
    }
    let l = PinnedLink::from_pin(&p).map_err(|e| Error::bpf("open pinned link", pin.clone(), e))?;
    l.unpin().map(drop).map_err(|e| Error::io("unpin", p, e))?;
    let _ = std::fs::remove_dir(PIN_ROOT);
    Ok(())
}
