/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * One's complement arithmetic (RFC 1071 / RFC 1624) for the forwarder's incremental checksum
 * updates. Sums are kept over 16-bit words *as loaded from the packet* (native byte order).
 * The one's complement sum is byte-order independent, so storing the result the same way is
 * correct without any byte swapping.
 */
#ifndef XDPDOCTOR_CSUM_H
#define XDPDOCTOR_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Adds both 16-bit halves of a 32-bit packet field. */
static __always_inline __u64 csum_add32(__u64 acc, __u32 v)
{
	return acc + (v & 0xffff) + (v >> 16);
}

/* Folds a 64-bit accumulator to 16 bits, carries included. Two folds at each width suffice:
 * after the first the value is at most one bit wider than the target, the second absorbs it. */
static __always_inline __u16 csum_fold(__u64 acc)
{
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)acc;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). `diff` is the sum of ~m and m' words. */
static __always_inline __u16 csum_update(__u16 check, __u64 diff)
{
	return ~csum_fold((__u16)~check + diff);
}

/* The checksum difference of replacing a 32-bit field `from` with `to`. */
static __always_inline __u64 csum_diff32(__u32 from, __u32 to)
{
	return csum_add32(csum_add32(0, ~from), to);
}

/* The checksum difference of replacing a 16-bit field `from` with `to`. */
static __always_inline __u64 csum_diff16(__u16 from, __u16 to)
{
	return (__u16)~from + (__u64)to;
}

#endif
