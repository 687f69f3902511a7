// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark sink: counts every frame that reaches the interface's XDP hook and passes it on.
 * Attached to the far end of a redirect, its counter is the delivered-frame count. Also an
 * XDP program on a veth peer, so it enables redirects into that veth like xdp_pass.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set at load time: non-zero drops IPv4 frames after counting them, so nothing behind the
 * counter (skb allocation, GRO, the container's stack) limits a benchmark. Other frames (ARP)
 * still pass, so the sender keeps resolving the container's MAC. Default 0: XDP_PASS all. */
const volatile __u32 drop_ipv4 = 0;

/*
 * Set at load time, used with drop_ipv4: the TTL the generator sends (0 = off). A dropped
 * IPv4 frame gets this TTL back (header checksum updated) before its page returns to the
 * sender. Why: BPF_PROG_TEST_RUN live frames recycle a page within one call without copying
 * the crafted frame again, so a router-like program that decrements TTL would see its own
 * output again, one hop older each time, until TTL 1 sends it to the stack. Restoring it
 * here, after delivery was counted, keeps every pass a first hop. One compare for frames
 * whose TTL is unchanged (redirect-only), a store and an incremental checksum otherwise.
 */
const volatile __u8 restore_ttl = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} rx_count SEC(".maps");

/* Sets the TTL back to restore_ttl with an RFC 1624 update of the header checksum. */
static __always_inline void reset_ttl(struct iphdr *ip)
{
	__u16 *word = (__u16 *)&ip->ttl; /* TTL and protocol: one 16-bit checksum word */
	__u16 old = *word;
	__u32 sum;

	ip->ttl = restore_ttl;
	sum = (__u16)~ip->check + (__u32)(__u16)~old + *word;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = ~(__u16)sum;
}

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
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
			return XDP_PASS;
		if (restore_ttl && (void *)(ip + 1) <= data_end && ip->ttl != restore_ttl)
			reset_ttl(ip);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
