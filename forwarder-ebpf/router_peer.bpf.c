// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark peer: a plain XDP IPv4 router, the yardstick the forwarder is measured against
 * (`xdpdoctor bench`, variant router-peer). It does per packet what the kernel's example
 * router samples/bpf/xdp_fwd does, and nothing the forwarder does on top of it (no NAT
 * lookup, no L4 checksum, no counters):
 *
 *   Ethernet/IPv4 parse -> TTL <= 1: XDP_PASS (the stack sends ICMP time exceeded)
 *   -> bpf_fib_lookup(ingress ifindex, saddr, daddr, tos, protocol, tot_len; flags 0)
 *   -> SUCCESS: egress ifindex in the devmap? -> TTL - 1 with the IPv4 checksum updated,
 *      MACs from the lookup, XDP_REDIRECT; anything else: XDP_PASS (the stack handles it).
 *
 * Where it differs from xdp_fwd, always so that the peer is no slower than the sample:
 *  - IPv4 only (the bench sends IPv4; xdp_fwd's IPv6 branch is one comparison away).
 *  - The devmap check is bpf_redirect_map's fallback action (XDP_PASS on a missing key)
 *    instead of a separate bpf_map_lookup_elem before it: one devmap lookup, not two. The
 *    frame is rewritten only after the redirect was accepted, so a miss passes it unmodified,
 *    as the sample's early check does.
 *  - The TTL decrement updates the header checksum the way the kernel's ip_decrease_ttl()
 *    does (add 0x0100 in network order with the end-around carry; 0xffff is written as 0),
 *    which gives the bytes of a full recomputation (checked against one by the checksum
 *    integration test).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

/* Egress interfaces the router may redirect to (key = value = ifindex), filled from the
 * namespace it runs in. Same layout as the forwarder's devmap. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, 1024);
} router_devmap SEC(".maps");

/* TTL - 1 and the header checksum with it: the checksum word grows by 0x0100 (network order)
 * with the carry folded back in; a result of 0xffff is written as 0, as a full computation
 * would. */
static __always_inline void ttl_decrement(struct iphdr *ip)
{
	__u32 sum = (__u32)ip->check + bpf_htons(0x0100);

	sum += sum >> 16;
	ip->check = (__u16)sum == 0xffff ? 0 : (__u16)sum;
	ip->ttl--;
}

SEC("xdp")
int xdp_router(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;
	struct iphdr *ip;
	long rc;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (ip->ttl <= 1)
		return XDP_PASS;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	if (bpf_redirect_map(&router_devmap, fib.ifindex, XDP_PASS) != XDP_REDIRECT)
		return XDP_PASS;
	ttl_decrement(ip);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";
