/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network operations of tracked processes. The destination comes from the cgroup sock_addr
 * hooks (the sockaddr the kernel already copied and validated), the result from sys_exit.
 */
#ifndef CF_NET_BPF_H
#define CF_NET_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "../guard/guard.bpf.h"

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
					__u8 protocol, __u8 sock_type, const __u8 *addr,
					const struct cf_verdict *verdict)
{
	struct cf_net *rec = cf_reserve(sizeof(*rec));

	if (!rec)
		return;
	cf_fill_hdr(&rec->hdr, CF_OP_NET);
	rec->hdr.size = sizeof(*rec);
	rec->net_op = op;
	rec->syscall = nr;
	rec->result = ret;
	rec->flags = flags;
	rec->family = family;
	rec->port = port;
	rec->protocol = protocol;
	rec->sock_type = sock_type;
	__builtin_memcpy(rec->addr, addr, sizeof(rec->addr));
	rec->verdict = *verdict;
	cf_submit(rec);
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
		    in->port, in->protocol, in->sock_type, in->addr, &in->verdict);
}

/*
 * Called from the cgroup sock_addr hooks. Inside a syscall the destination is parked for the
 * exit; with no syscall in flight (io_uring workers run the hook from the kernel) the record
 * is written at once, without a result. sendmmsg runs the hook once per message: every
 * destination after the first is written at once too.
 */
static __always_inline void cf_net_hook(__u32 op, __u16 family, __u16 port, __u8 protocol, __u8 sock_type,
					const __u8 *addr, const struct cf_verdict *verdict)
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
		in->verdict = *verdict;
		return;
	}
	if (!in)
		cf_count(CF_CNT_HOOK_ORPHAN);
	cf_net_emit(op, in ? in->nr : -1, 0, CF_NET_NO_SYSCALL, family, port, protocol, sock_type, addr, verdict);
}

/* ---- the egress guard --------------------------------------------------------------------- */

struct cf_egress_judge {
	__u64 rules;   /* candidate rules: CIDR trie and learned addresses */
	__u16 port;
	__u8 role;
	bool allowed;
	const struct cf_guard_rule *deny; /* first deny rule that applies */
};

static __always_inline bool cf_port_in(const struct cf_guard_rule *r, __u16 port)
{
	if (r->nports == 0)
		return true;
	for (__u32 i = 0; i < CF_PORT_RANGES; i++) {
		if (i >= r->nports)
			break;
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	}
	return false;
}

/* bpf_loop body: rule i, if it is a candidate. */
static long cf_egress_rule(__u32 i, void *data)
{
	struct cf_egress_judge *j = data;
	const struct cf_guard_rule *r;

	if (!(j->rules >> i))
		return 1; /* no candidates left */
	if (!((j->rules >> i) & 1))
		return 0;
	r = bpf_map_lookup_elem(&guard_rules, &i);
	if (!r || !cf_role_applies(r->role_mask, j->role) || !cf_port_in(r, j->port))
		return 0;
	if (r->kind == CF_GRULE_ALLOW) {
		j->allowed = true;
	} else if (r->kind == CF_GRULE_DENY && r->action != CF_ACTION_ALERT) {
		j->deny = r;
		return 1;
	}
	return 0;
}

/*
 * Judges a destination of a tracked process: deny rules first, then the allow rules and the
 * addresses learned from DNS answers for approved names; what none approves is unapproved
 * under `default: deny`. `naddr` is the normalized 16-byte address. Fills `v` only when a
 * rule whose action is not alert decides (or fail-closed does).
 */
static __always_inline void cf_guard_egress(const struct cf_tracked *t, const __u8 *naddr, __u16 port,
					    struct cf_verdict *v)
{
	const struct cf_guard_config *cfg = cf_guard_judging();
	struct cf_egress_judge j = { .port = port, .role = t->role };
	struct cf_cidr_key key = { .prefixlen = 128 };
	const struct cf_addr_val *learned;
	const __u64 *bits;
	__u64 now;

	if (!cfg)
		return;
	now = bpf_ktime_get_boot_ns();
	v->generation = cfg->generation;
	v->role = t->role;
	if (cfg->flags & CF_GUARD_FAIL_CLOSED) {
		__u32 zero = 0;
		const struct cf_guard_state *st = bpf_map_lookup_elem(&guard_state, &zero);

		if (st && st->last_loss_ns && now - st->last_loss_ns < cfg->fail_closed_ns) {
			v->rule = CF_RULE_FAIL_CLOSED;
			v->verdict = cf_verdict_for(cfg, CF_ACTION_BLOCK);
			cf_count(CF_CNT_FAIL_CLOSED);
			cf_verdict_count(v->verdict);
			return;
		}
	}
	__builtin_memcpy(key.addr, naddr, 16);
	bits = bpf_map_lookup_elem(&guard_cidrs, &key);
	if (bits)
		j.rules = *bits;
	learned = bpf_map_lookup_elem(&guard_addrs, (struct cf_addr_key *)key.addr);
	if (learned && learned->expires_ns > now)
		j.rules |= learned->rules;
	if (j.rules)
		bpf_loop(CF_GUARD_RULES, cf_egress_rule, &j, 0);
	if (j.deny) {
		v->rule = j.deny->rule;
		v->verdict = cf_verdict_for(cfg, j.deny->action);
	} else if (!j.allowed && (cfg->flags & CF_GUARD_DEFAULT_DENY) && cfg->unapproved_action != CF_ACTION_ALERT) {
		v->rule = cfg->unapproved_rule;
		v->verdict = cf_verdict_for(cfg, cfg->unapproved_action);
	} else {
		return;
	}
	cf_verdict_count(v->verdict);
}

#endif /* CF_NET_BPF_H */
