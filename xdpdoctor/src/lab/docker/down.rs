//! `lab down` of a Docker lab: what `up.rs` made, found again by label and comment, never by
//! name alone. Fixes applied to the lab's forwarder are reverted first (the host's journal:
//! the lab's forwarder is the one there), then the forwarder is torn down by the caller,
//! then the accept rules, containers, network and external veth go. Docker's daemon stays.

use super::rules::accept_rule;
use super::spec::{DockerState, LABEL};
use crate::lab::state::LabState;
use crate::netlink::rtnl::{LinkKind, Rtnl};
use crate::netns::Netns;
use crate::runtime::Docker;
use crate::{Error, ErrorList, Result};

/// Before the forwarder goes: revert the fixes journaled for the host's namespace (they need
/// its maps; a tx-csum fix in a container is restored before the container goes).
pub fn revert_fixes(st: &LabState, errs: &mut ErrorList) {
    let Some(path) = &st.forwarder_netns else {
        return;
    };
    let Ok(key) = Netns::from_arg(path).key() else {
        return;
    };
    match crate::fix::revert_all(key) {
        Ok(done) if !done.is_empty() => {
            log::info!("lab {}: reverted {} fix(es) first", st.prefix, done.len())
        }
        Ok(_) => {}
        Err(e) => errs.push(Err(e)),
    }
}

/// After the forwarder: the lab's accept rules, containers, network and external veth.
pub fn remove(st: &LabState, d: &DockerState, errs: &mut ErrorList) {
    let host = match (&st.forwarder_netns, super::host()) {
        (Some(p), _) => Netns::from_arg(p),
        (None, Ok(h)) => h,
        (None, Err(e)) => {
            errs.push(Err(e));
            return;
        }
    };
    for rec in &d.accept_rules {
        let rule = accept_rule(rec);
        errs.push(host.run(move || rule.delete()).map(drop));
    }
    // Rules a fix added for the lab's entries without a journal (its printed commands run by
    // hand) name the lab's external interface in their comment: they go too.
    if !d.external.is_empty() {
        let ext = d.external.clone();
        errs.push(host.run(move || fix_rules_of(&ext)));
    }
    if !d.containers.is_empty() || !d.network.is_empty() {
        errs.push(remove_docker(&st.prefix, d.complete));
    }
    // The external pair: normally gone with the client's namespace; still whole on the host
    // when `lab up` died before moving its peer.
    for name in [d.external.clone(), format!("{}y", d.external)] {
        if name.is_empty() || name == "y" {
            continue;
        }
        errs.push(host.block_on(|| async move {
            let rt = Rtnl::new()?;
            match rt.link(&name).await {
                Ok(l) if l.kind == Some(LinkKind::Veth) => rt.del_link(l.index).await,
                Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }));
    }
}

/// Deletes the rules in `ip filter DOCKER-USER` whose comment is a fix's for flows arriving
/// on `ext` (`xdpdoctor: accept FROM -> TO via EXT`), in the calling thread's namespace.
fn fix_rules_of(ext: &str) -> Result<()> {
    let rs = crate::netlink::nftables::read()?;
    let suffix = format!(" via {ext}");
    let comments: Vec<String> = rs
        .table("ip", "filter")
        .and_then(|t| t.chain("DOCKER-USER"))
        .map(|c| {
            c.rules
                .iter()
                .filter_map(|r| r.comment.clone())
                .filter(|c| c.starts_with("xdpdoctor: accept ") && c.ends_with(&suffix))
                .collect()
        })
        .unwrap_or_default();
    for comment in comments {
        let rule = accept_rule(&super::spec::AcceptRecord {
            iifname: ext.to_string(),
            to: std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            comment,
        });
        rule.delete()?;
    }
    Ok(())
}

/// How long Docker may still be carrying out a request of a `lab up` that was killed while
/// it waited for the answer (the daemon goes on without the client: measured, a network
/// created after the killed `lab up`'s `lab down` had looked).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Containers, then networks, carrying the lab's label. After a `lab up` that did not finish
/// (killed), looks again until a look finds nothing, for up to [`SETTLE`].
fn remove_docker(prefix: &str, complete: bool) -> Result<()> {
    let d = Docker::new();
    let t0 = std::time::Instant::now();
    loop {
        let containers = d.containers_labelled(LABEL, prefix)?;
        let networks = d.networks_labelled(LABEL, prefix)?;
        let found = !containers.is_empty() || !networks.is_empty();
        let mut errs = ErrorList::default();
        for id in containers {
            errs.push(d.remove_container(&id).map(drop));
        }
        // A network goes once its containers are gone (a failure is tried again).
        for id in networks {
            errs.push(d.remove_network(&id).map(drop));
        }
        let last = errs.into_result();
        let settled = complete || t0.elapsed() >= SETTLE;
        if (!found && settled) || (complete && last.is_ok()) {
            return Ok(());
        }
        if t0.elapsed() > SETTLE * 3 {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
