// SPDX-License-Identifier: GPL-2.0
/*
 * xdpdoctor NAT forwarder: DNAT on external interfaces (xdp_fwd_external), SNAT on internal
 * ones (xdp_fwd_internal). ABI (map layouts, counter slots): include/forwarder.h.
 *
 * What changed from the seed's forwarder.c (shared/seed/) and why: docs/forwarder.md,
 * "Differences from the seed".
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "forwarder.h"
#include "csum.h"
#include "fwd_decision.h"

#define AF_INET 2
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* Longest TCP segment (header + payload) that full_csum recomputes; longer ones (GSO, jumbo
 * frames) fall back to the incremental update. */
#define CSUM_MAX_LEN 1500
/* bpf_csum_diff sums at most 512 bytes per call. */
#define CSUM_CHUNK 512
#define CSUM_CHUNKS 3
#define CSUM_BUF_LEN (CSUM_CHUNK * CSUM_CHUNKS)

/* Set at load time (EbpfLoader::override_global): non-zero selects the full TCP checksum. */
const volatile __u32 full_csum = 0;
/* Set at load time: lifetime of a fib_cache entry in ns; 0 (default) disables the cache and
 * the verifier removes its code. */
const volatile __u64 fib_cache_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct fwd_endpoint);
	__type(value, struct fwd_endpoint);
	__uint(max_entries, FWD_MAX_ENTRIES);
} dnat_entries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct fwd_endpoint);
	__type(value, struct fwd_endpoint);
	__uint(max_entries, FWD_MAX_ENTRIES);
} snat_entries SEC(".maps");

/* The NAT maps' index (forwarder.h: layout, lookup, update protocol). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fwd_nat_slot);
	__uint(max_entries, 4 * FWD_NAT_SLOTS);
} nat_index SEC(".maps");

/* Per direction, the half of nat_index readers use (0 or 1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
} nat_active SEC(".maps");

/*
 * ifindex -> ifindex. The value is struct bpf_devmap_val (ifindex first, then an optional
 * chained program) rather than a bare __u32: the kernel accepts both, but aya's DevMapHash
 * insists on the 8-byte layout on every kernel that supports chained programs (5.8+).
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, FWD_MAX_DEVICES);
} devmap SEC(".maps");

/* (bridge, MAC) -> the port's ifindex (forwarder.h, struct fwd_port_key). The port must be
 * in the devmap too: the redirect goes through it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct fwd_port_key);
	__type(value, __u32);
	__uint(max_entries, FWD_MAX_PORT_MACS);
} bridge_ports SEC(".maps");

/* The bridges the forwarder serves (ifindex -> 1): a lookup answering one of them whose MAC
 * has no port counts as passed_bridge, not as a devmap miss. Never in the devmap. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, FWD_MAX_DEVICES);
} bridges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FWD_SLOT_MAX);
} counters SEC(".maps");

/* bpf_fib_lookup SUCCESS results, per CPU (see fib_cache_ns). Not pinned: private to each
 * loaded instance. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, struct fwd_fib_key);
	__type(value, struct fwd_fib_nexthop);
	__uint(max_entries, FWD_FIB_CACHE_ENTRIES);
} fib_cache SEC(".maps");

/* Scratch space for full_csum: the segment is copied here because the stack is too small. */
struct csum_buf {
	__u8 data[CSUM_BUF_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct csum_buf);
	__uint(max_entries, 1);
} csum_scratch SEC(".maps");

/* One update per packet: the slot that says what happened to it (forwarder.h). */
static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

/* Records the packet's outcome slot and returns its verdict, so every exit of decide() is one
 * line and forward() sees both together. */
static __always_inline int outcome(__u32 *slot, __u32 s, int verdict)
{
	*slot = s;
	return verdict;
}

/*
 * The NAT entry of `key` in direction `dir`: probes the active half of nat_index from the
 * key's home slot (forwarder.h). An empty slot ends the search (no entry); a window of
 * FWD_NAT_PROBES slots all taken by other keys defers to the hash map `entries`, which the
 * index was built from. The returned pointer is into an array map value: it stays readable
 * for this run, and the writer does not reuse a half before every run that read it ended.
 */
static __always_inline struct fwd_endpoint *nat_lookup(void *entries,
						       const struct fwd_endpoint *key,
						       __u32 dir)
{
	/* The home slot is hashed before nat_active is read, from the key's fields while they
	 * are still in registers; hashed after the lookup (a call, for clang) it was reloaded
	 * from the stack on the way to the slot. The empty asm keeps clang from sinking it
	 * below the call. With the SUCCESS test in decide(), ~5 ns per packet (program-cost,
	 * docs/performance.md, "Before and after"). */
	__u32 pos = fwd_nat_hash(key);
	__u32 *half, base;

	asm volatile("" : "+r"(pos));
	half = bpf_map_lookup_elem(&nat_active, &dir);
	if (!half)
		return 0;
	base = (dir * 2 + (*half & 1)) << FWD_NAT_BITS;
#pragma unroll
	for (int i = 0; i < FWD_NAT_PROBES; i++) {
		__u32 idx = base + ((pos + i) & (FWD_NAT_SLOTS - 1));
		struct fwd_nat_slot *s = bpf_map_lookup_elem(&nat_index, &idx);

		if (!s || !s->key.addr)
			return 0;
		if (s->key.addr == key->addr && s->key.port == key->port)
			return &s->to;
	}
	return bpf_map_lookup_elem(entries, key);
}

/*
 * Full TCP checksum over the pseudo-header and the segment at l4_off..l4_off+l4_len, written
 * to tcp->check. The segment is copied to a per-CPU buffer (bpf_xdp_load_bytes) and summed
 * with bpf_csum_diff in at most CSUM_CHUNKS 4-byte-aligned chunks: a constant-bounded loop
 * the verifier accepts. Returns 0, or -1 if the segment is too long or not all in the frame
 * (the caller then falls back to the incremental update; tcp->check is untouched).
 */
static __always_inline int tcp_csum_full(struct xdp_md *ctx, struct iphdr *ip,
					 struct tcphdr *tcp, __u32 l4_off, __u32 l4_len)
{
	__u32 zero = 0;
	struct csum_buf *buf;
	__u16 old_check;
	__u64 padded;
	__u64 len; /* 64-bit: a __u32 is compared on a zero-extended copy the verifier does not
		    * link back to the register passed to the helper */
	__s64 sum = 0;
	__u64 acc;

	if (l4_len < sizeof(struct tcphdr) || l4_len > CSUM_MAX_LEN)
		return -1;
	buf = bpf_map_lookup_elem(&csum_scratch, &zero);
	if (!buf)
		return -1;

	/* An odd length is padded with zero bytes: clear the last 4-byte word first, the copy
	 * then overwrites its leading bytes. */
	/* The index is bounded again on the register that indexes: the 6.1 verifier loses the
	 * check above when clang indexes with a copy of l4_len ("R1 unbounded memory access");
	 * the empty asm keeps clang from dropping the repeated check. */
	__u32 last = l4_len & ~3u;
	asm volatile("" : "+r"(last));
	if (last > CSUM_MAX_LEN)
		return -1;
	*(__u32 *)&buf->data[last] = 0;

	old_check = tcp->check;
	tcp->check = 0; /* the checksum field counts as zero while summing */
	/* Bounded again next to the call, one compare at a time on the register passed: clang
	 * turns `len < a || len > b` into one compare of a copy (len - a), and compares a __u32
	 * on a zero-extended copy; the 6.1 verifier carries neither bound back to the register
	 * passed ("R4 min value is negative"). */
	len = l4_len;
	asm volatile("" : "+r"(len));
	if (len > CSUM_MAX_LEN) {
		tcp->check = old_check;
		return -1;
	}
	asm volatile("" : "+r"(len));
	if (len < sizeof(struct tcphdr)) {
		tcp->check = old_check;
		return -1;
	}
	if (bpf_xdp_load_bytes(ctx, l4_off, buf->data, len) < 0) {
		tcp->check = old_check;
		return -1;
	}

	/* From the bounded 64-bit len, in 64-bit arithmetic: each chunk's size is then bounded
	 * on the register passed to bpf_csum_diff, on 6.1 too. */
	padded = (len + 3) & ~3ull;
#pragma unroll
	for (int i = 0; i < CSUM_CHUNKS; i++) {
		__u64 off = i * CSUM_CHUNK;
		__u64 n;

		if (off >= padded)
			break;
		n = padded - off;
		if (n > CSUM_CHUNK)
			n = CSUM_CHUNK;
		/* from = NULL: plain sum of `to`, seeded with the running sum. */
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&buf->data[off], n, (__u32)sum);
		if (sum < 0) {
			tcp->check = old_check;
			return -1;
		}
	}

	/* Pseudo-header: saddr, daddr, zero + protocol, TCP length (16-bit big-endian words). */
	acc = (__u32)sum;
	acc = csum_add32(acc, ip->saddr);
	acc = csum_add32(acc, ip->daddr);
	acc += bpf_htons(IPPROTO_TCP);
	acc += bpf_htons((__u16)l4_len);
	tcp->check = ~csum_fold(acc);
	return 0;
}

/*
 * Translates one endpoint of the packet to `to` and fixes both checksums; with `hop`, also
 * decrements the TTL (the packet leaves through XDP, so this is the router's hop). Inbound
 * rewrites the destination, outbound the source; the TCP checksum covers the addresses
 * through the pseudo-header, so it takes the address and the port difference. The IPv4
 * header checksum gets one RFC 1624 update for the address and the TTL together.
 */
static __always_inline void nat_rewrite(struct xdp_md *ctx, struct iphdr *ip, struct tcphdr *tcp,
					__u32 l4_off, __u32 l4_len,
					const struct fwd_endpoint *to, enum fwd_direction dir,
					int hop)
{
	__u32 old_addr;
	__u16 old_port;
	__u64 addr_diff, ip_diff;

	if (dir == FWD_DIR_INBOUND) {
		old_addr = ip->daddr;
		old_port = tcp->dest;
		ip->daddr = to->addr;
		tcp->dest = to->port;
	} else {
		old_addr = ip->saddr;
		old_port = tcp->source;
		ip->saddr = to->addr;
		tcp->source = to->port;
	}

	addr_diff = csum_diff32(old_addr, to->addr);
	ip_diff = addr_diff;
	if (hop) {
		/* TTL shares its checksum word with the protocol byte. TTL >= 2 here (decide()
		 * passes lower ones to the stack), so the word drops by exactly 0x0100 in network
		 * order, with no borrow: its difference is the constant ~0x0100, in the byte order
		 * the words are summed in. Same bytes as reading the word before and after;
		 * ~4 ns less per packet together with mac_copy (docs/performance.md). */
		ip->ttl--;
		ip_diff += (__u16)~bpf_htons(0x0100);
	}
	ip->check = csum_update(ip->check, ip_diff);

	if (full_csum && tcp_csum_full(ctx, ip, tcp, l4_off, l4_len) == 0)
		return;
	tcp->check = csum_update(tcp->check, addr_diff + csum_diff16(old_port, to->port));
}

/*
 * The port of a bridge the forwarder serves behind `dmac`, redirect recorded (0: `ifindex` is
 * no such bridge, or the MAC has no port there, or the port left the devmap; *is_bridge says
 * which). Only asked when `ifindex` itself is not in the devmap, so the routed path pays
 * nothing for it.
 */
static __always_inline __u32 bridge_port(__u32 ifindex, const __u8 *dmac, int *is_bridge)
{
	struct fwd_port_key k = { .bridge = ifindex };
	__u32 *port;

	__builtin_memcpy(k.mac, dmac, ETH_ALEN);
	port = bpf_map_lookup_elem(&bridge_ports, &k);
	if (port && bpf_redirect_map(&devmap, *port, XDP_PASS) == XDP_REDIRECT) {
		*is_bridge = 1;
		return *port;
	}
	*is_bridge = bpf_map_lookup_elem(&bridges, &ifindex) != 0;
	return 0;
}

/*
 * A MAC address as three 16-bit words. struct ethhdr is packed, so __builtin_memcpy into it
 * is 6 byte loads and 6 byte stores per address; both ends are 2-byte aligned here (the
 * header's addresses at frame offsets 0 and 6, the lookup's and the cache's MACs at even
 * stack offsets, which the verifier checks strictly), so words do the same in half the
 * instructions. The router peer copies as the kernel's sample does; the same change gains
 * it nothing measurable (docs/performance.md, 2026-12-07 night).
 */
static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	__u16 *d = (__u16 *)dst;
	const __u16 *s = (const __u16 *)src;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
}

/*
 * The SUCCESS path, next hop from the fib or from the cache. The redirect is asked for first
 * (bpf_redirect_map only records the target; the frame leaves after the program returns), so
 * the frame is rewritten knowing where it goes:
 *  - egress in the devmap: NAT, TTL - 1, next-hop MACs; XDP_REDIRECT (slot `redirected`);
 *  - egress a bridge the forwarder serves, the next hop's MAC behind a known port: the same,
 *    redirected to the port (slot `redirected` + the bridge offset; d->port names it);
 *  - egress missing from the devmap (or such a bridge, MAC unknown): NAT only, XDP_PASS
 *    (slot `miss`, or `miss` + the bridge offset). MACs and TTL stay as received, so the
 *    stack takes the frame as addressed to this host and forwards it itself (decrementing
 *    TTL once). With the next hop's MACs already written it would drop it as
 *    PACKET_OTHERHOST. Flags XDP_PASS: a missing key must not become XDP_ABORTED.
 */
static __always_inline int nat_redirect(struct xdp_md *ctx, struct ethhdr *eth,
					struct iphdr *ip, struct tcphdr *tcp, __u32 ihl_len,
					__u32 l4_len, const struct fwd_endpoint *to,
					enum fwd_direction dir, __u32 ifindex,
					const __u8 *smac, const __u8 *dmac, __u32 *port,
					__u32 *slot, __u32 redirected, __u32 miss,
					__u32 bridge_redirected, __u32 bridge_passed)
{
	__u32 l4_off = sizeof(*eth) + ihl_len;
	int is_bridge = 0;

	if (bpf_redirect_map(&devmap, ifindex, XDP_PASS) != XDP_REDIRECT) {
		*port = bridge_port(ifindex, dmac, &is_bridge);
		if (!*port) {
			nat_rewrite(ctx, ip, tcp, l4_off, l4_len, to, dir, 0);
			return outcome(slot, is_bridge ? bridge_passed : miss, XDP_PASS);
		}
		redirected = bridge_redirected;
	}
	nat_rewrite(ctx, ip, tcp, l4_off, l4_len, to, dir, 1);
	mac_copy(eth->h_dest, dmac);
	mac_copy(eth->h_source, smac);
	return outcome(slot, redirected, XDP_REDIRECT);
}

/* What happens to one packet: returns the verdict and sets *slot to its outcome; *d keeps
 * what the decision record reports (fwd_decision.h). */
static __always_inline int decide(struct xdp_md *ctx, enum fwd_direction dir, __u32 *slot,
				  struct fwd_decision *d)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct bpf_fib_lookup *params = &d->params;
	struct fwd_endpoint *key = &d->key;
	struct fwd_fib_key ckey = {};
	struct fwd_fib_nexthop *hop = &d->hop;
	struct fwd_fib_nexthop *cached;
	struct fwd_endpoint *to;
	__u64 now = 0;
	struct ethhdr *eth = data;
	struct tcphdr *tcp;
	struct iphdr *ip;
	__u32 ihl_len, tot_len, l4_len;
	long rc;

	/* Ethernet -> IPv4. VLAN-tagged frames are not IPv4 here and go to the stack. */
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return outcome(slot, FWD_SLOT_NOT_IPV4, XDP_PASS);

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return outcome(slot, FWD_SLOT_MALFORMED, XDP_PASS);
	if (ip->version != 4 || ip->ihl < 5)
		return outcome(slot, FWD_SLOT_MALFORMED, XDP_PASS);
	ihl_len = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);

	if (ip->protocol != IPPROTO_TCP)
		return outcome(slot, FWD_SLOT_NOT_TCP, XDP_PASS);
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return outcome(slot, FWD_SLOT_FRAGMENT, XDP_PASS);

	/* The TCP header follows the options; it must be inside the frame and the datagram. */
	tcp = (void *)ip + ihl_len;
	if ((void *)(tcp + 1) > data_end || tot_len < ihl_len + sizeof(*tcp))
		return outcome(slot, FWD_SLOT_MALFORMED, XDP_PASS);
	l4_len = tot_len - ihl_len;

	*key = (struct fwd_endpoint){};
	if (dir == FWD_DIR_INBOUND) {
		key->addr = ip->daddr;
		key->port = tcp->dest;
		to = nat_lookup(&dnat_entries, key, dir);
	} else {
		key->addr = ip->saddr;
		key->port = tcp->source;
		to = nat_lookup(&snat_entries, key, dir);
	}
	d->to = to;
	if (!to)
		return outcome(slot, FWD_SLOT_NO_ENTRY, XDP_PASS);

	/* A router does not forward a packet whose TTL would reach 0: the stack gets it as it
	 * arrived and answers (ICMP time exceeded when it forwards, see docs/forwarder.md). */
	if (ip->ttl <= 1)
		return outcome(slot, FWD_SLOT_TTL_EXCEEDED, XDP_PASS);

	/* Ask the FIB about the packet as it will be after translation. */
	*params = (struct bpf_fib_lookup){};
	params->family = AF_INET;
	params->ifindex = ctx->ingress_ifindex;
	params->l4_protocol = IPPROTO_TCP;
	params->tos = ip->tos;
	params->tot_len = tot_len;
	if (dir == FWD_DIR_INBOUND) {
		params->ipv4_src = ip->saddr;
		params->ipv4_dst = to->addr;
		params->sport = tcp->source;
		params->dport = to->port;
	} else {
		params->ipv4_src = to->addr;
		params->ipv4_dst = ip->daddr;
		params->sport = to->port;
		params->dport = tcp->dest;
	}

	/* The cache key is taken before the lookup, which overwrites its inputs (ifindex,
	 * ipv4_dst, tot_len) with results. */
	if (fib_cache_ns) {
		ckey.ifindex = params->ifindex;
		ckey.saddr = params->ipv4_src;
		ckey.daddr = params->ipv4_dst;
		ckey.tos = params->tos;
		now = bpf_ktime_get_ns();
		cached = bpf_map_lookup_elem(&fib_cache, &ckey);
		if (cached) {
			/* Copy first: an LRU element can be recycled under a reader; a zeroed
			 * (recycled) copy fails the checks below and takes the full lookup. */
			*hop = *cached;
			if (now < hop->expires_ns && hop->ifindex && tot_len <= hop->mtu)
				return nat_redirect(ctx, eth, ip, tcp, ihl_len, l4_len, to, dir,
						    hop->ifindex, hop->smac, hop->dmac, &d->port,
						    slot, FWD_SLOT_CACHE_REDIRECTED,
						    FWD_SLOT_CACHE_DEVMAP_MISS,
						    FWD_SLOT_CACHE_BRIDGE_REDIRECTED,
						    FWD_SLOT_CACHE_BRIDGE_PASSED);
		}
	}

	rc = bpf_fib_lookup(ctx, params, sizeof(*params), 0);
	/* SUCCESS, the forwarding path, is tested first and alone: inside the switch clang
	 * tested it last, after bit tests for the other results. The empty asm below keeps clang
	 * from folding this test back into the switch. */
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (fib_cache_ns) {
			/* mtu_result (union with tot_len) holds the egress MTU on SUCCESS. */
			hop->expires_ns = now + fib_cache_ns;
			hop->ifindex = params->ifindex;
			hop->mtu = params->mtu_result;
			__builtin_memcpy(hop->smac, params->smac, ETH_ALEN);
			__builtin_memcpy(hop->dmac, params->dmac, ETH_ALEN);
			hop->pad = 0;
			hop->pad2 = 0;
			/* A full update, not a write through `cached`: that element may have been
			 * recycled for another key. */
			bpf_map_update_elem(&fib_cache, &ckey, hop, BPF_ANY);
		}
		return nat_redirect(ctx, eth, ip, tcp, ihl_len, l4_len, to, dir, params->ifindex,
				    params->smac, params->dmac, &d->port, slot,
				    FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_SUCCESS,
				    FWD_SLOT_FIB_DEVMAP_MISS, FWD_SLOT_BRIDGE_REDIRECTED,
				    FWD_SLOT_BRIDGE_PASSED);
	}
	asm volatile("" : "+r"(rc));
	switch (rc) {
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		/* Route found, neighbour unknown: NAT it, the stack forwards it and resolves ARP. */
		nat_rewrite(ctx, ip, tcp, sizeof(*eth) + ihl_len, l4_len, to, dir, 0);
		return outcome(slot, FWD_SLOT_FIB_BASE + rc, XDP_PASS);
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return outcome(slot, FWD_SLOT_FIB_BASE + rc, XDP_DROP);
	case BPF_FIB_LKUP_RET_NOT_FWDED:
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
	case BPF_FIB_LKUP_RET_UNSUPP_LWT:
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
	case BPF_FIB_LKUP_RET_NO_SRC_ADDR:
		/* Local, forwarding off, needs encapsulation, too big, no source address: the
		 * stack delivers, forwards or reports (ICMP) them itself. */
		return outcome(slot, FWD_SLOT_FIB_BASE + rc, XDP_PASS);
	default:
		/* Negative (bad arguments: cannot happen with the above) or a result newer than
		 * this program: leave the packet to the stack. */
		d->fib_rc = rc;
		return outcome(slot, FWD_SLOT_FIB_ERROR, XDP_PASS);
	}
}

/*
 * The one place where a packet's fate is known: decide() returns the verdict and its
 * outcome slot, forward() counts it (one counter update per packet), writes its decision
 * record when the log is on, and returns it.
 */
static __always_inline int forward(struct xdp_md *ctx, enum fwd_direction dir)
{
	__u32 slot = FWD_SLOT_FIB_ERROR;
	struct fwd_decision d;
	int verdict = decide(ctx, dir, &slot, &d);

	count(slot);
#ifndef XD_NO_DECISION_LOG
	/* The decision log (fwd_decision.h): off, one load and compare of xd_log_ctl. Only
	 * packets that reached a NAT decision take a token. */
	if (xd_log_enabled(FWD_LOG_LEVEL) && fwd_slot_logged(slot) && xd_log_allow())
		fwd_log_decision(ctx, dir, slot, &d);
#endif
	return verdict;
}

/* External interfaces: DNAT by (daddr, dport). */
SEC("xdp")
int xdp_fwd_external(struct xdp_md *ctx)
{
	return forward(ctx, FWD_DIR_INBOUND);
}

/* Internal interfaces: SNAT by (saddr, sport). */
SEC("xdp")
int xdp_fwd_internal(struct xdp_md *ctx)
{
	return forward(ctx, FWD_DIR_OUTBOUND);
}

char LICENSE[] SEC("license") = "GPL";
