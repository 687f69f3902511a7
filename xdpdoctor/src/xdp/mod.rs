//! Every XDP program attached in a namespace, whoever loaded it (BCC, libbpf, `ip`, bpftool,
//! xdp-loader, a CNI agent, or xdpdoctor), and where each can redirect: the model the
//! diagnosis works on. Our own forwarder is one case of it (the snapshot marks its programs
//! and adds its config, NAT entries and counters).
//!
//! Read from netlink (`IFLA_XDP`: program ids per interface and mode) and the bpf syscalls
//! (program info: name, tag, load time, map ids; the entries of every redirect map a program
//! uses). A program with no redirect map may still call `bpf_redirect()`: it has no static
//! target list, and the evidence window learns its targets from the redirect tracepoints.

mod discover;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use discover::discover;

use crate::netlink::rtnl::XdpMode;

/// Everything XDP in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpView {
    /// One row per (interface, mode, program).
    pub attachments: Vec<Attachment>,
    /// Every attached program (and libxdp dispatcher sub-program), by id.
    pub programs: Vec<XdpProgram>,
    /// Every redirect map the programs use, with its entries.
    pub maps: Vec<RedirectMap>,
    /// What could not be read, in words.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A program attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The interface.
    pub ifindex: u32,
    /// Its name.
    pub ifname: String,
    /// How it is attached.
    pub mode: XdpMode,
    /// The program.
    pub prog_id: u32,
}

/// Who loaded a program, as far as xdpdoctor can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// The forwarder xdpdoctor deployed in this namespace.
    Forwarder,
    /// A pass-through program `xdpdoctor fix` attached.
    Fix,
    /// Anyone else.
    #[default]
    Foreign,
}

/// One XDP program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpProgram {
    /// Program id (unique on the machine while it is loaded).
    pub id: u32,
    /// Its name (the kernel keeps 15 characters).
    pub name: String,
    /// Its tag (hash of the instructions), hex.
    pub tag: String,
    /// When it was loaded, seconds since the epoch.
    pub loaded_at: Option<u64>,
    /// Every map it uses.
    pub map_ids: Vec<u32>,
    /// For a libxdp dispatcher: the programs it runs (from libxdp's pins), in order.
    #[serde(default)]
    pub subprograms: Vec<u32>,
    /// Who loaded it.
    #[serde(default)]
    pub owner: Owner,
}

/// The kind of a redirect map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectKind {
    /// `BPF_MAP_TYPE_DEVMAP`: index -> device.
    Devmap,
    /// `BPF_MAP_TYPE_DEVMAP_HASH`: key -> device.
    DevmapHash,
    /// `BPF_MAP_TYPE_CPUMAP`: redirect to another CPU's queue.
    Cpumap,
    /// `BPF_MAP_TYPE_XSKMAP`: redirect to AF_XDP sockets.
    Xskmap,
}

/// A map a program can redirect through, with its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectMap {
    /// Map id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// What it redirects to.
    pub kind: RedirectKind,
    /// Its capacity.
    pub max_entries: u32,
    /// Bytes per value: 4 (a bare ifindex) or 8 (`struct bpf_devmap_val`, with a program).
    #[serde(default = "four")]
    pub value_size: u32,
    /// Present entries (devmaps: the target device; cpumaps: queue sizes; xskmaps: keys).
    pub entries: Vec<MapEntry>,
}

fn four() -> u32 {
    4
}

/// Entries as people read them, keys included, whatever their number: runs of entries whose
/// keys and values both count up by one are one group (`1-512 -> 1-512`; a devmap filled
/// with every ifindex as its own key is one group), at most `max` groups are shown and the
/// rest counted (`... and 37 more entries`).
pub fn summarize_entries<'a>(
    entries: impl IntoIterator<Item = &'a MapEntry>,
    max: usize,
) -> String {
    let mut sorted: Vec<&MapEntry> = entries.into_iter().collect();
    sorted.sort_by_key(|e| e.key);
    let mut groups: Vec<(u32, u32, u32)> = Vec::new(); // (first key, first value, length)
    for e in &sorted {
        match groups.last_mut() {
            Some((k, v, n))
                if k.checked_add(*n) == Some(e.key) && v.checked_add(*n) == Some(e.value) =>
            {
                *n += 1
            }
            _ => groups.push((e.key, e.value, 1)),
        }
    }
    let shown: Vec<String> = groups
        .iter()
        .take(max)
        .map(|&(k, v, n)| match n {
            1 => format!("{k} -> {v}"),
            _ => format!("{k}-{} -> {v}-{}", k + (n - 1), v + (n - 1)),
        })
        .collect();
    let hidden: u32 = groups.iter().skip(max).map(|g| g.2).sum();
    let mut s = format!(
        "{} entr{} (key -> ifindex): {}",
        sorted.len(),
        if sorted.len() == 1 { "y" } else { "ies" },
        shown.join(", ")
    );
    if hidden > 0 {
        s += &format!(
            ", ... and {hidden} more entr{}",
            if hidden == 1 { "y" } else { "ies" }
        );
    }
    s
}

/// One entry of a redirect map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    /// The key the program passes to `bpf_redirect_map`.
    pub key: u32,
    /// Devmap: the target ifindex, resolved in the namespace of whoever filled the map.
    /// Cpumap: the queue size. Xskmap: 0.
    pub value: u32,
    /// A program attached inside the entry (devmap / cpumap), run on the redirected frame.
    pub prog_id: Option<u32>,
}

/// Where a program can send packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// ifindexes in its devmaps.
    pub devices: BTreeSet<u32>,
    /// It has a cpumap.
    pub cpus: bool,
    /// It has an xskmap.
    pub sockets: bool,
    /// It has no redirect map at all: if it redirects, it calls `bpf_redirect()` and its
    /// targets are only known from the redirect tracepoints.
    pub unknown: bool,
}

impl XdpView {
    /// The program with this id.
    pub fn program(&self, id: u32) -> Option<&XdpProgram> {
        self.programs.iter().find(|p| p.id == id)
    }

    /// The map with this id.
    pub fn map(&self, id: u32) -> Option<&RedirectMap> {
        self.maps.iter().find(|m| m.id == id)
    }

    /// The attachments on `ifindex`.
    pub fn on(&self, ifindex: u32) -> impl Iterator<Item = &Attachment> + '_ {
        self.attachments
            .iter()
            .filter(move |a| a.ifindex == ifindex)
    }

    /// The program running in native (driver) mode on `ifindex`, if any.
    pub fn native_on(&self, ifindex: u32) -> Option<u32> {
        self.on(ifindex)
            .find(|a| a.mode == XdpMode::Driver)
            .map(|a| a.prog_id)
    }

    /// Where program `id` (and, for a dispatcher, its sub-programs) can redirect.
    pub fn targets_of(&self, id: u32) -> Targets {
        let mut t = Targets::default();
        let mut ids = vec![id];
        if let Some(p) = self.program(id) {
            ids.extend(&p.subprograms);
        }
        let mut any_map = false;
        for pid in ids {
            let Some(p) = self.program(pid) else { continue };
            for m in p.map_ids.iter().filter_map(|m| self.map(*m)) {
                any_map = true;
                match m.kind {
                    RedirectKind::Devmap | RedirectKind::DevmapHash => {
                        t.devices.extend(m.entries.iter().map(|e| e.value))
                    }
                    RedirectKind::Cpumap => t.cpus = true,
                    RedirectKind::Xskmap => t.sockets = true,
                }
            }
        }
        t.unknown = !any_map;
        t
    }

    /// Every device any native-mode program can redirect to (from devmaps), with the
    /// ifindex of the interface that program runs on.
    pub fn native_device_targets(&self) -> BTreeSet<(u32, u32)> {
        self.attachments
            .iter()
            .filter(|a| a.mode == XdpMode::Driver)
            .flat_map(|a| {
                self.targets_of(a.prog_id)
                    .devices
                    .into_iter()
                    .map(move |d| (a.ifindex, d))
            })
            .collect()
    }

    /// Whether any program is attached.
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty()
    }
}

/// Every namespace (named or reached through /proc) with at least one XDP program attached.
pub fn namespaces_with_xdp() -> Vec<crate::netns::NsInfo> {
    crate::netns::all()
        .into_iter()
        .filter(|n| {
            n.netns
                .block_on(|| async { crate::netlink::rtnl::Rtnl::new()?.links().await })
                .map(|links| {
                    links
                        .iter()
                        .any(|l| l.xdp.as_ref().is_some_and(|x| x.prog_id != 0))
                })
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests;
