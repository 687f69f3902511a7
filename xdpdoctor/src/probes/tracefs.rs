//! tracefs: mounting it if needed, asking whether a tracepoint exists, and reading the drop
//! reason names of `skb:kfree_skb` from its `format` file (`__print_symbolic`), because the
//! numbers of `enum skb_drop_reason` change between kernels (TCP_CSUM: 4 on 6.1, 10 on 6.18).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where tracefs lives on current kernels.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Mounts tracefs at [`TRACEFS`] unless it is already there (left mounted, like bpffs).
pub fn ensure_mounted() -> Result<()> {
    if Path::new(TRACEFS).join("events").is_dir() {
        return Ok(());
    }
    let c = |s: &str| CString::new(s).expect("no NUL");
    let (src, dst, fs) = (c("tracefs"), c(TRACEFS), c("tracefs"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(Error::last_os("mount tracefs", TRACEFS));
    }
    log::info!("mounted tracefs at {TRACEFS}");
    Ok(())
}

/// `events/<category>/<name>` of a tracepoint.
pub fn event_dir(category: &str, name: &str) -> PathBuf {
    Path::new(TRACEFS).join("events").join(category).join(name)
}

pub fn tracepoint_exists(category: &str, name: &str) -> bool {
    event_dir(category, name).is_dir()
}

/// Whether this kernel can have kprobes at all: the perf kprobe PMU or the legacy
/// `kprobe_events` file. Both are absent when CONFIG_KPROBES is off.
pub fn kprobes_configured() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || Path::new(TRACEFS).join("kprobe_events").exists()
}

/// What `skb:kfree_skb`'s format file says about drop reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropReasons {
    /// Reason number -> name without the `SKB_DROP_REASON_` prefix.
    pub names: BTreeMap<u32, String>,
    /// Byte offset of the `reason` field in the classic tracepoint record.
    pub reason_offset: Option<u32>,
}

impl DropReasons {
    /// Reads `events/skb/kfree_skb/format`.
    pub fn read() -> Result<Self> {
        let p = event_dir("skb", "kfree_skb").join("format");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io("read", &p, e))?;
        let r = parse_format(&text);
        if r.names.is_empty() {
            return Err(Error::unsupported(
                p.display().to_string(),
                "no __print_symbolic(REC->reason, ...) table (kernel older than 5.17?)",
            ));
        }
        Ok(r)
    }

    pub fn name(&self, n: u32) -> Option<&str> {
        self.names.get(&n).map(String::as_str)
    }

    pub fn number(&self, name: &str) -> Option<u32> {
        self.names.iter().find(|(_, v)| *v == name).map(|(k, _)| *k)
    }
}

/// Parses a kfree_skb `format` file: the `reason` field offset and the symbol table.
pub fn parse_format(text: &str) -> DropReasons {
    let mut out = DropReasons::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("field:") {
            let mut parts = rest.split(';').map(str::trim);
            let decl = parts.next().unwrap_or_default();
            if decl.split_whitespace().last() == Some("reason") {
                out.reason_offset = parts
                    .find_map(|p| p.strip_prefix("offset:"))
                    .and_then(|v| v.trim().parse().ok());
            }
        }
    }
    let Some(start) = text.find("__print_symbolic(REC->reason") else {
        return out;
    };
    let body = &text[start..];
    // The table ends at the parenthesis that closes __print_symbolic.
    let mut depth = 0usize;
    let mut end = body.len();
    for (i, ch) in body.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &body[..end];
    for entry in body.split('{').skip(1) {
        let entry = entry.split('}').next().unwrap_or_default();
        let mut it = entry.splitn(2, ',');
        let (Some(num), Some(name)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(num) = num.trim().parse::<i64>() else {
            continue;
        };
        let name = name.trim();
        let Some(name) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
            continue; // { -1, ((void *)0) } terminators and the like
        };
        if let Ok(num) = u32::try_from(num) {
            out.names.insert(num, name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT_6_18: &str = r#"name: kfree_skb
ID: 2310
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:void * location;	offset:16;	size:8;	signed:0;
	field:void * rx_sk;	offset:24;	size:8;	signed:0;
	field:unsigned short protocol;	offset:32;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:36;	size:4;	signed:0;

print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 9, "PKT_TOO_SMALL" }, { 10, "TCP_CSUM" }, { 11, "UDP_CSUM" }, { 131, "MAX" })
"#;

    // 6.1: no rx_sk, TCP_CSUM is 4, and a terminator entry.
    const FORMAT_6_1: &str = r#"format:
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:void * location;	offset:16;	size:8;	signed:0;
	field:unsigned short protocol;	offset:24;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:28;	size:4;	signed:0;

print fmt: "skbaddr=%p protocol=%u location=%p reason: %s", REC->skbaddr, REC->protocol, REC->location, __print_symbolic(REC->reason, { 1, "NOT_SPECIFIED" }, { 4, "TCP_CSUM" }, { -1, ((void *)0) })
"#;

    #[test]
    fn parses_reasons_and_offset_6_18() {
        let r = parse_format(FORMAT_6_18);
        assert_eq!(r.reason_offset, Some(36));
        assert_eq!(r.name(10), Some("TCP_CSUM"));
        assert_eq!(r.number("NO_SOCKET"), Some(3));
        assert_eq!(r.names.len(), 6);
    }

    #[test]
    fn parses_reasons_and_offset_6_1() {
        let r = parse_format(FORMAT_6_1);
        assert_eq!(r.reason_offset, Some(28));
        assert_eq!(r.number("TCP_CSUM"), Some(4));
        assert_eq!(r.names.len(), 2, "the {{ -1, NULL }} terminator is skipped");
    }

    #[test]
    fn no_reason_field_before_5_17() {
        let r = parse_format(
            "format:\n\tfield:void * skbaddr;\toffset:8;\n\nprint fmt: \"skbaddr=%p\"",
        );
        assert_eq!(r, DropReasons::default());
    }

    #[test]
    fn this_kernel_has_tcp_csum_if_readable() {
        if let Ok(r) = DropReasons::read() {
            assert!(r.number("TCP_CSUM").is_some(), "{:?}", r.names);
        }
    }
}
