//! pcapng files xdpdoctor writes, read back by independent readers: `tcpdump -r` (libpcap's
//! pcapng reader) must read every packet, and `tshark` must show each packet's comment and the
//! `namespace/interface` name of its capture point. Needs no root: the packets are built here
//! and written through the library's writer (`capture::write_pcapng`, the one `diagnose
//! --pcap` uses); the privileged tests in `evidence.rs` do the same on a real lab.

use std::path::{Path, PathBuf};
use std::process::Command;

use xdpdoctor::capture::{self, classify_frame, CapturedPacket};
use xdpdoctor::pcapng;

/// A file path for one test, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("xdt-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0).ok();
        } else {
            std::fs::remove_file(&self.0).ok();
        }
    }
}

/// Runs a reader tool; panics naming the package when it is missing (scripts/setup.sh
/// installs it), so a test never passes without its independent reader.
pub fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!(
            "{cmd} not runnable ({e}): install it (scripts/setup.sh installs tcpdump and tshark)"
        )
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "$ {cmd} {}\n[exit {:?}]\n{text}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd} failed");
    text
}

/// `tshark -r FILE -T fields -e ...` rows, split on tabs.
pub fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=\t",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    tool("tshark", &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// An Ethernet/IPv4/TCP SYN-ACK 10.123.1.1:80 -> 192.168.9.254:40000 whose checksum field
/// is `check` (None: the pseudo-header sum, as tx offload leaves it).
fn syn_ack(check: Option<u16>) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let ip = [
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 123, 1, 1, 192, 168, 9, 254,
    ];
    let mut ip = ip.to_vec();
    let mut s: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    ip[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    f.extend(ip);
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&80u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x12; // SYN, ACK
    tcp[14] = 0xff;
    let c = check
        .unwrap_or_else(|| capture::pseudo_header_sum([10, 123, 1, 1], [192, 168, 9, 254], 20));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend(tcp);
    f
}

#[test]
fn tcpdump_and_tshark_read_what_the_writer_wrote() {
    let file = TempFile::new("writer.pcapng");
    let frames = [syn_ack(None), syn_ack(Some(0x1234))];
    let packets: Vec<CapturedPacket> = frames
        .iter()
        .enumerate()
        .map(|(i, d)| CapturedPacket {
            ts_ns: 1_795_770_707_000_000_000 + i as u64 * 1_000_123,
            orig_len: d.len() as u32,
            data: d.clone(),
            csum: classify_frame(d),
        })
        .collect();
    let f = std::fs::File::create(&file.0).unwrap();
    let mut w = pcapng::Writer::new(
        f,
        "xdpdoctor test",
        pcapng::LINKTYPE_ETHERNET,
        capture::SNAPLEN,
    )
    .unwrap();
    capture::write_pcapng(&mut w, "lab-m1", "host0", &packets, None).unwrap();
    // A second capture point, and an event without packet bytes.
    capture::write_pcapng(&mut w, "lab-m2", "host0", &packets[..1], Some("a note")).unwrap();
    let id = w
        .interface(&pcapng::Interface {
            name: "lab-client/eth0".into(),
            description: None,
        })
        .unwrap();
    w.packet(&pcapng::Packet {
        interface: id,
        ts_ns: 1_795_770_708_000_000_000,
        orig_len: 0,
        data: &[],
        comments: &["an event without packet data".to_string()],
    })
    .unwrap();
    w.finish().unwrap();

    let path = file.0.to_str().unwrap();
    let dump = tool("tcpdump", &["-r", path, "-nn", "-v"]);
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains(" IP ")).collect();
    assert_eq!(lines.len(), 3, "three IPv4 frames: {dump}");
    assert!(
        dump.contains("10.123.1.1.80 > 192.168.9.254.40000: Flags [S.]"),
        "{dump}"
    );

    let rows = tshark_fields(
        &file.0,
        &["frame.interface_name", "frame.comment", "tcp.flags"],
    );
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[0][0], "lab-m1/host0");
    assert!(rows[0][1].contains("TCP checksum partial"), "{rows:?}");
    assert!(rows[1][1].contains("TCP checksum corrupt"), "{rows:?}");
    assert_eq!(rows[2][0], "lab-m2/host0");
    assert_eq!(rows[3][0], "lab-client/eth0");
    assert_eq!(rows[3][1], "an event without packet data");
}
