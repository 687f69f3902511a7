//! tracefs: mounting it if needed, asking whether a tracepoint exists, and reading its
//! `format` file: the record's field offsets (the classic tracepoint programs read fields at
//! offsets set at load from it, [`Format`]) and the drop reason names of `skb:kfree_skb`
//! (`__print_symbolic`), because the numbers of `enum skb_drop_reason` change between kernels
//! (TCP_CSUM: 4 on 6.1, 10 on 6.18).

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

/// Whether tracefs has the tracepoint `category:name` (tracefs mounted first if needed).
pub fn tracepoint_exists(category: &str, name: &str) -> bool {
    event_dir(category, name).is_dir()
}

/// Whether this kernel can have kprobes at all: the perf kprobe PMU or the legacy
/// `kprobe_events` file. Both are absent when CONFIG_KPROBES is off.
pub fn kprobes_configured() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || Path::new(TRACEFS).join("kprobe_events").exists()
}

/// `events/<category>/<name>/format`.
pub fn format_path(category: &str, name: &str) -> PathBuf {
    event_dir(category, name).join("format")
}

/// One field of a classic tracepoint record, as its format file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatField {
    /// Byte offset in the record (the common fields come first, from 0).
    pub offset: u32,
    /// Bytes (an array's whole size).
    pub size: u32,
}

/// The record layout of a tracepoint, from its `format` file: field name -> offset and size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Format {
    /// Fields by name.
    pub fields: BTreeMap<String, FormatField>,
}

impl Format {
    /// Reads `events/<category>/<name>/format`.
    pub fn read(category: &str, name: &str) -> Result<Self> {
        let p = format_path(category, name);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io("read", &p, e))?;
        Ok(Self::parse(&text))
    }

    /// Parses the `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` lines of a format file
    /// (`NAME` may carry an array suffix, `saddr[28]`). Other lines are ignored.
    pub fn parse(text: &str) -> Self {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("field:") else {
                continue;
            };
            let mut parts = rest.split(';').map(str::trim);
            let decl = parts.next().unwrap_or_default();
            let Some(name) = decl.split_whitespace().last() else {
                continue;
            };
            let name = name.split('[').next().unwrap_or(name);
            let (mut offset, mut size) = (None, None);
            for p in parts {
                if let Some(v) = p.strip_prefix("offset:") {
                    offset = v.trim().parse().ok();
                } else if let Some(v) = p.strip_prefix("size:") {
                    size = v.trim().parse().ok();
                }
            }
            if let (Some(offset), Some(size)) = (offset, size) {
                fields.insert(name.to_string(), FormatField { offset, size });
            }
        }
        Format { fields }
    }

    /// The field `name`, if the record has one.
    pub fn field(&self, name: &str) -> Option<FormatField> {
        self.fields.get(name).copied()
    }
}

/// What `skb:kfree_skb`'s format file says about drop reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropReasons {
    /// Reason number -> name without the `SKB_DROP_REASON_` prefix.
    pub names: BTreeMap<u32, String>,
}

impl DropReasons {
    /// Reads `events/skb/kfree_skb/format`.
    pub fn read() -> Result<Self> {
        let p = format_path("skb", "kfree_skb");
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

    /// The name of drop reason `n` (`NOT_SPECIFIED`, `TCP_CSUM`, ...).
    pub fn name(&self, n: u32) -> Option<&str> {
        self.names.get(&n).map(String::as_str)
    }

    /// The number of the drop reason named `name` on this kernel (numbers move between
    /// kernels; names stay).
    pub fn number(&self, name: &str) -> Option<u32> {
        self.names.iter().find(|(_, v)| *v == name).map(|(k, _)| *k)
    }
}

/// Parses the drop reason table of a kfree_skb `format` file (its field offsets are
/// [`Format`]'s).
pub fn parse_format(text: &str) -> DropReasons {
    let mut out = DropReasons::default();
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

    /// The format files of a 6.18 kernel, copied from /sys/kernel/tracing/events as they are.
    const KFREE_SKB_6_18: &str =
        include_str!("../../tests/fixtures/tracefs-6.18/skb-kfree_skb.format");
    const TCP_BAD_CSUM_6_18: &str =
        include_str!("../../tests/fixtures/tracefs-6.18/tcp-tcp_bad_csum.format");

    // 6.1: no rx_sk, TCP_CSUM is 4, and a terminator entry.
    const FORMAT_6_1: &str = r#"format:
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:void * location;	offset:16;	size:8;	signed:0;
	field:unsigned short protocol;	offset:24;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:28;	size:4;	signed:0;

print fmt: "skbaddr=%p protocol=%u location=%p reason: %s", REC->skbaddr, REC->protocol, REC->location, __print_symbolic(REC->reason, { 1, "NOT_SPECIFIED" }, { 4, "TCP_CSUM" }, { -1, ((void *)0) })
"#;

    fn at(offset: u32, size: u32) -> Option<FormatField> {
        Some(FormatField { offset, size })
    }

    #[test]
    fn kfree_skb_fields_6_18() {
        let f = Format::parse(KFREE_SKB_6_18);
        assert_eq!(f.field("common_type"), at(0, 2));
        assert_eq!(f.field("common_pid"), at(4, 4));
        assert_eq!(f.field("skbaddr"), at(8, 8));
        assert_eq!(f.field("location"), at(16, 8));
        assert_eq!(f.field("rx_sk"), at(24, 8));
        assert_eq!(f.field("protocol"), at(32, 2));
        assert_eq!(f.field("reason"), at(36, 4));
        assert_eq!(f.fields.len(), 9, "{:?}", f.fields.keys());
    }

    #[test]
    fn tcp_bad_csum_fields_6_18() {
        let f = Format::parse(TCP_BAD_CSUM_6_18);
        assert_eq!(f.field("skbaddr"), at(8, 8));
        // Arrays are named without their size.
        assert_eq!(f.field("saddr"), at(16, 28));
        assert_eq!(f.field("daddr"), at(44, 28));
        assert_eq!(f.fields.len(), 7, "{:?}", f.fields.keys());
    }

    #[test]
    fn kfree_skb_fields_6_1() {
        let f = Format::parse(FORMAT_6_1);
        assert_eq!(f.field("skbaddr"), at(8, 8));
        assert_eq!(f.field("location"), at(16, 8));
        assert_eq!(f.field("reason"), at(28, 4));
        assert_eq!(f.field("rx_sk"), None);
    }

    #[test]
    fn parses_reasons_6_18() {
        let r = parse_format(KFREE_SKB_6_18);
        assert_eq!(r.name(10), Some("TCP_CSUM"));
        assert_eq!(r.number("NO_SOCKET"), Some(3));
        assert_eq!(r.number("XDP"), Some(72));
        // 2 NOT_SPECIFIED .. 128 MAX; 0 and 1 are not in the table.
        assert_eq!(r.names.len(), 127);
        assert_eq!(r.name(128), Some("MAX"));
    }

    #[test]
    fn parses_reasons_6_1() {
        let r = parse_format(FORMAT_6_1);
        assert_eq!(r.number("TCP_CSUM"), Some(4));
        assert_eq!(r.names.len(), 2, "the {{ -1, NULL }} terminator is skipped");
    }

    #[test]
    fn no_reason_field_before_5_17() {
        let text = "format:\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\nprint fmt: \"skbaddr=%p\"";
        assert_eq!(parse_format(text), DropReasons::default());
        let f = Format::parse(text);
        assert_eq!(f.field("skbaddr"), at(8, 8));
        assert_eq!(f.field("reason"), None);
    }

    #[test]
    fn this_kernel_has_tcp_csum_if_readable() {
        if let Ok(r) = DropReasons::read() {
            assert!(r.number("TCP_CSUM").is_some(), "{:?}", r.names);
        }
    }
}
