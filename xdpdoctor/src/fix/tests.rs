//! Every fix's equivalent commands (apply and undo) and the journal records of its previous
//! state, without a kernel: the commands are what `fix` and `fix --revert` print (and
//! `tests/integration/commands.rs` runs), the records what journals on disk hold.

use serde_json::json;

use super::fix_for as step;
use super::previous::{Absent, Endpoint, Flag, Text};
use super::Pinned;
use crate::model::action::*;
use crate::model::Action;
use crate::netns::NsRef;

fn ns(name: &str) -> NsRef {
    NsRef {
        name: name.into(),
        path: format!("/run/netns/{name}"),
        inode: 4026533087,
        cookie: None,
    }
}

const PIN_DIR: &str = "/sys/fs/bpf/xdpdoctor/fwd-4026533087";

/// (action, its command, a previous state as journaled, the undo command of that state).
fn cases() -> Vec<(Action, String, serde_json::Value, String)> {
    let (vm, m1) = (ns("lab-vm"), ns("lab-m1"));
    let (f, o, n) = (
        "192 168 9 1 31 144 0 0",
        "10 123 1 1 0 80 0 0",
        "10 123 1 2 0 80 0 0",
    );
    vec![
        (
            Action::AttachXdpPass(AttachXdpPass {
                netns: m1.clone(),
                interface: "host0".into(),
            }),
            "f=$(mktemp) && xdpdoctor object passthrough --output \"$f\" && ip -n lab-m1 link \
             set dev host0 xdpdrv obj \"$f\" sec xdp && rm -f \"$f\""
                .into(),
            json!({"was": "pinned", "pin": "/sys/fs/bpf/xdpdoctor/fix-4026533087-host0"}),
            "rm /sys/fs/bpf/xdpdoctor/fix-4026533087-host0  (unpinning the link detaches \
             xdp_pass)"
                .into(),
        ),
        (
            Action::SetGro(SetGro {
                netns: m1.clone(),
                interface: "host0".into(),
                on: true,
            }),
            "ip netns exec lab-m1 ethtool -K host0 gro on".into(),
            json!({"was": "flag", "on": false}),
            "ip netns exec lab-m1 ethtool -K host0 gro off".into(),
        ),
        (
            Action::SetTxCsum(SetTxCsum {
                netns: m1,
                interface: "host0".into(),
                on: false,
            }),
            "ip netns exec lab-m1 ethtool -K host0 tx off".into(),
            json!({"was": "flag", "on": true}),
            "ip netns exec lab-m1 ethtool -K host0 tx on".into(),
        ),
        (
            Action::SetForwarding(SetForwarding {
                netns: vm.clone(),
                interface: "ve-m1".into(),
                on: true,
                ipv6: false,
            }),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.forwarding=1".into(),
            json!({"was": "value", "value": "0"}),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.forwarding=0".into(),
        ),
        (
            Action::SetForwarding(SetForwarding {
                netns: vm.clone(),
                interface: "eth0".into(),
                on: true,
                ipv6: true,
            }),
            "ip netns exec lab-vm sysctl -w net.ipv6.conf.eth0.forwarding=1".into(),
            json!({"was": "value", "value": "0"}),
            "ip netns exec lab-vm sysctl -w net.ipv6.conf.eth0.forwarding=0".into(),
        ),
        (
            Action::AddAddress(AddAddress {
                netns: vm.clone(),
                interface: "ve-m1".into(),
                addr: "10.123.1.254".parse().unwrap(),
                prefix: 24,
            }),
            "ip -n lab-vm address add 10.123.1.254/24 dev ve-m1".into(),
            json!({"was": "absent"}),
            "ip -n lab-vm address del 10.123.1.254/24 dev ve-m1".into(),
        ),
        (
            Action::DevmapAdd(DevmapAdd {
                netns: vm.clone(),
                interface: "ve-m1".into(),
                ifindex: 5,
            }),
            format!(
                "nsenter --net=/run/netns/lab-vm bpftool map update pinned {PIN_DIR}/devmap key \
                 5 0 0 0 value 5 0 0 0 0 0 0 0"
            ),
            json!({"was": "absent"}),
            format!(
                "nsenter --net=/run/netns/lab-vm bpftool map delete pinned {PIN_DIR}/devmap key \
                 5 0 0 0"
            ),
        ),
        (
            Action::SnatAdd(SnatAdd {
                netns: vm.clone(),
                key: "10.123.1.1:80".parse().unwrap(),
                value: "192.168.9.1:8080".parse().unwrap(),
            }),
            format!("bpftool map update pinned {PIN_DIR}/snat_entries key {o} value {f}"),
            json!({"was": "value", "value": "10.123.1.2:80"}),
            format!("bpftool map update pinned {PIN_DIR}/snat_entries key {o} value {n}"),
        ),
        (
            Action::SnatAdd(SnatAdd {
                netns: vm.clone(),
                key: "10.123.1.1:80".parse().unwrap(),
                value: "192.168.9.1:8080".parse().unwrap(),
            }),
            format!("bpftool map update pinned {PIN_DIR}/snat_entries key {o} value {f}"),
            json!({"was": "absent"}),
            format!("bpftool map delete pinned {PIN_DIR}/snat_entries key {o}"),
        ),
        (
            Action::RetargetEntry(RetargetEntry {
                netns: vm.clone(),
                from: "192.168.9.1:8080".parse().unwrap(),
                old: "10.123.1.1:80".parse().unwrap(),
                new: "10.123.1.2:80".parse().unwrap(),
            }),
            format!(
                "bpftool map update pinned {PIN_DIR}/dnat_entries key {f} value {n} && bpftool \
                 map update pinned {PIN_DIR}/snat_entries key {n} value {f} && bpftool map \
                 delete pinned {PIN_DIR}/snat_entries key {o}"
            ),
            json!({"was": "absent"}),
            format!(
                "bpftool map update pinned {PIN_DIR}/dnat_entries key {f} value {o} && bpftool \
                 map update pinned {PIN_DIR}/snat_entries key {o} value {f} && bpftool map \
                 delete pinned {PIN_DIR}/snat_entries key {n}"
            ),
        ),
        (
            Action::DevmapRemove(DevmapRemove {
                netns: vm.clone(),
                interface: "br-lab".into(),
                ifindex: 6,
            }),
            format!(
                "nsenter --net=/run/netns/lab-vm bpftool map delete pinned {PIN_DIR}/devmap key \
                 6 0 0 0"
            ),
            json!({"was": "present"}),
            format!(
                "nsenter --net=/run/netns/lab-vm bpftool map update pinned {PIN_DIR}/devmap key \
                 6 0 0 0 value 6 0 0 0 0 0 0 0"
            ),
        ),
        (
            // On the host, in Docker's chain: iptables' own words, no namespace prefix.
            Action::NetfilterAccept(NetfilterAccept {
                netns: NsRef {
                    name: "host".into(),
                    path: "/proc/2/ns/net".into(),
                    inode: 4026531833,
                    cookie: None,
                },
                family: "ip".into(),
                table: "filter".into(),
                chain: "DOCKER-USER".into(),
                iifname: "ext0".into(),
                flows: vec![AcceptFlow {
                    daddr: "172.18.0.2".parse().unwrap(),
                    dport: 80,
                    comment: "xdpdoctor: accept 10.0.0.1:8080 -> 172.18.0.2:80 via ext0".into(),
                }],
                iptables: true,
            }),
            "iptables -I DOCKER-USER -i ext0 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -m \
             comment --comment \"xdpdoctor: accept 10.0.0.1:8080 -> 172.18.0.2:80 via ext0\" -j \
             ACCEPT"
                .into(),
            json!({"was": "absent"}),
            "iptables -D DOCKER-USER -i ext0 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -m \
             comment --comment \"xdpdoctor: accept 10.0.0.1:8080 -> 172.18.0.2:80 via ext0\" -j \
             ACCEPT"
                .into(),
        ),
        (
            // In a namespace's own nft table: nft's words; removed by the handle its comment
            // finds.
            Action::NetfilterAccept(NetfilterAccept {
                netns: vm.clone(),
                family: "inet".into(),
                table: "fw".into(),
                chain: "forward".into(),
                iifname: "eth0".into(),
                flows: vec![AcceptFlow {
                    daddr: "10.123.1.1".parse().unwrap(),
                    dport: 80,
                    comment: "c1".into(),
                }],
                iptables: false,
            }),
            "ip netns exec lab-vm nft 'insert rule inet fw forward iifname \"eth0\" ip daddr \
             10.123.1.1 tcp dport 80 counter accept comment \"c1\"'"
                .into(),
            json!({"was": "absent"}),
            "ip netns exec lab-vm nft delete rule inet fw forward handle $(ip netns exec lab-vm nft \
             -a list chain inet fw forward | sed -n 's/.* comment \"c1\" # handle \
             \\([0-9]*\\)$/\\1/p')"
                .into(),
        ),
        (
            Action::SetForwarderFullCsum(SetForwarderFullCsum {
                netns: vm.clone(),
                on: true,
            }),
            "xdpdoctor --netns lab-vm fix --apply --csum forwarder".into(),
            json!({"was": "flag", "on": false}),
            "xdpdoctor --netns lab-vm fix --revert".into(),
        ),
        (
            Action::SetMtu(SetMtu {
                netns: vm.clone(),
                interface: "ve-m1".into(),
                mtu: 1500,
            }),
            "ip -n lab-vm link set dev ve-m1 mtu 1500".into(),
            json!({"was": "mtu", "mtu": 1400}),
            "ip -n lab-vm link set dev ve-m1 mtu 1400".into(),
        ),
        (
            Action::SetRpFilter(SetRpFilter {
                netns: vm.clone(),
                interface: "ve-m1".into(),
                loose: false,
                accept_local: true,
            }),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.accept_local=1".into(),
            json!({"was": "values", "rp_filter": "2", "accept_local": "0"}),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.accept_local=0".into(),
        ),
        (
            Action::SetRpFilter(SetRpFilter {
                netns: vm,
                interface: "eth0".into(),
                loose: true,
                accept_local: false,
            }),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.eth0.rp_filter=2".into(),
            json!({"was": "values", "rp_filter": "1", "accept_local": "0"}),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.eth0.rp_filter=1".into(),
        ),
    ]
}

#[test]
fn each_fix_prints_its_command_and_its_undo() {
    for (a, cmd, prev, undo) in cases() {
        assert_eq!(super::command(&a), cmd, "{}", a.id());
        assert_eq!(step(&a).undo_command(&prev), undo, "{}", a.id());
    }
}

/// The journal's records keep their shape (journals written before the fixes had typed
/// records read back), and a record of another shape is refused, not misread.
#[test]
fn previous_states_keep_their_journal_shape() {
    assert_eq!(
        json!(Flag::Flag { on: true }),
        json!({"was": "flag", "on": true})
    );
    assert_eq!(json!(Absent::Absent), json!({"was": "absent"}));
    assert_eq!(
        json!(Text::Value { value: "1".into() }),
        json!({"was": "value", "value": "1"})
    );
    assert_eq!(
        json!(Endpoint::from(Some("10.0.0.1:80".parse().unwrap()))),
        json!({"was": "value", "value": "10.0.0.1:80"})
    );
    assert_eq!(json!(Endpoint::from(None)), json!({"was": "absent"}));
    assert_eq!(
        json!(Pinned::Pinned {
            pin: "/sys/fs/bpf/xdpdoctor/fix-1-host0".into()
        }),
        json!({"was": "pinned", "pin": "/sys/fs/bpf/xdpdoctor/fix-1-host0"})
    );
    assert!(serde_json::from_value::<Flag>(json!({"was": "absent"})).is_err());
    assert!(serde_json::from_value::<Absent>(json!({"was": "pinned", "pin": "x"})).is_err());
    assert!(serde_json::from_value::<Endpoint>(json!({"was": "value", "value": "x"})).is_err());
    // A step handed a record it does not write says so instead of guessing.
    for (a, _, _, _) in cases() {
        let wrong = json!({"was": "nonsense"});
        assert!(step(&a)
            .undo_command(&wrong)
            .starts_with("(nothing to undo"));
        let e = step(&a).act(&wrong).unwrap_err();
        assert!(e.to_string().contains("journal entry"), "{}: {e}", a.id());
    }
}

/// The JSON of an action (in findings, plans and journals) is its `kind` and its fields.
#[test]
fn actions_serialize_as_kind_and_fields() {
    let a = Action::SetGro(SetGro {
        netns: ns("lab-m1"),
        interface: "host0".into(),
        on: true,
    });
    let v = json!(a);
    assert_eq!(
        v,
        json!({"kind": "set-gro", "netns": {"name": "lab-m1", "path": "/run/netns/lab-m1",
               "inode": 4026533087u64}, "interface": "host0", "on": true})
    );
    assert_eq!(serde_json::from_value::<Action>(v).unwrap(), a);
    let fix = crate::model::Fix::new("request GRO", a);
    assert_eq!(json!(fix)["id"], json!("set-gro"));
    assert_eq!(json!(fix)["text"], json!("request GRO"));
}

/// The plan for the Docker lab's findings (`tests/fixtures/docker-faults.json`): the bridge
/// out of the devmap, one accept rule per entry in DOCKER-USER (iptables' spelling), tx
/// checksum off in both containers; no address for a bridge port, no retarget.
#[test]
fn the_plan_touches_no_bridge_port_address_and_retargets_nothing() {
    let r = crate::diagnose::diagnose_saved(
        serde_json::from_str(include_str!("../../tests/fixtures/docker-faults.json")).unwrap(),
    );
    let actions = super::plan(&r.diagnosis.findings, super::PeerFix::Xdp);
    let s = &r.snapshot;
    let br = s.home().iface_by_name("i21f-br").unwrap().index();
    let mut kinds: Vec<&str> = actions.iter().map(|a| a.id()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "devmap-remove",
            "netfilter-accept",
            "set-tx-csum",
            "set-tx-csum"
        ]
    );
    for a in &actions {
        match a {
            Action::DevmapRemove(d) => {
                assert_eq!((d.ifindex, d.interface.as_str()), (br, "i21f-br"))
            }
            Action::NetfilterAccept(n) => {
                assert_eq!(
                    (
                        n.family.as_str(),
                        n.table.as_str(),
                        n.chain.as_str(),
                        n.iptables
                    ),
                    ("ip", "filter", "DOCKER-USER", true)
                );
                assert_eq!(n.iifname, "i21f-x");
                let flows: Vec<String> = n
                    .flows
                    .iter()
                    .map(|f| format!("{}:{}", f.daddr, f.dport))
                    .collect();
                assert_eq!(flows, ["172.28.0.2:80", "172.28.0.3:80"]);
                assert!(n
                    .flows
                    .iter()
                    .all(|f| f.comment.starts_with("xdpdoctor: accept")));
            }
            Action::SetTxCsum(t) => assert!(t.netns.name.starts_with("docker:i21f-web")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
