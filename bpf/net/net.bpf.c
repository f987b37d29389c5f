// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup sock_addr hooks: connect and unconnected UDP sends, IPv4 and IPv6, and socket
 * creation. For a tracked process they record the destination and judge it against the guard
 * policy (net.bpf.h); returning 0 makes the syscall fail with EPERM before anything is sent.
 * Attached at the cgroup v2 root by default, so the tracked-set lookup is what keeps untracked
 * processes at one lookup, and they are always allowed.
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"

#define AF_INET 2
#define AF_INET6 10

static __always_inline bool cf_owner_needed(const struct cf_tracked *t)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();

	/* no policy yet: keep owners, as before there were budgets */
	if (!cfg || !(cfg->flags & CF_GUARD_ACTIVE))
		return true;
	return cfg->budget_roles && cf_role_applies(cfg->budget_roles == 0xffff ? 0 : cfg->budget_roles, t->role);
}

static __always_inline int cf_sock_addr(struct bpf_sock_addr *ctx, __u32 op, __u16 family)
{
	__u8 addr[16] = {}, naddr[16];
	__u32 ip[4] = {};
	__u32 tgid = cf_current_tgid();
	const struct cf_tracked *t = cf_lookup_tracked(tgid);
	struct cf_verdict v = { .rule = CF_RULE_NONE };
	struct cf_sock_owner *owner;
	__u16 port;

	if (!t)
		return 1;
	port = bpf_ntohs(ctx->user_port);
	/*
	 * The socket's owner is kept with the socket for the programs that run without the process
	 * (DNS answers, budgets). Creating socket storage is the dearest step of a connect here, so
	 * it is done only where it is needed: DNS traffic and roles some budget counts.
	 */
	if (port == 53 || cf_owner_needed(t)) {
		owner = bpf_sk_storage_get(&sock_owner, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (owner) {
			owner->tgid = tgid;
			owner->group = t->group;
			owner->role = t->role;
		}
	}
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
	/* an IPv4-mapped IPv6 address is the IPv4 address: one form for both */
	cf_addr_normalize(family, addr, naddr);
	cf_guard_egress(t, naddr, port, &v);
	cf_net_hook(op, family, port, ctx->protocol, ctx->type, addr, &v);
	return v.verdict == CF_VERDICT_BLOCKED ? 0 : 1;
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

#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/*
 * Inet sockets whose traffic the egress guards see: TCP (connect) and UDP (connect, sendmsg).
 * Everything else is a way around them: raw IP, ICMP ("ping"), UDP-Lite and SCTP (their sends
 * carry no sendmsg hook), MPTCP. For a tracked process an allowlist, judged as the socket is
 * created: a protocol the kernel gains later is refused until the guards understand it.
 */
SEC("cgroup/sock_create")
int cf_sock_create(struct bpf_sock *sk)
{
	__u32 tgid = cf_current_tgid();
	const struct cf_tracked *t = cf_lookup_tracked(tgid);
	const struct cf_guard_config *cfg;
	const struct cf_evasion_rule *er;
	struct cf_guard_rec rec = {};
	bool raw;

	if (!t)
		return 1;
	raw = !((sk->type == SOCK_STREAM && sk->protocol == IPPROTO_TCP) ||
		(sk->type == SOCK_DGRAM && sk->protocol == IPPROTO_UDP));
	if (!raw)
		return 1;
	cfg = cf_guard_cfg();
	er = cf_evasion_applies(cfg, CF_EVASION_RAW_SOCKET, t->role);
	if (!er)
		return 1;
	cf_guard_rec_begin(&rec, CF_GUARD_RAW_SOCKET, t, cfg);
	rec.family = sk->family;
	rec.type = sk->type;
	rec.protocol = sk->protocol;
	/* refused here, before the socket exists: nothing to kill */
	cf_guard_rec_judge(&rec, cfg, er, er->action == CF_ACTION_KILL ? CF_ACTION_BLOCK : er->action);
	cf_output(&rec, sizeof(rec));
	return rec.verdict.verdict == CF_VERDICT_BLOCKED ? 0 : 1;
}
