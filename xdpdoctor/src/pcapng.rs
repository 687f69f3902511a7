//! A small pcapng writer: what xdpdoctor saw, as a file Wireshark, tshark and `tcpdump -r`
//! open.
//!
//! pcapng (draft-ietf-opsawg-pcapng) is a sequence of blocks, each `type, total length, body,
//! total length` (32-bit words, body padded to 4 bytes), in the byte order the first block
//! announces. This writer emits three kinds, always little-endian:
//!
//! * **Section Header Block** (type `0x0A0D0D0A`): byte-order magic `0x1A2B3C4D`, version
//!   1.0, section length -1 (unknown), options `shb_userappl` and `shb_os`;
//! * **Interface Description Block** (type 1), one per capture point: link type, snap length,
//!   `if_name` (xdpdoctor names capture points `namespace/interface`), `if_description`, and
//!   `if_tsresol` = 9 (timestamps in nanoseconds). Every interface of a file has the same link
//!   type and snap length, given once to [`Writer::new`]: libpcap (so `tcpdump -r`) refuses a
//!   file whose interfaces differ in either ("an interface has a type 101 different from the
//!   type of the first interface"), although the format allows it;
//! * **Enhanced Packet Block** (type 6): interface id, 64-bit timestamp (ns since the Unix
//!   epoch), captured and original length, the bytes, and one `opt_comment` per remark (the
//!   checksum verdict of a capture, the probe and drop reason of a traced event). A record
//!   with no bytes (an event whose packet the probe could not reach) is an Enhanced Packet
//!   Block with captured length 0 and its comment: readers list it like any other frame.
//!
//! Options are `code (u16), length (u16), value` padded to 4 bytes, ended by `opt_endofopt`.
//! The writer only appends: it never seeks, so it can write to a pipe. Each block is handed
//! to the output in one `write_all`, so an output that keeps whole records can end a file
//! at a block boundary when the disk fills.

use std::collections::HashMap;
use std::io::{self, Write};

/// `LINKTYPE_ETHERNET`: frames start at the Ethernet header.
pub const LINKTYPE_ETHERNET: u16 = 1;
/// `LINKTYPE_RAW`: packets start at the IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u16 = 101;

const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 0x0000_0001;
const BT_EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_OS: u16 = 3;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

/// An option's value is at most this long (its length field is 16 bits); longer text is cut
/// at a character boundary.
const MAX_OPTION: usize = 0xfff0;

/// One capture point (an Interface Description Block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `if_name`; xdpdoctor uses `namespace/interface`.
    pub name: String,
    /// `if_description` (what this capture point is), if any.
    pub description: Option<String>,
}

/// One packet or event (an Enhanced Packet Block).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Id returned by [`Writer::interface`].
    pub interface: u32,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the packet on the wire (at least `data.len()`).
    pub orig_len: u32,
    /// The captured bytes (possibly none).
    pub data: &'a [u8],
    /// One `opt_comment` each.
    pub comments: &'a [String],
}

/// Writes one pcapng section: the header on creation, then interfaces and packets.
pub struct Writer<W: Write> {
    out: W,
    /// Link type and snap length of every interface.
    linktype: u16,
    snaplen: u32,
    /// Interfaces written so far, by name: their ids.
    ids: HashMap<String, u32>,
    next: u32,
}

impl<W: Write> Writer<W> {
    /// Starts a section (writes the Section Header Block) naming the writing application.
    /// Every interface gets link type `linktype` ([`LINKTYPE_ETHERNET`], ...) and snap length
    /// `snaplen` (the largest captured length; packets longer than it are cut).
    pub fn new(out: W, application: &str, linktype: u16, snaplen: u32) -> io::Result<Self> {
        let mut w = Writer {
            out,
            linktype,
            snaplen,
            ids: HashMap::new(),
            next: 0,
        };
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes()); // major
        body.extend_from_slice(&0u16.to_le_bytes()); // minor
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not given
        let os = os_name();
        let mut opts = Options::default();
        opts.text(SHB_USERAPPL, application);
        if let Some(os) = &os {
            opts.text(SHB_OS, os);
        }
        body.extend(opts.finish());
        w.block(BT_SHB, &body)?;
        Ok(w)
    }

    /// The id of interface `i`, writing its Interface Description Block the first time its
    /// name is seen.
    pub fn interface(&mut self, i: &Interface) -> io::Result<u32> {
        if let Some(id) = self.ids.get(&i.name) {
            return Ok(*id);
        }
        let mut body = Vec::new();
        body.extend_from_slice(&self.linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&self.snaplen.to_le_bytes());
        let mut opts = Options::default();
        opts.text(IF_NAME, &i.name);
        if let Some(d) = &i.description {
            opts.text(IF_DESCRIPTION, d);
        }
        opts.raw(IF_TSRESOL, &[9]); // 10^-9 s
        body.extend(opts.finish());
        self.block(BT_IDB, &body)?;
        let id = self.next;
        self.next += 1;
        self.ids.insert(i.name.clone(), id);
        Ok(id)
    }

    /// Appends a packet (an Enhanced Packet Block).
    pub fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        if p.interface >= self.next {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pcapng: interface {} was never described", p.interface),
            ));
        }
        let data = match self.snaplen {
            0 => p.data,
            n => &p.data[..p.data.len().min(n as usize)],
        };
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng: packet too big"))?;
        let mut body = Vec::with_capacity(32 + p.data.len());
        body.extend_from_slice(&p.interface.to_le_bytes());
        body.extend_from_slice(&((p.ts_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(p.ts_ns as u32).to_le_bytes());
        body.extend_from_slice(&caplen.to_le_bytes());
        body.extend_from_slice(&p.orig_len.max(caplen).to_le_bytes());
        body.extend_from_slice(data);
        pad(&mut body);
        if !p.comments.is_empty() {
            let mut opts = Options::default();
            for c in p.comments {
                opts.text(OPT_COMMENT, c);
            }
            body.extend(opts.finish());
        }
        self.block(BT_EPB, &body)
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the underlying writer as it is (an output that finishes files itself,
    /// `files::Output`, flushes on its commit).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        debug_assert_eq!(body.len() % 4, 0);
        let total = u32::try_from(body.len() + 12)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng: block too big"))?;
        // One write per block: a writer that keeps whole records (`files::Output`) can cut
        // a file short at a block boundary and leave it readable.
        let mut b = Vec::with_capacity(body.len() + 12);
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&total.to_le_bytes());
        self.out.write_all(&b)
    }
}

/// Options of one block, ended by `opt_endofopt` in [`Options::finish`].
#[derive(Default)]
struct Options(Vec<u8>);

impl Options {
    fn text(&mut self, code: u16, s: &str) {
        let mut end = s.len().min(MAX_OPTION);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.raw(code, &s.as_bytes()[..end]);
    }

    fn raw(&mut self, code: u16, v: &[u8]) {
        self.0.extend_from_slice(&code.to_le_bytes());
        self.0.extend_from_slice(&(v.len() as u16).to_le_bytes());
        self.0.extend_from_slice(v);
        pad(&mut self.0);
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&OPT_ENDOFOPT.to_le_bytes());
        self.0.extend_from_slice(&0u16.to_le_bytes());
        self.0
    }
}

fn pad(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

/// `Linux <release>` from uname(2), for `shb_os`.
fn os_name() -> Option<String> {
    // SAFETY: utsname is plain data; uname fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates its fields.
    let rel = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    Some(format!("Linux {}", rel.to_string_lossy()))
}

/// The packets in a file this writer wrote (little-endian blocks): (Enhanced Packet Blocks,
/// of them with captured bytes). For a file cut short, to say what it really holds.
pub fn packets_in(path: &std::path::Path) -> io::Result<(u64, u64)> {
    let b = std::fs::read(path)?;
    let (mut packets, mut with_data, mut i) = (0, 0, 0usize);
    let word = |at: usize| {
        b.get(at..at + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    };
    while let (Some(kind), Some(len)) = (word(i), word(i + 4)) {
        let len = len as usize;
        if len < 12 || i + len > b.len() {
            break;
        }
        if kind == BT_EPB {
            packets += 1;
            if word(i + 20).is_some_and(|caplen| caplen > 0) {
                with_data += 1;
            }
        }
        i += len;
    }
    Ok((packets, with_data))
}

/// Nanoseconds to add to `CLOCK_MONOTONIC` (what `bpf_ktime_get_ns` returns) to get the time
/// since the Unix epoch, measured now.
pub fn monotonic_to_unix_offset_ns() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec; both clocks always exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader written from the format description, independent of the writer's helpers:
    /// returns (block type, body) for every block, checking both length fields.
    fn blocks(b: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let u32le = |x: &[u8]| u32::from_le_bytes([x[0], x[1], x[2], x[3]]);
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let kind = u32le(&b[i..]);
            let len = u32le(&b[i + 4..]) as usize;
            assert_eq!(len % 4, 0, "block length a multiple of 4");
            assert_eq!(u32le(&b[i + len - 4..]) as usize, len, "trailing length");
            out.push((kind, b[i + 8..i + len - 4].to_vec()));
            i += len;
        }
        assert_eq!(i, b.len());
        out
    }

    /// Options from `at` to opt_endofopt: (code, value).
    fn options(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let code = u16::from_le_bytes([b[i], b[i + 1]]);
            let len = u16::from_le_bytes([b[i + 2], b[i + 3]]) as usize;
            if code == 0 {
                assert_eq!(len, 0);
                assert_eq!(i + 4, b.len(), "nothing after opt_endofopt");
                return out;
            }
            out.push((code, b[i + 4..i + 4 + len].to_vec()));
            i += 4 + len.div_ceil(4) * 4;
        }
    }

    #[test]
    fn section_interfaces_and_packets_round_trip() {
        let mut w = Writer::new(Vec::new(), "xdpdoctor test", LINKTYPE_ETHERNET, 6).unwrap();
        let eth = Interface {
            name: "lab-m1/host0".into(),
            description: Some("capture".into()),
        };
        let a = w.interface(&eth).unwrap();
        assert_eq!(w.interface(&eth).unwrap(), a, "same interface, same id");
        let other = Interface {
            name: "lab-m2/host0".into(),
            description: None,
        };
        let b = w.interface(&other).unwrap();
        assert_eq!((a, b), (0, 1));
        let comments = vec!["TCP checksum partial".to_string(), "é".to_string()];
        let ts = 1_795_770_707_123_456_789u64;
        w.packet(&Packet {
            interface: a,
            ts_ns: ts,
            orig_len: 60,
            data: &[1, 2, 3, 4, 5],
            comments: &comments,
        })
        .unwrap();
        w.packet(&Packet {
            interface: b,
            ts_ns: ts,
            orig_len: 0,
            data: &[],
            comments: &[],
        })
        .unwrap();
        assert!(w
            .packet(&Packet {
                interface: 7,
                ts_ns: 0,
                orig_len: 0,
                data: &[],
                comments: &[]
            })
            .is_err());
        let bytes = w.finish().unwrap();

        let bl = blocks(&bytes);
        let kinds: Vec<u32> = bl.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [BT_SHB, BT_IDB, BT_IDB, BT_EPB, BT_EPB]);
        let shb = &bl[0].1;
        assert_eq!(&shb[0..4], &[0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(&shb[4..8], &[1, 0, 0, 0]);
        assert_eq!(&shb[8..16], &[0xff; 8]);
        let o = options(&shb[16..]);
        assert_eq!(o[0], (SHB_USERAPPL, b"xdpdoctor test".to_vec()));

        let idb = &bl[1].1;
        assert_eq!(&idb[0..4], &[1, 0, 0, 0]);
        assert_eq!(&idb[4..8], &6u32.to_le_bytes());
        let o = options(&idb[8..]);
        assert_eq!(o[0], (IF_NAME, b"lab-m1/host0".to_vec()));
        assert_eq!(o[1], (IF_DESCRIPTION, b"capture".to_vec()));
        assert_eq!(o[2], (IF_TSRESOL, vec![9]));
        assert_eq!(&bl[2].1[0..8], &idb[0..8], "same link type and snap length");

        let epb = &bl[3].1;
        let word = |i: usize| u32::from_le_bytes(epb[i..i + 4].try_into().unwrap());
        assert_eq!(word(0), 0);
        assert_eq!((u64::from(word(4)) << 32) | u64::from(word(8)), ts);
        assert_eq!((word(12), word(16)), (5, 60));
        assert_eq!(&epb[20..25], &[1, 2, 3, 4, 5]);
        assert_eq!(&epb[25..28], &[0, 0, 0], "padding");
        let o = options(&epb[28..]);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0], (OPT_COMMENT, b"TCP checksum partial".to_vec()));
        assert_eq!(o[1], (OPT_COMMENT, "é".as_bytes().to_vec()));

        // No bytes, no comments: 20-byte header only, no options at all.
        assert_eq!(bl[4].1.len(), 20);
    }

    #[test]
    fn long_comments_are_cut_at_a_character_boundary() {
        let mut o = Options::default();
        o.text(OPT_COMMENT, &"é".repeat(40_000));
        let v = o.finish();
        let len = u16::from_le_bytes([v[2], v[3]]) as usize;
        assert!(len <= MAX_OPTION && len % 2 == 0);
        assert!(std::str::from_utf8(&v[4..4 + len]).is_ok());
    }

    #[test]
    fn clock_offset_is_the_boot_time() {
        let off = monotonic_to_unix_offset_ns();
        // Booted after 2020 and not in the future.
        assert!(off > 1_577_836_800 * 1_000_000_000);
    }
}
