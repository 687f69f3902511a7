//! Turning numbers into words: errno names, XDP actions, namespace inodes into names
//! (named netns, or `pid N (comm)` for unnamed ones such as containers), ifindexes into
//! interface names *in their namespace*, and program ids into the deployed forwarder's
//! programs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::attribute::ProgOwners;
use crate::forwarder::deploy::Deployment;
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;

pub use crate::error::errno_name;

/// XDP verdicts by number.
pub fn xdp_action_name(act: u32) -> String {
    match act {
        0 => "ABORTED".into(),
        1 => "DROP".into(),
        2 => "PASS".into(),
        3 => "TX".into(),
        4 => "REDIRECT".into(),
        n => format!("action {n}"),
    }
}

/// A network namespace we can name.
#[derive(Debug, Clone)]
struct NsInfo {
    name: String,
    path: PathBuf,
}

/// Names of namespaces, interfaces and programs, scanned once and refreshed (at most every
/// [`Names::REFRESH`]) when a lookup misses.
#[derive(Debug, Default)]
pub struct Names {
    netns: HashMap<u64, NsInfo>,
    links: HashMap<(u64, u32), String>,
    progs: HashMap<u32, String>,
    owners: ProgOwners,
    scanned: Option<Instant>,
}

impl Names {
    /// How old a scan may get before [`Names::refresh`] scans again.
    pub const REFRESH: Duration = Duration::from_secs(1);

    /// Scans every namespace now.
    pub fn scan() -> Self {
        let mut n = Names::default();
        n.rescan();
        n
    }

    /// Rescans if the last scan is older than [`Names::REFRESH`]. Returns true if it did.
    pub fn refresh(&mut self) -> bool {
        if self.scanned.is_some_and(|t| t.elapsed() < Self::REFRESH) {
            return false;
        }
        self.rescan();
        true
    }

    fn rescan(&mut self) {
        self.netns = discover_namespaces();
        self.links.clear();
        self.progs.clear();
        self.owners = ProgOwners::default();
        let mut attached: Vec<(u32, String, String)> = Vec::new();
        for (inode, ns) in &self.netns {
            let handle = Netns {
                name: ns.name.clone(),
                path: ns.path.clone(),
            };
            // The cookie with the links, on the thread already inside: with the inode, it
            // finds the forwarder record of this namespace (not a dead one's that had it).
            let read = handle.block_on(|| async {
                let links = Rtnl::new()?.links().await?;
                Ok((links, crate::netns::cookie_here().ok().flatten()))
            });
            let mut cookie = None;
            match read {
                Ok((links, c)) => {
                    cookie = c;
                    self.owners.add_links(*inode, &links);
                    for l in &links {
                        for (_, id) in l.xdp.iter().flat_map(|x| x.each()) {
                            attached.push((id, l.name.clone(), ns.name.clone()));
                        }
                    }
                    for l in links {
                        self.links.insert((*inode, l.index), l.name);
                    }
                }
                Err(e) => log::debug!("links of namespace {}: {e}", ns.name),
            }
            if let Ok(Some(d)) = Deployment::load(crate::netns::NsKey::new(*inode, cookie)) {
                for i in &d.interfaces {
                    self.progs.insert(
                        i.prog_id,
                        format!("forwarder {} program on {} in {}", i.role, i.name, ns.name),
                    );
                }
            }
        }
        // Anyone else's XDP programs: their name where they are attached.
        let names = program_names(attached.iter().map(|(id, _, _)| *id));
        for (id, ifname, ns) in attached {
            if let Some(n) = names.get(&id) {
                self.progs
                    .entry(id)
                    .or_insert_with(|| format!("{n} on {ifname} in {ns}"));
            }
        }
        self.scanned = Some(Instant::now());
    }

    /// The namespace's name, if known.
    pub fn netns_name(&self, inode: u64) -> Option<&str> {
        self.netns.get(&inode).map(|n| n.name.as_str())
    }

    /// The interface's name in its namespace, if known.
    pub fn ifname(&self, netns: u64, ifindex: u32) -> Option<&str> {
        self.links.get(&(netns, ifindex)).map(String::as_str)
    }

    /// What the program is, if it belongs to a deployed forwarder.
    pub fn prog(&self, id: u32) -> Option<&str> {
        self.progs.get(&id).map(String::as_str)
    }

    /// The deployed forwarders' programs, by id (for [`super::attribute`]).
    pub fn prog_owners(&self) -> &ProgOwners {
        &self.owners
    }

    /// Namespaces known by name, as (inode, name).
    pub fn namespaces(&self) -> Vec<(u64, String)> {
        let mut v: Vec<_> = self
            .netns
            .iter()
            .map(|(k, v)| (*k, v.name.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }
}

/// The names of these programs (one pass over the loaded programs).
fn program_names(ids: impl Iterator<Item = u32>) -> HashMap<u32, String> {
    let ids: std::collections::HashSet<u32> = ids.collect();
    if ids.is_empty() {
        return HashMap::new();
    }
    aya::programs::loaded_programs()
        .filter_map(|p| p.ok())
        .filter(|p| ids.contains(&p.id()))
        .map(|p| (p.id(), p.name_as_str().unwrap_or("?").to_string()))
        .collect()
}

/// Every network namespace we can reach, by inode (`crate::netns::all`).
fn discover_namespaces() -> HashMap<u64, NsInfo> {
    crate::netns::all()
        .into_iter()
        .map(|n| {
            let info = NsInfo {
                name: n.label(),
                path: n.netns.path,
            };
            (n.inode, info)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(-95), "EOPNOTSUPP");
        assert_eq!(errno_name(-6), "ENXIO");
        assert_eq!(errno_name(-100), "ENETDOWN");
        assert_eq!(errno_name(-90), "EMSGSIZE");
        assert_eq!(errno_name(-22), "EINVAL");
        assert_eq!(errno_name(95), "EOPNOTSUPP");
        assert_eq!(errno_name(0), "0");
        assert_eq!(errno_name(-4095), "errno 4095");
    }

    #[test]
    fn xdp_actions() {
        assert_eq!(xdp_action_name(0), "ABORTED");
        assert_eq!(xdp_action_name(4), "REDIRECT");
        assert_eq!(xdp_action_name(9), "action 9");
    }
}
