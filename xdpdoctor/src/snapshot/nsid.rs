//! Finding the namespace behind an `IFLA_LINK_NETNSID`.
//!
//! An nsid is a number the *asking* namespace gave another namespace; nothing maps it back to a
//! path. So we list every namespace we can open (`/run/netns/*`, which `ip netns` names, and
//! `/proc/*/ns/net`, which is how unnamed container namespaces such as systemd-nspawn's or
//! docker's are reached), deduplicate them by inode, and ask the kernel, from inside the
//! forwarder's namespace, which nsid each one has (`RTM_GETNSID` with `NETNSA_FD`), like
//! `ip netns list-id` does.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

use crate::netns::{Netns, NETNS_RUN_DIR};

/// A namespace we can open, with the best name we have for it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub inode: u64,
    pub netns: Netns,
}

/// Every network namespace reachable through /run/netns and /proc, deduplicated by inode.
/// Named namespaces win over /proc paths (their names are what users type).
pub fn candidates() -> Vec<Candidate> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for name in crate::netns::list_named() {
        let ns = Netns::named(&name);
        if let Ok(ino) = ns.inode() {
            if seen.insert(ino) {
                out.push(Candidate {
                    inode: ino,
                    netns: ns,
                });
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.filter_map(|e| e.ok()) {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let p = PathBuf::from("/proc").join(&pid).join("ns/net");
            if let Ok(m) = std::fs::metadata(&p) {
                if seen.insert(m.ino()) {
                    out.push(Candidate {
                        inode: m.ino(),
                        netns: Netns {
                            name: format!("pid:{pid}"),
                            path: p,
                        },
                    });
                }
            }
        }
    }
    log::debug!(
        "{} namespace candidates ({NETNS_RUN_DIR} and /proc)",
        out.len()
    );
    out
}

/// Whether a namespace with this inode still exists anywhere we can see.
pub fn alive(inode: u64) -> bool {
    candidates().iter().any(|c| c.inode == inode)
}

/// The candidate with this inode.
pub fn by_inode(inode: u64) -> Option<Netns> {
    candidates()
        .into_iter()
        .find(|c| c.inode == inode)
        .map(|c| c.netns)
}

/// nsid -> candidate for the nsids in `wanted`, as seen from the calling thread's namespace.
/// Stops as soon as every wanted nsid is resolved, so a container namespace that references
/// only its host costs one request when the host's candidate comes first (O(N) for a host
/// with N containers instead of O(N^2)).
pub async fn nsid_map(
    handle: &Handle,
    cands: &[Candidate],
    wanted: &HashSet<i32>,
) -> BTreeMap<i32, Candidate> {
    let mut map = BTreeMap::new();
    for c in cands {
        if wanted.iter().all(|w| map.contains_key(w)) {
            break;
        }
        let Ok(f) = std::fs::File::open(&c.netns.path) else {
            continue;
        };
        match get_nsid(handle, f.as_raw_fd()).await {
            Some(id) => {
                map.insert(id, c.clone());
            }
            None => continue,
        }
    }
    map
}

async fn get_nsid(handle: &Handle, fd: i32) -> Option<i32> {
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(fd as u32)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut resp = handle.clone().request(req).ok()?;
    while let Some(m) = resp.next().await {
        match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(n)) => {
                for a in n.attributes {
                    if let NsidAttribute::Id(id) = a {
                        return (id >= 0).then_some(id);
                    }
                }
            }
            NetlinkPayload::Error(_) => return None,
            _ => {}
        }
    }
    None
}
