// SPDX-License-Identifier: GPL-2.0
/*
 * A dual-stack XDP router of the shape of the kernel's samples/bpf/xdp_fwd, written as a user
 * would bring it (libbpf C, loaded and attached by `bpftool`, its devmap filled by hand): NOT
 * xdpdoctor's. Tests load it on the `router` lab to show that xdpdoctor diagnoses IPv6 paths
 * beside IPv4 ones for a program it did not make.
 *
 * For IPv4 and IPv6 alike: bpf_fib_lookup (the packet's length in tot_len, so too-large
 * packets come back FRAG_NEEDED), and on SUCCESS only, if the egress is a key of
 * `xdp_tx_ports`: TTL / hop limit down by one (IPv4 checksum updated incrementally), MACs
 * from the lookup, bpf_redirect_map. Anything else (local, no route, no neighbour yet, TTL
 * running out, too large) is XDP_PASS: the stack routes, resolves neighbours and answers.
 * No NAT, and the L4 checksum is never touched (so a partial one stays partial).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xdp_tx_ports SEC(".maps");

/* RFC 1624 update of the IPv4 header checksum for the TTL decrement (as ip_decrease_ttl). */
static __always_inline void ip_decrease_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

static __always_inline int forward(struct xdp_md *ctx, struct ethhdr *eth,
				   struct bpf_fib_lookup *fib, void (*hop)(void *), void *l3)
{
	int rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);

	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	/* Only ports the user put in the map (as xdp_fwd does). */
	if (!bpf_map_lookup_elem(&xdp_tx_ports, &fib->ifindex))
		return XDP_PASS;
	hop(l3);
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	return bpf_redirect_map(&xdp_tx_ports, fib->ifindex, 0);
}

static void v4_hop(void *l3)
{
	ip_decrease_ttl(l3);
}

static void v6_hop(void *l3)
{
	((struct ipv6hdr *)l3)->hop_limit--;
}

SEC("xdp")
int xdp_fwd_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	fib.ifindex = ctx->ingress_ifindex;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ttl <= 1)
			return XDP_PASS;
		fib.family = AF_INET;
		fib.tos = ip->tos;
		fib.l4_protocol = ip->protocol;
		fib.tot_len = bpf_ntohs(ip->tot_len);
		fib.ipv4_src = ip->saddr;
		fib.ipv4_dst = ip->daddr;
		return forward(ctx, eth, &fib, v4_hop, ip);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->hop_limit <= 1)
			return XDP_PASS;
		/* Link-local and multicast stay with the stack (neighbour discovery, RAs). */
		if ((ip6->daddr.in6_u.u6_addr8[0] == 0xfe && (ip6->daddr.in6_u.u6_addr8[1] & 0xc0) == 0x80) ||
		    ip6->daddr.in6_u.u6_addr8[0] == 0xff)
			return XDP_PASS;
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = ip6->nexthdr;
		fib.tot_len = bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
		return forward(ctx, eth, &fib, v6_hop, ip6);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
