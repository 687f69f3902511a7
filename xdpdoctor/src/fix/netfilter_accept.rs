//! Fix for `netfilter-drop`: one accept rule for an entry's translated flow, first in the
//! chain the finding names (Docker's `DOCKER-USER` where Docker is present), over nf_tables
//! netlink (`netlink::nftables::AcceptRule`). The rule carries the fix's comment; revert
//! deletes the rules of that chain with exactly that comment and nothing else, so the
//! ruleset is what it was before, byte for byte (`nft list ruleset`, `iptables-save`).

use super::previous::Absent;
use super::step::{Step, Undone};
use crate::model::action::NetfilterAccept;
use crate::netlink::nftables::{AcceptRule, Style};
use crate::netns::{Netns, NsRef};
use crate::Result;

impl NetfilterAccept {
    /// The rule as the netlink layer writes it.
    fn rule(&self) -> AcceptRule {
        AcceptRule {
            family: self.family.clone(),
            table: self.table.clone(),
            chain: self.chain.clone(),
            iifname: self.iifname.clone(),
            daddr: self.daddr,
            dport: self.dport,
            comment: self.comment.clone(),
            style: if self.iptables {
                Style::Iptables
            } else {
                Style::Nft
            },
        }
    }
}

impl Step for NetfilterAccept {
    type Previous = Absent;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if the chain holds the rule already (a rule with its comment).
    fn observe(&self, ns: &Netns) -> Result<Option<Absent>> {
        let r = self.rule();
        let there = ns.run(move || r.handles())?;
        Ok(there.is_empty().then_some(Absent::Absent))
    }

    fn act(&self, ns: &Netns, _: &Absent) -> Result<()> {
        let r = self.rule();
        ns.run(move || r.insert())
    }

    /// Deletes the rules of the chain carrying the fix's comment.
    fn revert(&self, ns: &Netns, _: &Absent) -> Result<Undone> {
        let r = self.rule();
        let n = ns.run(move || r.delete())?;
        Ok(if n == 0 {
            Undone::skipped(format!(
                "no rule with the comment {:?} in {} {} {}",
                self.comment, self.family, self.table, self.chain
            ))
        } else {
            Undone::done(format!(
                "deleted {n} rule(s) with the comment {:?} from {} {} {}",
                self.comment, self.family, self.table, self.chain
            ))
        })
    }

    fn command(&self) -> String {
        let r = self.rule();
        self.netns.shell(&if self.iptables {
            format!("iptables -I {} {}", self.chain, r.iptables_spec())
        } else {
            format!(
                "nft 'insert rule {} {} {} {}'",
                self.family,
                self.table,
                self.chain,
                r.nft_text()
            )
        })
    }

    fn undo_command(&self, _: &Absent) -> String {
        let r = self.rule();
        self.netns.shell(&if self.iptables {
            format!("iptables -D {} {}", self.chain, r.iptables_spec())
        } else {
            format!(
                "nft delete rule {f} {t} {c} handle $(nft -a list chain {f} {t} {c} | sed -n \
                 's/.* comment \"{m}\" # handle \\([0-9]*\\)$/\\1/p')",
                f = self.family,
                t = self.table,
                c = self.chain,
                m = self.comment
            )
        })
    }
}
