/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Kernel/user ABI of probes/trace.bpf.c, mirrored in xdpdoctor/src/bpf/probes_abi.rs
 * (#[repr(C)] with size assertions). Change both together.
 */
#ifndef XD_PROBES_ABI_H
#define XD_PROBES_ABI_H

/* What happened (xd_event.kind, xd_agg_key.kind). */
enum xd_kind {
	XD_REDIRECT_ERR = 1,  /* xdp:xdp_redirect_err: code = errno (negative) */
	XD_DEVMAP_XMIT = 2,   /* xdp:xdp_devmap_xmit, drops or err: code = errno, count = drops */
	XD_XDP_EXCEPTION = 3, /* xdp:xdp_exception: code = XDP action */
	XD_VETH_XDP_XMIT = 4, /* veth_xdp_xmit returned < 0: code = its return value */
	XD_KFREE_SKB = 5,     /* skb:kfree_skb with a reason of interest: code = drop reason */
	XD_TCP_BAD_CSUM = 6,  /* tcp:tcp_bad_csum: code = 0 */
	XD_REDIRECT = 7,      /* xdp:xdp_redirect (success): counted only, never queued as an event */
};

/* Where the event came from (xd_event.source). */
enum xd_source {
	XD_SRC_TP_BTF = 1,     /* BTF-typed tracepoint: devices and namespaces known */
	XD_SRC_TRACEPOINT = 2, /* classic tracepoint: ifindexes only for xdp events */
	XD_SRC_FEXIT = 3,      /* fexit: devices and namespaces known */
	XD_SRC_KRETPROBE = 4,  /* kprobe at entry (device) + kretprobe (return value) */
};

/* Where the packet bytes of an skb event start (xd_event.pkt_start). */
enum xd_pkt_start {
	XD_PKT_NONE = 0,    /* no packet bytes (xdp events; an skb without headers) */
	XD_PKT_MAC = 1,     /* at the MAC (Ethernet) header */
	XD_PKT_NETWORK = 2, /* at the network (IP) header: the MAC header was not set */
};

/* Bytes of the packet an skb probe copies into its record (struct xd_event_pkt). */
#define XD_PKT_BYTES 128

/* One event in the ring buffer `events`. 80 bytes. */
struct xd_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns() */
	__u64 netns;          /* namespace inode of `ifindex`'s device; 0 = unknown */
	__u64 target_netns;   /* namespace inode of `target_ifindex`'s device; 0 = unknown */
	__u64 location;       /* kfree_skb: address of the caller that dropped */
	__u32 ifindex;        /* device the packet was on (xdp: the receiving device) */
	__u32 target_ifindex; /* redirect target; 0 = none */
	__s32 code;           /* see enum xd_kind */
	__u32 kind;           /* enum xd_kind */
	__u32 prog_id;        /* XDP program id (redirect_err, exception), 0 = unknown */
	__u32 act;            /* XDP action, when the tracepoint has one */
	__s32 sent;           /* devmap_xmit */
	__s32 drops;          /* devmap_xmit */
	__u32 cpu;            /* bpf_get_smp_processor_id() */
	__u16 protocol;       /* kfree_skb: skb->protocol, host order */
	__u8 source;          /* enum xd_source */
	__u8 pad;             /* always 0 */
	__u32 pkt_len;        /* skb events: packet length from pkt_start to its end; 0 = none */
	__u16 caplen;         /* bytes of it in xd_event_pkt.data (<= XD_PKT_BYTES) */
	__u8 pkt_start;       /* enum xd_pkt_start */
	__u8 pad2;            /* always 0 */
};

/* The record of an skb probe (kfree_skb, tcp_bad_csum): the event, then the first `caplen`
 * bytes of the packet from `pkt_start`. 208 bytes. Other probes send a bare xd_event; user
 * space tells them apart by the record's length. */
struct xd_event_pkt {
	struct xd_event e;
	__u8 data[XD_PKT_BYTES];
};

/* Key of the per-CPU hash `counts` (value: __u64 packets). 40 bytes, no implicit padding
 * (`pad` is explicit and always 0, so equal keys are equal bytes). `prog_id` lets user space
 * attribute a classic tracepoint's count (netns 0) to the namespace whose XDP program it is;
 * `target_netns` tells a redirect into another namespace (a devmap filled from the wrong
 * one) from a redirect next door. */
struct xd_agg_key {
	__u64 netns;
	__u64 target_netns;
	__u32 ifindex;
	__u32 target_ifindex;
	__s32 code;
	__u32 kind;
	__u32 prog_id;
	__u32 pad;
};

/* Reasons 0..XD_REASON_BITS-1 can be selected in drop_reason_mask. */
#define XD_REASON_BITS 256

/* Capacity of the in-kernel namespace filter (a host with thousands of containers). */
#define XD_MAX_FILTER_NETNS 8192

#endif
