// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark generator helper for the kernel-NAT variant of `xdpdoctor bench`: writes the
 * crafted frame's first BENCH_HDR_LEN bytes back into the frame, then XDP_PASS.
 *
 * Why: BPF_PROG_TEST_RUN live frames recycle their page-pool pages without re-copying the
 * frame while one call runs. The stack translates a passed frame in place (conntrack DNAT,
 * ip_forward's TTL, the neighbour's MACs), so a recycled page would carry a translated frame
 * addressed to the container's MAC, which vm's stack drops as PACKET_OTHERHOST (measured on
 * 6.18 with plain xdp_pass: 832 of 200,000 frames delivered). Everything the stack rewrites
 * is in the Ethernet, IPv4 and TCP headers, so restoring the first 64 bytes is enough.
 * Userspace writes the frame into bench_pristine before each test run.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_HDR_LEN 64

struct bench_hdr {
	__u8 bytes[BENCH_HDR_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bench_hdr);
	__uint(max_entries, 1);
} bench_pristine SEC(".maps");

SEC("xdp")
int xdp_restore_pass(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct bench_hdr *h;
	__u32 zero = 0;

	if (data + BENCH_HDR_LEN > data_end)
		return XDP_PASS;
	h = bpf_map_lookup_elem(&bench_pristine, &zero);
	if (h)
		__builtin_memcpy(data, h->bytes, BENCH_HDR_LEN);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
