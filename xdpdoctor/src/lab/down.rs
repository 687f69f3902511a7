//! `lab down`: stop responders (by recorded PID, after checking they are ours), tear down the
//! forwarder, delete the namespaces (their veths go with them), remove the lab's files. Every
//! step is attempted; all errors are reported.

use std::collections::{BTreeMap, BTreeSet};

use crate::lab::{process, LabState};
use crate::netns::Netns;
use crate::state::{self, LockKey, NsKey};
use crate::{forwarder, Error, ErrorList, Result};

/// Tears down the forwarder in `ns`; none there is fine.
fn teardown(ns: &Netns) -> Result<()> {
    match forwarder::teardown(ns) {
        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes lab `prefix`, holding its lock (waits for a `lab up` of it to finish).
pub fn down(prefix: &str) -> Result<LabState> {
    let _lock = LabState::lock(prefix)?;
    let st = LabState::load(prefix)?.ok_or_else(|| {
        Error::not_found(
            format!("lab with prefix {prefix}"),
            Some("`xdpdoctor lab status` lists running labs".into()),
        )
    })?;
    down_state(&st)?;
    Ok(st)
}

/// Removes everything `st` records, tolerating what was recorded but never made (a `lab up`
/// killed between recording and making) and what is already gone. The caller holds the
/// lab's lock.
pub(crate) fn down_state(st: &LabState) -> Result<()> {
    let mut errs = ErrorList::default();
    // The lab's namespaces by identity: as recorded when `lab up` made them, and as their
    // names lead now (a `lab up` killed before recording one). A recorded namespace that is
    // gone still has its records removed, whatever namespace reused its inode since.
    let now: BTreeMap<&String, NsKey> = st
        .namespaces
        .iter()
        .filter_map(|n| Some((n, Netns::named(n).key().ok()?)))
        .collect();
    let mut keys: Vec<NsKey> = st.keys.values().chain(now.values()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    // Those alive, ascending (the lock order), locked while we work on them: a `fix
    // --apply` or `deploy` running in one of them finishes first.
    let mut locks = Vec::new();
    for key in now.values().collect::<BTreeSet<_>>() {
        match state::lock(LockKey::Netns(*key), crate::cancel::interrupted) {
            Ok(l) => locks.push(l),
            Err(e) => errs.push(Err(e)),
        }
    }
    for r in &st.responders {
        errs.push(process::stop_responder(r.pid, &r.netns));
    }
    // Responders whose PID never reached the state file (`lab up` killed right after
    // spawning one): found by their command line and namespace.
    for (pid, netns) in process::find_responders(&st.namespaces) {
        errs.push(process::stop_responder(pid, &netns));
    }
    if st.docker.is_some() {
        super::docker::down::revert_fixes(st, &mut errs);
    }
    if let (Some(path), Some(_)) = (&st.forwarder_netns, &st.docker) {
        // A Docker lab's forwarder runs in the host's namespace, which the lab did not make
        // and which cannot go away: torn down there, by the path recorded.
        let ns = Netns::from_arg(path);
        if ns.exists() {
            errs.push(teardown(&ns));
        }
    } else if let Some(name) = &st.forwarder_netns {
        let recorded = st.keys.get(name);
        let live = now.get(name);
        let ns = Netns::named(name);
        match (recorded, live) {
            // Still the namespace the lab made (or one it made but did not record yet).
            (Some(r), Some(l)) if r.matches(l) => errs.push(teardown(&ns)),
            (None, Some(_)) => errs.push(teardown(&ns)),
            _ => {}
        }
        // The lab's router is gone (deleted by hand, its inode perhaps reused): its
        // forwarder's pins and state file are still the lab's to remove.
        if let Some(r) = recorded.filter(|r| live.is_none_or(|l| !r.matches(l))) {
            errs.push(forwarder::pins::remove_of(*r));
        }
    }
    if let Some(d) = &st.docker {
        super::docker::down::remove(st, d, &mut errs);
    }
    // Fixes applied inside the lab (`fix --apply` without `--revert`) go with it.
    errs.push(crate::fix::journal::forget_namespaces(
        &keys,
        &crate::netns::Living::now(),
    ));
    for name in st.namespaces.iter().rev() {
        let ns = Netns::named(name);
        if ns.path_exists() {
            errs.push(ns.remove());
        }
    }
    drop(locks);
    // Anything else whose namespace is gone (earlier crashes); the kernel decides.
    errs.push(crate::fix::journal::cleanup_stale());
    let files = LabState::files_dir(&st.prefix);
    if files.exists() {
        errs.push(
            std::fs::remove_dir_all(&files).map_err(|e| Error::io("remove", files.clone(), e)),
        );
    }
    errs.push(state::remove_file(&LabState::path(&st.prefix)));
    errs.into_result()
}
