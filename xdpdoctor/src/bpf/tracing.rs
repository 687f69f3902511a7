//! An fexit program on a function that a **module** defines, which aya 0.14 cannot load:
//! `FExit::load` looks the function up in the BTF it is given and never sets
//! `attach_btf_obj_fd`, so the kernel searches vmlinux's BTF and the load fails. Here one
//! program of an embedded object is prepared the way aya's loader prepares it (aya-obj:
//! parse, CO-RE against vmlinux's BTF, map references set to the fds of the maps an already
//! loaded [`aya::Ebpf`] of the same object created, calls linked), then loaded with raw
//! bpf(2) naming the module's BTF object and the function's id in it ([`super::btf`]) and
//! attached with BPF_RAW_TRACEPOINT_OPEN. It shares its maps (counts, ring buffer, filter,
//! load-time globals in `.rodata`) with the object aya loaded, so its events are read like
//! every other probe's.

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya::maps::{Map, MapData};
use aya::{Btf, Ebpf};

use super::btf::ModuleFunc;
use super::sys;
use crate::{Error, Result};

/// Duplicated fds of every map of a loaded object, by name, so that programs of the same
/// object can be loaded by hand later (after some maps were taken out of the [`Ebpf`]).
#[derive(Debug, Default)]
pub struct MapFds(Vec<(String, OwnedFd)>);

impl MapFds {
    /// The maps of `ebpf` (`events`, `counts`, `.rodata`, ...), each fd duplicated.
    pub fn of(ebpf: &Ebpf) -> Result<MapFds> {
        ebpf.maps()
            .map(|(name, map)| {
                let fd = map_data(map)
                    .fd()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::bpf("dup map fd", name, e))?;
                Ok((name.to_string(), fd))
            })
            .collect::<Result<Vec<_>>>()
            .map(MapFds)
    }

    fn get(&self, name: &str) -> Option<&OwnedFd> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, fd)| fd)
    }
}

/// Every aya map type wraps a [`MapData`]; this is the one accessor aya lacks.
fn map_data(m: &Map) -> &MapData {
    use Map::*;
    match m {
        Array(d)
        | ArrayOfMaps(d)
        | BloomFilter(d)
        | CgroupArray(d)
        | CgroupStorage(d)
        | CgrpStorage(d)
        | CpuMap(d)
        | DevMap(d)
        | DevMapHash(d)
        | HashMap(d)
        | HashOfMaps(d)
        | InodeStorage(d)
        | LpmTrie(d)
        | LruHashMap(d)
        | PerCpuArray(d)
        | PerCpuCgroupStorage(d)
        | PerCpuHashMap(d)
        | PerCpuLruHashMap(d)
        | PerfEventArray(d)
        | ProgramArray(d)
        | Queue(d)
        | ReusePortSockArray(d)
        | RingBuf(d)
        | SockHash(d)
        | SockMap(d)
        | SkStorage(d)
        | Stack(d)
        | StackTraceMap(d)
        | Unsupported(d)
        | XskMap(d) => d,
    }
}

/// Why an fexit program on a module function did not load or attach.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    /// Preparing the instructions failed (a bug, or an object that does not match its maps).
    #[error("preparing {program}: {message}")]
    Prepare {
        /// The program.
        program: String,
        /// What went wrong.
        message: String,
    },
    /// BPF_PROG_LOAD refused it (errno and verifier log).
    #[error(transparent)]
    Load(#[from] sys::LoadError),
    /// BPF_RAW_TRACEPOINT_OPEN refused it.
    #[error("BPF_RAW_TRACEPOINT_OPEN: {0}")]
    Attach(#[source] std::io::Error),
}

/// A loaded, attached program; dropping it detaches and unloads it.
#[derive(Debug)]
pub struct TracingLink {
    // The link first: it holds the program; both are closed on drop.
    _link: OwnedFd,
    _prog: OwnedFd,
}

/// Loads `program` of `object` (ELF bytes) as an fexit on `target` (a module's function)
/// and attaches it. `vmlinux` is the kernel's BTF (for CO-RE), `maps` the maps of the same
/// object already loaded by aya.
pub fn attach_fexit_in_module(
    object: &[u8],
    program: &str,
    vmlinux: &Btf,
    maps: &MapFds,
    target: &ModuleFunc,
) -> std::result::Result<TracingLink, TracingError> {
    let prepare = |message: String| TracingError::Prepare {
        program: program.to_string(),
        message,
    };
    let (insns, license) = instructions(object, program, vmlinux, maps).map_err(prepare)?;
    let prog = sys::load_fexit(&sys::FexitLoad {
        name: program,
        insns: &insns,
        license: &license,
        attach_btf_id: target.btf_id,
        attach_btf_obj: target.btf_obj.as_fd(),
    })?;
    let link = sys::attach_tracing(prog.as_fd()).map_err(TracingError::Attach)?;
    Ok(TracingLink {
        _link: link,
        _prog: prog,
    })
}

/// `program`'s instructions as bytes, relocated as aya's loader does, and its license.
fn instructions(
    object: &[u8],
    program: &str,
    vmlinux: &Btf,
    maps: &MapFds,
) -> std::result::Result<(Vec<u8>, std::ffi::CString), String> {
    let mut obj = aya_obj::Object::parse(object).map_err(|e| format!("parse: {e}"))?;
    obj.relocate_btf(vmlinux)
        .map_err(|e| format!("CO-RE: {e}"))?;
    let key = obj
        .programs
        .get(program)
        .ok_or("not in the object")?
        .function_key();
    let license = obj.programs[program].license.clone();
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    // Only this program's function (and any shared subprograms) is relocated and linked: the
    // other programs' entry functions are dropped from this copy, which loads nothing else.
    let others: HashSet<(usize, u64)> = obj
        .programs
        .iter()
        .filter(|(n, _)| n.as_str() != program)
        .map(|(_, p)| p.function_key())
        .collect();
    obj.programs.retain(|n, _| n == program);
    obj.functions.retain(|k, _| !others.contains(k));
    let map_objs: Vec<(String, aya_obj::Map)> = obj.maps.drain().collect();
    let mut with_fds = Vec::new();
    for (name, m) in &map_objs {
        let fd = maps
            .get(name)
            .ok_or_else(|| format!("map {name} was not created by the loaded object"))?;
        with_fds.push((name.as_str(), fd.as_raw_fd(), m));
    }
    obj.relocate_maps(with_fds.into_iter(), &text_sections)
        .map_err(|e| format!("maps: {e}"))?;
    obj.relocate_calls(&text_sections)
        .map_err(|e| format!("calls: {e}"))?;
    let f = obj
        .functions
        .get(&key)
        .ok_or("function lost in relocation")?;
    const _: () = assert!(std::mem::size_of::<aya_obj::generated::bpf_insn>() == 8);
    let mut bytes = Vec::with_capacity(f.instructions.len() * 8);
    for insn in &f.instructions {
        // SAFETY: `bpf_insn` is a #[repr(C)] 8-byte plain-data struct (code, regs, off, imm)
        // with no padding; reading its bytes is reading the instruction as the kernel does.
        let b: [u8; 8] = unsafe { std::mem::transmute_copy(insn) };
        bytes.extend_from_slice(&b);
    }
    Ok((bytes, license))
}
