// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark helper: redirects every frame, unparsed and unmodified, to one interface. It
 * measures the redirect path alone (devmap enqueue, target ndo_xdp_xmit), without the
 * forwarder's parsing, lookups and rewriting.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Set at load time: where every frame goes. Userspace also inserts it into redirect_devmap
 * (key = value = target_ifindex). */
const volatile __u32 target_ifindex = 0;

/* Same layout as the forwarder's devmap (value struct bpf_devmap_val, see forwarder.bpf.c).
 * A few slots so a benchmark can switch targets without reloading. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, 8);
} redirect_devmap SEC(".maps");

SEC("xdp")
int xdp_redirect_only(struct xdp_md *ctx)
{
	/* A missing entry is a broken benchmark setup: XDP_ABORTED makes it visible as
	 * xdp:xdp_exception instead of a quiet pass. */
	return bpf_redirect_map(&redirect_devmap, target_ifindex, XDP_ABORTED);
}

char LICENSE[] SEC("license") = "GPL";
