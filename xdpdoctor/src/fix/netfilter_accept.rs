//! Fix for `netfilter-drop`: one accept rule per entry's translated flow, first in the chain
//! the finding names (Docker's `DOCKER-USER` where Docker is present), over nf_tables netlink
//! (`netlink::nftables::AcceptRule`). Each rule carries its comment; revert deletes the rules
//! of that chain with exactly those comments and nothing else, so the ruleset is what it was
//! before, byte for byte (`nft list ruleset`, `iptables-save`).

use super::previous::Absent;
use super::step::{Step, Undone};
use crate::model::action::NetfilterAccept;
use crate::netlink::nftables::{AcceptRule, Style};
use crate::netns::{Netns, NsRef};
use crate::Result;

impl NetfilterAccept {
    /// The rules as the netlink layer writes them, one per flow.
    fn rules(&self) -> Vec<AcceptRule> {
        self.flows
            .iter()
            .map(|f| AcceptRule {
                family: self.family.clone(),
                table: self.table.clone(),
                chain: self.chain.clone(),
                iifname: self.iifname.clone(),
                daddr: f.daddr,
                dport: f.dport,
                comment: f.comment.clone(),
                style: if self.iptables {
                    Style::Iptables
                } else {
                    Style::Nft
                },
            })
            .collect()
    }

    /// One shell command per rule, joined by `&&`.
    fn commands(&self, each: impl Fn(&AcceptRule) -> String) -> String {
        self.rules()
            .iter()
            .map(|r| self.netns.shell(&each(r)))
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

impl Step for NetfilterAccept {
    type Previous = Absent;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the chain holds every rule already (rules with their comments).
    fn observe(&self, ns: &Netns) -> Result<Option<Absent>> {
        let rules = self.rules();
        let missing = ns.run(move || {
            let mut n = 0;
            for r in &rules {
                if r.handles()?.is_empty() {
                    n += 1;
                }
            }
            Ok(n)
        })?;
        Ok((missing > 0).then_some(Absent::Absent))
    }

    /// Inserts the rules the chain does not hold yet.
    fn act(&self, ns: &Netns, _: &Absent) -> Result<()> {
        let rules = self.rules();
        ns.run(move || {
            for r in &rules {
                if r.handles()?.is_empty() {
                    r.insert()?;
                }
            }
            Ok(())
        })
    }

    /// Deletes the rules of the chain carrying the fix's comments.
    fn revert(&self, ns: &Netns, _: &Absent) -> Result<Undone> {
        let rules = self.rules();
        let n = ns.run(move || {
            let mut n = 0;
            for r in &rules {
                n += r.delete()?;
            }
            Ok(n)
        })?;
        let place = format!("{} {} {}", self.family, self.table, self.chain);
        Ok(if n == 0 {
            Undone::skipped(format!("none of the fix's rules is in {place} any more"))
        } else {
            Undone::done(format!("deleted {n} rule(s) of the fix from {place}"))
        })
    }

    fn command(&self) -> String {
        self.commands(|r| {
            if self.iptables {
                format!("iptables -I {} {}", self.chain, r.iptables_spec())
            } else {
                format!(
                    "nft 'insert rule {} {} {} {}'",
                    self.family,
                    self.table,
                    self.chain,
                    r.nft_text()
                )
            }
        })
    }

    fn undo_command(&self, _: &Absent) -> String {
        self.commands(|r| {
            if self.iptables {
                format!("iptables -D {} {}", self.chain, r.iptables_spec())
            } else {
                // The handle is looked up in the namespace too (the $(...) runs first, in
                // the shell that runs the line).
                let list = self.netns.shell(&format!(
                    "nft -a list chain {} {} {}",
                    self.family, self.table, self.chain
                ));
                format!(
                    "nft delete rule {} {} {} handle $({list} | sed -n \
                     's/.* comment \"{}\" # handle \\([0-9]*\\)$/\\1/p')",
                    self.family, self.table, self.chain, r.comment
                )
            }
        })
    }
}
