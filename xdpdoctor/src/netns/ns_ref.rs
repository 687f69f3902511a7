//! The identity of a network namespace, as findings, fixes, journals and snapshots name it:
//! a name for people, the path it was opened through, and what identifies it: its nsfs inode
//! and its netns cookie (`state::NsKey`; the kernel reuses inodes of dead namespaces, never
//! cookies; kernels before 5.14 have no cookie and the inode alone identifies). A namespace
//! reached through /proc/PID may outlive that PID, so [`NsRef::open`] finds it again by
//! identity when its path no longer leads there. Also how a shell command is run in it, as
//! printed to users.
//!
//! Everything that takes or checks the identity goes through [`NsRef::of`], [`NsRef::key`]
//! and [`NsRef::open`].

use serde::{Deserialize, Serialize};

use super::{by_key, Netns, NsInfo, NETNS_RUN_DIR};
use crate::state::NsKey;
use crate::{Error, Result};

/// A serializable reference to a network namespace: its identity, name and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsRef {
    /// `ip netns` name, or `pid:N` for a namespace reached through /proc.
    pub name: String,
    /// The path it was opened through (`/run/netns/NAME`, `/proc/N/ns/net`).
    pub path: String,
    /// Its inode.
    pub inode: u64,
    /// Its netns cookie (None: a kernel without `SO_NETNS_COOKIE`, or a record written before
    /// it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
}

impl NsRef {
    /// The identity of the namespace `ns` leads to now (opens it).
    pub fn of(ns: &Netns) -> Result<NsRef> {
        let key = ns.key()?;
        Ok(NsRef {
            name: ns.name.clone(),
            path: ns.path.display().to_string(),
            inode: key.inode,
            cookie: key.cookie,
        })
    }

    /// Its identity as state is keyed by it.
    pub fn key(&self) -> NsKey {
        NsKey::new(self.inode, self.cookie)
    }

    /// The way in by the path it was opened through, unchecked (for work right after the
    /// namespace was seen; [`NsRef::open`] checks the identity).
    pub fn netns(&self) -> Netns {
        Netns {
            name: self.name.clone(),
            path: self.path.clone().into(),
        }
    }

    /// A way into this namespace: its path while that still leads to it, else any path to a
    /// namespace with its identity. [`Error::NotFound`] when it is gone.
    pub fn open(&self) -> Result<Netns> {
        let ns = self.netns();
        let key = self.key();
        if ns.key().is_ok_and(|now| key.matches(&now)) {
            return Ok(ns);
        }
        by_key(&key).ok_or_else(|| {
            Error::not_found(
                format!("namespace {} (inode {})", self.name, self.inode),
                Some(
                    "it was deleted since the diagnosis (a namespace that reused its inode \
                     is another one)"
                        .into(),
                ),
            )
        })
    }

    /// The `ip netns` name, when the namespace has one (its path is `/run/netns/NAME`).
    pub fn ip_netns_name(&self) -> Option<&str> {
        self.path
            .strip_prefix(NETNS_RUN_DIR)?
            .strip_prefix('/')
            .filter(|n| !n.is_empty() && !n.contains('/'))
    }

    /// A shell command line that runs `cmd` inside this namespace, as printed to users:
    /// `ip -n NAME ...` for `ip` commands in a named namespace, `ip netns exec NAME ...` for
    /// other tools, `nsenter --net=PATH ...` for namespaces that have no name (containers).
    ///
    /// `bpftool` always goes through `nsenter --net`: `ip netns exec` remounts /sys, which
    /// hides bpffs and its pins. In the host's namespace (`host`) the command is printed as
    /// it is: that is where a shell on the host runs it.
    pub fn shell(&self, cmd: &str) -> String {
        if self.name == super::HOST {
            return cmd.to_string();
        }
        let bpftool = cmd.starts_with("bpftool ");
        match (
            self.ip_netns_name().map(super::quote),
            cmd.strip_prefix("ip "),
        ) {
            (Some(name), Some(rest)) => format!("ip -n {name} {rest}"),
            (Some(name), None) if !bpftool => format!("ip netns exec {name} {cmd}"),
            _ => format!("nsenter --net={} {cmd}", super::quote(&self.path)),
        }
    }

    /// What `xdpdoctor --netns` takes for it: the name, or the path when it has none.
    pub fn cli_arg(&self) -> &str {
        self.ip_netns_name().unwrap_or(&self.path)
    }

    /// `xdpdoctor ARGS` run in this namespace, as printed to users: with `--netns`, except
    /// in the host's namespace (where a shell on the host runs it).
    pub fn xdpdoctor(&self, args: &str) -> String {
        if self.name == super::HOST {
            format!("xdpdoctor {args}")
        } else {
            format!("xdpdoctor --netns {} {args}", self.cli_arg())
        }
    }

    /// The process it was reached through (`/proc/PID/ns/net`), if any.
    pub fn pid(&self) -> Option<u32> {
        super::names::pid_of_path(&self.path)
    }

    /// The suffix that says which process a container's namespace was reached through,
    /// ` (pid 2236)`; empty for named namespaces, `host` and `pid:N` (which say it already).
    pub fn pid_suffix(&self) -> String {
        super::names::pid_suffix(&self.name, &self.path)
    }

    /// How people read it: the name, and for a container the process it was reached
    /// through: `lab-vm`, `host`, `docker:web1 (pid 2236)`.
    pub fn label(&self) -> String {
        format!("{}{}", self.name, self.pid_suffix())
    }

    /// An interface of it, as people read it: `lab-m1/host0`, `docker:web1/eth0 (pid 2236)`.
    pub fn at(&self, iface: &str) -> String {
        format!("{}/{iface}{}", self.name, self.pid_suffix())
    }
}

impl From<&NsInfo> for NsRef {
    /// The identity of a namespace [`super::all`] found, with the name and path it was
    /// found by; the cookie is not read here (it takes entering the namespace): the caller
    /// that works inside it fills it ([`super::cookie_here`]).
    fn from(c: &NsInfo) -> Self {
        NsRef {
            name: c.netns.name.clone(),
            path: c.netns.path.display().to_string(),
            inode: c.inode,
            cookie: None,
        }
    }
}

impl std::fmt::Display for NsRef {
    /// [`NsRef::label`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, path: &str) -> NsRef {
        NsRef {
            name: name.into(),
            path: path.into(),
            inode: 1,
            cookie: None,
        }
    }

    #[test]
    fn named_and_unnamed_namespaces_get_commands_that_run() {
        let named = ns("lab-vm", "/run/netns/lab-vm");
        assert_eq!(
            named.shell("ip link set eth0 up"),
            "ip -n lab-vm link set eth0 up"
        );
        assert_eq!(
            named.shell("ethtool -K eth0 tx off"),
            "ip netns exec lab-vm ethtool -K eth0 tx off"
        );
        assert_eq!(
            named.shell("bpftool map show"),
            "nsenter --net=/run/netns/lab-vm bpftool map show"
        );
        assert_eq!(named.cli_arg(), "lab-vm");
        let pid = ns("pid:22336", "/proc/22336/ns/net");
        assert_eq!(pid.cli_arg(), "/proc/22336/ns/net");
        assert_eq!(pid.ip_netns_name(), None);
        assert_eq!(
            pid.shell("ip link set eth0 up"),
            "nsenter --net=/proc/22336/ns/net ip link set eth0 up"
        );
        assert_eq!(
            (pid.pid(), pid.label().as_str()),
            (Some(22336), "pid:22336")
        );
        let web = ns("docker:web1", "/proc/2236/ns/net");
        assert_eq!(web.label(), "docker:web1 (pid 2236)");
        assert_eq!(web.to_string(), "docker:web1 (pid 2236)");
        assert_eq!(web.at("eth0"), "docker:web1/eth0 (pid 2236)");
        assert_eq!(named.label(), "lab-vm");
        assert_eq!(
            ns("host", "/proc/self/ns/net").shell("iptables -L"),
            "iptables -L"
        );
        assert_eq!(ns("host", "/proc/1/ns/net").label(), "host");
    }
}
