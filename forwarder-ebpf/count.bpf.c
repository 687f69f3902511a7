// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark sink: counts every frame that reaches the interface's XDP hook and passes it on.
 * Attached to the far end of a redirect, its counter is the delivered-frame count. Also an
 * XDP program on a veth peer, so it enables redirects into that veth like xdp_pass.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set at load time: non-zero drops IPv4 frames after counting them, so nothing behind the
 * counter (skb allocation, GRO, the container's stack) limits a benchmark. Other frames (ARP)
 * still pass, so the sender keeps resolving the container's MAC. Default 0: XDP_PASS all. */
const volatile __u32 drop_ipv4 = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} rx_count SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&rx_count, &zero);

	if (n)
		*n += 1; /* per-CPU slot: no atomics needed */
	if (drop_ipv4) {
		void *data_end = (void *)(long)ctx->data_end;
		struct ethhdr *eth = (void *)(long)ctx->data;

		if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP))
			return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
