// SPDX-License-Identifier: GPL-2.0
/*
 * xdpdoctor's drop probes. Every program is optional: user space loads them one by one and
 * attaches the best variant the kernel allows (tp_btf > classic tracepoint; fexit > kprobe +
 * kretprobe pair).
 * Each hit is counted in `counts` (per-CPU hash, so bursts lose nothing) and, if there is
 * room, sent as a `struct xd_event` through the ring buffer `events`; when there is none,
 * `lost` is incremented. ABI: include/xd_probes_abi.h.
 */
#include "xd_vmlinux.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "xd_probes_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Size of the ring buffer `events` (1 MiB: about 11 900 bare events or 4 850 skb events with
 * their packet bytes in flight). */
#define XD_EVENTS_RING_BYTES (1 << 20)
/* Classic tracepoint records are small: an offset is masked so the read stays in bounds. */
#define XD_RECORD_OFFSET_MASK 0xff
/* xdp_redirect_err's map_id for a bpf_redirect() without a map (INT_MAX, net/core/filter.c);
 * the tracepoint then reports the target ifindex in `index`. */
#define XD_REDIRECT_NO_MAP_ID 0x7fffffff

/* Tunables, set at load (EbpfLoader::override_global). */
/* 1: only events whose namespace is in `netns_filter` (or unknown) are kept. */
const volatile __u32 filter_netns = 0;
/* kfree_skb reasons to keep, bit n = reason n (numbers from this kernel's format file). */
const volatile __u64 drop_reason_mask[XD_REASON_BITS / 64] = {};
/*
 * Classic skb fallbacks: byte offsets of the record fields they read, from each tracepoint's
 * format file (events/<category>/<name>/format). 0 = not set: the program does nothing (user
 * space does not attach it then). Offset 0 is always common_type, never one of these.
 */
const volatile __u32 kfree_skbaddr_offset = 0;
const volatile __u32 kfree_location_offset = 0;
const volatile __u32 kfree_reason_offset = 0;
const volatile __u32 bad_csum_skbaddr_offset = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XD_EVENTS_RING_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct xd_agg_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XD_MAX_FILTER_NETNS);
	__type(key, __u64);
	__type(value, __u8);
} netns_filter SEC(".maps");

static __always_inline __u64 dev_netns(const struct net_device *dev)
{
	if (!dev)
		return 0;
	return BPF_CORE_READ(dev, nd_net.net, ns.inum);
}

static __always_inline __u32 dev_ifindex(const struct net_device *dev)
{
	if (!dev)
		return 0;
	return BPF_CORE_READ(dev, ifindex);
}

static __always_inline bool netns_wanted(__u64 a, __u64 b)
{
	if (!filter_netns || (!a && !b))
		return true;
	if (a && bpf_map_lookup_elem(&netns_filter, &a))
		return true;
	if (b && bpf_map_lookup_elem(&netns_filter, &b))
		return true;
	return false;
}

/* Counts `n` packets under the event's key. */
static __always_inline void count(const struct xd_event *e, __u64 n)
{
	struct xd_agg_key key = {
		.netns = e->netns,
		.target_netns = e->target_netns,
		.ifindex = e->ifindex,
		.target_ifindex = e->target_ifindex,
		.code = e->code,
		.kind = e->kind,
		.prog_id = e->prog_id,
	};
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	if (v) {
		*v += n; /* per-CPU value: no other writer */
	} else {
		bpf_map_update_elem(&counts, &key, &n, BPF_NOEXIST);
		/* Lost a race with ourselves on this CPU (impossible) or the map is full. */
	}
}

/* The ring buffer had no room for a record: counted in `lost` (the kernel's counts stay exact). */
static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *l = bpf_map_lookup_elem(&lost, &zero);

	if (l)
		*l += 1;
}

/* Counts `n` packets under the event's key and queues the event itself. */
static __always_inline void emit(struct xd_event *e, __u64 n)
{
	count(e, n);
	struct xd_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(r, e, sizeof(*r));
	bpf_ringbuf_submit(r, 0);
}

static __always_inline __u32 prog_id(const struct bpf_prog *p)
{
	if (!p)
		return 0;
	return BPF_CORE_READ(p, aux, id);
}

/* ---------------------------------------------------------------- xdp:xdp_redirect_err */

/* One redirect as the xdp_redirect{,_err} tracepoints report it, with the target device read
 * the way the tracepoint computes its to_ifindex (include/trace/events/xdp.h). */
static __always_inline void redirect_event(struct xd_event *e, __u32 kind,
					   const struct net_device *dev, const struct bpf_prog *xdp,
					   const void *tgt, int err, int map_type, u32 map_id,
					   u32 index)
{
	e->kind = kind;
	e->source = XD_SRC_TP_BTF;
	e->netns = dev_netns(dev);
	e->ifindex = dev_ifindex(dev);
	e->code = err;
	e->prog_id = prog_id(xdp);
	e->act = XDP_REDIRECT;
	if (map_type == BPF_MAP_TYPE_DEVMAP || map_type == BPF_MAP_TYPE_DEVMAP_HASH) {
		if (tgt) {
			struct net_device *to = BPF_CORE_READ((struct _bpf_dtab_netdev *)tgt, dev);
			e->target_ifindex = dev_ifindex(to);
			e->target_netns = dev_netns(to);
		}
	} else if (map_type == BPF_MAP_TYPE_UNSPEC && map_id == XD_REDIRECT_NO_MAP_ID) {
		/* bpf_redirect(): the ifindex is resolved in the program's own namespace. */
		e->target_ifindex = index;
		e->target_netns = e->netns;
	}
}

/*
 * The redirect tracepoints' arguments: (dev, xdp, tgt, err, map_type, map_id, index), the
 * signature since 5.14. `tgt` is typed `const void *`, and kernels up to at least 6.12 refuse a
 * tp_btf program that loads a pointer-to-void argument from its context ("arg2 type UNKNOWN is
 * not a struct", invalid ctx access off=16; measured on 6.1 and 6.12, accepted on 6.18 as a
 * scalar). So `tgt` is read as that era types it, an untyped word: a probe read of its context
 * slot, which every verifier accepts. The other arguments are loaded directly (pointers to
 * structs and scalars), hence no BPF_PROG() here: it would load `tgt` too.
 *
 * Before 5.14 (measured: Debian's 5.10) the signature was (dev, xdp, tgt, err, map, index): a
 * `const struct bpf_map *` (NULL for bpf_redirect()) in place of map_type and map_id, and one
 * argument less, so the verifier refuses a load of the seventh. The change that reshaped the
 * tracepoint ("bpf, xdp: Restructure redirect actions") also replaced bpf_redirect_info's map
 * pointer by `map_type`: CO-RE tests that field, and the verifier only walks the branch this
 * kernel takes (the other is dead code, never checked).
 */
enum {
	XD_REDIRECT_ARG_DEV,
	XD_REDIRECT_ARG_XDP,
	XD_REDIRECT_ARG_TGT,
	XD_REDIRECT_ARG_ERR,
	XD_REDIRECT_ARG_MAP_TYPE, /* before 5.14: XD_REDIRECT_ARG_MAP */
	XD_REDIRECT_ARG_MAP_ID, /* before 5.14: the index */
	XD_REDIRECT_ARG_INDEX,
};

/* Only for the CO-RE tests above (never read). */
struct bpf_redirect_info___xd {
	enum bpf_map_type map_type;
} __attribute__((preserve_access_index));

struct bpf_map___xd {
	enum bpf_map_type map_type;
	__u32 id;
} __attribute__((preserve_access_index));

static __always_inline void redirect_tp_btf(struct xd_event *e, __u32 kind, __u64 *ctx)
{
	const void *tgt = 0;
	int map_type;
	__u32 map_id, index;

	bpf_probe_read_kernel(&tgt, sizeof(tgt), &ctx[XD_REDIRECT_ARG_TGT]);
	if (bpf_core_field_exists(struct bpf_redirect_info___xd, map_type)) {
		map_type = (int)ctx[XD_REDIRECT_ARG_MAP_TYPE];
		map_id = (__u32)ctx[XD_REDIRECT_ARG_MAP_ID];
		index = (__u32)ctx[XD_REDIRECT_ARG_INDEX];
	} else {
		const struct bpf_map___xd *map =
			(const struct bpf_map___xd *)ctx[XD_REDIRECT_ARG_MAP_TYPE];

		index = (__u32)ctx[XD_REDIRECT_ARG_MAP_ID];
		if (map) {
			map_type = BPF_CORE_READ(map, map_type);
			map_id = BPF_CORE_READ(map, id);
		} else {
			/* bpf_redirect(): as the newer tracepoint reports it. */
			map_type = BPF_MAP_TYPE_UNSPEC;
			map_id = XD_REDIRECT_NO_MAP_ID;
		}
	}
	redirect_event(e, kind, (const struct net_device *)ctx[XD_REDIRECT_ARG_DEV],
		       (const struct bpf_prog *)ctx[XD_REDIRECT_ARG_XDP], tgt,
		       (int)ctx[XD_REDIRECT_ARG_ERR], map_type, map_id, index);
}

SEC("tp_btf/xdp_redirect_err")
int xd_redirect_err_btf(__u64 *ctx)
{
	struct xd_event e = {};
	redirect_tp_btf(&e, XD_REDIRECT_ERR, ctx);
	if (!netns_wanted(e.netns, e.target_netns))
		return 0;
	emit(&e, 1);
	return 0;
}

/* ---------------------------------------------------------------- xdp:xdp_redirect */

/* Every successful redirect (per packet: attached only on request, see probes/xdp.rs):
 * counted, never queued, so user space learns where programs that call bpf_redirect() send
 * packets, and sees redirects into another namespace. */
SEC("tp_btf/xdp_redirect")
int xd_redirect_btf(__u64 *ctx)
{
	struct xd_event e = {};
	redirect_tp_btf(&e, XD_REDIRECT, ctx);
	if (!netns_wanted(e.netns, e.target_netns))
		return 0;
	count(&e, 1);
	return 0;
}

struct tp_xdp_redirect {
	__u64 common;
	int prog_id;
	__u32 act;
	int ifindex;
	int err;
	int to_ifindex;
	__u32 map_id;
	int map_index;
};

static __always_inline void on_redirect_tp(struct xd_event *e, struct tp_xdp_redirect *ctx,
					   __u32 kind)
{
	e->kind = kind;
	e->source = XD_SRC_TRACEPOINT;
	e->ifindex = ctx->ifindex;
	e->target_ifindex = ctx->to_ifindex;
	e->code = ctx->err;
	e->prog_id = ctx->prog_id;
	e->act = ctx->act;
}

static __always_inline int on_redirect_err_tp(struct tp_xdp_redirect *ctx)
{
	struct xd_event e = {};
	on_redirect_tp(&e, ctx, XD_REDIRECT_ERR);
	emit(&e, 1);
	return 0;
}

SEC("tracepoint/xdp/xdp_redirect_err")
int xd_redirect_err_tp(struct tp_xdp_redirect *ctx)
{
	return on_redirect_err_tp(ctx);
}

/* Classic fallback of xd_redirect_btf: same record layout as xdp_redirect_err. */
SEC("tracepoint/xdp/xdp_redirect")
int xd_redirect_tp(struct tp_xdp_redirect *ctx)
{
	struct xd_event e = {};
	on_redirect_tp(&e, ctx, XD_REDIRECT);
	count(&e, 1);
	return 0;
}

/* Old kernels (< 5.6 fired it; gone since): same record layout as xdp_redirect_err. */
SEC("tracepoint/xdp/xdp_redirect_map_err")
int xd_redirect_map_err_tp(struct tp_xdp_redirect *ctx)
{
	return on_redirect_err_tp(ctx);
}

/* ---------------------------------------------------------------- xdp:xdp_devmap_xmit */

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(xd_devmap_xmit_btf, const struct net_device *from_dev, const struct net_device *to_dev,
	     int sent, int drops, int err)
{
	if (!drops && !err)
		return 0;
	struct xd_event e = {};
	e.kind = XD_DEVMAP_XMIT;
	e.source = XD_SRC_TP_BTF;
	e.netns = dev_netns(from_dev);
	e.ifindex = dev_ifindex(from_dev);
	e.target_netns = dev_netns(to_dev);
	e.target_ifindex = dev_ifindex(to_dev);
	e.code = err;
	e.sent = sent;
	e.drops = drops;
	e.act = XDP_REDIRECT;
	if (!netns_wanted(e.netns, e.target_netns))
		return 0;
	emit(&e, drops > 0 ? drops : 1);
	return 0;
}

struct tp_xdp_devmap_xmit {
	__u64 common;
	int from_ifindex;
	__u32 act;
	int to_ifindex;
	int drops;
	int sent;
	int err;
};

SEC("tracepoint/xdp/xdp_devmap_xmit")
int xd_devmap_xmit_tp(struct tp_xdp_devmap_xmit *ctx)
{
	if (!ctx->drops && !ctx->err)
		return 0;
	struct xd_event e = {};
	e.kind = XD_DEVMAP_XMIT;
	e.source = XD_SRC_TRACEPOINT;
	e.ifindex = ctx->from_ifindex;
	e.target_ifindex = ctx->to_ifindex;
	e.code = ctx->err;
	e.sent = ctx->sent;
	e.drops = ctx->drops;
	e.act = ctx->act;
	emit(&e, ctx->drops > 0 ? ctx->drops : 1);
	return 0;
}

/* ---------------------------------------------------------------- xdp:xdp_exception */

SEC("tp_btf/xdp_exception")
int BPF_PROG(xd_exception_btf, const struct net_device *dev, const struct bpf_prog *xdp, u32 act)
{
	struct xd_event e = {};
	e.kind = XD_XDP_EXCEPTION;
	e.source = XD_SRC_TP_BTF;
	e.netns = dev_netns(dev);
	e.ifindex = dev_ifindex(dev);
	e.prog_id = prog_id(xdp);
	e.act = act;
	e.code = act;
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit(&e, 1);
	return 0;
}

struct tp_xdp_exception {
	__u64 common;
	int prog_id;
	__u32 act;
	int ifindex;
};

SEC("tracepoint/xdp/xdp_exception")
int xd_exception_tp(struct tp_xdp_exception *ctx)
{
	struct xd_event e = {};
	e.kind = XD_XDP_EXCEPTION;
	e.source = XD_SRC_TRACEPOINT;
	e.ifindex = ctx->ifindex;
	e.prog_id = ctx->prog_id;
	e.act = ctx->act;
	e.code = ctx->act;
	emit(&e, 1);
	return 0;
}

/* ---------------------------------------------------------------- veth_xdp_xmit */

SEC("fexit/veth_xdp_xmit")
int BPF_PROG(xd_veth_xmit_fexit, struct net_device *dev, int n, void **frames, u32 flags,
	     bool ndo_xmit, int ret)
{
	if (ret >= 0)
		return 0;
	struct xd_event e = {};
	e.kind = XD_VETH_XDP_XMIT;
	e.source = XD_SRC_FEXIT;
	e.netns = dev_netns(dev);
	e.ifindex = dev_ifindex(dev);
	e.target_ifindex = e.ifindex;
	e.target_netns = e.netns;
	e.code = ret;
	e.drops = n;
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit(&e, n > 0 ? n : 1);
	return 0;
}

/* kprobe + kretprobe pair: the kretprobe sees only the return value, so the kprobe at entry
 * keeps what the return needs (the device, hence its namespace, and the frame count) per
 * task. LRU: an entry whose return was missed (kretprobe maxactive) is evicted, not leaked. */
struct veth_xmit_call {
	__u64 netns;
	__u32 ifindex;
	__s32 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* call_key() */
	__type(value, struct veth_xmit_call);
} veth_xmit_calls SEC(".maps");

/*
 * Key pairing a kprobe with its kretprobe. veth_xdp_xmit runs in softirq, often on an idle
 * CPU where the current task is the idle task and pid_tgid is 0 on every CPU; the call cannot
 * be preempted or nest on one CPU, so the CPU number is a unique key there.
 */
static __always_inline __u64 call_key(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	return id ? id : (1ULL << 63) | bpf_get_smp_processor_id();
}

SEC("kprobe/veth_xdp_xmit")
int xd_veth_xmit_kprobe(struct pt_regs *ctx)
{
	const struct net_device *dev = (const struct net_device *)PT_REGS_PARM1(ctx);
	struct veth_xmit_call c = {
		.netns = dev_netns(dev),
		.ifindex = dev_ifindex(dev),
		.n = (int)PT_REGS_PARM2(ctx),
	};
	__u64 id = call_key();
	bpf_map_update_elem(&veth_xmit_calls, &id, &c, BPF_ANY);
	return 0;
}

SEC("kretprobe/veth_xdp_xmit")
int xd_veth_xmit_kretprobe(struct pt_regs *ctx)
{
	__u64 id = call_key();
	struct veth_xmit_call *c = bpf_map_lookup_elem(&veth_xmit_calls, &id);
	if (!c)
		return 0; /* entry not seen (attached mid-call, or evicted) */
	struct veth_xmit_call call = *c;
	bpf_map_delete_elem(&veth_xmit_calls, &id);
	int ret = (int)PT_REGS_RC(ctx);
	if (ret >= 0)
		return 0;
	struct xd_event e = {};
	e.kind = XD_VETH_XDP_XMIT;
	e.source = XD_SRC_KRETPROBE;
	e.netns = call.netns;
	e.ifindex = call.ifindex;
	e.target_ifindex = e.ifindex;
	e.target_netns = e.netns;
	e.code = ret;
	e.drops = call.n;
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit(&e, call.n > 0 ? call.n : 1);
	return 0;
}

/* ---------------------------------------------------------------- skb drops */

/* Reads `size` bytes at byte `offset` of a classic tracepoint record (one of the offsets
 * above, set at load from the format file). */
static __always_inline void record_read(void *dst, __u32 size, void *ctx, __u32 offset)
{
	bpf_probe_read_kernel(dst, size, ctx + (offset & XD_RECORD_OFFSET_MASK));
}

static __always_inline bool reason_wanted(__u32 reason)
{
	if (reason >= XD_REASON_BITS)
		return false;
	/* Constant indices only: clang may drop a mask on a variable index because it knows
	 * reason < 256 from a 32-bit copy, which the verifier (64-bit ctx slot) does not. */
	__u32 word = reason >> 6;
	__u64 bits = word == 0 ? drop_reason_mask[0] :
		     word == 1 ? drop_reason_mask[1] :
		     word == 2 ? drop_reason_mask[2] :
				 drop_reason_mask[3];
	return (bits >> (reason & 63)) & 1;
}

/*
 * The first bytes of the packet an skb carries, copied into `dst` (XD_PKT_BYTES): from the MAC
 * header when it is set and at least an Ethernet header before the network header, else from
 * the network header. Only the linear area is read (`len - data_len` bytes from `data`).
 * Sets pkt_start, pkt_len (from the start to the end of the packet) and caplen.
 */
static __always_inline void skb_packet(struct xd_event *e, __u8 *dst, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u32 len = BPF_CORE_READ(skb, len);
	__u32 data_len = BPF_CORE_READ(skb, data_len);
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 net = BPF_CORE_READ(skb, network_header);
	__u16 start;
	__u8 kind;

	if (!head || !data || data_len > len)
		return;
	if (mac != (__u16)~0U && net != (__u16)~0U && net >= mac + 14) {
		start = mac;
		kind = XD_PKT_MAC;
	} else if (net != (__u16)~0U) {
		start = net;
		kind = XD_PKT_NETWORK;
	} else {
		return;
	}
	/* Bytes between the start and `data` (headers already pulled); negative: not yet pushed. */
	__s64 before = (__s64)(data - head) - start;
	if (before < 0 || before > 0xffff)
		return;
	__u32 linear = (__u32)before + (len - data_len);
	__u32 n = linear < XD_PKT_BYTES ? linear : XD_PKT_BYTES;
	if (n > XD_PKT_BYTES) /* for the verifier: the size is bounded */
		n = XD_PKT_BYTES;
	if (bpf_probe_read_kernel(dst, n, head + start))
		return;
	e->pkt_start = kind;
	e->pkt_len = (__u32)before + len;
	e->caplen = n;
}

/* emit() for skb events: the record is an xd_event_pkt, the packet's first bytes included. */
static __always_inline void emit_skb(struct xd_event *e, const struct sk_buff *skb)
{
	count(e, 1);
	struct xd_event_pkt *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cpu = bpf_get_smp_processor_id();
	skb_packet(e, r->data, skb);
	__builtin_memcpy(&r->e, e, sizeof(r->e));
	bpf_ringbuf_submit(r, 0);
}

static __always_inline void skb_event(struct xd_event *e, const struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		e->netns = dev_netns(dev);
		e->ifindex = dev_ifindex(dev);
	} else {
		/* Past the device (socket layer): the socket knows its namespace. */
		e->netns = BPF_CORE_READ(skb, sk, __sk_common.skc_net.net, ns.inum);
		e->ifindex = BPF_CORE_READ(skb, skb_iif);
	}
	e->protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
}

static __always_inline int on_kfree(const struct sk_buff *skb, void *location, __u32 reason,
				    __u8 source)
{
	if (!reason_wanted(reason))
		return 0;
	struct xd_event e = {};
	e.kind = XD_KFREE_SKB;
	e.source = source;
	e.code = reason;
	e.location = (__u64)location;
	skb_event(&e, skb);
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit_skb(&e, skb);
	return 0;
}

/* Arguments since 5.17 are (skb, location, reason); 6.12 appended rx_sk, unused here. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(xd_kfree_skb_btf, struct sk_buff *skb, void *location, int reason)
{
	return on_kfree(skb, location, reason, XD_SRC_TP_BTF);
}

SEC("tracepoint/skb/kfree_skb")
int xd_kfree_skb_tp(void *ctx)
{
	struct sk_buff *skb = 0;
	void *location = 0;
	__u32 reason = 0;
	if (!kfree_skbaddr_offset || !kfree_location_offset || !kfree_reason_offset)
		return 0;
	record_read(&skb, sizeof(skb), ctx, kfree_skbaddr_offset);
	record_read(&location, sizeof(location), ctx, kfree_location_offset);
	record_read(&reason, sizeof(reason), ctx, kfree_reason_offset);
	return on_kfree(skb, location, reason, XD_SRC_TRACEPOINT);
}

SEC("tp_btf/tcp_bad_csum")
int BPF_PROG(xd_tcp_bad_csum_btf, const struct sk_buff *skb)
{
	struct xd_event e = {};
	e.kind = XD_TCP_BAD_CSUM;
	e.source = XD_SRC_TP_BTF;
	skb_event(&e, skb);
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit_skb(&e, skb);
	return 0;
}

SEC("tracepoint/tcp/tcp_bad_csum")
int xd_tcp_bad_csum_tp(void *ctx)
{
	struct sk_buff *skb = 0;
	if (!bad_csum_skbaddr_offset)
		return 0;
	record_read(&skb, sizeof(skb), ctx, bad_csum_skbaddr_offset);
	struct xd_event e = {};
	e.kind = XD_TCP_BAD_CSUM;
	e.source = XD_SRC_TRACEPOINT;
	skb_event(&e, skb);
	if (!netns_wanted(e.netns, 0))
		return 0;
	emit_skb(&e, skb);
	return 0;
}
