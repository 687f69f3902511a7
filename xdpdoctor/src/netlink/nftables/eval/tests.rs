//! The evaluator on Docker's ruleset as Docker 20.10 writes it (measured on this machine
//! kind: `nft list ruleset` after `docker network create` of a bridge `br-lab`), and on the
//! shapes around it.

use super::*;
use crate::netlink::nftables::ruleset::Rule;

fn ifname(key: u32, name: &str, neq: bool) -> Vec<Expr> {
    let mut d = name.as_bytes().to_vec();
    d.resize(16, 0);
    vec![
        Expr::Meta { key, dreg: Some(1) },
        Expr::Cmp {
            sreg: 1,
            op: u32::from(neq),
            data: d,
        },
    ]
}

fn verdict(c: i32, chain: Option<&str>) -> Expr {
    Expr::Verdict {
        code: c,
        chain: chain.map(str::to_string),
    }
}

fn rule(handle: u64, mut exprs: Vec<Expr>, v: Expr) -> Rule {
    exprs.push(Expr::Counter);
    exprs.push(v);
    Rule {
        handle,
        exprs,
        comment: None,
    }
}

/// `ct state related,established`.
fn ct_est() -> Vec<Expr> {
    vec![
        Expr::Ct {
            key: CT_STATE,
            dreg: Some(1),
        },
        Expr::Bitwise {
            sreg: 1,
            dreg: 1,
            len: 4,
            mask: 6u32.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: 1,
            op: 1,
            data: vec![0; 4],
        },
    ]
}

fn chain(name: &str, hook: Option<(u32, i32, &str)>, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        hook: hook.map(|(n, p, pol)| Hook {
            hooknum: n,
            priority: p,
            chain_type: "filter".into(),
            policy: pol.into(),
        }),
        rules,
    }
}

/// Docker's `ip filter` for one bridge network.
fn docker(user: Vec<Rule>) -> Ruleset {
    use code::*;
    let br = "br-lab";
    let fwd = chain(
        "FORWARD",
        Some((2, 0, "drop")),
        vec![
            rule(10, vec![], verdict(JUMP, Some("DOCKER-USER"))),
            rule(11, vec![], verdict(JUMP, Some("DOCKER-ISOLATION-STAGE-1"))),
            rule(
                12,
                [ifname(meta::OIFNAME, br, false), ct_est()].concat(),
                verdict(ACCEPT, None),
            ),
            rule(
                13,
                ifname(meta::OIFNAME, br, false),
                verdict(JUMP, Some("DOCKER")),
            ),
            rule(
                14,
                [
                    ifname(meta::IIFNAME, br, false),
                    ifname(meta::OIFNAME, br, true),
                ]
                .concat(),
                verdict(ACCEPT, None),
            ),
        ],
    );
    let mut user = user;
    user.push(rule(2, vec![], verdict(RETURN, None)));
    Ruleset {
        tables: vec![Table {
            family: "ip".into(),
            name: "filter".into(),
            chains: vec![
                chain("DOCKER", None, vec![]),
                chain(
                    "DOCKER-ISOLATION-STAGE-1",
                    None,
                    vec![
                        rule(
                            20,
                            [
                                ifname(meta::IIFNAME, br, false),
                                ifname(meta::OIFNAME, br, true),
                            ]
                            .concat(),
                            verdict(JUMP, Some("DOCKER-ISOLATION-STAGE-2")),
                        ),
                        rule(21, vec![], verdict(RETURN, None)),
                    ],
                ),
                chain(
                    "DOCKER-ISOLATION-STAGE-2",
                    None,
                    vec![
                        rule(30, ifname(meta::OIFNAME, br, false), verdict(DROP, None)),
                        rule(31, vec![], verdict(RETURN, None)),
                    ],
                ),
                fwd,
                chain("DOCKER-USER", None, user),
            ],
        }],
    }
}

/// The DNAT flow of an entry: client -> container :80, arriving on the external veth.
fn inbound(state: CtState) -> Flow {
    Flow {
        iif: ("xq0".into(), 12),
        oif: ("br-lab".into(), 6),
        saddr: None,
        daddr: Ipv4Addr::new(172, 18, 0, 2),
        protocol: 6,
        sport: None,
        dport: 80,
        state,
    }
}

#[test]
fn dockers_forward_policy_drops_a_flow_no_rule_accepts() {
    let fate = evaluate(&docker(vec![]), &inbound(CtState::New));
    assert!(fate.certain, "{fate:?}");
    assert_eq!(fate.drops.len(), 1);
    let p = &fate.drops[0];
    assert_eq!(
        (p.table.as_str(), p.base_chain.as_str(), p.by.clone()),
        ("filter", "FORWARD", By::Policy)
    );
    assert_eq!(
        p.via,
        [
            "DOCKER-USER (return)",
            "DOCKER-ISOLATION-STAGE-1 (return)",
            "DOCKER (end)"
        ]
    );
    assert_eq!(
        p.describe(),
        "table ip filter, chain FORWARD (hook forward, priority 0): policy drop, after \
         DOCKER-USER (return), DOCKER-ISOLATION-STAGE-1 (return), DOCKER (end)"
    );
    // Established packets of the same direction pass (Docker's ct state rule).
    assert!(evaluate(&docker(vec![]), &inbound(CtState::Established)).accepted());
}

#[test]
fn an_accept_in_docker_user_lets_it_through_and_only_it() {
    let accept = rule(
        40,
        [
            ifname(meta::IIFNAME, "xq0", false),
            vec![
                Expr::Payload {
                    base: 1,
                    offset: 16,
                    len: 4,
                    dreg: Some(1),
                },
                Expr::Cmp {
                    sreg: 1,
                    op: 0,
                    data: vec![172, 18, 0, 2],
                },
                Expr::Payload {
                    base: 2,
                    offset: 2,
                    len: 2,
                    dreg: Some(1),
                },
                Expr::Cmp {
                    sreg: 1,
                    op: 0,
                    data: 80u16.to_be_bytes().to_vec(),
                },
            ],
        ]
        .concat(),
        verdict(code::ACCEPT, None),
    );
    let rs = docker(vec![accept]);
    assert!(evaluate(&rs, &inbound(CtState::New)).accepted());
    let mut other = inbound(CtState::New);
    other.daddr = Ipv4Addr::new(172, 18, 0, 3);
    assert!(
        evaluate(&rs, &other).certain,
        "another container stays closed"
    );
}

#[test]
fn containers_talking_out_are_accepted_and_isolation_drops_other_bridges() {
    let out = Flow {
        iif: ("br-lab".into(), 6),
        oif: ("xq0".into(), 12),
        saddr: Some(Ipv4Addr::new(172, 18, 0, 2)),
        daddr: Ipv4Addr::new(10, 0, 0, 1),
        protocol: 6,
        sport: Some(80),
        dport: 4000,
        state: CtState::New,
    };
    assert!(evaluate(&docker(vec![]), &out).accepted());
}

#[test]
fn a_rule_on_what_the_flow_does_not_fix_makes_a_maybe() {
    // `tcp sport 1234 drop` in DOCKER-USER: the client's port is unknown.
    let sport_drop = rule(
        41,
        vec![
            Expr::Payload {
                base: 2,
                offset: 0,
                len: 2,
                dreg: Some(1),
            },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                data: 1234u16.to_be_bytes().to_vec(),
            },
        ],
        verdict(code::DROP, None),
    );
    let mut accept_all = docker(vec![sport_drop]);
    // Make the policy accept, so only the sport rule can drop.
    accept_all.tables[0].chains[3].hook.as_mut().unwrap().policy = "accept".into();
    let fate = evaluate(&accept_all, &inbound(CtState::New));
    assert!(!fate.certain && fate.drops.len() == 1, "{fate:?}");
    assert_eq!(
        fate.drops[0].by,
        By::Rule {
            handle: 41,
            text: "th sport 1234 counter drop".into()
        }
    );
}

#[test]
fn nat_chains_and_other_families_do_not_drop() {
    let mut rs = docker(vec![]);
    rs.tables[0].chains[3].hook.as_mut().unwrap().chain_type = "nat".into();
    rs.tables.push(Table {
        family: "ip6".into(),
        name: "f".into(),
        chains: vec![chain("fw", Some((2, 0, "drop")), vec![])],
    });
    assert!(evaluate(&rs, &inbound(CtState::New)).accepted());
}

#[test]
fn comparisons_on_partly_known_bytes() {
    let k = |v: &[u8]| v.iter().map(|b| Some(*b)).collect::<Vec<_>>();
    assert_eq!(compare(&k(&[1, 2]), &[1, 2], 0), Tri::Yes);
    assert_eq!(compare(&k(&[1, 3]), &[1, 2], 0), Tri::No);
    assert_eq!(compare(&[None, Some(3)], &[1, 2], 0), Tri::No);
    assert_eq!(compare(&[None, Some(2)], &[1, 2], 0), Tri::Maybe);
    assert_eq!(compare(&[None, Some(2)], &[1, 2], 1), Tri::Maybe);
    assert_eq!(compare(&k(&[1, 3]), &[1, 2], 1), Tri::Yes);
    assert_eq!(compare(&k(&[0, 80]), &[4, 0], 2), Tri::Yes);
    assert_eq!(compare(&[Some(5), None], &[4, 0], 4), Tri::Yes);
    assert_eq!(compare(&[None, Some(0)], &[4, 0], 4), Tri::Maybe);
}

#[test]
fn before_conntrack_ct_state_reads_invalid() {
    // A raw prerouting chain (priority -300) dropping `ct state invalid` drops every packet
    // there: conntrack has not run yet.
    let invalid = rule(
        50,
        vec![
            Expr::Ct {
                key: CT_STATE,
                dreg: Some(1),
            },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: 4,
                mask: 1u32.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: 1,
                op: 1,
                data: vec![0; 4],
            },
        ],
        verdict(code::DROP, None),
    );
    let rs = Ruleset {
        tables: vec![Table {
            family: "inet".into(),
            name: "raw".into(),
            chains: vec![chain("pre", Some((0, -300, "accept")), vec![invalid])],
        }],
    };
    let fate = evaluate(&rs, &inbound(CtState::New));
    assert!(fate.certain);
    assert_eq!(fate.drops[0].hook, "prerouting");
}
