/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network operations of tracked processes. The destination comes from the cgroup sock_addr
 * hooks (the sockaddr the kernel already copied and validated), the result from sys_exit.
 */
#ifndef CF_NET_BPF_H
#define CF_NET_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"

/*
 * The tracked process that connected or sent on a socket, kept with the socket itself, for
 * programs that run outside the process's context (cgroup_skb on packet receive).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cf_sock_owner);
} sock_owner SEC(".maps") CF_SHARED;

static __always_inline bool cf_net_wants(long nr)
{
	return nr == CF_NR_connect || nr == CF_NR_sendto || nr == CF_NR_sendmsg || nr == CF_NR_sendmmsg;
}

static __always_inline void cf_net_emit(__u32 op, long nr, long ret, __u16 flags, __u16 family, __u16 port,
					__u8 protocol, __u8 sock_type, const __u8 *addr)
{
	struct cf_net rec = {};

	cf_fill_hdr(&rec.hdr, CF_OP_NET);
	rec.hdr.size = sizeof(rec);
	rec.net_op = op;
	rec.syscall = nr;
	rec.result = ret;
	rec.flags = flags;
	rec.family = family;
	rec.port = port;
	rec.protocol = protocol;
	rec.sock_type = sock_type;
	__builtin_memcpy(rec.addr, addr, sizeof(rec.addr));
	cf_output(&rec, sizeof(rec));
}

/* Entry of a network syscall by a tracked process: state for the cgroup hooks to fill. */
static __always_inline void cf_net_enter(long nr)
{
	struct cf_inflight in = { .nr = nr };
	__u64 id = bpf_get_current_pid_tgid();

	if (!cf_lookup_tracked(id >> 32))
		return;
	if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
		cf_count(CF_CNT_INFLIGHT_FULL);
}

static __always_inline void cf_net_exit(const struct cf_inflight *in, long ret);

/* Exit of a network syscall: report it if its entry left state, and drop that state. */
static __always_inline void cf_net_leave(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct cf_inflight *in = bpf_map_lookup_elem(&inflight, &id);

	if (!in)
		return;
	cf_net_exit(in, ret);
	bpf_map_delete_elem(&inflight, &id);
}

/* sys_exit of connect/sendto/sendmsg: report only if a sock_addr hook saw a destination. */
static __always_inline void cf_net_exit(const struct cf_inflight *in, long ret)
{
	if (!in->has_addr)
		return;
	cf_net_emit(in->nr == CF_NR_connect ? CF_NET_CONNECT : CF_NET_SENDTO, in->nr, ret, 0, in->family,
		    in->port, in->protocol, in->sock_type, in->addr);
}

/*
 * Called from the cgroup sock_addr hooks. Inside a syscall the destination is parked for the
 * exit; with no syscall in flight (io_uring workers run the hook from the kernel) the record
 * is written at once, without a result. sendmmsg runs the hook once per message: every
 * destination after the first is written at once too.
 */
static __always_inline void cf_net_hook(__u32 op, __u16 family, __u16 port, __u8 protocol, __u8 sock_type,
					const __u8 *addr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct cf_inflight *in = bpf_map_lookup_elem(&inflight, &id);

	if (in && cf_net_wants(in->nr) && !in->has_addr) {
		in->has_addr = 1;
		in->family = family;
		in->port = port;
		in->protocol = protocol;
		in->sock_type = sock_type;
		__builtin_memcpy(in->addr, addr, sizeof(in->addr));
		return;
	}
	if (!in)
		cf_count(CF_CNT_HOOK_ORPHAN);
	cf_net_emit(op, in ? in->nr : -1, 0, CF_NET_NO_SYSCALL, family, port, protocol, sock_type, addr);
}

#endif /* CF_NET_BPF_H */
