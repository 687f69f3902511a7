//! Where on the way of a packet something goes wrong; findings are ordered by it.

use serde::{Deserialize, Serialize};

/// A stage of the packet path, in the order a packet meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathStage {
    /// The XDP programs on the interfaces (before any packet is handled).
    Attach,
    /// External ingress: DNAT lookup.
    Ingress,
    /// `bpf_fib_lookup` in the program's namespace.
    Fib,
    /// `bpf_redirect_map` into the devmap.
    Devmap,
    /// The veth into the container (redirect target and its peer).
    Veth,
    /// Inside the container.
    Container,
    /// Replies: container -> SNAT -> external.
    Reply,
    /// Back at the client.
    Client,
}

impl PathStage {
    /// Short lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            PathStage::Attach => "attach",
            PathStage::Ingress => "ingress",
            PathStage::Fib => "fib",
            PathStage::Devmap => "devmap",
            PathStage::Veth => "veth",
            PathStage::Container => "container",
            PathStage::Reply => "reply",
            PathStage::Client => "client",
        }
    }
}
