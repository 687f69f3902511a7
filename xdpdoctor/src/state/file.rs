//! Small JSON state files (deployed forwarders, labs, fix journals): one reader and one writer
//! so every kind of state fails the same way, naming the file. Writes go to a temporary file
//! that is then renamed over the old one, so a reader (or a crash) never sees half a file. A
//! writer killed between the two leaves its temporary file (`NAME.tmp.PID`); the next write
//! of the same file removes those of processes that no longer run.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{Error, Result};

/// Reads `path` as JSON; `Ok(None)` if it does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| Error::corrupt(path, format!("corrupt state file: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Writes `value` as pretty JSON, atomically (temporary file + rename), creating the parent
/// directory.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let text = serde_json::to_string_pretty(value).expect("state serializes");
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    remove_dead_temporaries(path);
    Ok(())
}

/// Removes a state file (gone already is fine) and the temporaries killed writers left
/// next to it.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", path, e)),
    }
    remove_dead_temporaries(path);
    Ok(())
}

/// Removes `NAME.tmp.PID` files next to `path` whose writer is gone (killed mid-write).
fn remove_dead_temporaries(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return;
    };
    let prefix = format!("{}.tmp.", stem.to_string_lossy());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
