// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Egress byte budgets, counted as packets leave the sockets of tracked processes (cgroup_skb
 * egress). The socket's owner, its group (the tool run) and role come from the socket-local
 * storage the sock_addr hooks fill at connect/sendmsg, so a packet sent from softirq context
 * (TCP retransmits, ACK-clocked data) or by a child that inherited the socket is still charged
 * to the group that connected. Past a budget, one record says so per window; in enforce mode
 * the group's packets to counted destinations are dropped until the window ends. Counting
 * happens in every mode: the volume alerts of monitor mode come from here too.
 */
#include <bpf/bpf_endian.h>
#include "net.bpf.h"

#define AF_INET 2
#define AF_INET6 10

struct cf_budget_judge {
	struct __sk_buff *skb;
	const struct cf_sock_owner *owner;
	const struct cf_guard_config *cfg;
	__u64 dest_rules; /* rules of the destination's learned address (budget exemptions) */
	__u64 now;
	__u32 len;
	__u16 family;
	__u16 port;
	__u8 addr[16];
	bool drop;
};

static __always_inline void cf_budget_report(struct cf_budget_judge *j, const struct cf_budget *b,
					     const struct cf_budget_val *st, __u8 verdict)
{
	struct cf_guard_rec rec = {};

	rec.hdr.op = CF_OP_GUARD;
	rec.hdr.size = sizeof(rec);
	rec.hdr.cpu = bpf_get_smp_processor_id();
	rec.hdr.ts_ns = j->now;
	rec.hdr.tgid = j->owner->tgid; /* may run in softirq: the owner, not current */
	rec.hdr.role = j->owner->role;
	rec.what = CF_GUARD_BUDGET;
	rec.verdict.verdict = verdict;
	rec.verdict.role = j->owner->role;
	rec.verdict.rule = b->rule;
	rec.verdict.generation = j->cfg->generation;
	rec.bytes = st->bytes;
	rec.window_ns = b->window_ns;
	rec.group = j->owner->group;
	rec.family = j->family;
	rec.port = j->port;
	__builtin_memcpy(rec.addr, j->addr, 16);
	cf_output(&rec, sizeof(rec));
}

/* bpf_loop body: charge budget i. */
static long cf_budget_step(__u32 i, void *data)
{
	struct cf_budget_judge *j = data;
	const struct cf_budget *b = bpf_map_lookup_elem(&guard_budgets, &i);
	struct cf_budget_key key = { .group = j->owner->group, .budget = i };
	struct cf_budget_val *st, init = {};
	__u64 bytes;
	__u8 verdict;

	if (!b || !b->enabled)
		return 1; /* budgets are written densely from index 0 */
	if (!cf_role_applies(b->role_mask, j->owner->role) || (j->dest_rules & b->exempt))
		return 0;
	st = bpf_map_lookup_elem(&budget_state, &key);
	if (!st) {
		init.window_start_ns = j->now;
		bpf_map_update_elem(&budget_state, &key, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&budget_state, &key);
		if (!st)
			return 0;
	}
	if (j->now - st->window_start_ns >= b->window_ns) {
		/* a new window; racing CPUs may each reset it once: bytes of a packet or two */
		st->window_start_ns = j->now;
		st->bytes = 0;
		st->reported = 0;
	}
	bytes = __sync_fetch_and_add(&st->bytes, j->len) + j->len;
	if (bytes <= b->max_bytes)
		return 0;
	/* a packet cannot be killed: past the budget it is dropped (cf_verdict_for: only alerted in monitor mode) */
	verdict = cf_verdict_for(j->cfg, b->action == CF_ACTION_KILL ? CF_ACTION_BLOCK : b->action);
	if (__sync_val_compare_and_swap(&st->reported, 0, 1) == 0) {
		cf_verdict_count(verdict);
		cf_budget_report(j, b, st, verdict);
	}
	if (verdict == CF_VERDICT_BLOCKED) {
		j->drop = true;
		cf_count(CF_CNT_BUDGET_DROPS);
	}
	return 0;
}

SEC("cgroup_skb/egress")
int cf_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct cf_sock_owner *owner;
	struct cf_budget_judge j = {};
	struct cf_addr_val *learned;
	__u8 naddr[16];

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	owner = bpf_sk_storage_get(&sock_owner, sk, 0, 0);
	if (!owner)
		return 1;
	j.cfg = cf_guard_cfg();
	if (!j.cfg || !(j.cfg->flags & CF_GUARD_ACTIVE))
		return 1;
	j.owner = owner;
	j.skb = skb;
	j.len = skb->len;
	j.now = bpf_ktime_get_boot_ns();
	j.family = skb->family;
	/* __sk_buff.remote_port is the 16-bit network-order port, loaded into the low half */
	j.port = bpf_ntohs((__u16)skb->remote_port);
	if (skb->family == AF_INET) {
		__u32 a = skb->remote_ip4;

		__builtin_memcpy(j.addr, &a, 4);
	} else if (skb->family == AF_INET6) {
		__u32 a[4];

		a[0] = skb->remote_ip6[0];
		barrier_var(a[0]);
		a[1] = skb->remote_ip6[1];
		barrier_var(a[1]);
		a[2] = skb->remote_ip6[2];
		barrier_var(a[2]);
		a[3] = skb->remote_ip6[3];
		__builtin_memcpy(j.addr, a, 16);
	} else {
		return 1;
	}
	cf_addr_normalize(j.family, j.addr, naddr);
	learned = bpf_map_lookup_elem(&guard_addrs, (struct cf_addr_key *)naddr);
	if (learned) {
		/* an address learned from DNS stays approved while a connection still uses it */
		__u64 hold = j.now + j.cfg->dns_hold_ns;

		if (learned->expires_ns < hold)
			learned->expires_ns = hold;
		j.dest_rules = learned->rules;
	}
	bpf_loop(CF_BUDGETS_MAX, cf_budget_step, &j, 0);
	return j.drop ? 0 : 1;
}
