/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The forwarder's decision record: one aya-log record per packet that reached a
 * NAT decision, written through aya_log.h when user space turned the log on
 * (xdpdoctor trace --decisions). Kept out of forwarder.bpf.c so the data path reads as before:
 * decide() fills a struct fwd_decision with what it learned anyway (the NAT key, the entry,
 * the lookup's inputs and results, a cache hit's next hop) and forward() calls
 * fwd_log_decision() behind one gate.
 *
 * The message is a list of `key=value` words, a grammar xdpdoctor parses back into typed
 * fields (xdpdoctor/src/forwarder/decision.rs; docs/decision-log.md lists every key). aya-log
 * hands its logger only the formatted message, so the words are the structure: keep this
 * file and decision.rs together. Addresses are written as Ipv4Addr arguments, ports and
 * ifindexes as integers, MACs with the MAC hint.
 *
 * Built with -DXD_NO_DECISION_LOG (forwarder_nolog.bpf.o, the bench's "without the code"
 * object), only struct fwd_decision remains: the record code, the gate in forward() and
 * aya_log.h's maps are left out.
 */
#ifndef XDPDOCTOR_FWD_DECISION_H
#define XDPDOCTOR_FWD_DECISION_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "forwarder.h"

/*
 * What decide() learned about one packet, for the record. decide() writes these as part of
 * its work (they are its own variables, owned by forward()); only `to` and `fib_rc` are
 * extra stores, and `fib_rc` only on the cold path of an unknown lookup result. A field is
 * meaningful only for the outcome slots that reach it (fwd_log_decision checks the slot
 * first).
 */
struct fwd_decision {
	struct fwd_endpoint key;              /* the NAT key looked up (before translation) */
	const struct fwd_endpoint *to;        /* its entry; NULL: none (slot NO_ENTRY) */
	struct bpf_fib_lookup params;         /* the lookup's inputs, then its results */
	struct fwd_fib_nexthop hop;           /* a cache hit's next hop */
	long fib_rc;                          /* a result FWD_SLOT_FIB_ERROR could not name */
	__u32 port;                           /* the bridge port redirected to (bridge slots) */
};

#ifndef XD_NO_DECISION_LOG

#include "aya_log.h"

/* The level of decision records. */
#define FWD_LOG_LEVEL XD_LOG_INFO

static __always_inline void fwd_log_endpoint(struct xd_log_rec *r, __be32 addr, __be16 port)
{
	xd_log_ipv4(r, addr);
	xd_log_str(r, ":");
	xd_log_u16(r, bpf_ntohs(port));
}

/*
 * Whether a packet of outcome `slot` gets a record: one that reached a NAT decision (a
 * TCP/IPv4 packet that was looked up: slot NO_ENTRY and later). Earlier outcomes (not IPv4,
 * not TCP, fragments, malformed) are not NAT decisions and would only spend the rate budget
 * on ARP and IPv6 chatter; the counters have them. Checked before the bucket.
 */
static __always_inline int fwd_slot_logged(__u32 slot)
{
	return slot >= FWD_SLOT_NO_ENTRY && slot < FWD_SLOT_MAX;
}

/* Whether the packet of `slot` left the program translated (NAT rewrite done). */
static __always_inline int fwd_slot_translated(__u32 slot)
{
	return slot == FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_SUCCESS ||
	       slot == FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_NO_NEIGH ||
	       slot == FWD_SLOT_FIB_DEVMAP_MISS || slot == FWD_SLOT_CACHE_REDIRECTED ||
	       slot == FWD_SLOT_CACHE_DEVMAP_MISS || slot >= FWD_SLOT_BRIDGE_REDIRECTED;
}

/* Whether the next hop of `slot` came from fib_cache. */
static __always_inline int fwd_slot_cached(__u32 slot)
{
	return slot == FWD_SLOT_CACHE_REDIRECTED || slot == FWD_SLOT_CACHE_DEVMAP_MISS ||
	       slot == FWD_SLOT_CACHE_BRIDGE_REDIRECTED || slot == FWD_SLOT_CACHE_BRIDGE_PASSED;
}

/* fib=, and the next hop where the lookup (or the cache) gave one. */
static __always_inline void fwd_log_fib(struct xd_log_rec *r, __u32 slot,
					const struct fwd_decision *d)
{
	const __u8 *smac, *dmac;
	__u32 egress;

	if (fwd_slot_cached(slot)) {
		xd_log_str(r, " fib=cache");
		egress = d->hop.ifindex;
		smac = d->hop.smac;
		dmac = d->hop.dmac;
	} else if (slot == FWD_SLOT_FIB_ERROR) {
		xd_log_str(r, " fib=");
		xd_log_i64(r, d->fib_rc);
		return;
	} else if (slot == FWD_SLOT_FIB_DEVMAP_MISS || slot == FWD_SLOT_BRIDGE_REDIRECTED ||
		   slot == FWD_SLOT_BRIDGE_PASSED) {
		xd_log_str(r, " fib=");
		xd_log_u32(r, BPF_FIB_LKUP_RET_SUCCESS);
		egress = d->params.ifindex;
		smac = d->params.smac;
		dmac = d->params.dmac;
	} else {
		xd_log_str(r, " fib=");
		xd_log_u32(r, slot - FWD_SLOT_FIB_BASE);
		if (slot != FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_SUCCESS)
			return;
		egress = d->params.ifindex;
		smac = d->params.smac;
		dmac = d->params.dmac;
	}
	xd_log_str(r, " egress=");
	xd_log_u32(r, egress);
	xd_log_str(r, " smac=");
	xd_log_mac(r, smac);
	xd_log_str(r, " dmac=");
	xd_log_mac(r, dmac);
	if (slot == FWD_SLOT_BRIDGE_REDIRECTED || slot == FWD_SLOT_CACHE_BRIDGE_REDIRECTED) {
		xd_log_str(r, " port=");
		xd_log_u32(r, d->port);
	}
}

/* verdict= and, for pass and drop, reason= (the counter the slot counts in). */
static __always_inline void fwd_log_verdict(struct xd_log_rec *r, __u32 slot)
{
	switch (slot) {
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_SUCCESS:
	case FWD_SLOT_CACHE_REDIRECTED:
	case FWD_SLOT_BRIDGE_REDIRECTED:
	case FWD_SLOT_CACHE_BRIDGE_REDIRECTED:
		xd_log_str(r, " verdict=redirect");
		break;
	case FWD_SLOT_BRIDGE_PASSED:
	case FWD_SLOT_CACHE_BRIDGE_PASSED:
		xd_log_str(r, " verdict=pass reason=passed_bridge");
		break;
	case FWD_SLOT_NO_ENTRY:
		xd_log_str(r, " verdict=pass reason=no_entry");
		break;
	case FWD_SLOT_TTL_EXCEEDED:
		xd_log_str(r, " verdict=pass reason=ttl_exceeded");
		break;
	case FWD_SLOT_FIB_DEVMAP_MISS:
	case FWD_SLOT_CACHE_DEVMAP_MISS:
		xd_log_str(r, " verdict=pass reason=devmap_miss");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_NO_NEIGH:
		xd_log_str(r, " verdict=pass reason=no_neigh");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_BLACKHOLE:
		xd_log_str(r, " verdict=drop reason=blackhole");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_UNREACHABLE:
		xd_log_str(r, " verdict=drop reason=unreachable");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_PROHIBIT:
		xd_log_str(r, " verdict=drop reason=prohibit");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_NOT_FWDED:
		xd_log_str(r, " verdict=pass reason=not_fwded");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_FWD_DISABLED:
		xd_log_str(r, " verdict=pass reason=fwd_disabled");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_UNSUPP_LWT:
		xd_log_str(r, " verdict=pass reason=unsupp_lwt");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_FRAG_NEEDED:
		xd_log_str(r, " verdict=pass reason=frag_needed");
		break;
	case FWD_SLOT_FIB_BASE + BPF_FIB_LKUP_RET_NO_SRC_ADDR:
		xd_log_str(r, " verdict=pass reason=no_src_addr");
		break;
	default:
		xd_log_str(r, " verdict=pass reason=fib_error");
		break;
	}
}

/*
 * Writes the decision record of a packet whose outcome is `slot` (fwd_slot_logged).
 *
 * The packet is read again: its addresses as the program leaves them are the `new_*` tuple;
 * the tuple as received is that with the translated endpoint put back to the NAT key when
 * the program rewrote it. Called after the gate (xd_log_enabled, fwd_slot_logged,
 * xd_log_allow).
 *
 * A BPF subprogram of its own (__noinline: a bpf-to-bpf call, taken only when a record is
 * written), not inlined into forward(): inlined, its ~1,800 instructions sat inside the
 * program between the blocks of the data path, and with the log off the forwarder ran
 * ~4 ns per packet slower (program-cost, 112 loads; the log compiled out saves ~6).
 * docs/performance.md, "Before and after", 2026-12-07 evening.
 */
static __noinline void fwd_log_decision(struct xdp_md *ctx, enum fwd_direction dir,
					__u32 slot, const struct fwd_decision *d)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__be32 saddr, daddr, osaddr, odaddr;
	__be16 sport, dport, osport, odport;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp;
	struct xd_log_rec r;

	if (!fwd_slot_logged(slot) || (void *)(ip + 1) > data_end)
		return;
	tcp = (void *)ip + (ip->ihl & 0xf) * 4;
	if ((void *)(tcp + 1) > data_end)
		return;
	saddr = osaddr = ip->saddr;
	daddr = odaddr = ip->daddr;
	sport = osport = tcp->source;
	dport = odport = tcp->dest;
	if (fwd_slot_translated(slot)) {
		if (dir == FWD_DIR_INBOUND) {
			odaddr = d->key.addr;
			odport = d->key.port;
		} else {
			osaddr = d->key.addr;
			osport = d->key.port;
		}
	}

	if (!xd_log_begin(&r, FWD_LOG_LEVEL, "decision", "forwarder"))
		return;
	xd_log_str(&r, "ingress=");
	xd_log_u32(&r, ctx->ingress_ifindex);
	if (dir == FWD_DIR_INBOUND)
		xd_log_str(&r, " dir=dnat src=");
	else
		xd_log_str(&r, " dir=snat src=");
	fwd_log_endpoint(&r, osaddr, osport);
	xd_log_str(&r, " dst=");
	fwd_log_endpoint(&r, odaddr, odport);
	if (slot == FWD_SLOT_NO_ENTRY) {
		xd_log_str(&r, " nat=none");
	} else {
		xd_log_str(&r, " nat=");
		fwd_log_endpoint(&r, d->to->addr, d->to->port);
	}
	xd_log_str(&r, " new_src=");
	fwd_log_endpoint(&r, saddr, sport);
	xd_log_str(&r, " new_dst=");
	fwd_log_endpoint(&r, daddr, dport);
	if (slot != FWD_SLOT_NO_ENTRY && slot != FWD_SLOT_TTL_EXCEEDED)
		fwd_log_fib(&r, slot, d);
	fwd_log_verdict(&r, slot);
	xd_log_submit(&r);
}

#endif /* XD_NO_DECISION_LOG */
#endif
