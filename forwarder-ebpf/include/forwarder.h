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
/* fib_cache capacity (keys; each key has one value per possible CPU). */
#define FWD_FIB_CACHE_ENTRIES 4096

/*
 * fib_cache (LRU per-CPU hash), used only when the tunable fib_cache_ns is non-zero: the
 * bpf_fib_lookup inputs that vary per packet, of the packet as it will leave (after NAT).
 * Ports are not part of the key: port-based policy routing (ip rule sport/dport) and L4
 * multipath hashing are resolved once per address pair per TTL.
 */
struct fwd_fib_key {
	__u32 ifindex; /* ingress ifindex (the lookup's input) */
	__u32 saddr;   /* network byte order */
	__u32 daddr;   /* network byte order */
	__u8 tos;      /* IPv4 TOS byte */
	__u8 pad[3];   /* always 0: keys are compared bytewise */
};

/* A cached BPF_FIB_LKUP_RET_SUCCESS result. Only SUCCESS results are cached. */
struct fwd_fib_nexthop {
	__u64 expires_ns; /* bpf_ktime_get_ns() after which the entry is ignored */
	__u32 ifindex;    /* egress ifindex */
	__u16 mtu;        /* mtu_result of the lookup: larger packets take the full lookup */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 pad;
	__u32 pad2;
};

/*
 * Per-CPU packet counters, one slot per outcome. Every packet the forwarder sees increments
 * FWD_CNT_SEEN and exactly one outcome counter. A packet that reached bpf_fib_lookup also
 * increments the fib slot of its result; a packet served from fib_cache instead increments
 * FWD_CNT_FIB_CACHE_HIT and no fib slot (so fib_success counts lookups, not packets).
 * FWD_CNT_FIB_CACHE_HIT is neither an outcome nor a fib slot.
 */
enum fwd_counter {
	FWD_CNT_SEEN = 0,  /* every packet that entered the program */
	FWD_CNT_NOT_IPV4,  /* not Ethernet/IPv4 (ARP, IPv6, VLAN...): XDP_PASS */
	FWD_CNT_NOT_TCP,   /* IPv4 but not TCP: XDP_PASS */
	FWD_CNT_FRAGMENT,  /* IPv4 fragment: XDP_PASS (no L4 header to NAT) */
	FWD_CNT_MALFORMED, /* truncated or bad IHL: XDP_PASS, the stack decides */
	FWD_CNT_NO_ENTRY,  /* TCP, but no NAT entry for it: XDP_PASS */
	FWD_CNT_FIB_BASE,  /* + bpf_fib_lookup() result (0..FWD_FIB_RESULTS-1) */
	FWD_CNT_REDIRECTED = FWD_CNT_FIB_BASE + 10, /* bpf_redirect_map returned XDP_REDIRECT */
	FWD_CNT_DEVMAP_MISS,   /* fib egress ifindex not in devmap: NATed, XDP_PASS */
	FWD_CNT_PASSED_NAT,    /* NATed, then XDP_PASS so the stack resolves the neighbour */
	FWD_CNT_PASSED_LOCAL,  /* fib says local/not forwarded: XDP_PASS unmodified */
	FWD_CNT_DROPPED,       /* fib says blackhole/unreachable/prohibit: XDP_DROP */
	FWD_CNT_FIB_CACHE_HIT, /* fib_cache hit: bpf_fib_lookup skipped (not an outcome) */
	FWD_CNT_MAX,
};

#define FWD_FIB_RESULTS 10

/* Which way a program translates. */
enum fwd_direction {
	FWD_DIR_INBOUND = 0,  /* external interface: DNAT by destination */
	FWD_DIR_OUTBOUND = 1, /* internal interface: SNAT by source */
};

#endif
