//! The window's captures as pcapng (`diagnose --pcap DIR`, `check --pcap DIR`): one file per
//! diagnosed namespace, one interface block per capture point (`if_name` = `namespace/iface`),
//! every packet with its TCP checksum verdict (correct / partial / corrupt) as a comment.
//! Only TCP is captured (the captures' filter), within [`crate::capture::Keep`]'s bounds.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::Evidence;
use crate::{capture, pcapng, Error, Result};

/// What [`write_pcapng`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapFile {
    /// The file.
    pub path: PathBuf,
    /// Capture points (interface blocks).
    pub interfaces: usize,
    /// Packets written.
    pub packets: usize,
    /// Packets seen during the window but not kept (past the per-capture bounds).
    pub not_kept: u64,
}

/// The file name for a diagnosis of namespace `name` (a name, or a path such as
/// `/proc/PID/ns/net`): `name.pcapng` with `/` replaced.
pub fn pcap_file_name(name: &str) -> String {
    let clean: String = name
        .trim_start_matches('/')
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    format!("{}.pcapng", if clean.is_empty() { "netns" } else { &clean })
}

/// Writes every capture of `ev` to `path` (created or truncated). `None` when the window had
/// no capture point (nothing is written then).
pub fn write_pcapng(ev: &Evidence, path: &Path) -> Result<Option<PcapFile>> {
    if ev.captures.is_empty() {
        return Ok(None);
    }
    let io = |e| Error::io("write", path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let app = format!("xdpdoctor {} diagnose", env!("CARGO_PKG_VERSION"));
    let mut w = pcapng::Writer::new(
        BufWriter::new(file),
        &app,
        pcapng::LINKTYPE_ETHERNET,
        capture::SNAPLEN,
    )
    .map_err(io)?;
    let mut out = PcapFile {
        path: path.to_path_buf(),
        interfaces: 0,
        packets: 0,
        not_kept: 0,
    };
    for c in &ev.captures {
        let note = match (&c.note, c.not_kept) {
            (Some(err), _) => Some(format!("capture failed: {err}")),
            (None, 0) => None,
            (None, n) => Some(format!(
                "{n} more packet(s) seen but not kept (bounds: {} packets, {} bytes)",
                capture::Keep::DEFAULT.packets,
                capture::Keep::DEFAULT.bytes
            )),
        };
        capture::write_pcapng(&mut w, &c.netns, &c.interface, &c.packets, note.as_deref())
            .map_err(io)?;
        out.interfaces += 1;
        out.packets += c.packets.len();
        out.not_kept += c.not_kept;
    }
    w.finish()
        .map_err(io)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_leave_the_directory() {
        assert_eq!(pcap_file_name("xdpd-vm"), "xdpd-vm.pcapng");
        assert_eq!(pcap_file_name("/proc/12/ns/net"), "proc_12_ns_net.pcapng");
        assert_eq!(pcap_file_name(""), "netns.pcapng");
    }
}
