//! Fix for `reverse-path-filter`, on one interface of the diagnosed namespace:
//! `net.ipv4.conf.<if>.rp_filter = 2` (loose: the source must be reachable through some
//! interface, RFC 3704) where the check is strict, and `accept_local = 1` where the dropped
//! packets carry one of the host's own addresses as source (replies the program translated
//! back to the public address and passed to the stack). An interface's `rp_filter` is the
//! larger of `conf.all` and its own and its `accept_local` is either, so the interface's own
//! values are enough and no other interface changes. Journals both sysctls' text; revert
//! writes back each one that still has the fix's value.

use serde::{Deserialize, Serialize};

use super::step::{Step, Undone};
use crate::model::action::SetRpFilter;
use crate::netlink::sysctl;
use crate::netns::{Netns, NsRef};
use crate::Result;

/// The two sysctls before the change, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum RpSysctls {
    /// Their text.
    Values {
        /// `rp_filter`.
        rp_filter: String,
        /// `accept_local`.
        accept_local: String,
    },
}

impl SetRpFilter {
    /// The (sysctl, value) pairs the fix writes.
    fn wanted(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = Vec::new();
        if self.loose {
            v.push(("rp_filter", "2"));
        }
        if self.accept_local {
            v.push(("accept_local", "1"));
        }
        v
    }

    fn sysctl_w(&self, pairs: &[(&str, &str)]) -> String {
        let sets: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("net.ipv4.conf.{}.{k}={v}", self.interface))
            .collect();
        self.netns.shell(&format!("sysctl -w {}", sets.join(" ")))
    }
}

fn read(ifname: &str, key: &str) -> Result<String> {
    sysctl::read_path(sysctl::iface_path(ifname, key)).map(|s| s.trim().to_string())
}

impl Step for SetRpFilter {
    type Previous = RpSysctls;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if every value the fix writes is already there; else both values now.
    fn observe(&self, ns: &Netns) -> Result<Option<RpSysctls>> {
        let ifname = self.interface.clone();
        let wanted = self.wanted();
        ns.run(move || {
            let rp_filter = read(&ifname, "rp_filter")?;
            let accept_local = read(&ifname, "accept_local")?;
            let done = wanted.iter().all(|(k, v)| match *k {
                "rp_filter" => rp_filter == *v,
                _ => accept_local == *v,
            });
            Ok((!done).then_some(RpSysctls::Values {
                rp_filter,
                accept_local,
            }))
        })
    }

    fn act(&self, ns: &Netns, _: &RpSysctls) -> Result<()> {
        let ifname = self.interface.clone();
        let wanted = self.wanted();
        ns.run(move || {
            for (k, v) in wanted {
                sysctl::write_path(sysctl::iface_path(&ifname, k), v)?;
            }
            Ok(())
        })
    }

    /// Writes each journaled value back where the interface still has the fix's value; a
    /// value changed by hand since is left alone and reported.
    fn revert(&self, ns: &Netns, prev: &RpSysctls) -> Result<Undone> {
        let RpSysctls::Values {
            rp_filter,
            accept_local,
        } = prev.clone();
        let ifname = self.interface.clone();
        let wanted = self.wanted();
        ns.run(move || {
            if !sysctl::iface_path(&ifname, "rp_filter").exists() {
                return Ok(Undone::skipped(format!(
                    "{ifname} no longer exists; nothing to restore"
                )));
            }
            let mut did = Vec::new();
            let mut left = Vec::new();
            for (k, set) in wanted {
                let was = if k == "rp_filter" {
                    &rp_filter
                } else {
                    &accept_local
                };
                let now = read(&ifname, k)?;
                if now == *was {
                    left.push(format!("{k} is already {was}"));
                } else if now != set {
                    left.push(format!(
                        "{k} is {now} (the fix set {set}; changed by hand): left alone"
                    ));
                } else {
                    sysctl::write_path(sysctl::iface_path(&ifname, k), was)?;
                    did.push(format!("{k}: {now} -> {was}"));
                }
            }
            let text = format!(
                "net.ipv4.conf.{ifname}: {}",
                did.iter()
                    .chain(&left)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(if did.is_empty() {
                Undone::skipped(text)
            } else {
                Undone::done(text)
            })
        })
    }

    fn command(&self) -> String {
        self.sysctl_w(&self.wanted())
    }

    fn undo_command(&self, prev: &RpSysctls) -> String {
        let RpSysctls::Values {
            rp_filter,
            accept_local,
        } = prev;
        let pairs: Vec<(&str, &str)> = self
            .wanted()
            .into_iter()
            .map(|(k, _)| {
                (
                    k,
                    if k == "rp_filter" {
                        rp_filter.as_str()
                    } else {
                        accept_local.as_str()
                    },
                )
            })
            .collect();
        self.sysctl_w(&pairs)
    }
}
