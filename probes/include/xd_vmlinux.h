/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel structs xdpdoctor's probes read, hand-written (not a generated vmlinux.h).
 * Every struct is marked preserve_access_index: clang records each field access as a CO-RE
 * relocation and the loader fixes the offsets from the running kernel's BTF, so only the
 * field *names* must match the kernel, not the layout. Field order here is irrelevant.
 */
#ifndef XD_VMLINUX_H
#define XD_VMLINUX_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef _Bool bool;
#define true 1
#define false 0

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
};

struct sock_common {
	possible_net_t skc_net;
};

struct sock {
	struct sock_common __sk_common;
};

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	int skb_iif;
	__u16 protocol;
	/* The packet: offsets from `head` (mac_header and network_header are ~0 when unset);
	 * `len` counts from `data`, `data_len` is the part outside the linear area. */
	unsigned char *head;
	unsigned char *data;
	unsigned int len;
	unsigned int data_len;
	__u16 mac_header;
	__u16 network_header;
};

struct bpf_prog_aux {
	u32 id;
};

struct bpf_prog {
	struct bpf_prog_aux *aux;
};

/* The first member of the devmap's private `struct bpf_dtab_netdev`; xdp_redirect_err's
 * `tgt` points to it for DEVMAP and DEVMAP_HASH redirects (include/trace/events/xdp.h uses
 * the same trick with its own `struct _bpf_dtab_netdev`). */
struct _bpf_dtab_netdev {
	struct net_device *dev;
};

#pragma clang attribute pop

/*
 * The register frame kprobes see, per target arch (build.rs sets __TARGET_ARCH_* from the
 * Cargo target). Field names are the ones libbpf's bpf_tracing.h uses in PT_REGS_PARM*() and
 * PT_REGS_RC() when __VMLINUX_H__ is not defined: the uapi names. Only x86 is built and tested.
 */
#if defined(__TARGET_ARCH_x86)
/* x86-64: the uapi layout, which equals the kernel's. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	unsigned long rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
/* arm64: bpf_tracing.h reads registers through the uapi struct user_pt_regs
 * (asm/ptrace.h), which is the first member of the kernel's struct pt_regs. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

struct pt_regs {
	struct user_pt_regs user_regs;
};
#else
#error "xd_vmlinux.h: no struct pt_regs for this __TARGET_ARCH_ (see xdpdoctor/build.rs)"
#endif

#endif
