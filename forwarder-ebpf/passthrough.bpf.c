// SPDX-License-Identifier: GPL-2.0
/*
 * XDP_PASS for every frame. Attached to a veth peer that has no XDP program, it is the
 * write-up's fix for redirects into that veth being dropped: the peer then has an XDP receive
 * queue (up to 6.2: NAPI for veth_xdp_xmit; 6.3+: the veth advertises ndo-xmit).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
