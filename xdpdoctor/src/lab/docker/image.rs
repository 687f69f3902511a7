//! The Docker lab's image, built offline: a root filesystem holding Debian's statically
//! linked busybox (`busybox-static`, `/bin/busybox`) and an empty `/www`, written as a tar in
//! memory and imported through the Engine API (what `tar -C rootfs -c . | docker import -`
//! does). No registry is needed. One image serves every Docker lab ([`IMAGE`]); it is built
//! once and left in place (`docker rmi xdpdoctor/lab-busybox:1` removes it).

use crate::runtime::Docker;
use crate::{Error, Result};

/// The lab image's repository and tag.
pub const REPO: &str = "xdpdoctor/lab-busybox";
/// Its tag: bumped when the image's contents change.
pub const TAG: &str = "1";
/// `REPO:TAG`.
pub const IMAGE: &str = "xdpdoctor/lab-busybox:1";
/// Where busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Imports the image unless the daemon has it. Returns whether it was built now.
pub fn ensure(d: &Docker) -> Result<bool> {
    if d.image_exists(IMAGE)? {
        return Ok(false);
    }
    let bin = std::fs::read(BUSYBOX).map_err(|e| Error::io("read", BUSYBOX, e))?;
    if !is_static_elf(&bin) {
        return Err(Error::unsupported(
            format!("{BUSYBOX} for the Docker lab's image"),
            "it is dynamically linked and would not run in an image without libc; install \
             busybox-static (apt-get install busybox-static, scripts/setup.sh does)",
        ));
    }
    let tar = rootfs(&bin);
    d.clone()
        .with_timeout(std::time::Duration::from_secs(120))
        .import_image(&tar, REPO, TAG)?;
    log::info!(
        "imported image {IMAGE} ({} bytes) from {BUSYBOX}",
        tar.len()
    );
    Ok(true)
}

/// Whether `elf` is an ELF executable without a program interpreter (statically linked).
pub fn is_static_elf(elf: &[u8]) -> bool {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return false; // not a 64-bit ELF
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        // PT_INTERP = 3: a dynamic loader is named.
        elf.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != 3)
    })
}

/// The root filesystem as a tar: `/bin/busybox`, `/bin/sh` -> busybox, `/www`, `/tmp`.
fn rootfs(busybox: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for dir in ["bin/", "www/", "tmp/"] {
        entry(&mut t, dir, b'5', 0o755, "", &[]);
    }
    entry(&mut t, "bin/busybox", b'0', 0o755, "", busybox);
    entry(&mut t, "bin/sh", b'2', 0o777, "busybox", &[]);
    t.extend([0u8; 1024]); // two zero blocks end the archive
    t
}

/// One ustar entry: header block, then the data padded to 512 bytes.
fn entry(t: &mut Vec<u8>, name: &str, kind: u8, mode: u32, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], off: usize, s: &[u8]| h[off..off + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, b"0000000\0"); // uid
    put(&mut h, 116, b"0000000\0"); // gid
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0"); // mtime
    put(&mut h, 148, b"        "); // checksum, counted as spaces
    h[156] = kind;
    put(&mut h, 157, link.as_bytes());
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    t.extend(h);
    t.extend(data);
    t.resize(t.len().div_ceil(512) * 512, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rootfs_is_a_tar_tar_reads() {
        let t = rootfs(b"#!fake busybox\n");
        assert_eq!(t.len() % 512, 0);
        // Header checksums verify, entries in order.
        let mut names = Vec::new();
        let mut off = 0;
        while off + 512 <= t.len() && t[off] != 0 {
            let h = &t[off..off + 512];
            let stored = u32::from_str_radix(
                std::str::from_utf8(&h[148..154])
                    .unwrap()
                    .trim_matches(char::from(0)),
                8,
            )
            .unwrap();
            let sum: u32 = h[..148]
                .iter()
                .chain(&[b' '; 8])
                .chain(&h[156..])
                .map(|b| u32::from(*b))
                .sum();
            assert_eq!(stored, sum);
            let name = std::str::from_utf8(&h[..100])
                .unwrap()
                .trim_end_matches('\0');
            let size =
                usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
            names.push((name.to_string(), h[156] as char, size));
            off += 512 + size.div_ceil(512) * 512;
        }
        assert_eq!(
            names,
            [
                ("bin/".into(), '5', 0),
                ("www/".into(), '5', 0),
                ("tmp/".into(), '5', 0),
                ("bin/busybox".into(), '0', 15),
                ("bin/sh".into(), '2', 0)
            ]
        );
    }

    #[test]
    fn static_and_dynamic_elves_are_told_apart() {
        // A minimal 64-bit ELF header with one program header of type `t`.
        let elf = |t: u32| {
            let mut e = vec![0u8; 64 + 56];
            e[..5].copy_from_slice(b"\x7fELF\x02");
            e[32..40].copy_from_slice(&64u64.to_le_bytes());
            e[54..56].copy_from_slice(&56u16.to_le_bytes());
            e[56..58].copy_from_slice(&1u16.to_le_bytes());
            e[64..68].copy_from_slice(&t.to_le_bytes());
            e
        };
        assert!(is_static_elf(&elf(1)));
        assert!(!is_static_elf(&elf(3)));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        if let Ok(b) = std::fs::read("/bin/ls") {
            assert!(!is_static_elf(&b), "/bin/ls is dynamic");
        }
    }
}
