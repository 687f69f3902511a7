//! Random Ethernet/IPv4/TCP frames for the forwarder's checksum tests, with our own RFC 1071
//! code (so the expected side, computed by etherparse, shares no implementation with it), and
//! the small seeded generator behind them. A failure prints the seed; `XDT_SEED=...` replays
//! it.
#![allow(clippy::print_stderr)]

use std::net::Ipv4Addr;

use xdpdoctor::bpf::forwarder_abi::Endpoint;

pub struct Frame {
    pub bytes: Vec<u8>,
    pub ihl: usize,
    /// IP total length (trailing bytes past it are Ethernet padding).
    pub tot_len: usize,
}

impl Frame {
    pub fn l4(&self) -> usize {
        14 + self.ihl * 4
    }
    pub fn tcp_check_off(&self) -> usize {
        self.l4() + 16
    }
}

/// A random Ethernet/IPv4/TCP frame with correct checksums (or, if `partial`, a TCP checksum
/// field holding the non-complemented pseudo-header sum, as tx offload leaves it).
pub fn random_frame(rng: &mut Rng, src: Endpoint, dst: Endpoint, partial: bool) -> Frame {
    let ihl = if rng.below(2) == 0 {
        5
    } else {
        5 + rng.below(11) as usize
    };
    let doff = if rng.below(2) == 0 {
        5
    } else {
        5 + rng.below(11) as usize
    };
    let max_payload = 1500 - ihl * 4 - doff * 4;
    let payload = match rng.below(4) {
        0 => 0,
        1 => rng.below(64) as usize,
        _ => rng.below(max_payload as u64 + 1) as usize,
    };
    let tot_len = ihl * 4 + doff * 4 + payload;
    // Sometimes trailing bytes after the datagram (short frames are padded on the wire).
    let trailer = if rng.below(8) == 0 {
        1 + rng.below(16) as usize
    } else {
        0
    };

    let mut b = vec![0u8; 14 + tot_len + trailer];
    rng.fill(&mut b[..12]); // MACs: the program replaces them
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = 14;
    b[ip] = 0x40 | ihl as u8;
    b[ip + 1] = rng.below(256) as u8; // tos
    b[ip + 2..ip + 4].copy_from_slice(&(tot_len as u16).to_be_bytes());
    rng.fill(&mut b[ip + 4..ip + 6]); // id
    b[ip + 6] = if rng.below(2) == 0 { 0x40 } else { 0 }; // DF or nothing: never a fragment
    b[ip + 8] = 2 + rng.below(254) as u8; // ttl
    b[ip + 9] = 6;
    b[ip + 12..ip + 16].copy_from_slice(&src.addr);
    b[ip + 16..ip + 20].copy_from_slice(&dst.addr);
    rng.fill(&mut b[ip + 20..ip + ihl * 4]); // options: opaque bytes to the forwarder
    let ip_ck = !csum16(&b[ip..ip + ihl * 4], 0);
    b[ip + 10..ip + 12].copy_from_slice(&ip_ck.to_be_bytes());

    let t = ip + ihl * 4;
    b[t..t + 2].copy_from_slice(&src.port.to_ne_bytes()); // already network order
    b[t + 2..t + 4].copy_from_slice(&dst.port.to_ne_bytes());
    rng.fill(&mut b[t + 4..t + 12]); // seq, ack
    b[t + 12] = (doff as u8) << 4;
    b[t + 13] = rng.below(256) as u8; // flags
    rng.fill(&mut b[t + 14..t + 16]); // window
    rng.fill(&mut b[t + 18..t + 20]); // urgent pointer
    rng.fill(&mut b[t + 20..ip + tot_len]); // options + payload
    rng.fill(&mut b[ip + tot_len..]); // trailer
    let pseudo = pseudo_sum(&src.addr, &dst.addr, tot_len - ihl * 4);
    let tcp_ck = if partial {
        fold(pseudo)
    } else {
        !csum16(&b[t..ip + tot_len], pseudo)
    };
    b[t + 16..t + 18].copy_from_slice(&tcp_ck.to_be_bytes());
    Frame {
        bytes: b,
        ihl,
        tot_len,
    }
}

/// Sets the IPv4 TOS byte and recomputes the header checksum (TCP does not cover it).
pub fn with_tos(mut f: Frame, tos: u8) -> Frame {
    let ip = 14;
    f.bytes[ip + 1] = tos;
    f.bytes[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let ck = !csum16(&f.bytes[ip..ip + f.ihl * 4], 0);
    f.bytes[ip + 10..ip + 12].copy_from_slice(&ck.to_be_bytes());
    f
}

/// Sets the IPv4 TTL and recomputes the header checksum.
pub fn with_ttl(mut f: Frame, ttl: u8) -> Frame {
    let ip = 14;
    f.bytes[ip + 8] = ttl;
    f.bytes[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
    let ck = !csum16(&f.bytes[ip..ip + f.ihl * 4], 0);
    f.bytes[ip + 10..ip + 12].copy_from_slice(&ck.to_be_bytes());
    f
}

/// The one's complement sum of the IPv4 header in `bytes`, checksum field included: 0xffff
/// for a correct header, anything else is the error a receiver detects.
pub fn ip_residual(bytes: &[u8], ihl: usize) -> u16 {
    csum16(&bytes[14..14 + ihl * 4], 0)
}

/// RFC 1071 sum of big-endian 16-bit words (odd tail padded with zero), plus `init`.
pub fn csum16(data: &[u8], init: u64) -> u16 {
    let mut sum = init;
    for c in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    fold(sum)
}

fn pseudo_sum(src: &[u8; 4], dst: &[u8; 4], l4_len: usize) -> u64 {
    let w = |a: &[u8; 4]| {
        u64::from(u16::from_be_bytes([a[0], a[1]])) + u64::from(u16::from_be_bytes([a[2], a[3]]))
    };
    w(src) + w(dst) + 6 + l4_len as u64
}

fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

// ---- Random inputs ----

/// xorshift64*: no extra dependency, and the seed is printed so a failure can be replayed
/// (`XDT_SEED=...`).
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        let seed = std::env::var("XDT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("checksum: XDT_SEED={seed}");
        Rng(seed)
    }
    pub fn fork(&mut self) -> Rng {
        Rng(self.next() | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
    pub fn port(&mut self) -> u16 {
        1 + self.below(65535) as u16
    }
}

/// A unicast address routed via the default route (not 0/8, 10/8, 127/8, 169.254/16,
/// 192.0.2/24, multicast or reserved).
pub fn random_client(rng: &mut Rng) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(rng.next() as u32);
        let o = a.octets();
        if o[0] == 0 || o[0] == 10 || o[0] == 127 || o[0] >= 224 || o[0] == 169 || o[0] == 192 {
            continue;
        }
        return a;
    }
}
