// SPDX-License-Identifier: GPL-2.0
/*
 * Self-test of include/aya_log.h, run with BPF_PROG_TEST_RUN by the integration tests
 * (tests/integration/aya_log.rs), which decode its records with the aya-log crate itself.
 *
 * xd_log_selftest writes one record with every argument type the header supports, taking the
 * values from the test frame (Ethernet/IPv4/TCP, no IP options, 16 payload bytes read as an
 * IPv6 address), one record per level, and one record too long to fit (dropped, counted).
 * xd_log_selftest_rate writes one short record per run through the token bucket.
 *
 * Keep each xd_log_begin on one line: the test finds the lines of the calls in this file and
 * expects them in the records.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "aya_log.h"

#define T "selftest"
#define M "log_selftest"

/* 60 characters: ten of them make a record longer than XD_LOG_MAX. */
#define LONG "0123456789012345678901234567890123456789012345678901234567 "

SEC("xdp")
int xd_log_selftest(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	__u8 *payload = (void *)(tcp + 1);
	struct xd_log_rec r;
	__u32 seq, ack;

	if ((void *)(payload + 16) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_TCP || tcp->doff != 5) {
		if (xd_log_enabled(XD_LOG_ERROR) && xd_log_begin(&r, XD_LOG_ERROR, T, M)) {
			xd_log_str(&r, "not Ethernet/IPv4/TCP with 16 payload bytes");
			xd_log_submit(&r);
		}
		return XDP_PASS;
	}
	seq = bpf_ntohl(tcp->seq);
	ack = bpf_ntohl(tcp->ack_seq);

	if (xd_log_enabled(XD_LOG_INFO) && xd_log_begin(&r, XD_LOG_INFO, T, M)) {
		xd_log_str(&r, "eth ");
		xd_log_mac(&r, eth->h_source);
		xd_log_str(&r, " -> ");
		xd_log_mac(&r, eth->h_dest);
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_INFO) && xd_log_begin(&r, XD_LOG_INFO, T, M)) {
		xd_log_str(&r, "tcp ");
		xd_log_ipv4(&r, ip->saddr);
		xd_log_str(&r, ":");
		xd_log_u16(&r, bpf_ntohs(tcp->source));
		xd_log_str(&r, " -> ");
		xd_log_ipv4(&r, ip->daddr);
		xd_log_str(&r, ":");
		xd_log_u16(&r, bpf_ntohs(tcp->dest));
		xd_log_str(&r, " payload ");
		xd_log_ipv6(&r, payload);
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_DEBUG) && xd_log_begin(&r, XD_LOG_DEBUG, T, M)) {
		xd_log_str(&r, "u8 ");
		xd_log_u8(&r, ip->ttl);
		xd_log_str(&r, " u16 ");
		xd_log_u16(&r, bpf_ntohs(ip->tot_len));
		xd_log_str(&r, " u32 ");
		xd_log_u32(&r, seq);
		xd_log_str(&r, " u64 ");
		xd_log_u64(&r, ((__u64)seq << 32) | ack);
		xd_log_str(&r, " i32 ");
		xd_log_i32(&r, -(__s32)ip->ttl);
		xd_log_str(&r, " i64 ");
		xd_log_i64(&r, -(__s64)seq * 1000);
		xd_log_str(&r, " hex ");
		xd_log_hex32(&r, ack);
		xd_log_submit(&r);
	}

	if (xd_log_enabled(XD_LOG_ERROR) && xd_log_begin(&r, XD_LOG_ERROR, T, M)) {
		xd_log_str(&r, "level error");
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_WARN) && xd_log_begin(&r, XD_LOG_WARN, T, M)) {
		xd_log_str(&r, "level warn");
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_INFO) && xd_log_begin(&r, XD_LOG_INFO, T, M)) {
		xd_log_str(&r, "level info");
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_DEBUG) && xd_log_begin(&r, XD_LOG_DEBUG, T, M)) {
		xd_log_str(&r, "level debug");
		xd_log_submit(&r);
	}
	if (xd_log_enabled(XD_LOG_TRACE) && xd_log_begin(&r, XD_LOG_TRACE, T, M)) {
		xd_log_str(&r, "level trace");
		xd_log_submit(&r);
	}

	/* Longer than XD_LOG_MAX: never reaches the ring, counted in xd_log_state.overflow. */
	if (xd_log_enabled(XD_LOG_TRACE) && xd_log_begin(&r, XD_LOG_TRACE, T, M)) {
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_str(&r, LONG);
		xd_log_submit(&r);
	}
	return XDP_PASS;
}

SEC("xdp")
int xd_log_selftest_rate(struct xdp_md *ctx)
{
	struct xd_log_rec r;

	if (xd_log_enabled(XD_LOG_INFO) && xd_log_allow() && xd_log_begin(&r, XD_LOG_INFO, T, M)) {
		xd_log_str(&r, "tick on queue ");
		xd_log_u32(&r, ctx->rx_queue_index);
		xd_log_submit(&r);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
