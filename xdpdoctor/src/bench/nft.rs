//! The nftables ruleset of the kernel-NAT variant: DNAT/SNAT in vm.
//!
//! This is measurement-harness code, not product logic: the ruleset is loaded by `nft -f -`
//! (ruleset on stdin), started directly inside the lab namespace (the child enters it with
//! setns before exec; no `ip netns exec`). nftables is the comparison baseline, not something
//! xdpdoctor manages. No nftables crate in the dependency set
//! programs nat chains over netlink reasonably (rustables and nftnl need libnftnl/libmnl and
//! an expression-level API), and the lab namespaces are ours and deleted at the end, so a
//! tool call here cannot leave anything behind. See docs/performance.md.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::forwarder::Entry;
use crate::netns::Netns;
use crate::{Error, Result};

/// Name of every table the bench creates (one per namespace).
pub const TABLE: &str = "xdpdoctor_bench";

/// The kernel's answer to the forwarder: the same translation with conntrack NAT.
///
/// - prerouting DNAT per entry, matched on the external interface, exactly like the
///   forwarder's `dnat_entries`; replies are translated back by conntrack (the forwarder's
///   `snat_entries`).
/// - postrouting masquerade of container-originated traffic leaving the external interface:
///   what users configure alongside (SNAT). The benchmark's SYNs leave via the internal veth,
///   so it is evaluated but never applied to them, keeping the translation identical.
pub fn kernel_nat_ruleset(external: &str, entries: &[Entry]) -> String {
    let targets: Vec<String> = entries.iter().map(|e| e.to.ip().to_string()).collect();
    let targets = targets.join(", ");
    let mut dnat = String::new();
    for e in entries {
        dnat.push_str(&format!(
            "    iifname \"{external}\" ip daddr {} tcp dport {} dnat to {}:{}\n",
            e.from.ip(),
            e.from.port(),
            e.to.ip(),
            e.to.port()
        ));
    }
    format!(
        "table ip {TABLE} {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{dnat}  }}\n  \
         chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    \
         oifname \"{external}\" ip saddr {{ {targets} }} masquerade\n  }}\n}}\n"
    )
}

/// Loads `ruleset` into namespace `netns` (a name under /run/netns).
pub fn apply(netns: &str, ruleset: &str) -> Result<()> {
    let what = format!("nft -f - in {netns}");
    let mut cmd = Command::new("nft");
    cmd.args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let _ns_file = Netns::named(netns).spawn_in(&mut cmd)?;
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("run", format!("nft in {netns} (is nftables installed?)"), e))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(ruleset.as_bytes())
        .map_err(|e| Error::io("write ruleset to", what.clone(), e))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io("wait for", what.clone(), e))?;
    if !out.status.success() {
        return Err(Error::busy(
            what,
            format!(
                "{}: {}\nruleset:\n{ruleset}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    log::debug!("applied nftables ruleset in {netns}:\n{ruleset}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_nat_ruleset_has_one_dnat_per_entry() {
        let e = Entry {
            from: "192.168.9.1:8080".parse().unwrap(),
            to: "10.123.1.1:80".parse().unwrap(),
        };
        let r = kernel_nat_ruleset("eth0", &[e]);
        assert!(r.contains(
            "iifname \"eth0\" ip daddr 192.168.9.1 tcp dport 8080 dnat to 10.123.1.1:80"
        ));
        assert!(r.contains("ip saddr { 10.123.1.1 } masquerade"));
        assert_eq!(r.matches('{').count(), r.matches('}').count());
    }
}
