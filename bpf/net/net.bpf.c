// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup sock_addr hooks: connect and unconnected UDP sends, IPv4 and IPv6. They observe only
 * (always return 1, "allow"); blocking is the guard programs' job. Attached at the cgroup v2
 * root by default, so the tracked-set lookup is what keeps untracked processes at one lookup.
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"

#define AF_INET 2
#define AF_INET6 10

static __always_inline int cf_sock_addr(struct bpf_sock_addr *ctx, __u32 op, __u16 family)
{
	__u8 addr[16] = {};
	__u32 ip[4] = {};
	__u32 tgid = cf_current_tgid();
	struct cf_sock_owner *owner;

	if (!cf_lookup_tracked(tgid))
		return 1;
	owner = bpf_sk_storage_get(&sock_owner, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (owner)
		owner->tgid = tgid;
	/*
	 * Context fields must be loaded at constant offsets from the unmodified ctx pointer; the
	 * barriers keep clang from folding them into one pointer plus an index.
	 */
	if (family == AF_INET) {
		ip[0] = ctx->user_ip4;
	} else {
		ip[0] = ctx->user_ip6[0];
		barrier_var(ip[0]);
		ip[1] = ctx->user_ip6[1];
		barrier_var(ip[1]);
		ip[2] = ctx->user_ip6[2];
		barrier_var(ip[2]);
		ip[3] = ctx->user_ip6[3];
	}
	__builtin_memcpy(addr, ip, sizeof(ip));
	cf_net_hook(op, family, bpf_ntohs(ctx->user_port), ctx->protocol, ctx->type, addr);
	return 1;
}

SEC("cgroup/connect4")
int cf_connect4(struct bpf_sock_addr *ctx)
{
	return cf_sock_addr(ctx, CF_NET_CONNECT, AF_INET);
}

SEC("cgroup/connect6")
int cf_connect6(struct bpf_sock_addr *ctx)
{
	return cf_sock_addr(ctx, CF_NET_CONNECT, AF_INET6);
}

SEC("cgroup/sendmsg4")
int cf_sendmsg4(struct bpf_sock_addr *ctx)
{
	return cf_sock_addr(ctx, CF_NET_SENDTO, AF_INET);
}

SEC("cgroup/sendmsg6")
int cf_sendmsg6(struct bpf_sock_addr *ctx)
{
	return cf_sock_addr(ctx, CF_NET_SENDTO, AF_INET6);
}
