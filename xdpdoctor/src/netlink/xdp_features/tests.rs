//! Byte-level checks of the generic netlink messages (against the kernel's layout) and of
//! the `xdp_features` names, without a kernel.

use super::genl::*;
use super::*;

fn attr(ty: u16, p: &[u8]) -> Vec<u8> {
    let mut v = ((4 + p.len()) as u16).to_ne_bytes().to_vec();
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(p);
    v.resize(align4(v.len()), 0);
    v
}

fn nlmsg(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize(align4(v.len()), 0);
    v
}

#[test]
fn getfamily_request_has_the_kernel_layout() {
    let name = nul_terminated("netdev");
    let req = genl_request(
        GENL_ID_CTRL,
        NLM_F_REQUEST,
        7,
        CTRL_CMD_GETFAMILY,
        1,
        &[(CTRL_ATTR_FAMILY_NAME, &name)],
    );
    // 16 (nlmsghdr) + 4 (genlmsghdr) + 4 (nla hdr) + 7 ("netdev\0") padded to 8 = 32
    assert_eq!(req.len(), 32);
    assert_eq!(u32_at(&req, 0), 32);
    assert_eq!(
        (u16_at(&req, 4), u16_at(&req, 6), u32_at(&req, 8)),
        (0x10, 1, 7)
    );
    assert_eq!(&req[16..20], &[3, 1, 0, 0]);
    assert_eq!((u16_at(&req, 20), u16_at(&req, 22)), (11, 2));
    assert_eq!(&req[24..32], b"netdev\0\0");
}

#[test]
fn dev_reply_is_parsed_and_ignores_unknown_attributes() {
    let mut p = attr(NETDEV_A_DEV_IFINDEX, &5u32.to_ne_bytes());
    p.extend(attr(2, &[])); // NETDEV_A_DEV_PAD
    p.extend(attr(NETDEV_A_DEV_XDP_FEATURES, &0x67u64.to_ne_bytes()));
    p.extend(attr(6, &1u64.to_ne_bytes())); // xsk-features: not parsed
    let d = parse_dev(&p).unwrap();
    assert_eq!(
        d,
        DevInfo {
            ifindex: 5,
            xdp_features: XdpFeatures(0x67),
            xdp_zc_max_segs: None,
            xdp_rx_metadata_features: None
        }
    );
    p.extend(attr(NETDEV_A_DEV_XDP_ZC_MAX_SEGS, &1u32.to_ne_bytes()));
    p.extend(attr(
        NETDEV_A_DEV_XDP_RX_METADATA_FEATURES,
        &3u64.to_ne_bytes(),
    ));
    let d = parse_dev(&p).unwrap();
    assert_eq!(
        (d.xdp_zc_max_segs, d.xdp_rx_metadata_features),
        (Some(1), Some(3))
    );
}

#[test]
fn dev_reply_without_features_or_with_wrong_sizes_is_an_error() {
    let only_index = attr(NETDEV_A_DEV_IFINDEX, &5u32.to_ne_bytes());
    assert!(parse_dev(&only_index).unwrap_err().contains("XDP_FEATURES"));
    let mut short = only_index.clone();
    short.extend(attr(NETDEV_A_DEV_XDP_FEATURES, &0x23u32.to_ne_bytes()));
    assert!(parse_dev(&short).unwrap_err().contains("4 bytes"));
}

#[test]
fn messages_split_data_errors_and_done() {
    let mut payload = vec![CTRL_CMD_GETFAMILY, 1, 0, 0];
    payload.extend(attr(CTRL_ATTR_FAMILY_NAME, b"netdev\0"));
    payload.extend(attr(CTRL_ATTR_FAMILY_ID, &0x1fu16.to_ne_bytes()));
    let mut dgram = nlmsg(GENL_ID_CTRL, 1, &payload);
    dgram.extend(nlmsg(NLMSG_ERROR, 1, &(-(libc::ENOENT)).to_ne_bytes()));
    dgram.extend(nlmsg(NLMSG_ERROR, 2, &0i32.to_ne_bytes()));
    dgram.extend(nlmsg(NLMSG_DONE, 3, &0i32.to_ne_bytes()));
    let msgs = parse_messages(&dgram).unwrap();
    assert_eq!(msgs.len(), 4);
    let Reply::Data(p) = msgs[0].kind else {
        panic!("first is data: {msgs:?}")
    };
    assert_eq!(family_id(&p[GENL_HDRLEN..]), Some(0x1f));
    assert_eq!(msgs[1].kind, Reply::Error(libc::ENOENT));
    assert_eq!(msgs[2].kind, Reply::Error(0));
    assert_eq!((msgs[3].seq, &msgs[3].kind), (3, &Reply::Done));
    let mut bad = nlmsg(NLMSG_DONE, 1, &[]);
    bad[0] = 200;
    assert!(parse_messages(&bad).is_err());
}

#[test]
fn features_have_kernel_names_and_flip_on_ndo_xmit() {
    let without = XdpFeatures(0x23);
    let with = XdpFeatures(0x67);
    assert_eq!(without.names(), ["basic", "redirect", "rx-sg"]);
    assert_eq!(
        with.names(),
        ["basic", "redirect", "ndo-xmit", "rx-sg", "ndo-xmit-sg"]
    );
    assert!(!without.ndo_xmit() && with.ndo_xmit() && with.ndo_xmit_sg());
    assert!(
        with.basic()
            && with.redirect()
            && with.rx_sg()
            && !with.xsk_zerocopy()
            && !with.hw_offload()
    );
    assert_eq!(XdpFeatures(0x7f).names().len(), 7);
    assert_eq!(
        with.to_string(),
        "0x67 (basic, redirect, ndo-xmit, rx-sg, ndo-xmit-sg)"
    );
    assert_eq!(
        serde_json::to_string(&without).unwrap(),
        r#"{"raw":"0x23","flags":["basic","redirect","rx-sg"]}"#
    );
}
