//! Alternative fix for `veth-tx-csum-offload` (`fix --csum forwarder`): make the deployed
//! forwarder recompute full TCP checksums (`full_csum = 1`), for hosts where the containers
//! cannot be touched.
//!
//! No downtime: a fresh forwarder object is loaded with the new `full_csum` (and the deployed
//! `fib_cache_ns`) reusing the deployment's pinned maps (`EbpfLoader::map_pin_path`, as the
//! bench does), both programs are loaded, then every pinned `link-<ifname>` is switched to the
//! new program with `BPF_LINK_UPDATE` (`BPF_F_REPLACE`: only if the link still runs the program
//! we saw). The pins are never touched, so no interface is ever without a forwarder program.
//! Everything that can fail (load, opening every link, the old programs' fds) happens before
//! the first update; if an update or the state file write fails, the links already switched are
//! switched back to their old programs.

use std::os::fd::{AsFd, OwnedFd};

use aya::programs::Xdp;

use super::previous::Flag;
use super::step::{Step, Undone};
use crate::bpf::object;
use crate::bpf::sys::{link_prog_id, link_update, obj_get, prog_fd_by_id};
use crate::forwarder::object::{self as fwd_object, Tunables, OBJECT};
use crate::forwarder::pins::link_pin;
use crate::forwarder::{Deployment, Role};
use crate::model::action::SetForwarderFullCsum;
use crate::netns::{Netns, NsRef};
use crate::{Error, Result};

impl Step for SetForwarderFullCsum {
    type Previous = Flag;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the deployed forwarder's `full_checksum` already is `on`; else its value now.
    fn observe(&self, ns: &Netns) -> Result<Option<Flag>> {
        let dep = deployment(ns)?;
        let was = dep.config.full_checksum;
        Ok((was != self.on).then_some(Flag::Flag { on: was }))
    }

    /// Switches the deployed forwarder to `full_checksum = on` (nothing if it already is).
    fn act(&self, ns: &Netns, _: &Flag) -> Result<()> {
        let dep = deployment(ns)?;
        if dep.config.full_checksum == self.on {
            return Ok(());
        }
        swap(ns, dep, self.on)
    }

    /// Restores the recorded `full_checksum` value the same way.
    fn revert(&self, ns: &Netns, prev: &Flag) -> Result<Undone> {
        let Flag::Flag { on } = *prev;
        let dep = deployment(ns)?;
        if dep.config.full_checksum == on {
            return Ok(Undone::skipped(format!(
                "the forwarder in {ns} already runs with full_checksum = {on}"
            )));
        }
        let was = dep.config.full_checksum;
        swap(ns, dep, on)?;
        Ok(Undone::done(format!(
            "forwarder in {ns}: full_checksum {was} -> {on} (new programs, BPF_LINK_UPDATE)"
        )))
    }

    fn command(&self) -> String {
        self.netns.xdpdoctor(&format!(
            "fix --{} --csum forwarder",
            if self.on { "apply" } else { "revert" }
        ))
    }

    fn undo_command(&self, _: &Flag) -> String {
        self.netns.xdpdoctor("fix --revert")
    }
}

fn deployment(ns: &Netns) -> Result<Deployment> {
    Deployment::require(ns)
}

/// One pinned link being switched: its fd, the program it ran and the one it gets.
struct Switch {
    name: String,
    link: OwnedFd,
    old_prog: OwnedFd,
    old_id: u32,
}

fn swap(ns: &Netns, mut dep: Deployment, on: bool) -> Result<()> {
    ns.run(move || {
        // 1. Load the new forwarder on the deployment's maps. Nothing changed yet.
        let t = Tunables {
            full_csum: on,
            ..dep.tunables()
        };
        let mut ebpf = fwd_object::load(t, Some(&dep.pin_dir))?;
        let (_, ext_id) = fwd_object::load_program(&mut ebpf, Role::External)?;
        let (_, int_id) = fwd_object::load_program(&mut ebpf, Role::Internal)?;

        // 2. Open every pinned link and hold its current program. Nothing changed yet.
        let mut switches = Vec::new();
        for i in &dep.interfaces {
            let pin = link_pin(&dep.pin_dir, &i.name);
            let link = obj_get(&pin)?;
            let old_id = link_prog_id(link.as_fd())
                .map_err(|e| Error::bpf("link info", pin.display().to_string(), e))?;
            // Only switch what xdpdoctor deployed: a link now running a program the state
            // does not know was changed behind our back; refuse before touching anything.
            if old_id != i.prog_id {
                return Err(Error::busy(
                    format!("{} ({})", pin.display(), i.name),
                    format!(
                        "runs program {old_id}, but the deployment recorded {}; redeploy or investigate first",
                        i.prog_id
                    ),
                ));
            }
            let old_prog = prog_fd_by_id(old_id)
                .map_err(|e| Error::bpf("open program", format!("id {old_id}"), e))?;
            switches.push(Switch {
                name: i.name.clone(),
                link,
                old_prog,
                old_id,
            });
        }

        // 3. Switch each link atomically; on failure switch the done ones back.
        let ext_name = fwd_object::program_name(Role::External);
        let int_name = fwd_object::program_name(Role::Internal);
        let ext_fd = xdp(&mut ebpf, ext_name)?
            .fd()
            .map_err(|e| Error::bpf("program fd", ext_name, e))?
            .try_clone()
            .map_err(|e| Error::bpf("program fd", ext_name, e))?;
        let int_fd = xdp(&mut ebpf, int_name)?
            .fd()
            .map_err(|e| Error::bpf("program fd", int_name, e))?
            .try_clone()
            .map_err(|e| Error::bpf("program fd", int_name, e))?;
        let new_fd = |role: Role| match role {
            Role::External => ext_fd.as_fd(),
            Role::Internal => int_fd.as_fd(),
        };
        let rollback = |done: &[(&Switch, Role)]| {
            for (s, role) in done.iter().rev() {
                if let Err(e) = link_update(s.link.as_fd(), s.old_prog.as_fd(), new_fd(*role)) {
                    log::error!("switching {} back to program {}: {e}", s.name, s.old_id);
                }
            }
        };
        let mut done: Vec<(&Switch, Role)> = Vec::new();
        for (s, i) in switches.iter().zip(&dep.interfaces) {
            if let Err(e) = link_update(s.link.as_fd(), new_fd(i.role), s.old_prog.as_fd()) {
                rollback(&done);
                return Err(Error::bpf(
                    "BPF_LINK_UPDATE",
                    format!("link-{} (program {})", s.name, s.old_id),
                    e,
                ));
            }
            done.push((s, i.role));
        }

        // 4. Record it; a state that cannot be saved is undone too.
        dep.config.full_checksum = on;
        for i in &mut dep.interfaces {
            i.prog_id = match i.role {
                Role::External => ext_id,
                Role::Internal => int_id,
            };
        }
        if let Err(e) = dep.save() {
            rollback(&done);
            return Err(e);
        }
        log::info!(
            "forwarder in {} switched to full_checksum = {on} (programs {ext_id}, {int_id})",
            dep.netns
        );
        // Dropping `ebpf` closes our fds only: the pinned links keep the new programs.
        Ok(())
    })
}

fn xdp<'a>(ebpf: &'a mut aya::Ebpf, name: &str) -> Result<&'a mut Xdp> {
    object::program_mut(ebpf, OBJECT, name)
}
