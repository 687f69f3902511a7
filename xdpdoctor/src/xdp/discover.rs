//! Reading what is attached: the interfaces' `IFLA_XDP` (given as links read in the
//! namespace), then each program's info and the entries of each redirect map it uses. None of
//! the bpf calls depends on the calling thread's namespace (ids are machine-wide).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::UNIX_EPOCH;

use std::os::fd::AsFd;

use aya::maps::{MapData, MapInfo, MapType};
use aya::programs::{loaded_programs, ProgramInfo};

use super::{Attachment, MapEntry, Owner, RedirectKind, RedirectMap, XdpProgram, XdpView};
use crate::netlink::rtnl::Link;
use crate::state::bpffs::BPFFS;

/// Name libxdp gives its dispatcher program.
const LIBXDP_DISPATCHER: &str = "xdp_dispatcher";

/// Everything XDP on `links` (the links of one namespace, as netlink reported them).
pub fn discover(links: &[Link]) -> XdpView {
    let mut v = XdpView::default();
    for l in links {
        let Some(x) = &l.xdp else { continue };
        for (mode, prog_id) in x.each() {
            if prog_id != 0 {
                v.attachments.push(Attachment {
                    ifindex: l.index,
                    ifname: l.name.clone(),
                    mode,
                    prog_id,
                });
            }
        }
    }
    if v.attachments.is_empty() {
        return v;
    }
    let mut wanted: BTreeSet<u32> = v.attachments.iter().map(|a| a.prog_id).collect();
    let mut infos = read_programs(&wanted, &mut v.notes);
    // A libxdp dispatcher runs its sub-programs (freplace): read them too.
    for p in infos.clone() {
        if p.name == LIBXDP_DISPATCHER {
            let subs = dispatcher_subprograms(p.id);
            let new: BTreeSet<u32> = subs
                .iter()
                .copied()
                .filter(|s| !wanted.contains(s))
                .collect();
            infos.extend(read_programs(&new, &mut v.notes));
            wanted.extend(new);
            if let Some(d) = infos.iter_mut().find(|q| q.id == p.id) {
                d.subprograms = subs;
            }
        }
    }
    let map_ids: BTreeSet<u32> = infos.iter().flat_map(|p| p.map_ids.clone()).collect();
    for id in map_ids {
        match read_redirect_map(id) {
            Ok(Some(m)) => v.maps.push(m),
            Ok(None) => {}
            Err(e) => v.notes.push(format!("map {id}: {e}")),
        }
    }
    v.programs = infos;
    v
}

/// Info of each program in `ids` (one pass over the loaded programs).
fn read_programs(ids: &BTreeSet<u32>, notes: &mut Vec<String>) -> Vec<XdpProgram> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for info in loaded_programs() {
        match info {
            Ok(i) if ids.contains(&i.id()) => out.push(program(&i, notes)),
            Ok(_) => {}
            Err(e) => log::debug!("listing programs: {e}"),
        }
    }
    for id in ids {
        if !out.iter().any(|p| p.id == *id) {
            notes.push(format!("program {id}: not readable (unloaded meanwhile?)"));
        }
    }
    out.sort_by_key(|p| p.id);
    out
}

fn program(i: &ProgramInfo, notes: &mut Vec<String>) -> XdpProgram {
    let map_ids = match i.map_ids() {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => {
            notes.push(format!("maps of program {}: {e}", i.id()));
            Vec::new()
        }
    };
    XdpProgram {
        id: i.id(),
        name: i.name_as_str().unwrap_or("").to_string(),
        tag: format!("{:016x}", i.tag()),
        loaded_at: i
            .loaded_at()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        map_ids,
        subprograms: Vec::new(),
        owner: Owner::Foreign,
    }
}

/// The programs a libxdp dispatcher runs, from libxdp's pins
/// (`/sys/fs/bpf/xdp/dispatch-<ifindex>-<dispatcher id>/prog<N>-prog`), in slot order.
fn dispatcher_subprograms(dispatcher: u32) -> Vec<u32> {
    let root = Path::new(BPFFS).join("xdp");
    let suffix = format!("-{dispatcher}");
    let Ok(rd) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in rd.filter_map(|e| e.ok()) {
        let name = d.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("dispatch-") && name.ends_with(&suffix)) {
            continue;
        }
        let mut progs: Vec<(u32, u32)> = std::fs::read_dir(d.path())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let slot: u32 = n
                    .strip_prefix("prog")?
                    .strip_suffix("-prog")?
                    .parse()
                    .ok()?;
                let info = ProgramInfo::from_pin(e.path()).ok()?;
                Some((slot, info.id()))
            })
            .collect();
        progs.sort();
        out.extend(progs.into_iter().map(|(_, id)| id));
    }
    out
}

fn bpf_io(id: u32, e: std::io::Error) -> crate::Error {
    crate::Error::bpf("read map", format!("map {id}"), e)
}

/// The entries of a devmap / devmap_hash / cpumap, read with raw lookups so both value
/// layouts work: a bare `u32` (the seed's `BPF_DEVMAP`, older loaders) and
/// `struct bpf_devmap_val` / `bpf_cpumap_val` (`u32` + program fd/id).
fn read_entries(
    data: &MapData,
    info: &MapInfo,
    kind: RedirectKind,
) -> std::io::Result<Vec<MapEntry>> {
    use crate::bpf::sys::{map_lookup, map_next_key};
    let fd = data.fd().as_fd();
    if info.key_size() != 4 || !(4..=64).contains(&info.value_size()) {
        return Ok(Vec::new());
    }
    let mut value = vec![0u8; info.value_size() as usize];
    let entry = |key: u32, value: &[u8]| {
        let v = u32::from_ne_bytes(value[0..4].try_into().expect("4 bytes"));
        let prog = (value.len() >= 8)
            .then(|| u32::from_ne_bytes(value[4..8].try_into().expect("4 bytes")))
            .filter(|p| *p != 0);
        MapEntry {
            key,
            value: v,
            prog_id: prog,
        }
    };
    let mut out = Vec::new();
    match kind {
        RedirectKind::DevmapHash => {
            let mut cur: Option<[u8; 4]> = None;
            let mut next = [0u8; 4];
            loop {
                // SAFETY: `info` is this fd's map, checked above to have 4-byte keys (`cur`,
                // `next` are 4 bytes); devmaps are not per-CPU.
                let more = unsafe { map_next_key(fd, cur.as_ref().map(|k| &k[..]), &mut next)? };
                if !more {
                    break;
                }
                // SAFETY: 4-byte key; `value` holds the map's value size (checked above).
                let found = unsafe { map_lookup(fd, &next, &mut value)? };
                if found {
                    out.push(entry(u32::from_ne_bytes(next), &value));
                }
                cur = Some(next);
            }
            out.sort_by_key(|e| e.key);
        }
        _ => {
            for k in 0..info.max_entries() {
                // SAFETY: as above: 4-byte key, `value` of the map's value size, not per-CPU.
                if unsafe { map_lookup(fd, &k.to_ne_bytes(), &mut value)? } {
                    out.push(entry(k, &value));
                }
            }
        }
    }
    // Empty array slots read back as 0 on some kernels.
    out.retain(|e| e.value != 0);
    Ok(out)
}

/// The map with this id if it is a redirect map, with its entries.
fn read_redirect_map(id: u32) -> crate::Result<Option<RedirectMap>> {
    let bpf =
        |op: &'static str, e: aya::maps::MapError| crate::Error::bpf(op, format!("map {id}"), e);
    let info = MapInfo::from_id(id).map_err(|e| bpf("map info", e))?;
    let kind = match info.map_type() {
        Ok(MapType::DevMap) => RedirectKind::Devmap,
        Ok(MapType::DevMapHash) => RedirectKind::DevmapHash,
        Ok(MapType::CpuMap) => RedirectKind::Cpumap,
        Ok(MapType::XskMap) => RedirectKind::Xskmap,
        _ => return Ok(None),
    };
    let data = MapData::from_id(id).map_err(|e| bpf("open map", e))?;
    let entries = match kind {
        // An xskmap's values are sockets and cannot be read back.
        RedirectKind::Xskmap => Vec::new(),
        _ => read_entries(&data, &info, kind).map_err(|e| bpf_io(id, e))?,
    };
    Ok(Some(RedirectMap {
        id,
        name: info.name_as_str().unwrap_or("").to_string(),
        kind,
        max_entries: info.max_entries(),
        value_size: info.value_size(),
        entries,
    }))
}
