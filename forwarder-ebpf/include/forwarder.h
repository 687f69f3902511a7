/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Kernel/user ABI of the xdpdoctor NAT forwarder: map value layouts and counter indexes.
 * Mirrored in Rust by xdpdoctor/src/bpf/forwarder_abi/ (size assertions and header-parsing
 * tests there); change both together.
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
/* bridge_ports capacity: (bridge, MAC) pairs the forwarder can redirect to a port. */
#define FWD_MAX_PORT_MACS 4096

/*
 * Key of bridge_ports: a MAC address behind a port of a bridge the forwarder serves. When
 * bpf_fib_lookup answers with a bridge (a Docker, Podman or CNI bridge: a bridge has no
 * ndo_xdp_xmit), the forwarder looks up (bridge ifindex, next hop's MAC) and redirects to
 * the port instead, the way a router redirect bypasses the stack. User space fills it from
 * the ports' peers and the bridge's FDB (xdpdoctor/src/forwarder/bridge.rs).
 */
struct fwd_port_key {
	__u32 bridge; /* the bridge's ifindex (the FIB's answer) */
	__u8 mac[6];  /* the next hop's MAC (the FIB's dmac) */
	__u16 pad;    /* always 0: keys are compared bytewise */
};

/*
 * NAT index: an open-addressing copy of each NAT map in a plain array (nat_index), so the
 * per-packet lookup is a few inlined array reads instead of a hash-map lookup. The hash maps
 * (dnat_entries, snat_entries) stay the authoritative entries; user space rebuilds a
 * direction's index from its map after every change.
 *
 * Layout: 2 directions x 2 halves x FWD_NAT_SLOTS slots, slot index
 * ((dir * 2 + half) << FWD_NAT_BITS) + pos. nat_active[dir] (0 or 1) names the half readers
 * use. A writer fills the other half, flips nat_active[dir], then waits for an RCU grace
 * period (every program run that could still read the old half has ended) before that half
 * may be written again. A slot whose key.addr is 0 is empty (0.0.0.0 is never an endpoint).
 *
 * Lookup of key k: pos = fwd_nat_hash(k), probe pos, pos+1, ... (mod FWD_NAT_SLOTS) up to
 * FWD_NAT_PROBES slots: a slot with key k is the entry; an empty slot means no entry; if all
 * FWD_NAT_PROBES slots are taken by other keys, the hash map decides (an entry the builder
 * could not place within FWD_NAT_PROBES slots of its home is found there).
 */
#define FWD_NAT_BITS 13
#define FWD_NAT_SLOTS (1 << FWD_NAT_BITS)
#define FWD_NAT_PROBES 8
#define FWD_NAT_HASH_MUL 0x9e3779b1u

/* One slot of nat_index: a NAT map entry. */
struct fwd_nat_slot {
	struct fwd_endpoint key;
	struct fwd_endpoint to;
};

/* Home position of `k` in a half of nat_index: a multiplicative hash of the address and the
 * port, both as stored (network byte order), taking the top FWD_NAT_BITS bits. */
static inline __u32 fwd_nat_hash(const struct fwd_endpoint *k)
{
	__u32 port = k->port;

	return ((k->addr ^ (port << 16 | port)) * FWD_NAT_HASH_MUL) >> (32 - FWD_NAT_BITS);
}
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

/* bpf_fib_lookup results (BPF_FIB_LKUP_RET_SUCCESS 0 .. BPF_FIB_LKUP_RET_NO_SRC_ADDR 9). */
#define FWD_FIB_RESULTS 10

/*
 * Per-CPU outcome slots (the `counters` map): every packet the forwarder sees increments
 * exactly one slot, the one that says what happened to it; for a packet that reached
 * bpf_fib_lookup the slot also says the lookup's result, and for one served from fib_cache
 * that it was. One map update per packet. User space derives the counters it reports (seen,
 * one outcome per packet, one fib slot per lookup, cache hits) by summing slots:
 * xdpdoctor/src/bpf/forwarder_abi.rs, Slot::counters, holds that table.
 */
enum fwd_slot {
	FWD_SLOT_NOT_IPV4 = 0,     /* not Ethernet/IPv4 (ARP, IPv6, VLAN...): XDP_PASS */
	FWD_SLOT_NOT_TCP,          /* IPv4 but not TCP: XDP_PASS */
	FWD_SLOT_FRAGMENT,         /* IPv4 fragment: XDP_PASS (no L4 header to NAT) */
	FWD_SLOT_MALFORMED,        /* truncated or bad IHL: XDP_PASS, the stack decides */
	FWD_SLOT_NO_ENTRY,         /* TCP, but no NAT entry for it: XDP_PASS */
	FWD_SLOT_TTL_EXCEEDED,     /* NAT entry, TTL <= 1: XDP_PASS unmodified, the stack answers */
	/* + bpf_fib_lookup() result: SUCCESS (0) = NATed and redirected; NO_NEIGH = NATed,
	 * XDP_PASS; BLACKHOLE, UNREACHABLE, PROHIBIT = XDP_DROP; the others = XDP_PASS
	 * unmodified. */
	FWD_SLOT_FIB_BASE,
	/* SUCCESS, but the egress interface is not in the devmap: NATed, XDP_PASS. */
	FWD_SLOT_FIB_DEVMAP_MISS = FWD_SLOT_FIB_BASE + FWD_FIB_RESULTS,
	FWD_SLOT_FIB_ERROR,        /* lookup error or unknown result: XDP_PASS unmodified */
	FWD_SLOT_CACHE_REDIRECTED, /* next hop from fib_cache: NATed and redirected */
	FWD_SLOT_CACHE_DEVMAP_MISS, /* next hop from fib_cache, egress not in devmap: XDP_PASS */
	/* Lookup SUCCESS to a bridge the forwarder serves (not in the devmap): */
	FWD_SLOT_BRIDGE_REDIRECTED, /* the MAC's port known: NATed and redirected to the port */
	FWD_SLOT_BRIDGE_PASSED,     /* the MAC unknown: NATed, XDP_PASS (the bridge forwards it) */
	/* The same with the next hop from fib_cache. */
	FWD_SLOT_CACHE_BRIDGE_REDIRECTED,
	FWD_SLOT_CACHE_BRIDGE_PASSED,
	FWD_SLOT_MAX,
};

/* Which way a program translates. */
enum fwd_direction {
	FWD_DIR_INBOUND = 0,  /* external interface: DNAT by destination */
	FWD_DIR_OUTBOUND = 1, /* internal interface: SNAT by source */
};

#endif
