/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * aya_log.h: log records from C eBPF programs, in the wire format of aya-log-common 0.2.0,
 * written to the ring buffer aya-log 0.3.0's user-space `EbpfLogger` reads (`AYA_LOGS`).
 * aya-log's eBPF side is a Rust crate this project cannot build; its user side only needs
 * records in its map, so this header writes them. docs/decision-log.md has the format (learned
 * from those crates' source), the cost and the reasons; xdpdoctor/src/bpf/log_abi.rs mirrors
 * the maps and structs below (change both together), and its tests compare the tags here with
 * aya-log-common's and pin the crate versions.
 *
 * Use (every function is inlined; strings must be literals):
 *
 *	if (xd_log_enabled(XD_LOG_INFO)) {        // off: one array lookup and compares, no call
 *		struct xd_log_rec r;
 *		if (xd_log_allow() && xd_log_begin(&r, XD_LOG_INFO, "decision", "forwarder")) {
 *			xd_log_str(&r, "to ");
 *			xd_log_ipv4(&r, ip->daddr);
 *			xd_log_submit(&r);
 *		}
 *	}
 *
 * prints (through aya-log and the log facade) "to 10.123.1.1" at level INFO, target
 * "decision" (xdpdoctor adds its prefix), module "forwarder", file and line of the begin call.
 *
 * The switch and the rate are in `xd_log_ctl` (written by user space at any time, no reload):
 * records of level <= max_level pass the gate, 0 means off. `xd_log_allow` is a per-CPU token
 * bucket (rate records/s, burst records; 0 selects the defaults below). Records are built in a
 * per-CPU scratch buffer and copied into the ring with their exact length.
 *
 * A record the decoder cannot parse makes aya-log 0.3.0 panic in `EbpfLogger::flush`
 * (`log_buf(..).unwrap()`), and a tag byte outside its enums is read by `read_unaligned` into a
 * Rust enum: only the helpers below write tags, the argument count is counted, not declared.
 */
#ifndef XDPDOCTOR_AYA_LOG_H
#define XDPDOCTOR_AYA_LOG_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* ---- Wire format (aya-log-common 0.2.0). All integers native-endian. ----
 *
 * record   := size:u16  field{6}  argument{nargs}
 *             size counts the whole record, itself included; bytes after it are ignored.
 * field    := tag:u8  len:u16  value[len]       (tag: enum xd_log_field)
 * argument := tag:u8  len:u16  value[len]       (tag: enum xd_log_arg)
 *
 * A display hint is an argument of its own (tag XD_LOG_A_HINT, one byte) that applies to the
 * next value argument; it counts in nargs.
 */

/* aya_log_common::Level. 0 is not a level: in xd_log_ctl it means "off". */
enum xd_log_level {
	XD_LOG_OFF = 0,
	XD_LOG_ERROR = 1,
	XD_LOG_WARN = 2,
	XD_LOG_INFO = 3,
	XD_LOG_DEBUG = 4,
	XD_LOG_TRACE = 5,
};

/* aya_log_common::RecordFieldKind: the header fields, in the order aya-log-ebpf writes them. */
enum xd_log_field {
	XD_LOG_F_TARGET = 0,   /* utf-8 */
	XD_LOG_F_LEVEL = 1,    /* u8, enum xd_log_level (1..5) */
	XD_LOG_F_MODULE = 2,   /* utf-8 */
	XD_LOG_F_FILE = 3,     /* utf-8 */
	XD_LOG_F_LINE = 4,     /* u32 */
	XD_LOG_F_NUM_ARGS = 5, /* u32 */
};

/* aya_log_common::ArgumentKind (the ones this header writes are marked *). */
enum xd_log_arg {
	XD_LOG_A_HINT = 0, /* * u8, enum xd_log_hint */
	XD_LOG_A_I8 = 1,
	XD_LOG_A_I16 = 2,
	XD_LOG_A_I32 = 3, /* * */
	XD_LOG_A_I64 = 4, /* * */
	XD_LOG_A_ISIZE = 5,
	XD_LOG_A_U8 = 6,  /* * */
	XD_LOG_A_U16 = 7, /* * */
	XD_LOG_A_U32 = 8, /* * */
	XD_LOG_A_U64 = 9, /* * */
	XD_LOG_A_USIZE = 10,
	XD_LOG_A_F32 = 11,
	XD_LOG_A_F64 = 12,
	XD_LOG_A_IPV4 = 13, /* * 4 bytes, network order (as in the packet) */
	XD_LOG_A_IPV6 = 14, /* * 16 bytes, network order */
	XD_LOG_A_ARR_U8_4 = 15,
	XD_LOG_A_ARR_U8_6 = 16, /* * 6 bytes: a MAC (needs a MAC hint) */
	XD_LOG_A_ARR_U8_16 = 17,
	XD_LOG_A_ARR_U16_8 = 18,
	XD_LOG_A_BYTES = 19,
	XD_LOG_A_STR = 20, /* * utf-8, no hint (a hint before it would stay pending) */
	XD_LOG_A_POINTER = 21,
};

/* aya_log_common::DisplayHint. */
enum xd_log_hint {
	XD_LOG_H_DEFAULT = 1,
	XD_LOG_H_LOWER_HEX = 2,
	XD_LOG_H_UPPER_HEX = 3,
	XD_LOG_H_IP = 4,
	XD_LOG_H_LOWER_MAC = 5,
	XD_LOG_H_UPPER_MAC = 6,
	XD_LOG_H_POINTER = 7,
};

/* ---- Sizes and defaults ---- */

/* Largest record in bytes (size prefix included); a larger one is dropped and counted. */
#define XD_LOG_MAX 512
/* Longest string literal (target, module, file or argument). */
#define XD_LOG_STR_MAX 64
/* Bytes past XD_LOG_MAX in the scratch buffer: one field (3-byte head + value) never ends
 * outside it, whatever the offset the verifier assumes. */
#define XD_LOG_SLACK 128
/* Ring buffer size (a power of two, a multiple of the page size); as aya-log-ebpf's. */
#ifndef XD_LOG_RINGBUF_BYTES
#define XD_LOG_RINGBUF_BYTES (128 * 1024)
#endif

/* Token bucket, per CPU: used when xd_log_ctl's rate or burst is 0. */
#define XD_LOG_DEFAULT_RATE 1000 /* records per second */
#define XD_LOG_DEFAULT_BURST 100 /* records */
/* Larger settings are clamped to these (they keep the nano-token arithmetic in 64 bits). */
#define XD_LOG_RATE_MAX 1000000
#define XD_LOG_BURST_MAX 1000000
/* After this long idle the bucket is full whatever the rate (refill = dt * rate stays below
 * 2^64 for dt up to this and rate up to XD_LOG_RATE_MAX). */
#define XD_LOG_IDLE_FULL_NS 1000000000000ULL
/* One record in nano-tokens: the bucket counts 1e-9 records, so refills never round down. */
#define XD_LOG_TOKEN 1000000000ULL

_Static_assert(3 + XD_LOG_STR_MAX <= XD_LOG_SLACK, "a string field fits in the slack");
_Static_assert((XD_LOG_MAX & (XD_LOG_MAX - 1)) == 0, "XD_LOG_MAX is a power of two");
_Static_assert(XD_LOG_MAX < 65536, "the size prefix is a u16");

/* ---- Maps (names are what user space looks up: keep them with log_abi.rs) ---- */

/* xd_log_ctl[0]: written by user space (aya-log never reads it). */
struct xd_log_settings {
	__u32 max_level; /* enum xd_log_level: records of level <= max_level pass; 0: off */
	__u32 pad;
	__u64 rate;  /* records per second per CPU; 0: XD_LOG_DEFAULT_RATE */
	__u64 burst; /* bucket size in records; 0: XD_LOG_DEFAULT_BURST */
};

/* xd_log_state[0] on each CPU: the bucket and what happened to records. */
struct xd_log_bucket {
	__u64 tokens;   /* nano-tokens (XD_LOG_TOKEN per record) */
	__u64 last_ns;  /* bpf_ktime_get_ns() of the last refill; 0: never used */
	__u64 allowed;  /* xd_log_allow() said yes */
	__u64 limited;  /* xd_log_allow() said no: bucket empty */
	__u64 lost;     /* ring buffer full: record dropped */
	__u64 overflow; /* record longer than XD_LOG_MAX, or no scratch: dropped */
};

struct xd_log_scratch {
	__u8 bytes[XD_LOG_MAX + XD_LOG_SLACK];
};

/* The map aya-log's EbpfLogger takes, by this exact name, from the object or a program. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XD_LOG_RINGBUF_BYTES);
} AYA_LOGS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xd_log_settings);
	__uint(max_entries, 1);
} xd_log_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xd_log_bucket);
	__uint(max_entries, 1);
} xd_log_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct xd_log_scratch);
	__uint(max_entries, 1);
} xd_log_buf SEC(".maps");

/* ---- The gate and the bucket ---- */

/* Whether records of `level` are on. The data path's whole cost when logging is off. */
static __always_inline int xd_log_enabled(enum xd_log_level level)
{
	__u32 zero = 0;
	struct xd_log_settings *c = bpf_map_lookup_elem(&xd_log_ctl, &zero);

	return c && (__u32)level <= c->max_level;
}

/*
 * Takes one token from this CPU's bucket: 1 if a record may be written, 0 if the bucket is
 * empty. Tokens come back at `rate` per second up to `burst`, as of bpf_ktime_get_ns(); the
 * first call finds the bucket full. So over any interval T one CPU allows at most
 * burst + rate * T records.
 */
static __always_inline int xd_log_allow(void)
{
	__u32 zero = 0;
	struct xd_log_settings *c = bpf_map_lookup_elem(&xd_log_ctl, &zero);
	struct xd_log_bucket *b = bpf_map_lookup_elem(&xd_log_state, &zero);
	__u64 rate, burst, cap, now, dt;

	if (!c || !b)
		return 0;
	rate = c->rate ? c->rate : XD_LOG_DEFAULT_RATE;
	burst = c->burst ? c->burst : XD_LOG_DEFAULT_BURST;
	if (rate > XD_LOG_RATE_MAX)
		rate = XD_LOG_RATE_MAX;
	if (burst > XD_LOG_BURST_MAX)
		burst = XD_LOG_BURST_MAX;
	cap = burst * XD_LOG_TOKEN;
	now = bpf_ktime_get_ns();
	dt = now - b->last_ns;
	if (b->last_ns == 0 || dt >= XD_LOG_IDLE_FULL_NS)
		b->tokens = cap;
	else if (b->tokens + dt * rate >= cap)
		b->tokens = cap;
	else
		b->tokens += dt * rate;
	b->last_ns = now;
	if (b->tokens < XD_LOG_TOKEN) {
		b->limited++;
		return 0;
	}
	b->tokens -= XD_LOG_TOKEN;
	b->allowed++;
	return 1;
}

/* ---- Building a record ---- */

/* A record being built, on the caller's stack. */
struct xd_log_rec {
	__u8 *buf;      /* this CPU's scratch buffer */
	__u32 pos;      /* bytes written, size prefix included */
	__u32 nargs;    /* arguments written (hints included) */
	__u32 nargs_at; /* offset of the NumArgs value, patched at submit */
	__u32 bad;      /* something did not fit: submit drops the record */
};

/* One tag-length-value item. `n` is a constant at every call site (everything is inlined):
 * the copy becomes plain stores. The mask only tells the verifier what the check above it
 * already ensures (pos < XD_LOG_MAX), so the item stays inside the scratch buffer. */
static __always_inline void xd_log__item(struct xd_log_rec *r, __u8 tag, const void *v, __u32 n)
{
	__u16 len = n;
	__u8 *p;

	if (r->bad || r->pos + 3 + n > XD_LOG_MAX) {
		r->bad = 1;
		return;
	}
	p = r->buf + (r->pos & (XD_LOG_MAX - 1));
	p[0] = tag;
	__builtin_memcpy(p + 1, &len, 2);
	__builtin_memcpy(p + 3, v, n);
	r->pos += 3 + n;
}

static __always_inline void xd_log__arg(struct xd_log_rec *r, __u8 hint, __u8 tag, const void *v,
					__u32 n)
{
	xd_log__item(r, XD_LOG_A_HINT, &hint, 1);
	xd_log__item(r, tag, v, n);
	r->nargs += 2;
}

/* Checks at compile time that `s` is a string literal of at most XD_LOG_STR_MAX bytes. */
#define XD_LOG__LIT(s)                                                                         \
	({                                                                                     \
		_Static_assert(sizeof("" s) - 1 <= XD_LOG_STR_MAX, "xd_log: string too long"); \
		"" s;                                                                          \
	})

static __always_inline int xd_log__begin(struct xd_log_rec *r, enum xd_log_level level,
					 const char *target, __u32 target_len, const char *module,
					 __u32 module_len, const char *file, __u32 file_len,
					 __u32 line)
{
	__u32 zero = 0, nargs = 0;
	__u8 lvl = level;

	r->buf = bpf_map_lookup_elem(&xd_log_buf, &zero);
	if (!r->buf)
		return 0;
	r->pos = 2;
	r->nargs = 0;
	r->bad = 0;
	xd_log__item(r, XD_LOG_F_TARGET, target, target_len);
	xd_log__item(r, XD_LOG_F_LEVEL, &lvl, 1);
	xd_log__item(r, XD_LOG_F_MODULE, module, module_len);
	xd_log__item(r, XD_LOG_F_FILE, file, file_len);
	xd_log__item(r, XD_LOG_F_LINE, &line, 4);
	r->nargs_at = r->pos + 3;
	xd_log__item(r, XD_LOG_F_NUM_ARGS, &nargs, 4);
	return 1;
}

/*
 * Starts a record of `level` (XD_LOG_ERROR..XD_LOG_TRACE) with a target and module (string
 * literals); the file is this source file's name and the line the line of the call. Returns
 * 0 (nothing to submit) only if the scratch buffer is missing.
 */
#define xd_log_begin(r, level, target, module)                                                    \
	xd_log__begin((r), (level), XD_LOG__LIT(target), sizeof(target) - 1, XD_LOG__LIT(module), \
		      sizeof(module) - 1, __FILE_NAME__, sizeof(__FILE_NAME__) - 1, __LINE__)

/* A literal piece of the message (string literal). */
#define xd_log_str(r, s)                                                        \
	do {                                                                    \
		xd_log__item((r), XD_LOG_A_STR, XD_LOG__LIT(s), sizeof(s) - 1); \
		(r)->nargs += 1;                                                \
	} while (0)

/* Integers, printed in decimal. */
static __always_inline void xd_log_u8(struct xd_log_rec *r, __u8 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_U8, &v, 1);
}

static __always_inline void xd_log_u16(struct xd_log_rec *r, __u16 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_U16, &v, 2);
}

static __always_inline void xd_log_u32(struct xd_log_rec *r, __u32 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_U32, &v, 4);
}

static __always_inline void xd_log_u64(struct xd_log_rec *r, __u64 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_U64, &v, 8);
}

static __always_inline void xd_log_i32(struct xd_log_rec *r, __s32 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_I32, &v, 4);
}

static __always_inline void xd_log_i64(struct xd_log_rec *r, __s64 v)
{
	xd_log__arg(r, XD_LOG_H_DEFAULT, XD_LOG_A_I64, &v, 8);
}

/* A u32 in lower-case hex, no prefix, no padding ("deadbeef", "1f"). */
static __always_inline void xd_log_hex32(struct xd_log_rec *r, __u32 v)
{
	xd_log__arg(r, XD_LOG_H_LOWER_HEX, XD_LOG_A_U32, &v, 4);
}

/* An IPv4 address in network byte order (a packet's saddr/daddr): "10.123.1.1". */
static __always_inline void xd_log_ipv4(struct xd_log_rec *r, __be32 addr)
{
	xd_log__arg(r, XD_LOG_H_IP, XD_LOG_A_IPV4, &addr, 4);
}

/* 16 bytes of IPv6 address, network order: "2001:db8::1". `a` must be readable (checked
 * against data_end by the caller when it points into the packet). */
static __always_inline void xd_log_ipv6(struct xd_log_rec *r, const __u8 *a)
{
	xd_log__arg(r, XD_LOG_H_IP, XD_LOG_A_IPV6, a, 16);
}

/* 6 bytes of MAC address: "02:00:5e:10:00:01". Same readability rule as xd_log_ipv6. */
static __always_inline void xd_log_mac(struct xd_log_rec *r, const __u8 *mac)
{
	xd_log__arg(r, XD_LOG_H_LOWER_MAC, XD_LOG_A_ARR_U8_6, mac, 6);
}

/*
 * Finishes the record and copies it into AYA_LOGS (exactly its length). A record that did not
 * fit is dropped (xd_log_state.overflow), one the ring had no room for too (.lost).
 */
static __always_inline void xd_log_submit(struct xd_log_rec *r)
{
	__u32 zero = 0, len = r->pos, nargs = r->nargs;
	struct xd_log_bucket *b = bpf_map_lookup_elem(&xd_log_state, &zero);
	__u16 size = len;

	if (r->bad || len > XD_LOG_MAX) {
		if (b)
			b->overflow++;
		return;
	}
	__builtin_memcpy(r->buf, &size, 2);
	__builtin_memcpy(r->buf + (r->nargs_at & (XD_LOG_MAX - 1)), &nargs, 4);
	if (bpf_ringbuf_output(&AYA_LOGS, r->buf, len, 0) && b)
		b->lost++;
}

#endif
