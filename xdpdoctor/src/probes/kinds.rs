//! How each [`ProbeKind`] is loaded and attached: the only per-kind code, kept apart from the
//! choice of variants (`attach.rs`) so that adding a kind (fexit through a module's BTF, say)
//! is one arm in [`load_and_attach`]: how that kind's program is loaded and how it is
//! attached. Everything else is one path for every kind: a variant's programs (its own, then
//! the entry probe of a kprobe pair) are all loaded (verified), then all attached in the same
//! order, or everything this loaded is unloaded again (which detaches it).

use aya::programs::{BtfTracePoint, FExit, KProbe, Program, ProgramError, TracePoint};
use aya::{Btf, Ebpf};

use super::{ProbeKind, Variant};
use crate::bpf::object;
use crate::bpf::probes_abi as abi;

/// Why a variant did not load and attach.
#[derive(Debug)]
pub(super) enum Failure {
    /// Something it needs is missing (BTF, or the program in the object), in words.
    Unmet(String),
    /// The kernel refused a step (`load` or `attach`).
    Refused {
        stage: &'static str,
        error: ProgramError,
    },
}

impl Failure {
    fn load(error: ProgramError) -> Self {
        Failure::Refused {
            stage: "load",
            error,
        }
    }

    fn attach(error: ProgramError) -> Self {
        Failure::Refused {
            stage: "attach",
            error,
        }
    }
}

/// Loads and attaches every program of `v`, all or nothing. `btf` is the kernel's BTF, or why
/// it could not be read (kinds that need it are then refused with that reason).
pub(super) fn load_and_attach(
    ebpf: &mut Ebpf,
    v: &Variant,
    btf: Result<&Btf, &String>,
) -> Result<(), Failure> {
    let btf = || btf.map_err(|e| Failure::Unmet(format!("BTF missing ({e})")));
    match v.kind {
        ProbeKind::TpBtf => {
            let btf = btf()?;
            all_or_nothing(
                ebpf,
                v,
                |p: &mut BtfTracePoint| p.load(v.target, btf),
                |p| p.attach().map(drop),
            )
        }
        ProbeKind::Tracepoint => all_or_nothing(
            ebpf,
            v,
            |p: &mut TracePoint| p.load(),
            |p| p.attach(v.category, v.target).map(drop),
        ),
        ProbeKind::Fexit => {
            let btf = btf()?;
            all_or_nothing(
                ebpf,
                v,
                |p: &mut FExit| p.load(v.target, btf),
                |p| p.attach().map(drop),
            )
        }
        // A kprobe at the entry and a kretprobe at the return: the same program type, the
        // section name says which.
        ProbeKind::Kretprobe => all_or_nothing(
            ebpf,
            v,
            |p: &mut KProbe| p.load(),
            |p| p.attach(v.target, 0).map(drop),
        ),
    }
}

/// Loads each of `v`'s programs with `load`, then attaches each with `attach` (the kretprobe
/// before its entry kprobe, so the entry never fills the map with calls nobody reads back). On
/// any failure, unloads what this loaded.
fn all_or_nothing<P>(
    ebpf: &mut Ebpf,
    v: &Variant,
    load: impl Fn(&mut P) -> Result<(), ProgramError>,
    attach: impl Fn(&mut P) -> Result<(), ProgramError>,
) -> Result<(), Failure>
where
    P: Unload,
    for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let mut loaded = Vec::new();
    let res = load_all(ebpf, v, &load, &mut loaded).and_then(|()| {
        v.programs()
            .try_for_each(|name| attach(program::<P>(ebpf, name)?).map_err(Failure::attach))
    });
    if res.is_err() {
        for name in loaded {
            if let Ok(p) = program::<P>(ebpf, name) {
                p.unload_quietly(name);
            }
        }
    }
    res
}

fn load_all<P>(
    ebpf: &mut Ebpf,
    v: &Variant,
    load: &impl Fn(&mut P) -> Result<(), ProgramError>,
    loaded: &mut Vec<&'static str>,
) -> Result<(), Failure>
where
    for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    for name in v.programs() {
        load(program::<P>(ebpf, name)?).map_err(Failure::load)?;
        loaded.push(name);
    }
    Ok(())
}

/// The program `name` of the probe object, as type `P`.
fn program<'a, P>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut P, Failure>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    object::program_mut(ebpf, abi::OBJECT, name)
        .map_err(|e| Failure::Unmet(crate::error::chain(&e)))
}

/// aya's program types have `unload` as an inherent method only; this lets the one path above
/// undo any of them.
pub(super) trait Unload {
    fn unload_quietly(&mut self, name: &str);
}

macro_rules! impl_unload {
    ($($t:ty),+ $(,)?) => {$(
        impl Unload for $t {
            fn unload_quietly(&mut self, name: &str) {
                if let Err(e) = self.unload() {
                    log::debug!("unloading {name}: {}", crate::error::chain(&e));
                }
            }
        }
    )+};
}

impl_unload!(BtfTracePoint, TracePoint, FExit, KProbe);
