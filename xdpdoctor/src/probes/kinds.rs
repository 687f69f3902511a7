//! How each [`ProbeKind`] is loaded and attached: the only per-kind code, kept apart from the
//! choice of variants (`attach.rs`) so that adding a kind is one arm in [`load_and_attach`]:
//! how that kind's program is loaded and how it is attached. fexit has two paths: aya's for a
//! function in vmlinux's BTF, and [`crate::bpf::tracing`] for one a module defines (aya
//! cannot name the module's BTF object); the second returns the link it made. Everything else is one path for every kind: a variant's programs (its own, then
//! the entry probe of a kprobe pair) are all loaded (verified), then all attached in the same
//! order, or everything this loaded is unloaded again (which detaches it).

use aya::programs::{BtfTracePoint, FExit, KProbe, Program, ProgramError, TracePoint};
use aya::{Btf, Ebpf};

use super::{ProbeKind, Variant};
use crate::bpf::probes_abi as abi;
use crate::bpf::tracing::{self, MapFds, TracingLink};
use crate::bpf::{btf as kbtf, object, objects};
use crate::error::BoxError;

/// The step of a variant the kernel refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Loading (verifying) a program: BTF lookups, the verifier, fentry/fexit permission.
    Load,
    /// Attaching a loaded program to its hook.
    Attach,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Load => "load",
            Stage::Attach => "attach",
        })
    }
}

/// Why a variant did not load and attach.
#[derive(Debug)]
pub(super) enum Failure {
    /// Something it needs is missing (BTF, or the program in the object), in words.
    Unmet(String),
    /// The kernel refused a step; `error` is aya's `ProgramError` or
    /// [`tracing::TracingError`], both keeping the errno (and a load's verifier log).
    Refused { stage: Stage, error: BoxError },
}

impl Failure {
    fn load(error: impl Into<BoxError>) -> Self {
        Failure::Refused {
            stage: Stage::Load,
            error: error.into(),
        }
    }

    fn attach(error: impl Into<BoxError>) -> Self {
        Failure::Refused {
            stage: Stage::Attach,
            error: error.into(),
        }
    }
}

/// What loading a variant needs besides the object.
pub(super) struct KindEnv<'a> {
    /// The kernel's BTF, or why it could not be read (kinds that need it are then refused
    /// with that reason).
    pub btf: Result<&'a Btf, &'a String>,
    /// The object's maps, for programs loaded by hand (fexit on a module's function).
    pub maps: &'a MapFds,
    /// The module that defines a function target when it is not built in.
    pub module: Option<&'static str>,
}

/// Loads and attaches every program of `v`, all or nothing. A program loaded outside aya's
/// object comes back as its link, which keeps it attached.
pub(super) fn load_and_attach(
    ebpf: &mut Ebpf,
    v: &Variant,
    env: &KindEnv<'_>,
) -> Result<Option<TracingLink>, Failure> {
    let btf = || {
        env.btf
            .map_err(|e| Failure::Unmet(format!("BTF missing ({e})")))
    };
    match v.kind {
        ProbeKind::TpBtf => {
            let btf = btf()?;
            all_or_nothing(
                ebpf,
                v,
                |p: &mut BtfTracePoint| p.load(v.target, btf),
                |p| p.attach().map(drop),
            )
            .map(|()| None)
        }
        ProbeKind::Tracepoint => all_or_nothing(
            ebpf,
            v,
            |p: &mut TracePoint| p.load(),
            |p| p.attach(v.category, v.target).map(drop),
        )
        .map(|()| None),
        ProbeKind::Fexit => {
            let btf = btf()?;
            match env.module {
                Some(module) if !in_vmlinux(btf, v.target) => {
                    fexit_in_module(v, module, btf, env.maps).map(Some)
                }
                _ => all_or_nothing(
                    ebpf,
                    v,
                    |p: &mut FExit| p.load(v.target, btf),
                    |p| p.attach().map(drop),
                )
                .map(|()| None),
            }
        }
        // A kprobe at the entry and a kretprobe at the return: the same program type, the
        // section name says which.
        ProbeKind::Kretprobe => all_or_nothing(
            ebpf,
            v,
            |p: &mut KProbe| p.load(),
            |p| p.attach(v.target, 0).map(drop),
        )
        .map(|()| None),
    }
}

/// Whether vmlinux's BTF has the function `name` (built in, not in a module).
pub(super) fn in_vmlinux(btf: &Btf, name: &str) -> bool {
    btf.id_by_type_name_kind(name, aya_obj::btf::BtfKind::Func)
        .is_ok()
}

/// fexit on a function of `module`, through the module's BTF object. Single-program
/// variants only (fexit has no entry probe).
fn fexit_in_module(
    v: &Variant,
    module: &str,
    btf: &Btf,
    maps: &MapFds,
) -> Result<TracingLink, Failure> {
    let target = kbtf::module_func(module, v.target)
        .map_err(|e| Failure::Unmet(crate::error::chain(&e)))?
        .ok_or_else(|| {
            let path = kbtf::module_btf_path(module);
            Failure::Unmet(if path.exists() {
                format!(
                    "{} not found in the BTF of module {module} ({})",
                    v.target,
                    path.display()
                )
            } else {
                // The module is loaded (checked before): its kernel publishes no module BTF.
                format!(
                    "module {module} has no BTF ({} absent: module BTF needs Linux 5.11+ \
                     with CONFIG_DEBUG_INFO_BTF_MODULES)",
                    path.display()
                )
            })
        })?;
    tracing::attach_fexit_in_module(objects::TRACE, v.program, btf, maps, &target).map_err(|e| {
        match e {
            tracing::TracingError::Attach(_) => Failure::attach(e),
            _ => Failure::load(e),
        }
    })
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
