//! Finding the namespace behind an `IFLA_LINK_NETNSID`.
//!
//! An nsid is a number the *asking* namespace gave another namespace; nothing maps it back to a
//! path. So we take every namespace we can open (`crate::netns::all`: `/run/netns/*`, which
//! `ip netns` names, and `/proc/*/ns/net`, which is how unnamed container namespaces such as
//! systemd-nspawn's or docker's are reached) and ask the kernel, from inside the asking
//! namespace, which nsid each one has (`RTM_GETNSID` with `NETNSA_FD`), like
//! `ip netns list-id` does.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsRawFd;

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

use crate::netns::NsInfo;

/// nsid -> candidate for the nsids in `wanted`, as seen from the calling thread's namespace.
/// Stops as soon as every wanted nsid is resolved, so a container namespace that references
/// only its host costs one request when the host's candidate comes first (O(N) for a host
/// with N containers instead of O(N^2)).
pub async fn nsid_map(
    handle: &Handle,
    cands: &[NsInfo],
    wanted: &HashSet<i32>,
) -> BTreeMap<i32, NsInfo> {
    let mut map = BTreeMap::new();
    for c in cands {
        if wanted.iter().all(|w| map.contains_key(w)) {
            break;
        }
        let Ok(f) = c.netns.open() else {
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
