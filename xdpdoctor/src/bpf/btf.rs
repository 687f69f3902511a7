//! Kernel BTF beyond vmlinux: finding a function that a **module** defines.
//!
//! A function built into a module (`veth_xdp_xmit` when `CONFIG_VETH=m`, as on Debian's
//! kernels) is not in `/sys/kernel/btf/vmlinux` but in `/sys/kernel/btf/<module>`, which is
//! *split* BTF: its type ids continue after the last vmlinux type and its string offsets after
//! the end of vmlinux's string section. aya parses only standalone BTF, so this reads the two
//! headers and walks the type records itself (only their sizes matter), and finds the module's
//! BTF *object* (the fd an fentry/fexit program must name as `attach_btf_obj_fd`) among the
//! kernel's BTF objects by name.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::sys;
use crate::{Error, Result};

/// Where the kernel publishes its BTF, one file per module plus `vmlinux`.
pub const SYSFS_BTF: &str = "/sys/kernel/btf";

const BTF_MAGIC: u16 = 0xeb9f;
const BTF_KIND_FUNC: u32 = 12;
const BTF_KIND_STRUCT: u32 = 4;

/// A function found in a module's BTF.
#[derive(Debug)]
pub struct ModuleFunc {
    /// The module (`veth`).
    pub module: String,
    /// The function's type id in the kernel's numbering (after vmlinux's types).
    pub btf_id: u32,
    /// The module's BTF object, for `attach_btf_obj_fd`.
    pub btf_obj: OwnedFd,
}

/// The module BTF file of `module`.
pub fn module_btf_path(module: &str) -> PathBuf {
    Path::new(SYSFS_BTF).join(module)
}

/// Looks `func` up in `module`'s split BTF. `Ok(None)`: the module's BTF has no such function
/// (or the module is not loaded: no BTF file).
pub fn module_func(module: &str, func: &str) -> Result<Option<ModuleFunc>> {
    let path = module_btf_path(module);
    let split = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let vmlinux_path = Path::new(SYSFS_BTF).join("vmlinux");
    let vmlinux = std::fs::read(&vmlinux_path).map_err(|e| Error::io("read", &vmlinux_path, e))?;
    let base = Header::parse(&vmlinux).map_err(|m| bad(&vmlinux_path, m))?;
    let base_types = type_records(&vmlinux, &base)
        .map_err(|m| bad(&vmlinux_path, m))?
        .len() as u32;
    let Some(index) = find_func(&split, base.str_len, func).map_err(|m| bad(&path, m))? else {
        return Ok(None);
    };
    let btf_obj = kernel_btf_object(module)?.ok_or_else(|| {
        Error::not_found(
            format!("the BTF object of module {module}"),
            Some(format!(
                "{} exists but no loaded BTF object has that name",
                path.display()
            )),
        )
    })?;
    Ok(Some(ModuleFunc {
        module: module.to_string(),
        // Type 0 is void; vmlinux's types are 1..=base_types; the module's follow.
        btf_id: base_types + 1 + index,
        btf_obj,
    }))
}

fn bad(path: &Path, message: String) -> Error {
    Error::unexpected(format!("BTF {}", path.display()), message)
}

/// The kernel BTF object named `name` (`vmlinux` or a module), as an fd.
fn kernel_btf_object(name: &str) -> Result<Option<OwnedFd>> {
    let mut id = 0;
    loop {
        id = match sys::btf_next_id(id) {
            Ok(Some(next)) => next,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Error::bpf("BTF_GET_NEXT_ID", name, e)),
        };
        // Objects come and go (a module unloads): skip what vanished meanwhile.
        let Ok(fd) = sys::btf_fd_by_id(id) else {
            continue;
        };
        match sys::btf_info(std::os::fd::AsFd::as_fd(&fd)) {
            Ok(info) if info.kernel_btf && info.name == name => return Ok(Some(fd)),
            Ok(_) => {}
            Err(e) => return Err(Error::bpf("BTF info", format!("BTF object {id}"), e)),
        }
    }
}

/// The fields of `struct btf_header` this needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    hdr_len: usize,
    type_off: usize,
    type_len: usize,
    str_off: usize,
    str_len: u32,
}

impl Header {
    fn parse(b: &[u8]) -> std::result::Result<Header, String> {
        if b.len() < 24 {
            return Err("shorter than a BTF header".into());
        }
        if u16::from_le_bytes([b[0], b[1]]) != BTF_MAGIC {
            return Err("not little-endian BTF (bad magic)".into());
        }
        let u = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let h = Header {
            hdr_len: u(4) as usize,
            type_off: u(8) as usize,
            type_len: u(12) as usize,
            str_off: u(16) as usize,
            str_len: u(20),
        };
        let end = |off: usize, len: usize| h.hdr_len + off + len;
        if end(h.type_off, h.type_len) > b.len() || end(h.str_off, h.str_len as usize) > b.len() {
            return Err("sections run past the end of the file".into());
        }
        Ok(h)
    }
}

/// One type record: its kind, name offset and its `size` (or `type`) word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    kind: u32,
    name_off: u32,
    size_or_type: u32,
}

/// Every type record of the BTF in `b`, in id order (the first is id 1, or base+1 when split).
fn type_records(b: &[u8], h: &Header) -> std::result::Result<Vec<Record>, String> {
    let types = &b[h.hdr_len + h.type_off..h.hdr_len + h.type_off + h.type_len];
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < types.len() {
        if at + 12 > types.len() {
            return Err(format!("type record at {at} cut short"));
        }
        let u = |o: usize| u32::from_le_bytes(types[o..o + 4].try_into().unwrap());
        let (name_off, info) = (u(at), u(at + 4));
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        // What follows the 12-byte common part, per kind (include/uapi/linux/btf.h).
        let extra = match kind {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
            2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
            3 => 12,                   // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,        // ENUM, FUNC_PROTO
            k => return Err(format!("unknown BTF kind {k} at byte {at}")),
        };
        out.push(Record {
            kind,
            name_off,
            size_or_type: u(at + 8),
        });
        at += 12 + extra;
    }
    Ok(out)
}

/// The size in bytes of `struct name` in the running kernel's BTF (`/sys/kernel/btf/vmlinux`);
/// `Ok(None)` when it has no such struct. What the kernel's own size arithmetic uses
/// (`sizeof(struct skb_shared_info)` bounds the MTU a veth takes for XDP).
pub fn vmlinux_struct_size(name: &str) -> Result<Option<u32>> {
    let path = Path::new(SYSFS_BTF).join("vmlinux");
    let b = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    struct_size(&b, name).map_err(|m| bad(&path, m))
}

fn struct_size(b: &[u8], name: &str) -> std::result::Result<Option<u32>, String> {
    let h = Header::parse(b)?;
    let strings = &b[h.hdr_len + h.str_off..h.hdr_len + h.str_off + h.str_len as usize];
    let named = |off: u32| -> bool {
        strings
            .get(off as usize..)
            .and_then(|s| s.get(..s.iter().position(|&c| c == 0)?))
            == Some(name.as_bytes())
    };
    Ok(type_records(b, &h)?
        .iter()
        .find(|r| r.kind == BTF_KIND_STRUCT && named(r.name_off))
        .map(|r| r.size_or_type))
}

/// The 0-based index among the split BTF's own types of the FUNC named `func`. Names of split
/// types are at offsets from `base_str_len` on (offsets below it are vmlinux's strings, which
/// a module's own function never uses).
fn find_func(
    split: &[u8],
    base_str_len: u32,
    func: &str,
) -> std::result::Result<Option<u32>, String> {
    let h = Header::parse(split)?;
    let strings = &split[h.hdr_len + h.str_off..h.hdr_len + h.str_off + h.str_len as usize];
    let name = |off: u32| -> Option<&[u8]> {
        let rel = off.checked_sub(base_str_len)? as usize;
        let s = strings.get(rel..)?;
        Some(&s[..s.iter().position(|&c| c == 0)?])
    };
    Ok(type_records(split, &h)?
        .iter()
        .position(|r| r.kind == BTF_KIND_FUNC && name(r.name_off) == Some(func.as_bytes()))
        .map(|i| i as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob: header, then `types`, then `strings`.
    fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        b.extend_from_slice(&[1, 0]); // version, flags
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(types);
        b.extend_from_slice(strings);
        b
    }

    fn rec(name_off: u32, kind: u32, vlen: u32, size_or_type: u32, extra: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&name_off.to_le_bytes());
        r.extend_from_slice(&((kind << 24) | vlen).to_le_bytes());
        r.extend_from_slice(&size_or_type.to_le_bytes());
        r.extend_from_slice(extra);
        r
    }

    #[test]
    fn split_func_is_found_after_variable_length_records() {
        // Base strings are 100 bytes long: split names start at offset 100.
        let strings = b"\0veth_xdp_xmit\0other\0";
        let mut types = Vec::new();
        types.extend(rec(0, 1, 0, 4, &[0; 4])); // INT
        types.extend(rec(0, 4, 2, 16, &[0; 24])); // STRUCT with 2 members
        types.extend(rec(0, 13, 1, 0, &[0; 8])); // FUNC_PROTO, 1 param
        types.extend(rec(115, 12, 0, 3, &[])); // FUNC "other"
        types.extend(rec(101, 12, 0, 3, &[])); // FUNC "veth_xdp_xmit"
        let b = blob(&types, strings);
        assert_eq!(find_func(&b, 100, "veth_xdp_xmit"), Ok(Some(4)));
        assert_eq!(find_func(&b, 100, "other"), Ok(Some(3)));
        assert_eq!(find_func(&b, 100, "missing"), Ok(None));
        // A name below the base's string length is vmlinux's: never matched here.
        assert_eq!(find_func(&b, 0, "veth_xdp_xmit"), Ok(None));
    }

    #[test]
    fn struct_size_by_name() {
        let strings = b"\0skb_shared_info\0other\0";
        let mut types = Vec::new();
        types.extend(rec(17, 4, 1, 8, &[0; 12])); // STRUCT other, 8 bytes
        types.extend(rec(1, 4, 2, 320, &[0; 24])); // STRUCT skb_shared_info, 320 bytes
        let b = blob(&types, strings);
        assert_eq!(struct_size(&b, "skb_shared_info"), Ok(Some(320)));
        assert_eq!(struct_size(&b, "other"), Ok(Some(8)));
        assert_eq!(struct_size(&b, "none"), Ok(None));
    }

    #[test]
    fn bad_blobs_are_refused_in_words() {
        assert!(Header::parse(&[0; 10]).is_err());
        let mut b = blob(&rec(0, 25, 0, 0, &[]), b"\0");
        assert!(find_func(&b, 0, "x")
            .unwrap_err()
            .contains("unknown BTF kind 25"));
        b[0] = 0;
        assert!(Header::parse(&b).unwrap_err().contains("magic"));
    }

    #[test]
    fn the_running_kernels_vmlinux_walks_to_its_end() {
        // Not skipped when absent: xdpdoctor's tp_btf probes need it too, so a machine
        // without it is one this test must report.
        let b = std::fs::read("/sys/kernel/btf/vmlinux")
            .expect("the running kernel's BTF, /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)");
        let h = Header::parse(&b).unwrap();
        assert!(type_records(&b, &h).unwrap().len() > 1000);
        let shinfo = struct_size(&b, "skb_shared_info")
            .unwrap()
            .expect("skb_shared_info");
        assert!((256..=512).contains(&shinfo), "{shinfo}");
    }
}
