//! Fix for `veth-peer-no-xdp`: attach the pass-through program (`xdp_pass`, native mode) to
//! the veth peer, so the veth accepts XDP redirects (up to 6.2: the peer gets NAPI for
//! `veth_xdp_xmit`; 6.3+: the veth advertises ndo-xmit). The attachment is a bpf_link pinned
//! at `/sys/fs/bpf/xdpdoctor/fix-<netns inode>-<ifname>`, so it outlives this command;
//! removing the pin detaches it.
//!
//! The pin's name depends only on the namespace and the interface, so it is journaled before
//! the program is attached: a `fix --apply` killed after pinning still leaves an entry that
//! `fix --revert` resolves by looking at the pin. Killed between attach and pin, the link
//! dies with the process (a bpf_link is detached when its last fd closes).

use std::path::{Path, PathBuf};

use aya::programs::{links::FdLink, Xdp, XdpMode};
use serde::{Deserialize, Serialize};

use super::step::{Step, Undone};
use crate::bpf::{forwarder_abi::PROG_PASS, object, objects};
use crate::model::action::AttachXdpPass;
use crate::netlink::rtnl::Rtnl;
use crate::netlink::xdp_attach;
use crate::netns::{quote, Netns, NsRef};
use crate::state::{self, PIN_ROOT};
use crate::{Error, Result};

const OBJECT: &str = "passthrough.bpf.o";

/// The state before: nothing was attached; the fix pins its link here (named before the
/// program is attached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Pinned {
    /// The pin's path.
    Pinned {
        /// `/sys/fs/bpf/xdpdoctor/fix-<netns inode>-<ifname>`.
        pin: PathBuf,
    },
}

impl Step for AttachXdpPass {
    type Previous = Pinned;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the interface already runs an XDP program; otherwise the pin the fix will
    /// make (the record of the state before: nothing attached).
    fn observe(&self, ns: &Netns) -> Result<Option<Pinned>> {
        let pin = state::fix_pin(self.netns.key(), &self.interface);
        let ifname = self.interface.clone();
        ns.block_on(|| async move {
            let link = Rtnl::new()?.link(&ifname).await?;
            if link.xdp.as_ref().is_some_and(|x| x.prog_id != 0) {
                log::info!("{ifname} in {ns} already has XDP program {:?}", link.xdp);
                return Ok(None);
            }
            Ok(Some(Pinned::Pinned { pin }))
        })
    }

    fn act(&self, ns: &Netns, prev: &Pinned) -> Result<()> {
        let Pinned::Pinned { pin } = prev;
        attach(ns, &self.interface, pin)
    }

    /// The pin is all there is to undo.
    fn revert(&self, _: &Netns, prev: &Pinned) -> Result<Undone> {
        unpin(prev)
    }

    /// The pin is found even when the namespace is gone.
    fn revert_without_netns(&self, prev: &Pinned) -> Result<Undone> {
        unpin(prev)
    }

    /// The object goes into a file `mktemp` creates (a name nobody can predict, owned by
    /// whoever runs the command, mode 0600), never a fixed /tmp path another user could
    /// have created first and could swap before it is loaded.
    fn command(&self) -> String {
        format!(
            "f=$(mktemp) && xdpdoctor object passthrough --output \"$f\" && {} && rm -f \"$f\"",
            self.netns.shell(&format!(
                "ip link set dev {} xdpdrv obj \"$f\" sec xdp",
                quote(&self.interface)
            ))
        )
    }

    fn undo_command(&self, prev: &Pinned) -> String {
        let Pinned::Pinned { pin } = prev;
        format!(
            "rm {}  (unpinning the link detaches xdp_pass)",
            quote(&pin.display().to_string())
        )
    }
}

/// Attaches `xdp_pass` to `ifname` in `ns` and pins its link at `pin`.
fn attach(ns: &Netns, ifname: &str, pin: &Path) -> Result<()> {
    // A pin of ours whose link is defunct (its device was recreated) is in the way.
    if pin.exists() && !crate::bpf::sys::pinned_xdp_link_attached(pin).unwrap_or(true) {
        log::info!("removing defunct fix pin {}", pin.display());
        std::fs::remove_file(pin).map_err(|e| Error::io("unpin", pin, e))?;
    }
    let ifname = ifname.to_string();
    let pin = pin.to_path_buf();
    ns.block_on(|| async move {
        let link = Rtnl::new()?.link(&ifname).await?;
        let mut ebpf =
            aya::Ebpf::load(objects::PASSTHROUGH).map_err(|e| Error::bpf("load", OBJECT, e))?;
        let prog: &mut Xdp = object::program_mut(&mut ebpf, OBJECT, PROG_PASS)?;
        prog.load()
            .map_err(|e| Error::bpf("load program", PROG_PASS, e))?;
        let id = match prog.attach_to_if_index(link.index, XdpMode::Driver) {
            Ok(id) => id,
            Err(e) => {
                // A bpf_link attach carries only the errno: ask for the kernel's words.
                let said = prog
                    .fd()
                    .ok()
                    .and_then(|fd| {
                        xdp_attach::refusal_message(
                            link.index,
                            std::os::fd::AsFd::as_fd(fd),
                            xdp_attach::Mode::Driver,
                        )
                        .ok()
                        .flatten()
                    })
                    .map(|m| format!(": the kernel says \"{m}\""))
                    .unwrap_or_default();
                return Err(Error::xdp_attach(
                    &ifname,
                    &ns.name,
                    link.xdp.map(|x| x.prog_id),
                    format!("{PROG_PASS} to {ifname} in {ns}{said}"),
                    e,
                ));
            }
        };
        let l = prog
            .take_link(id)
            .map_err(|e| Error::bpf("take link", &ifname, e))?;
        let fd: FdLink = l
            .try_into()
            .map_err(|e| Error::bpf("attach", &ifname, format!("no bpf_link ({e}); cannot pin")))?;
        let _hold = state::bpffs::hold_dir(Path::new(PIN_ROOT))?;
        fd.pin(&pin)
            .map_err(|e| Error::bpf("pin", pin.display().to_string(), e))?;
        Ok(())
    })
}

/// Unpins the link the fix made (detaching the program), saying what it found.
fn unpin(prev: &Pinned) -> Result<Undone> {
    let Pinned::Pinned { pin: p } = prev;
    let pin = p.display();
    if !p.exists() {
        return Ok(Undone::skipped(format!(
            "no pin {pin}: nothing attached by the fix (removed already, or the step stopped before it pinned)"
        )));
    }
    let what = match crate::bpf::sys::obj_get(p)
        .ok()
        .and_then(|fd| crate::bpf::sys::link_info(std::os::fd::AsFd::as_fd(&fd)).ok())
    {
        Some(i) if i.xdp_ifindex == 0 => format!(
            "found {pin} (program {}, its interface is gone); unpinned",
            i.prog_id
        ),
        Some(i) => format!(
            "found {pin} (program {} on ifindex {}); unpinned, which detached it",
            i.prog_id, i.xdp_ifindex
        ),
        None => format!("found {pin}; unpinned"),
    };
    crate::forwarder::pins::unpin_link(p)?;
    state::bpffs::remove_root_if_empty();
    Ok(Undone::done(what))
}
