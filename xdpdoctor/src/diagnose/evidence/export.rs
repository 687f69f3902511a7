//! The window's captures as pcapng (`diagnose --pcap DIR`, `check --pcap DIR`): one file per
//! diagnosed namespace, one interface block per capture point (`if_name` = `namespace/iface`),
//! every packet with its TCP checksum verdict (correct / partial / corrupt) as a comment.
//! Only TCP is captured (the captures' filter), within [`crate::capture::Keep`]'s bounds.

use std::path::{Path, PathBuf};

use super::Evidence;
use crate::files::{Output, Replace};
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
    /// Why the file ends early (the disk refused; it ends after its last whole block and
    /// readers open it), if it does.
    pub cut_short: Option<String>,
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

/// Writes every capture of `ev` to `path` through the safe writer (`files`: never through a
/// link; an existing file only with [`Replace::Own`], i.e. `--force`). `None` when the window
/// had no capture point (nothing is written then). A disk that fills midway leaves a valid
/// file of the blocks written before, with [`PcapFile::cut_short`] saying so.
pub fn write_pcapng(ev: &Evidence, path: &Path, replace: Replace) -> Result<Option<PcapFile>> {
    if ev.captures.is_empty() {
        return Ok(None);
    }
    let out = Output::create(path, replace)?;
    let app = format!("xdpdoctor {} diagnose", env!("CARGO_PKG_VERSION"));
    let mut file = PcapFile {
        path: path.to_path_buf(),
        interfaces: 0,
        packets: 0,
        not_kept: 0,
        cut_short: None,
    };
    let mut w = match pcapng::Writer::new(out, &app, pcapng::LINKTYPE_ETHERNET, capture::SNAPLEN) {
        Ok(w) => w,
        Err(e) => return Err(Error::io("write", path, e)),
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
        if capture::write_pcapng(&mut w, &c.netns, &c.interface, &c.packets, note.as_deref())
            .is_err()
        {
            break; // the output says why; what it holds so far is kept
        }
        file.interfaces += 1;
        file.packets += c.packets.len();
        file.not_kept += c.not_kept;
    }
    let out = w.into_inner();
    let done = out.commit()?;
    if done.cut_short.is_some() {
        // Counted above are the captures handed over, not what the disk took.
        file.cut_short = done.cut_short;
    }
    Ok(Some(file))
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
