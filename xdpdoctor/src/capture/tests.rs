//! Checksum classification against etherparse's own checksums (an independent computation):
//! TCP and UDP over IPv4 and IPv6, correct, partial (the pseudo-header sum), corrupt,
//! truncated, and UDP's "no checksum".

use etherparse::PacketBuilder;

use super::*;

/// The SYN from KERNEL-NOTES: 10.99.1.1 -> 10.99.1.2, 40 bytes, field 0x16f7.
fn syn(check: u16) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 99, 1, 1, 10, 99, 1, 2,
    ];
    let mut tcp = vec![0u8; 40];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 10 << 4; // 40-byte header (options zero = EOL)
    tcp[13] = 0x02;
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
    p.extend(tcp);
    p
}

const SRC6: [u8; 16] = [0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe];
const DST6: [u8; 16] = [0xfd, 0, 0x01, 0x23, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// An Ethernet frame built by etherparse (checksums computed by it): `v6` or v4, TCP or UDP.
fn frame(v6: bool, transport: Transport, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = if v6 {
        b.ipv6(SRC6, DST6, 64)
    } else {
        b.ipv4([10, 123, 1, 1], [192, 168, 9, 254], 64)
    };
    let mut out = Vec::new();
    match transport {
        Transport::Tcp => b
            .tcp(80, 40000, 1234, 64240)
            .syn()
            .ack(99)
            .write(&mut out, payload),
        Transport::Udp => b.udp(53, 40000).write(&mut out, payload),
    }
    .unwrap();
    out
}

/// Offset of the L4 checksum field in `frame`.
fn csum_at(v6: bool, t: Transport) -> usize {
    14 + if v6 { 40 } else { 20 } + if t == Transport::Tcp { 16 } else { 6 }
}

fn set_field(f: &mut [u8], at: usize, v: u16) {
    f[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn field(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

#[test]
fn partial_matches_kernel_notes_example() {
    assert_eq!(
        pseudo_header_sum([10, 99, 1, 1], [10, 99, 1, 2], 40),
        0x16f7
    );
    assert_eq!(classify_ipv4(&syn(0x16f7)), Some(Some(CsumClass::Partial)));
}

#[test]
fn every_transport_and_family_correct_partial_corrupt() {
    for v6 in [false, true] {
        for t in [Transport::Tcp, Transport::Udp] {
            let good = frame(v6, t, b"hello, world: an odd length!!");
            let at = csum_at(v6, t);
            let want = |class| Verdict {
                transport: t,
                ipv6: v6,
                class: Some(class),
                reset: false,
            };
            assert_eq!(
                classify_frame(&good),
                Some(want(CsumClass::Correct)),
                "{v6} {t:?}"
            );

            // The pseudo-header sum, checked against etherparse's checksum: the complement of
            // (pseudo + the segment with a zero field) is the checksum etherparse wrote.
            let l3 = if v6 { 40 } else { 20 };
            let len = (good.len() - 14 - l3) as u32;
            let proto = t.proto();
            let pseudo = if v6 {
                pseudo_sum_v6(SRC6, DST6, proto, len)
            } else {
                pseudo_sum_v4([10, 123, 1, 1], [192, 168, 9, 254], proto, len)
            };
            let mut zeroed = good.clone();
            set_field(&mut zeroed, at, 0);
            let seg = &zeroed[14 + l3..];
            assert_eq!(
                !fold(add_words(u32::from(pseudo), seg)),
                field(&good, at),
                "pseudo-header sum of {v6} {t:?}"
            );

            let mut partial = good.clone();
            set_field(&mut partial, at, pseudo);
            assert_eq!(classify_frame(&partial), Some(want(CsumClass::Partial)));

            let mut bad = good.clone();
            set_field(&mut bad, at, field(&good, at) ^ 0x0101);
            assert_eq!(classify_frame(&bad), Some(want(CsumClass::Corrupt)));

            // Cut short: the checksum cannot be verified, but a partial one is still seen.
            let cut = &good[..good.len() - 3];
            assert_eq!(classify_frame(cut).unwrap().class, None);
            assert_eq!(
                classify_frame(&partial[..partial.len() - 3]).unwrap().class,
                Some(CsumClass::Partial)
            );

            let mut st = CaptureStats::default();
            for f in [&good, &partial, &bad] {
                st.count(&classify_frame(f).unwrap());
            }
            let (n, p) = match t {
                Transport::Tcp => (st.tcp, st.partial),
                Transport::Udp => (st.udp.packets, st.udp.partial),
            };
            assert_eq!((n, p, st.partial_any()), (3, 1, 1));
            if t == Transport::Tcp {
                assert_eq!(st.tcp_ipv6, if v6 { 3 } else { 0 });
            } else {
                assert_eq!(st.udp.ipv6, if v6 { 3 } else { 0 });
            }
        }
    }
}

#[test]
fn udp_zero_checksum_is_absent_over_ipv4_and_corrupt_over_ipv6() {
    for (v6, want) in [(false, CsumClass::Absent), (true, CsumClass::Corrupt)] {
        let mut f = frame(v6, Transport::Udp, b"x");
        set_field(&mut f, csum_at(v6, Transport::Udp), 0);
        assert_eq!(classify_frame(&f).unwrap().class, Some(want));
    }
}

#[test]
fn resets_and_other_packets() {
    let mut rst = frame(true, Transport::Tcp, b"");
    rst[14 + 40 + 13] |= 0x04;
    assert!(classify_frame(&rst).unwrap().reset);
    assert!(is_reset(&rst));
    assert!(!is_reset(&frame(false, Transport::Tcp, b"")));
    // ARP, ICMP and an IPv6 packet with a hop-by-hop header are not classified.
    let mut arp = frame(false, Transport::Udp, b"");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(classify_frame(&arp), None);
    let mut icmp = frame(false, Transport::Udp, b"");
    icmp[14 + 9] = 1;
    assert_eq!(classify_frame(&icmp), None);
    let mut hbh = frame(true, Transport::Tcp, b"");
    hbh[14 + 6] = 0;
    assert_eq!(classify_frame(&hbh), None);
    // A fragment is not whole.
    let mut frag = frame(false, Transport::Udp, b"abc");
    frag[14 + 6] |= 0x20;
    assert_eq!(classify_frame(&frag), None);
}
