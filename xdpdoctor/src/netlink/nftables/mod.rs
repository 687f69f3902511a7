//! nf_tables over `NETLINK_NETFILTER`, in the calling thread's namespace, without `nft` or
//! `iptables`: write a whole IPv4 NAT table (`nat.rs`, the bench's kernel-NAT variant), read
//! the ruleset (`ruleset.rs`: tables, chains with hook, priority and policy, rules with their
//! expressions and comments; iptables-nft's rules included), say what it does with a
//! forwarded flow (`eval.rs`), and add or remove one accept rule (`edit.rs`). The wire format
//! is `msg.rs`, the expressions `expr.rs` (read) and `build.rs` (written).

mod build;
pub mod edit;
pub mod eval;
pub mod expr;
mod msg;
mod nat;
pub mod ruleset;

pub use edit::{AcceptRule, Style};
pub use eval::{evaluate, By, CtState, Fate, Flow, Place};
pub use nat::{apply, DnatRule, MasqRule, NatTable};
pub use ruleset::{read, Chain, Hook, Rule, Ruleset, Table};

/// `IFNAMSIZ`: interface names are at most 15 bytes and a NUL.
const IFNAMSIZ: usize = 16;
