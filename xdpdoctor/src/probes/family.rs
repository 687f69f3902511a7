//! What a probe is: a [`Family`] (one thing to observe) and its [`Variant`]s in preference
//! order, the record fields a classic tracepoint program reads, and what a caller asks to
//! attach ([`ProbeOptions`]). The families themselves live one per file (`xdp.rs`, `veth.rs`,
//! `skb.rs`).

use super::{EventKind, ProbeKind};

/// A probe family: one thing to observe, with its variants in preference order.
#[derive(Debug)]
pub(crate) struct Family {
    pub name: &'static str,
    #[allow(dead_code)]
    pub event: EventKind,
    /// Attached only when the caller asks ([`ProbeOptions::redirects`]): it fires for every
    /// packet that works, not only for those that die.
    pub on_request: bool,
    /// Functions: the kernel module that defines the function when it is not built in
    /// (`veth`). Until it is loaded there is nothing to attach to: the family waits
    /// ([`ProbeOptions::wait_for_modules`], then [`super::ProbeSet::attach_pending`]) or is skipped.
    pub module: Option<&'static str>,
    pub variants: &'static [Variant],
}

/// What to attach beyond the drop probes.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// Variants of these kinds are not tried (shown as refused, "excluded by the caller").
    pub exclude: Vec<ProbeKind>,
    /// Also count successful redirects (`xdp:xdp_redirect`, one hit per redirected packet):
    /// where programs that call `bpf_redirect()` send packets, and redirects into another
    /// namespace. Diagnose turns it on for its short window; `trace --redirects` on request.
    pub redirects: bool,
    /// A probe whose function lives in a module that is not loaded yet (`veth_xdp_xmit`
    /// before the first veth exists) is kept pending and attached by
    /// [`super::ProbeSet::attach_pending`] once the module appears (`trace`). Without it such a
    /// probe loads nothing: there is no device it could see (`diagnose`, `probes`).
    pub wait_for_modules: bool,
}

/// One way to attach a family's program.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    /// Program (C function) name in trace.bpf.c.
    pub program: &'static str,
    /// kretprobe pairs: the kprobe program that runs at the function's entry and keeps what
    /// the return needs (the device); attached and detached together with `program`.
    pub entry: Option<&'static str>,
    pub kind: ProbeKind,
    /// Tracepoint category (tracepoints) or "" (functions).
    pub category: &'static str,
    /// Tracepoint or function name.
    pub target: &'static str,
    /// Classic tracepoints: the record fields the program reads at offsets set at load from
    /// the tracepoint's format file; the variant is refused if one is missing there.
    pub reads: &'static [RecordField],
}

/// A field of a classic tracepoint record that a program reads. Its offset is never a
/// constant in C: it comes from the tracepoint's `format` file and is passed to the program as
/// a `const volatile` global at load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordField {
    /// The field's name in the format file (`skbaddr`).
    pub name: &'static str,
    /// Bytes the program reads; the format must say the same.
    pub size: u32,
    /// The global that receives the field's offset.
    pub global: &'static str,
}

impl Variant {
    pub const fn tp_btf(program: &'static str, category: &'static str, tp: &'static str) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::TpBtf,
            category,
            target: tp,
            reads: &[],
        }
    }
    pub const fn tracepoint(
        program: &'static str,
        category: &'static str,
        tp: &'static str,
    ) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::Tracepoint,
            category,
            target: tp,
            reads: &[],
        }
    }
    pub const fn fexit(program: &'static str, func: &'static str) -> Self {
        Variant {
            program,
            entry: None,
            kind: ProbeKind::Fexit,
            category: "",
            target: func,
            reads: &[],
        }
    }
    /// A kprobe at `func`'s entry (`entry`) and a kretprobe at its return (`program`).
    pub const fn kretprobe(entry: &'static str, program: &'static str, func: &'static str) -> Self {
        Variant {
            program,
            entry: Some(entry),
            kind: ProbeKind::Kretprobe,
            category: "",
            target: func,
            reads: &[],
        }
    }
    /// This variant with the record fields its program reads (classic tracepoints).
    pub const fn reading(self, reads: &'static [RecordField]) -> Self {
        Variant { reads, ..self }
    }
    /// Its programs: its own, then the entry probe of a pair. They load and attach together.
    pub fn programs(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.program).chain(self.entry)
    }
}

/// A tracepoint family: the tp_btf program first, the classic tracepoint program as its
/// fallback; named `category:tracepoint`. `reads: FIELDS` lists the record fields the classic
/// program reads at offsets from the format file ([`RecordField`]).
macro_rules! tracepoint_family {
    ($event:expr, $category:literal, $tp:literal, $btf:expr, $classic:expr $(,)?) => {
        $crate::probes::tracepoint_family!($event, $category, $tp, $btf, $classic, reads: &[])
    };
    ($event:expr, $category:literal, $tp:literal, $btf:expr, $classic:expr,
     reads: $reads:expr $(,)?) => {
        $crate::probes::Family {
            name: concat!($category, ":", $tp),
            event: $event,
            on_request: false,
            module: None,
            variants: &[
                $crate::probes::Variant::tp_btf($btf, $category, $tp),
                $crate::probes::Variant::tracepoint($classic, $category, $tp).reading($reads),
            ],
        }
    };
}
pub(crate) use tracepoint_family;
