//! Building a [`super::ProbeSet`]: which variant of each family attaches, and why the others
//! did not.
//! The object is loaded once with its load-time globals (namespace filter, drop-reason mask,
//! the record offsets the classic skb programs read, from the format files); then every
//! variant of every family is tried in preference order until one attaches, and each refusal
//! is kept as a [`ProbeStatus`] in plain words. Each program is loaded on its own
//! (`Program::load`, in `kinds.rs`), so one refusal does not sink the rest. A family whose
//! function is in a module that is not loaded yet loads nothing: it is reported as such and,
//! when the caller waits for modules, kept pending until [`attach_pending`] finds the module.
//! The set itself, and what it reports once attached, is `reader.rs`.

use std::collections::HashMap;

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::programs::ProgramError;
use aya::{Btf, EbpfLoader};

use super::kinds::{self, Failure, KindEnv, Stage};
use super::tracefs::{self, DropReasons, Format};
use super::{skb, Family, Filter, ProbeKind, ProbeOptions, ProbeStatus, RecordField, Variant};
use crate::bpf::probes_abi as abi;
use crate::bpf::tracing::{MapFds, TracingLink};
use crate::bpf::{object, objects};
use crate::error::{chain, errno_in};
use crate::{Error, Result};

/// Load-time globals of one program: (global name, record offset from the format file).
type RecordOffsets = Vec<(&'static str, u32)>;

/// What the variant checks need to know about the machine.
pub(super) struct Env {
    tracefs: std::result::Result<(), String>,
    btf: std::result::Result<Btf, String>,
    reasons: std::result::Result<DropReasons, String>,
    /// Classic variants that read record fields, by program: each field's global and offset
    /// from the format file, or why they are not all known.
    records: HashMap<&'static str, std::result::Result<RecordOffsets, String>>,
    /// Duplicated fds of the object's maps (programs loaded by hand share them).
    maps: MapFds,
    exclude: Vec<ProbeKind>,
}

/// Families waiting for their module ([`ProbeOptions::wait_for_modules`]), with what trying
/// them later needs.
pub(super) struct Pending {
    families: Vec<&'static Family>,
    env: Env,
}

/// What attaching leaves for the [`super::ProbeSet`]: the loaded object, every variant's
/// status, the drop-reason names, the links of programs loaded by hand, and the families
/// still waiting for their module.
pub(super) struct Attached {
    pub(super) ebpf: aya::Ebpf,
    pub(super) status: Vec<ProbeStatus>,
    pub(super) reasons: DropReasons,
    pub(super) links: Vec<TracingLink>,
    pub(super) pending: Pending,
}

/// Loads the probe object and attaches every probe the kernel allows, with `opts`. Fails only
/// if the object or its maps cannot be created at all; a refused probe is a status, not an
/// error.
pub(super) fn attach(filter: &Filter, opts: &ProbeOptions) -> Result<Attached> {
    // Mounted first: the format files are read from it.
    let mounted = tracefs::ensure_mounted().map_err(|e| format!("{e:#}"));
    let mut env = Env {
        records: super::families()
            .flat_map(|f| f.variants)
            .filter(|v| !v.reads.is_empty())
            .map(|v| (v.program, record_offsets(v)))
            .collect(),
        tracefs: mounted,
        btf: Btf::from_sys_fs().map_err(|e| format!("/sys/kernel/btf/vmlinux: {e}")),
        reasons: DropReasons::read().map_err(|e| format!("{e:#}")),
        maps: MapFds::default(),
        exclude: opts.exclude.clone(),
    };
    let reasons = env.reasons.clone().unwrap_or_default();
    let mask = skb::reason_mask(&reasons, skb::DEFAULT_DROP_REASONS);
    // Past the kernel filter's capacity, keep everything in the kernel: callers filter
    // aggregates by namespace themselves (diagnose does), so nothing is misattributed.
    let fits = filter.netns_inodes.len() <= abi::MAX_FILTER_NETNS;
    if !fits {
        log::info!(
            "{} namespaces exceed the in-kernel filter ({}); filtering in user space",
            filter.netns_inodes.len(),
            abi::MAX_FILTER_NETNS
        );
    }
    let filter_on = u32::from(!filter.netns_inodes.is_empty() && fits);

    let mut loader = EbpfLoader::new();
    loader
        .override_global(abi::GLOBAL_FILTER_NETNS, &filter_on, true)
        .override_global(abi::GLOBAL_DROP_REASON_MASK, &mask, true);
    // Offsets of a variant missing a field stay 0: its program does nothing, and it is
    // refused before it is attached.
    for (global, offset) in env.records.values().flatten().flatten() {
        loader.override_global(global, offset, true);
    }
    let mut ebpf = loader
        .load(objects::TRACE)
        .map_err(|e| Error::bpf("load", abi::OBJECT, e))?;
    env.maps = MapFds::of(&ebpf)?;

    if filter_on != 0 {
        let mut m: BpfHashMap<&mut MapData, u64, u8> =
            object::map_mut(&mut ebpf, abi::OBJECT, abi::MAP_NETNS_FILTER)?;
        for ino in &filter.netns_inodes {
            m.insert(ino, 1, 0)
                .map_err(|e| Error::bpf("insert", abi::MAP_NETNS_FILTER, e))?;
        }
    }

    let mut status = Vec::new();
    let mut links = Vec::new();
    let mut waiting = Vec::new();
    for fam in super::families() {
        if fam.on_request && !opts.redirects {
            status.extend(fam.variants.iter().map(|v| {
                refused(
                    fam,
                    v,
                    "not requested (it fires for every redirected packet)".into(),
                )
            }));
            continue;
        }
        if let Some(module) = module_missing(fam, &env) {
            let why = if opts.wait_for_modules {
                waiting.push(fam);
                format!("module {module} not loaded yet: attached when it loads")
            } else {
                format!(
                    "module {module} not loaded (no {module} device since boot): \
                     nothing to trace, nothing loaded"
                )
            };
            log::info!("probe {}: {why}", fam.name);
            status.extend(fam.variants.iter().map(|v| refused(fam, v, why.clone())));
            continue;
        }
        status.extend(attach_family(&mut ebpf, fam, &env, &mut links));
    }

    let pending = Pending {
        families: waiting,
        env,
    };
    Ok(Attached {
        ebpf,
        status,
        reasons,
        links,
        pending,
    })
}

/// Attaches the families that were waiting for their module, if it is loaded now; returns
/// their new statuses (empty when nothing changed).
pub(super) fn attach_pending(
    ebpf: &mut aya::Ebpf,
    pending: &mut Pending,
    links: &mut Vec<TracingLink>,
) -> Vec<ProbeStatus> {
    if pending.families.is_empty() {
        return Vec::new();
    }
    let mut changed = Vec::new();
    let mut still = Vec::new();
    for fam in std::mem::take(&mut pending.families) {
        if module_missing(fam, &pending.env).is_some() {
            still.push(fam);
            continue;
        }
        log::info!("probe {}: its module is loaded now", fam.name);
        changed.extend(attach_family(ebpf, fam, &pending.env, links));
    }
    pending.families = still;
    changed
}

/// A variant that is not tried, with the reason.
fn refused(fam: &Family, v: &Variant, why: String) -> ProbeStatus {
    ProbeStatus {
        name: fam.name.into(),
        kind: v.kind,
        active: false,
        reason: Some(why),
    }
}

/// The module `fam`'s function lives in, if that module is not loaded (nothing to attach to
/// yet). A function in vmlinux's BTF is built in; without BTF the module's `/sys/module`
/// entry decides, and a built-in module without one is tried (the kprobe then says ENOENT).
fn module_missing(fam: &Family, env: &Env) -> Option<&'static str> {
    let module = fam.module?;
    let target = fam.variants.first()?.target;
    if let Ok(btf) = &env.btf {
        if kinds::in_vmlinux(btf, target) {
            return None;
        }
    }
    let loaded = std::path::Path::new("/sys/module").join(module).exists();
    (!loaded).then_some(module)
}

/// Tries `fam`'s variants in preference order; the first that attaches wins and the others
/// are reported as standby fallbacks or with their refusal.
fn attach_family(
    ebpf: &mut aya::Ebpf,
    fam: &'static Family,
    env: &Env,
    links: &mut Vec<TracingLink>,
) -> Vec<ProbeStatus> {
    let mut active: Option<ProbeKind> = None;
    let mut status = Vec::new();
    for v in fam.variants {
        if let Some(k) = active {
            status.push(refused(
                fam,
                v,
                format!("fallback, not needed: the {} probe is active", k.as_str()),
            ));
            continue;
        }
        let r = if env.exclude.contains(&v.kind) {
            Err("excluded by the caller".to_string())
        } else {
            try_variant(ebpf, fam, v, env)
        };
        let r = match r {
            Ok(link) => {
                links.extend(link);
                active = Some(v.kind);
                log::info!("probe {} ({}) attached", fam.name, v.kind.as_str());
                Ok(())
            }
            Err(why) => {
                log::info!("probe {} ({}): {why}", fam.name, v.kind.as_str());
                Err(why)
            }
        };
        status.push(ProbeStatus {
            name: fam.name.into(),
            kind: v.kind,
            active: r.is_ok(),
            reason: r.err(),
        });
    }
    status
}

/// Loads and attaches one variant; on failure returns the reason in words and leaves nothing
/// loaded. A program loaded outside aya's object comes back as its link.
fn try_variant(
    ebpf: &mut aya::Ebpf,
    fam: &Family,
    v: &Variant,
    env: &Env,
) -> std::result::Result<Option<TracingLink>, String> {
    unmet(v, env)?;
    let kenv = KindEnv {
        btf: env.btf.as_ref(),
        maps: &env.maps,
        module: fam.module,
    };
    kinds::load_and_attach(ebpf, v, &kenv).map_err(|f| match f {
        Failure::Unmet(why) => why,
        Failure::Refused { stage, error } => refusal(v, stage, &*error),
    })
}

/// What the machine lacks for this variant, checked before anything is loaded.
fn unmet(v: &Variant, env: &Env) -> std::result::Result<(), String> {
    if matches!(v.kind, ProbeKind::TpBtf | ProbeKind::Tracepoint) {
        if let Err(e) = &env.tracefs {
            return Err(format!("tracefs unavailable ({e})"));
        }
        if !tracefs::tracepoint_exists(v.category, v.target) {
            return Err("tracepoint absent on this kernel".into());
        }
    }
    if v.category == "skb" && v.target == "kfree_skb" {
        if let Err(e) = &env.reasons {
            return Err(format!("drop reason names unavailable ({e})"));
        }
    }
    if let Some(Err(why)) = env.records.get(v.program) {
        return Err(why.clone());
    }
    Ok(())
}

/// The offsets of the record fields a classic variant reads, from its tracepoint's format
/// file, as (global, offset); or why one is unknown.
fn record_offsets(v: &Variant) -> std::result::Result<RecordOffsets, String> {
    let format = Format::read(v.category, v.target)
        .map_err(|e| format!("tracepoint format unreadable ({})", chain(&e)))?;
    resolve_fields(&format, v.reads)
}

/// Each field's offset in `format`, checked against the size the program reads.
fn resolve_fields(
    format: &Format,
    reads: &[RecordField],
) -> std::result::Result<RecordOffsets, String> {
    reads
        .iter()
        .map(|f| match format.field(f.name) {
            None => Err(format!("no `{}` field in the tracepoint's format", f.name)),
            Some(got) if got.size != f.size => Err(format!(
                "field `{}` is {} bytes in the tracepoint's format, the probe reads {}",
                f.name, got.size, f.size
            )),
            Some(got) => Ok((f.global, got.offset)),
        })
        .collect()
}

/// A refusal in plain words, from the variant kind and the errno behind the error (aya's
/// `ProgramError` or a hand-loaded program's `TracingError`).
fn refusal(
    v: &Variant,
    stage: Stage,
    e: &(dyn std::error::Error + Send + Sync + 'static),
) -> String {
    log::debug!("{} ({}): {stage}: {}", v.target, v.kind.as_str(), chain(e));
    let errno = errno_in(e);
    let verifier = e
        .downcast_ref::<ProgramError>()
        .is_some_and(|p| matches!(p, ProgramError::LoadError { .. }))
        || e.downcast_ref::<crate::bpf::tracing::TracingError>()
            .is_some_and(|t| matches!(t, crate::bpf::tracing::TracingError::Load(_)));
    if let (true, Some(n)) = (verifier, errno) {
        if n == libc::EACCES || n == libc::EINVAL {
            return format!(
                "the verifier rejected the program ({}: {}; -vv shows its log)",
                super::decode::errno_name(n),
                std::io::Error::from_raw_os_error(n)
            );
        }
    }
    match (v.kind, errno) {
        (ProbeKind::Fexit, Some(libc::EPERM)) => {
            "fentry/fexit refused by the kernel (EPERM)".into()
        }
        (ProbeKind::Kretprobe, _) if !tracefs::kprobes_configured() => {
            "kprobes not configured (CONFIG_KPROBES off)".into()
        }
        (ProbeKind::Fexit | ProbeKind::TpBtf, None) if stage == Stage::Load => {
            format!("{} not found in the kernel's BTF ({})", v.target, chain(e))
        }
        (_, Some(n)) => format!(
            "{stage} refused by the kernel ({}): {}",
            super::decode::errno_name(n),
            chain(e)
        ),
        (_, None) => format!("{stage} failed: {}", chain(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KFREE_SKB_6_18: &str =
        include_str!("../../tests/fixtures/tracefs-6.18/skb-kfree_skb.format");
    const TCP_BAD_CSUM_6_18: &str =
        include_str!("../../tests/fixtures/tracefs-6.18/tcp-tcp_bad_csum.format");

    fn classic(name: &str) -> &'static Variant {
        super::super::families()
            .find(|f| f.name == name)
            .and_then(|f| f.variants.iter().find(|v| v.kind == ProbeKind::Tracepoint))
            .expect("classic variant")
    }

    #[test]
    fn skb_classic_programs_get_every_offset_from_the_6_18_formats() {
        let kfree = resolve_fields(
            &Format::parse(KFREE_SKB_6_18),
            classic("skb:kfree_skb").reads,
        );
        assert_eq!(
            kfree,
            Ok(vec![
                (abi::GLOBAL_KFREE_SKBADDR_OFFSET, 8),
                (abi::GLOBAL_KFREE_LOCATION_OFFSET, 16),
                (abi::GLOBAL_KFREE_REASON_OFFSET, 36),
            ])
        );
        let csum = resolve_fields(
            &Format::parse(TCP_BAD_CSUM_6_18),
            classic("tcp:tcp_bad_csum").reads,
        );
        assert_eq!(csum, Ok(vec![(abi::GLOBAL_BAD_CSUM_SKBADDR_OFFSET, 8)]));
    }

    #[test]
    fn a_missing_or_resized_field_refuses_the_variant_in_words() {
        // kfree_skb before 5.17: no reason.
        let old = Format::parse(
            "\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\
             \tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;\n\
             \tfield:unsigned short protocol;\toffset:24;\tsize:2;\tsigned:0;\n",
        );
        assert_eq!(
            resolve_fields(&old, classic("skb:kfree_skb").reads),
            Err("no `reason` field in the tracepoint's format".into())
        );
        // A 32-bit kernel's pointers.
        let small = Format::parse("\tfield:const void * skbaddr;\toffset:8;\tsize:4;\tsigned:0;\n");
        assert_eq!(
            resolve_fields(&small, classic("tcp:tcp_bad_csum").reads),
            Err("field `skbaddr` is 4 bytes in the tracepoint's format, the probe reads 8".into())
        );
    }
}
