//! Running a loaded XDP program on a crafted frame with `BPF_PROG_TEST_RUN`.
//!
//! Two uses: checking what the forwarder does to a frame (verdict and rewritten bytes; the
//! checksum integration test) and generating traffic for benchmarks with
//! [`BPF_F_TEST_XDP_LIVE_FRAMES`], where the kernel executes the verdict (redirects included)
//! `repeat` times as if the frame had arrived on `ingress_ifindex`.
//!
//! The kernel resolves `ingress_ifindex` in the calling thread's network namespace, and
//! `bpf_fib_lookup` and devmap redirects act in that namespace too: call this from a thread
//! inside the interface's namespace (`Netns::run`).
//!
//! aya 0.14 wraps the syscall (`aya::TestRun`); this module adds the `xdp_md` context, the
//! output buffer and the flag check so callers pass plain values.

use std::time::Duration;

use aya::programs::Xdp;
use aya::{TestRun as _, TestRunAttrs, TestRunOptions};

use crate::{Error, Result};

/// Run the program on live frames: the verdict is executed (XDP_TX, XDP_REDIRECT, XDP_PASS
/// into the stack) and no output data is returned. Linux 5.18+.
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 2;

/// Extra room in the output buffer for programs that grow the frame (`bpf_xdp_adjust_tail`).
const DATA_OUT_SLACK: usize = 512;

/// `struct xdp_md` as `BPF_PROG_TEST_RUN` takes it in `ctx_in`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct XdpMd {
    data: u32,
    /// Must equal the frame length.
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    /// Must be 0.
    egress_ifindex: u32,
}

const _: () = assert!(std::mem::size_of::<XdpMd>() == 24);

impl XdpMd {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C), six u32 fields, no padding (size asserted above).
        unsafe {
            std::slice::from_raw_parts(
                (self as *const XdpMd).cast::<u8>(),
                std::mem::size_of::<XdpMd>(),
            )
        }
    }
}

/// What one `BPF_PROG_TEST_RUN` call returned.
#[derive(Debug, Clone)]
pub struct XdpRunResult {
    /// The program's verdict (XDP_ABORTED 0, DROP 1, PASS 2, TX 3, REDIRECT 4) of the last run.
    pub retval: u32,
    /// Average time per run, as measured by the kernel (total / repeat).
    pub duration: Duration,
    /// The frame after the last run; empty with [`BPF_F_TEST_XDP_LIVE_FRAMES`].
    pub data_out: Vec<u8>,
}

/// Runs `prog` on `frame` as if it had been received on `ingress_ifindex` (0: no device;
/// then `bpf_fib_lookup` and redirects cannot work), `repeat` times (0 counts as 1).
///
/// `flags` is 0 or [`BPF_F_TEST_XDP_LIVE_FRAMES`] (the only flag the kernel accepts for XDP);
/// live frames use the kernel's default batch size (64).
pub fn run_xdp(
    prog: &Xdp,
    ingress_ifindex: u32,
    frame: &[u8],
    repeat: u32,
    flags: u32,
) -> Result<XdpRunResult> {
    if flags & !BPF_F_TEST_XDP_LIVE_FRAMES != 0 {
        return Err(Error::invalid(
            "BPF_PROG_TEST_RUN flags",
            format!("{flags:#x}: XDP accepts only BPF_F_TEST_XDP_LIVE_FRAMES ({BPF_F_TEST_XDP_LIVE_FRAMES})"),
        ));
    }
    let live = flags & BPF_F_TEST_XDP_LIVE_FRAMES != 0;
    let data_end = u32::try_from(frame.len())
        .map_err(|_| Error::invalid("test frame", format!("{} bytes is too long", frame.len())))?;
    let ctx = XdpMd {
        data_end,
        ingress_ifindex,
        ..XdpMd::default()
    };

    // The kernel refuses data_out with live frames: it has no single output frame.
    let mut out = if live {
        Vec::new()
    } else {
        vec![0u8; frame.len() + DATA_OUT_SLACK]
    };
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: (!live).then_some(out.as_mut_slice()),
        ctx_in: Some(ctx.as_bytes()),
        ctx_out: None,
        repeat,
        attrs: if live {
            TestRunAttrs::new().xdp_live_frames(0)
        } else {
            TestRunAttrs::new()
        },
    };
    let res = prog.test_run(opts).map_err(|e| {
        Error::bpf(
            "BPF_PROG_TEST_RUN",
            format!("ingress ifindex {ingress_ifindex}"),
            crate::error::chain(&e),
        )
    })?;
    out.truncate(res.data_size_out as usize);
    Ok(XdpRunResult {
        retval: res.return_value,
        duration: res.duration,
        data_out: out,
    })
}
