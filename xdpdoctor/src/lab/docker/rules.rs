//! The Docker lab's accept rules in `ip filter DOCKER-USER`, as `up.rs` inserts them and
//! `down.rs` deletes them (by comment).

use super::spec::AcceptRecord;
use crate::netlink::nftables::{AcceptRule, Style};

/// The rule of an accept record (`ip filter DOCKER-USER`).
pub fn accept_rule(r: &AcceptRecord) -> AcceptRule {
    AcceptRule {
        family: "ip".into(),
        table: "filter".into(),
        chain: "DOCKER-USER".into(),
        iifname: r.iifname.clone(),
        daddr: *r.to.ip(),
        dport: r.to.port(),
        comment: r.comment.clone(),
        style: Style::Iptables,
    }
}
