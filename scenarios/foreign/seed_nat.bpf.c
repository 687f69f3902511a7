// SPDX-License-Identifier: GPL-2.0
/*
 * A NAT forwarder of the seed's shape, written as a user would bring it (libbpf C, loaded and
 * attached by `bpftool`, maps filled by hand): NOT xdpdoctor's forwarder. Tests load it to
 * show that xdpdoctor diagnoses and fixes an XDP deployment it did not make.
 *
 * xdp_nat_ext (external interfaces): DNAT by (daddr, dport) in `dnat`, bpf_fib_lookup, MAC
 * rewrite, incremental checksum update, redirect through `devmap` keyed by the egress ifindex
 * (the seed's controller filled it with every ifindex of the VM, from inside the VM).
 * xdp_nat_int (container veths): SNAT by (saddr, sport) in `snat`, the same way back.
 * Like the kernel's samples/bpf/xdp_fwd, anything but a fib SUCCESS goes to the stack
 * (after the translation on NO_NEIGH, so the stack resolves ARP and forwards it).
 *
 * Variants (clang -D...):
 *   SEPARATE_MAPS    the two programs redirect through two different devmaps
 *                    (`devmap_ext`, `devmap_int`)
 *   DIRECT_REDIRECT  bpf_redirect(fib ifindex) without any map
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

struct endpoint {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct endpoint);
	__type(value, struct endpoint);
} dnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct endpoint);
	__type(value, struct endpoint);
} snat SEC(".maps");

#ifndef DIRECT_REDIRECT
#define DEVMAP_DEF(name)                                                                           \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_DEVMAP);                                                 \
		__uint(max_entries, 64);                                                           \
		__type(key, __u32);                                                                \
		__type(value, __u32);                                                              \
	} name SEC(".maps")
#ifdef SEPARATE_MAPS
DEVMAP_DEF(devmap_ext);
DEVMAP_DEF(devmap_int);
#define DEVMAP_EXT devmap_ext
#define DEVMAP_INT devmap_int
#else
DEVMAP_DEF(devmap);
#define DEVMAP_EXT devmap
#define DEVMAP_INT devmap
#endif
#endif

/* RFC 1624: HC' = ~(~HC + ~m + m') for one 16-bit word. */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline __u16 csum_replace4(__u16 check, __u32 old, __u32 new)
{
	check = csum_replace2(check, old >> 16, new >> 16);
	return csum_replace2(check, old & 0xffff, new & 0xffff);
}

static __always_inline int nat(struct xdp_md *ctx, void *map, bool dst, void *devmap)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return XDP_PASS;

	struct endpoint key = {};
	key.addr = dst ? ip->daddr : ip->saddr;
	key.port = dst ? tcp->dest : tcp->source;
	struct endpoint *to = bpf_map_lookup_elem(map, &key);
	if (!to)
		return XDP_PASS;

	__be32 *a = dst ? &ip->daddr : &ip->saddr;
	__be16 *p = dst ? &tcp->dest : &tcp->source;
	ip->check = csum_replace4(ip->check, *a, to->addr);
	tcp->check = csum_replace4(tcp->check, *a, to->addr);
	tcp->check = csum_replace2(tcp->check, *p, to->port);
	*a = to->addr;
	*p = to->port;

	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.l4_protocol = IPPROTO_TCP;
	fib.tos = ip->tos;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS; /* translated: the stack resolves ARP or says why not */
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
#ifdef DIRECT_REDIRECT
	return bpf_redirect(fib.ifindex, 0);
#else
	return bpf_redirect_map(devmap, fib.ifindex, 0);
#endif
}

SEC("xdp")
int xdp_nat_ext(struct xdp_md *ctx)
{
#ifdef DIRECT_REDIRECT
	return nat(ctx, &dnat, true, 0);
#else
	return nat(ctx, &dnat, true, &DEVMAP_EXT);
#endif
}

SEC("xdp")
int xdp_nat_int(struct xdp_md *ctx)
{
#ifdef DIRECT_REDIRECT
	return nat(ctx, &snat, false, 0);
#else
	return nat(ctx, &snat, false, &DEVMAP_INT);
#endif
}

char _license[] SEC("license") = "GPL";
