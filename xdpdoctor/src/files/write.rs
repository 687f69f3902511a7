//! The one writer of user-named files: [`write`] for a file written at once, [`Output`] for a
//! stream of records (pcapng) that must stay readable when it is cut short. Both check the
//! target first ([`check_target`]), write a temporary file created `O_EXCL | O_NOFOLLOW`
//! under a random name next to it, sync it, check the target again and rename.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What may be at the target already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// A regular file the caller owns is replaced (regenerated reports: `--prometheus`,
    /// `--junit`, `snapshot --output`, `object --output`, `bench --json FILE`, manual pages).
    Own,
    /// Nothing may be there (evidence files without `--force`): an existing file is refused,
    /// and the rename does not replace one that appeared meanwhile (`RENAME_NOREPLACE`).
    Never,
}

/// Records are written to the file once this many bytes wait in the buffer.
const FLUSH_AT: usize = 64 * 1024;

/// The caller's effective uid (who "owns" an output).
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// What an existing directory entry is, in words, when it is not a regular file.
fn kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Checks what is at `path` now against `replace`, without following a link: `Ok` when
/// nothing is there, or (for [`Replace::Own`]) a regular file the caller owns. Outputs check
/// this before the work that fills them starts (bad input changes nothing), and again just
/// before the rename.
pub fn check_target(path: &Path, replace: Replace) -> Result<()> {
    name_of(path)?;
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspect", path, e)),
    };
    let refuse = |why: String| Err(Error::invalid(path.display().to_string(), why));
    if !m.file_type().is_file() {
        return refuse(format!(
            "is {}; xdpdoctor writes only regular files and never through a link",
            kind(&m)
        ));
    }
    if m.uid() != euid() {
        return refuse(format!(
            "is owned by uid {} (not by uid {}, who runs xdpdoctor); xdpdoctor never writes \
             into another user's file: remove it or choose another name",
            m.uid(),
            euid()
        ));
    }
    if replace == Replace::Never {
        return refuse("exists; use --force to replace it".into());
    }
    Ok(())
}

/// Makes sure `dir` is a directory to write outputs into, creating it (and its parents) when
/// missing. A symbolic link is followed only when the caller owns it (as the kernel's
/// `fs.protected_symlinks` would in a sticky directory); anything else is refused.
pub fn check_dir(dir: &Path) -> Result<()> {
    let refuse = |why: String| Err(Error::invalid(dir.display().to_string(), why));
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() && m.uid() != euid() => refuse(format!(
            "is a symbolic link owned by uid {}; xdpdoctor follows only its own links",
            m.uid()
        )),
        Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(dir) {
            Ok(t) if t.is_dir() => Ok(()),
            Ok(t) => refuse(format!("leads to {}, not a directory", kind(&t))),
            Err(e) => Err(Error::io("inspect", dir, e)),
        },
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => refuse(format!("is {}, not a directory", kind(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
        }
        Err(e) => Err(Error::io("inspect", dir, e)),
    }
}

/// Writes `bytes` to `path` atomically under the [`Replace`] policy: a new file next to it,
/// synced, renamed over it. On any failure the target is as it was and no temporary remains.
pub fn write(path: &Path, bytes: &[u8], replace: Replace) -> Result<()> {
    let mut out = Output::create(path, replace)?;
    // One record: on a full disk nothing is kept and the commit says why.
    let _ = out.write_all(bytes);
    out.commit().map(drop)
}

/// The file name of `path`; a path without one (`/`, `dir/..`) is refused.
fn name_of(path: &Path) -> Result<&std::ffi::OsStr> {
    match path.file_name() {
        Some(n) if !path.as_os_str().as_encoded_bytes().ends_with(b"/") => Ok(n),
        _ => Err(Error::invalid(
            path.display().to_string(),
            "names a directory, not a file",
        )),
    }
}

/// A random name for the temporary file next to `path`: `.NAME.<16 hex digits>.tmp`.
fn temporary(path: &Path) -> Result<PathBuf> {
    let name = name_of(path)?.to_string_lossy();
    let mut stem: String = name.chars().take(160).collect();
    stem.retain(|c| c != '/');
    let mut r = [0u8; 8];
    // SAFETY: getrandom writes at most `r.len()` bytes into `r`.
    let n = unsafe { libc::getrandom(r.as_mut_ptr().cast(), r.len(), 0) };
    if n != r.len() as isize {
        return Err(Error::io(
            "get random bytes for a temporary name next to",
            path,
            io::Error::last_os_error(),
        ));
    }
    Ok(path.with_file_name(format!(".{stem}.{:016x}.tmp", u64::from_ne_bytes(r))))
}

/// A file being written: records go to a temporary file next to the target, which
/// [`Output::commit`] renames over it (or drop removes). Each `write` call through
/// [`std::io::Write`] is one record: they are buffered and written whole, and when the disk
/// refuses (ENOSPC, EDQUOT, EIO) the file is cut back to the end of its last complete record
/// and no more is written, so what is kept is still a valid file of fewer records.
pub struct Output {
    path: PathBuf,
    tmp: PathBuf,
    replace: Replace,
    file: File,
    /// Records not yet written, and where each ends in `buf`.
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Bytes of complete records in the file.
    on_disk: u64,
    /// Why writing stopped, if it did: the error, and the same with where the file ends.
    failed: Option<String>,
    error: Option<io::Error>,
    committed: bool,
}

/// What [`Output::commit`] left at the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Bytes in the file.
    pub bytes: u64,
    /// Why the file ends early (the error that stopped the writes), if it does.
    pub cut_short: Option<String>,
}

impl Output {
    /// Checks the target ([`check_target`]) and creates the temporary file.
    pub fn create(path: &Path, replace: Replace) -> Result<Output> {
        check_target(path, replace)?;
        let tmp = temporary(path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(Output {
            path: path.to_path_buf(),
            tmp,
            replace,
            file,
            buf: Vec::new(),
            ends: Vec::new(),
            on_disk: 0,
            failed: None,
            error: None,
            committed: false,
        })
    }

    /// The target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far (on disk and buffered).
    pub fn len(&self) -> u64 {
        self.on_disk + self.buf.len() as u64
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why writing stopped (the disk refused), if it did.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Writes the buffered records; on a refusal, cuts the file back to its last complete
    /// record and remembers why.
    fn flush_records(&mut self) -> io::Result<()> {
        if let Some(f) = &self.failed {
            return Err(io::Error::other(f.clone()));
        }
        let mut done = 0;
        while done < self.buf.len() {
            match self.file.write(&self.buf[done..]) {
                Ok(0) => {
                    return self.cut(done, io::Error::from(io::ErrorKind::WriteZero));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.cut(done, e),
            }
        }
        self.on_disk += self.buf.len() as u64;
        self.buf.clear();
        self.ends.clear();
        Ok(())
    }

    /// `written` bytes of the buffer reached the file before `e`: keep the complete records
    /// among them, drop the rest.
    fn cut(&mut self, written: usize, e: io::Error) -> io::Result<()> {
        let keep = last_record_end(&self.ends, written);
        let len = self.on_disk + keep as u64;
        let msg = format!("{e}; the file ends after its last complete record ({len} bytes)");
        if let Err(t) = self.file.set_len(len) {
            self.failed = Some(format!("{e}; and cutting it back failed: {t}"));
        } else {
            self.on_disk = len;
            self.failed = Some(msg);
        }
        self.buf.clear();
        self.ends.clear();
        let r = io::Error::new(e.kind(), e.to_string());
        self.error = Some(e);
        Err(r)
    }

    /// Finishes the file: writes what is buffered, syncs it, checks the target again and
    /// renames the file over it. A file cut short is still committed (it holds complete
    /// records), with the reason in [`Committed::cut_short`]; one that holds no record at all
    /// is removed and the error returned.
    pub fn commit(mut self) -> Result<Committed> {
        let _ = self.flush_records();
        if self.on_disk == 0 && self.failed.is_some() {
            let e = self
                .error
                .take()
                .unwrap_or_else(|| io::Error::other(self.failed.clone().unwrap_or_default()));
            return Err(Error::io("write", &self.path, e));
        }
        self.file
            .sync_all()
            .map_err(|e| Error::io("sync", &self.tmp, e))?;
        check_target(&self.path, self.replace)?;
        rename(&self.tmp, &self.path, self.replace)?;
        self.committed = true;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: the rename itself is durable once the directory is.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Committed {
            bytes: self.on_disk,
            cut_short: self.failed.take(),
        })
    }
}

impl Write for Output {
    /// One record: buffered whole, written with the records before it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(io::Error::other(f.clone()));
        }
        self.buf.extend_from_slice(buf);
        self.ends.push(self.buf.len());
        if self.buf.len() >= FLUSH_AT {
            self.flush_records()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_records()
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Where the file can end when `written` bytes of a buffer whose records end at `ends`
/// reached it: the end of the last record written whole (0: none).
fn last_record_end(ends: &[usize], written: usize) -> usize {
    ends.iter()
        .copied()
        .take_while(|e| *e <= written)
        .last()
        .unwrap_or(0)
}

/// Renames `from` over `to`; with [`Replace::Never`], fails if `to` appeared meanwhile.
fn rename(from: &Path, to: &Path, replace: Replace) -> Result<()> {
    if replace == Replace::Own {
        return std::fs::rename(from, to).map_err(|e| Error::io("rename", to, e));
    }
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::invalid(p.display().to_string(), "contains a NUL byte"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: renameat2 with two valid NUL-terminated paths relative to the cwd.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EEXIST) {
        return Err(Error::invalid(
            to.display().to_string(),
            "appeared while it was being written; use --force to replace it",
        ));
    }
    Err(Error::io("rename", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xdpdoctor-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn leftovers(d: &Path) -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_planted_link_is_refused_and_its_target_untouched() {
        let d = scratch("link");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let out = d.join("report.xml");
        symlink(&victim, &out).unwrap();
        for replace in [Replace::Own, Replace::Never] {
            let e = write(&out, b"new", replace).unwrap_err().to_string();
            assert!(e.contains("a symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(leftovers(&d).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = write(Path::new("/dev/null"), b"x", Replace::Own)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a character device"), "{e}");
        let d = scratch("dir");
        std::fs::create_dir(d.join("sub")).unwrap();
        let e = write(&d.join("sub"), b"x", Replace::Own)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a directory"), "{e}");
        let e = write(Path::new("/"), b"x", Replace::Own)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names a directory"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn own_files_are_replaced_and_evidence_is_not_without_force() {
        let d = scratch("replace");
        let p = d.join("out.prom");
        write(&p, b"one", Replace::Own).unwrap();
        write(&p, b"two", Replace::Own).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let e = write(&p, b"three", Replace::Never).unwrap_err().to_string();
        assert!(e.contains("exists; use --force"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert!(leftovers(&d).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn temporary_names_are_unpredictable_and_hidden() {
        let p = Path::new("/tmp/x/metrics.prom");
        let (a, b) = (temporary(p).unwrap(), temporary(p).unwrap());
        assert_ne!(a, b);
        let n = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            n.starts_with(".metrics.prom.") && n.ends_with(".tmp"),
            "{n}"
        );
        assert!(!n.contains(&std::process::id().to_string()) || n.len() > 30);
    }

    #[test]
    fn a_cut_keeps_whole_records_only() {
        assert_eq!(last_record_end(&[10, 25, 40], 0), 0);
        assert_eq!(last_record_end(&[10, 25, 40], 9), 0);
        assert_eq!(last_record_end(&[10, 25, 40], 10), 10);
        assert_eq!(last_record_end(&[10, 25, 40], 39), 25);
        assert_eq!(last_record_end(&[10, 25, 40], 40), 40);
    }

    #[test]
    fn a_dropped_output_leaves_nothing() {
        let d = scratch("drop");
        let p = d.join("trace.pcapng");
        let mut o = Output::create(&p, Replace::Never).unwrap();
        o.write_all(b"record").unwrap();
        drop(o);
        assert!(!p.exists());
        assert!(leftovers(&d).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn directories_behind_foreign_links_are_refused() {
        let d = scratch("dirs");
        let real = d.join("real");
        std::fs::create_dir(&real).unwrap();
        symlink(&real, d.join("mine")).unwrap();
        check_dir(&d.join("mine")).unwrap();
        check_dir(&d.join("new/deeper")).unwrap();
        assert!(d.join("new/deeper").is_dir());
        let e = check_dir(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(e.contains("a character device"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
