//! `lab down`: stop responders (by recorded PID, after checking they are ours), tear down the
//! forwarder, delete the namespaces (their veths go with them), remove the lab's files. Every
//! step is attempted; all errors are reported.

use crate::lab::{process, LabState};
use crate::netns::Netns;
use crate::state::{self, LockKey};
use crate::{forwarder, Error, ErrorList, Result};

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
    // The lab's namespaces, inodes ascending (the lock order), while we work on them: a
    // `fix --apply` or `deploy` running in one of them finishes first.
    let mut inodes: Vec<u64> = st
        .namespaces
        .iter()
        .filter_map(|n| Netns::named(n).inode().ok())
        .collect();
    inodes.sort_unstable();
    let mut locks = Vec::new();
    for ino in &inodes {
        match state::lock(LockKey::Netns(*ino), crate::cancel::interrupted) {
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
    if let Some(ns) = &st.forwarder_netns {
        let ns = Netns::from_arg(ns);
        if ns.exists() {
            match forwarder::teardown(&ns) {
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => errs.push(Err(e)),
            }
        }
    }
    if let Some(d) = &st.docker {
        super::docker::down::remove(st, d, &mut errs);
    }
    // Fixes applied inside the lab (`fix --apply` without `--revert`) go with it.
    errs.push(crate::fix::journal::forget_namespaces(&inodes));
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
