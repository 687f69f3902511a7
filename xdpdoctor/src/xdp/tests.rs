//! The derived views (targets, native programs) on hand-built deployments.

use super::*;

fn view() -> XdpView {
    XdpView {
        attachments: vec![
            Attachment {
                ifindex: 2,
                ifname: "eth0".into(),
                mode: XdpMode::Driver,
                prog_id: 10,
            },
            Attachment {
                ifindex: 4,
                ifname: "ve-m1".into(),
                mode: XdpMode::Skb,
                prog_id: 11,
            },
            Attachment {
                ifindex: 5,
                ifname: "ve-m2".into(),
                mode: XdpMode::Driver,
                prog_id: 12,
            },
        ],
        programs: vec![
            prog(10, &[100]),
            prog(11, &[100, 101]),
            prog(12, &[]),
            prog(13, &[102]),
        ],
        maps: vec![
            RedirectMap {
                id: 100,
                name: "devmap".into(),
                kind: RedirectKind::DevmapHash,
                max_entries: 64,
                value_size: 8,
                entries: vec![entry(4, 4), entry(5, 5), entry(2, 2)],
            },
            RedirectMap {
                id: 101,
                name: "cpus".into(),
                kind: RedirectKind::Cpumap,
                max_entries: 2,
                value_size: 8,
                entries: vec![entry(0, 2048)],
            },
            RedirectMap {
                id: 102,
                name: "xsks".into(),
                kind: RedirectKind::Xskmap,
                max_entries: 2,
                value_size: 8,
                entries: vec![],
            },
        ],
        notes: vec![],
    }
}

fn prog(id: u32, maps: &[u32]) -> XdpProgram {
    XdpProgram {
        id,
        name: format!("p{id}"),
        tag: "00".into(),
        loaded_at: None,
        map_ids: maps.to_vec(),
        subprograms: vec![],
        owner: Owner::Foreign,
    }
}

fn entry(key: u32, value: u32) -> MapEntry {
    MapEntry {
        key,
        value,
        prog_id: None,
    }
}

#[test]
fn targets_come_from_the_programs_maps() {
    let v = view();
    let t = v.targets_of(10);
    assert_eq!(t.devices, [2, 4, 5].into());
    assert!(!t.unknown && !t.cpus && !t.sockets);
    let t = v.targets_of(11);
    assert!(t.cpus && !t.unknown);
    // No redirect map: bpf_redirect() targets are unknown statically.
    let t = v.targets_of(12);
    assert!(t.unknown && t.devices.is_empty());
    assert!(v.targets_of(13).sockets);
}

#[test]
fn dispatcher_subprograms_contribute_their_maps() {
    let mut v = view();
    v.programs.push(XdpProgram {
        subprograms: vec![13, 10],
        ..prog(20, &[])
    });
    let t = v.targets_of(20);
    assert!(t.sockets && t.devices.contains(&4) && !t.unknown);
}

#[test]
fn native_targets_skip_generic_programs() {
    let v = view();
    assert_eq!(v.native_on(2), Some(10));
    assert_eq!(v.native_on(4), None);
    let n = v.native_device_targets();
    assert!(n.contains(&(2, 4)) && n.contains(&(2, 5)));
    assert!(!n.iter().any(|(from, _)| *from == 4), "{n:?}");
}

#[test]
fn big_devmaps_are_summarized_with_their_keys() {
    let e = |key, value| MapEntry {
        key,
        value,
        prog_id: None,
    };
    let mut entries: Vec<MapEntry> = (1..=512).map(|i| e(i, i)).collect();
    entries.push(e(600, 3));
    let s = summarize_entries(&entries, 8);
    assert_eq!(s, "513 entries (key -> ifindex): 1-512 -> 1-512, 600 -> 3");
    let scattered: Vec<MapEntry> = (0..513).map(|i| e(i * 2, i)).collect();
    let s = summarize_entries(&scattered, 4);
    assert_eq!(
        s,
        "513 entries (key -> ifindex): 0 -> 0, 2 -> 1, 4 -> 2, 6 -> 3, ... and 509 more entries"
    );
    assert!(s.len() < 120, "{s}");
}
