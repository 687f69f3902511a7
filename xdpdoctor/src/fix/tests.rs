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
            }),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.forwarding=1".into(),
            json!({"was": "value", "value": "0"}),
            "ip netns exec lab-vm sysctl -w net.ipv4.conf.ve-m1.forwarding=0".into(),
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
            Action::SetForwarderFullCsum(SetForwarderFullCsum {
                netns: vm,
                on: true,
            }),
            "xdpdoctor --netns lab-vm fix --apply --csum forwarder".into(),
            json!({"was": "flag", "on": false}),
            "xdpdoctor --netns lab-vm fix --revert".into(),
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
