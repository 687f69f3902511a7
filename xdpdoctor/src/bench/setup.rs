//! What the bench adds to its own lab before measuring, in this order: the kernel-NAT
//! ruleset in vm (nftables, [`super::nft`]), the delivery counters on the container's host0
//! and on the bridged container's eth0 ([`super::sink`], dropping IPv4 after counting and
//! restoring the generator's TTL),
//! vm's neighbour entries for the NAT targets ([`resolve_targets`]: every method's FIB lookups
//! need them), identity DNAT entries in the deployed forwarder, and an idle veth pair in vm ([`PIN_DEV`],
//! down, no address) that programs under test are attached to in generic mode so that test
//! runs do not wait for the XDP dispatcher (`programs::pin_in_dispatcher`). All of it dies
//! with the lab; the sink is also detached when it is dropped.

use super::sink::{Sink, Sinks};
use super::topology::Topology;
use super::{nft, traffic};
use crate::bpf::forwarder_abi as abi;
use crate::forwarder::{self, deploy::Deployment};
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::{cancel, Error, Result};

/// The idle device in vm that holds the program under test in the XDP dispatcher.
pub const PIN_DEV: &str = "xdb-pin";
const PIN_PEER: &str = "xdb-pinp";

/// What [`prepare`] made.
pub(super) struct Prepared {
    /// The delivery counters (keep them until the measurements are done).
    pub sinks: Sinks,
    /// The deployment the forwarder variants share maps with.
    pub deployment: Deployment,
    /// ifindex of [`PIN_DEV`] in vm.
    pub pin_ifindex: u32,
}

/// Prepares the lab (see the module documentation).
pub(super) fn prepare(topo: &Topology) -> Result<Prepared> {
    cancel::check()?;
    let ext_name = topo.cfg.external.first().cloned().unwrap_or_default();
    nft::apply(
        &topo.vm,
        &nft::kernel_nat_table(&ext_name, &topo.cfg.entries),
    )?;
    let sinks = Sinks {
        routed: Sink::attach(&topo.container, &topo.container_if, traffic::TTL)?,
        bridged: Sink::attach(&topo.bridged, &topo.bridged_if, traffic::TTL)?,
    };
    resolve_targets(&topo.vm, &topo.cfg.entries)?;
    add_identity_entries(&topo.vm, &topo.cfg.entries)?;
    let deployment = Deployment::load(topo.vm.key()?)?
        .ok_or_else(|| Error::not_found("the lab's forwarder deployment", None))?;
    let pin_ifindex = topo.vm.block_on(|| async {
        let rt = Rtnl::new()?;
        rt.create_veth(PIN_DEV, PIN_PEER).await?;
        Ok(rt.link(PIN_DEV).await?.index)
    })?;
    Ok(Prepared {
        sinks,
        deployment,
        pin_ifindex,
    })
}

/// Makes vm resolve the MAC of every NAT target: until it has a valid neighbour entry,
/// `bpf_fib_lookup` answers NO_NEIGH and every program passes the frames to the stack (the
/// non-live test runs of the program-cost method never send anything that would make vm ask).
/// Sends one UDP datagram to port 9 (discard) of each unresolved target from vm, which makes
/// the kernel send the ARP request (the sink on host0 passes ARP and drops the datagram), and
/// waits up to 2 s for the entries.
fn resolve_targets(vm: &Netns, entries: &[forwarder::Entry]) -> Result<()> {
    let targets: Vec<std::net::Ipv4Addr> = entries.iter().map(|e| *e.to.ip()).collect();
    vm.block_on(|| async move {
        let rt = Rtnl::new()?;
        let sock = std::net::UdpSocket::bind("0.0.0.0:0")
            .map_err(|e| Error::io("bind", "UDP socket in vm", e))?;
        for _ in 0..40 {
            cancel::check()?;
            let known = rt.neighbours().await?;
            let missing: Vec<_> = targets
                .iter()
                .filter(|t| !known.iter().any(|n| n.addr == **t && n.valid))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            for t in missing {
                // Unanswered by design; an error here (no route yet) is retried.
                let _ = sock.send_to(b"xdpdoctor bench", (*t, 9));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(Error::unexpected(
            "bench lab",
            format!("vm did not resolve the MAC of {targets:?} within 2 s"),
        ))
    })
}

/// Adds `to -> to` to the deployed forwarder's DNAT map for every entry.
///
/// Live-frames test runs recycle their pages without re-copying the frame within one call
/// (see [`traffic::PER_CALL`]), so a redirected frame can come back already translated. With
/// the identity entry it takes the same full path again (lookup hit, fib SUCCESS, rewrite,
/// redirect) instead of NO_ENTRY; the counters check it. Bench-only: the lab is deleted
/// afterwards, and no real client could address the container's endpoint on eth0.
fn add_identity_entries(vm: &Netns, entries: &[forwarder::Entry]) -> Result<()> {
    let inode = vm.key()?;
    for e in entries {
        if forwarder::maps::nat_get(inode, abi::DNAT_MAP, e.to)?.is_none() {
            forwarder::maps::nat_insert(inode, abi::DNAT_MAP, e.to, e.to)?;
        }
    }
    Ok(())
}
