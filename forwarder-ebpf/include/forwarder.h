/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Kernel/user ABI of the xdpdoctor NAT forwarder: map value layouts and counter indexes.
 * Mirrored in Rust by xdpdoctor/src/bpf/forwarder_abi.rs (size assertions there); change both
 * together.
 */
#ifndef XDPDOCTOR_FORWARDER_H
#define XDPDOCTOR_FORWARDER_H

#include <linux/types.h>

/* A TCP endpoint, both fields in network byte order, as they appear in the packet. */
struct fwd_endpoint {
	__u32 addr;
	__u16 port;
	__u16 pad; /* always 0: keys are compared bytewise */
};

/* Map sizes. */
#define FWD_MAX_ENTRIES 4096
#define FWD_MAX_DEVICES 1024

/*
 * Per-CPU packet counters, one slot per outcome. Every packet the forwarder sees increments
 * FWD_CNT_SEEN and exactly one outcome counter.
 */
enum fwd_counter {
	FWD_CNT_SEEN = 0,          /* every packet that entered the program */
	FWD_CNT_NOT_IPV4,          /* not Ethernet/IPv4 (ARP, IPv6, VLAN...): XDP_PASS */
	FWD_CNT_NOT_TCP,           /* IPv4 but not TCP: XDP_PASS */
	FWD_CNT_FRAGMENT,          /* IPv4 fragment: XDP_PASS (no L4 header to NAT) */
	FWD_CNT_MALFORMED,         /* truncated or bad IHL: XDP_PASS, the stack decides */
	FWD_CNT_NO_ENTRY,          /* TCP, but no NAT entry for it: XDP_PASS */
	FWD_CNT_FIB_BASE,          /* + bpf_fib_lookup() result (0..FWD_FIB_RESULTS-1) */
	FWD_CNT_REDIRECTED = FWD_CNT_FIB_BASE + 10, /* bpf_redirect_map returned XDP_REDIRECT */
	FWD_CNT_DEVMAP_MISS,       /* fib egress ifindex not in devmap: NATed, XDP_PASS */
	FWD_CNT_PASSED_NAT,        /* NATed, then XDP_PASS so the stack resolves the neighbour */
	FWD_CNT_PASSED_LOCAL,      /* fib says local/not forwarded: XDP_PASS unmodified */
	FWD_CNT_DROPPED,           /* fib says blackhole/unreachable/prohibit: XDP_DROP */
	FWD_CNT_MAX,
};

#define FWD_FIB_RESULTS 10

/* Which way a program translates. */
enum fwd_direction {
	FWD_DIR_INBOUND = 0,  /* external interface: DNAT by destination */
	FWD_DIR_OUTBOUND = 1, /* internal interface: SNAT by source */
};

#endif
