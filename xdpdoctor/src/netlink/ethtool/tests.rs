//! Unit tests of the pure parts: feature words and bits, `ETHTOOL_SFEATURES` blocks, the
//! `ETHTOOL_GSTRINGS` split, interface name checks and the command buffer.

use super::ioctl::*;
use super::*;

fn sample() -> Features {
    let mut names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
    names[3] = TX_CSUM_IP_GENERIC.into();
    names[35] = GRO.into();
    Features {
        names,
        // bit 3 changeable, bit 35 changeable, bit 5 available but never changed
        available: vec![(1 << 3) | (1 << 5), 1 << 3],
        requested: vec![1 << 3, 1 << 3],
        active: vec![1 << 3 | 1 << 7, 0],
        never_changed: vec![1 << 5, 0],
    }
}

#[test]
fn state_reads_the_right_word_and_bit() {
    let f = sample();
    let csum = f.get(TX_CSUM_IP_GENERIC).unwrap();
    assert_eq!(
        csum,
        FeatureState {
            available: true,
            requested: true,
            active: true,
            fixed: false
        }
    );
    // rx-gro is bit 35 = word 1 bit 3: requested but not active (a "wish").
    let gro = f.get(GRO).unwrap();
    assert_eq!(
        gro,
        FeatureState {
            available: true,
            requested: true,
            active: false,
            fixed: false
        }
    );
    assert!(f.state(5).fixed, "never_changed makes a feature fixed");
    assert!(
        f.state(7).fixed && f.state(7).active,
        "active but unavailable is fixed on"
    );
    assert_eq!(f.get("no-such-feature"), None);
    assert!(!f.state(1000).active, "bits past the words read as off");
}

#[test]
fn set_blocks_mark_valid_and_requested_per_word() {
    let f = sample();
    let blocks = f.set_blocks(&[(3, false), (35, true), (33, true)]);
    assert_eq!(
        blocks,
        vec![(1 << 3, 0), ((1 << 3) | (1 << 1), (1 << 3) | (1 << 1))]
    );
}

#[test]
fn strings_are_split_at_32_bytes_and_nul() {
    let mut data = vec![0u8; 3 * ETH_GSTRING_LEN];
    data[..6].copy_from_slice(b"rx-gro");
    data[32..32 + 22].copy_from_slice(b"tx-checksum-ip-generic");
    data[64..96].copy_from_slice(&[b'x'; 32]); // a full-length name has no NUL
    let names = parse_strings(&data, 3);
    assert_eq!(
        names,
        vec!["rx-gro", "tx-checksum-ip-generic", &"x".repeat(32)]
    );
    assert_eq!(parse_strings(&data, 2).len(), 2);
}

#[test]
fn interface_names_are_checked_before_the_ioctl() {
    assert!(ifname_bytes("veth0").is_ok());
    assert!(ifname_bytes("").is_err());
    assert!(ifname_bytes("a-name-of-16-chr").is_err());
    assert!(ifname_bytes("a\0b").is_err());
    assert_eq!(&ifname_bytes("lo").unwrap()[..3], b"lo\0");
}

#[test]
fn cmd_buf_is_aligned_and_little_fields_round_trip() {
    let mut b = CmdBuf::new(ETHTOOL_GFEATURES, 13);
    assert_eq!(b.bytes().len(), 16);
    b.put_u32(4, 0xdead_beef);
    assert_eq!((b.u32_at(0), b.u32_at(4)), (ETHTOOL_GFEATURES, 0xdead_beef));
    assert_eq!(b.0.as_ptr() as usize % 8, 0);
}
