/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The guards' policy: maps user space compiles the rules into (agent/enforce/), read by the
 * programs that decide. Nothing here asks user space anything: a decision is a few map lookups.
 * All of these maps are pinned with the programs, so the last policy stays in force when the
 * agent is gone.
 */
#ifndef CF_GUARD_BPF_H
#define CF_GUARD_BPF_H

#include "../lib/common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_guard_config);
} guard_config SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_GUARD_RULES);
	__type(key, __u32);
	__type(value, struct cf_guard_rule);
} guard_rules SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cf_cidr_key);
	__type(value, __u64);
} guard_cidrs SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cf_name_key);
	__type(value, struct cf_name_val);
} guard_names SEC(".maps") CF_SHARED;

/* The DNS servers whose answers may approve addresses (the host's resolvers). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct cf_addr_key);
	__type(value, __u8);
} guard_resolvers SEC(".maps") CF_SHARED;

/* LRU: an evicted address is refused until its name is resolved again (fail closed). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct cf_addr_key);
	__type(value, struct cf_addr_val);
} guard_addrs SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_BUDGETS_MAX);
	__type(key, __u32);
	__type(value, struct cf_budget);
} guard_budgets SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct cf_budget_key);
	__type(value, struct cf_budget_val);
} budget_state SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_GPATH_MAX);
	__type(key, __u32);
	__type(value, struct cf_gpath);
} guard_paths SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cf_gpath_key);
	__type(value, __u64);
} guard_path_prefix SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cf_gpath_key);
	__type(value, __u64);
} guard_path_suffix SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cf_gpath_dir);
	__type(value, __u64);
} guard_path_dirs SEC(".maps") CF_SHARED;

/* Bookkeeping for user space (never read by a program): pinned with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_RULE_IDS);
	__type(key, __u32);
	__type(value, struct cf_rule_id);
} guard_rule_ids SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_guard_info);
} guard_info SEC(".maps") CF_SHARED;

static __always_inline const struct cf_guard_config *cf_guard_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&guard_config, &zero);
}

/* The policy in force, or NULL when there is none or it is monitor mode (guards stand by). */
static __always_inline const struct cf_guard_config *cf_guard_judging(void)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();

	if (!cfg || !(cfg->flags & CF_GUARD_ACTIVE) || cfg->mode == CF_MODE_MONITOR)
		return NULL;
	return cfg;
}

static __always_inline bool cf_role_applies(__u16 mask, __u8 role)
{
	return mask == 0 || (role < CF_ROLE_MAX && (mask & (1u << role)));
}

static __always_inline bool cf_role_final(const struct cf_guard_config *cfg, __u8 role)
{
	return cfg && role && role < CF_ROLE_MAX && (cfg->role_final & (1u << role));
}

/*
 * The assistant's own processes (a role that is not final: the gateway, its helpers) are never
 * killed: killing the gateway takes the assistant down, which an attacker who can steer it into
 * a forbidden file would like. A kill rule refuses their operation where it can be refused (BPF
 * LSM) and alerts otherwise. Tools, and processes no role names, are killed.
 */
static __always_inline __u8 cf_action_for_role(const struct cf_guard_config *cfg, __u8 action, __u8 role)
{
	if (action == CF_ACTION_KILL && role && role < CF_ROLE_MAX && !cf_role_final(cfg, role))
		return CF_ACTION_ALERT;
	return action;
}

/* What a matched rule's action comes to in the current mode. */
static __always_inline __u8 cf_verdict_for(const struct cf_guard_config *cfg, __u8 action)
{
	if (action == CF_ACTION_ALERT || cfg->mode == CF_MODE_MONITOR)
		return CF_VERDICT_ALERT;
	if (cfg->mode == CF_MODE_DRY_RUN)
		return action == CF_ACTION_KILL ? CF_VERDICT_WOULD_KILL : CF_VERDICT_WOULD_BLOCK;
	return action == CF_ACTION_KILL ? CF_VERDICT_KILLED : CF_VERDICT_BLOCKED;
}

static __always_inline void cf_verdict_count(__u8 verdict)
{
	if (verdict == CF_VERDICT_BLOCKED)
		cf_count(CF_CNT_BLOCKED);
	else if (verdict == CF_VERDICT_KILLED)
		cf_count(CF_CNT_KILLED);
	else if (verdict == CF_VERDICT_WOULD_BLOCK || verdict == CF_VERDICT_WOULD_KILL)
		cf_count(CF_CNT_WOULD_BLOCK);
}

/* The evasion rule of `slot` that applies to a process of role `role`, or NULL (no policy yet,
 * no such rule, or not for this role). */
static __always_inline const struct cf_evasion_rule *cf_evasion_applies(const struct cf_guard_config *cfg,
									  __u32 slot, __u8 role)
{
	const struct cf_evasion_rule *er;

	if (!cfg || !(cfg->flags & CF_GUARD_ACTIVE) || slot >= CF_EVASION_MAX)
		return NULL;
	er = &cfg->evasion[slot];
	if (er->rule == CF_RULE_NONE || !cf_role_applies(er->role_mask, role))
		return NULL;
	return er;
}

/* Starts a guard record about the current (tracked) process; no rule judged it yet. */
static __always_inline void cf_guard_rec_begin(struct cf_guard_rec *rec, __u32 what, const struct cf_tracked *t,
					       const struct cf_guard_config *cfg)
{
	cf_fill_hdr_role(&rec->hdr, CF_OP_GUARD, t->role);
	rec->hdr.size = sizeof(*rec);
	rec->what = what;
	rec->verdict.rule = CF_RULE_NONE;
	rec->verdict.role = t->role;
	rec->verdict.generation = cfg ? cfg->generation : 0;
}

/* What `action` comes to in the current mode, done: counted, and SIGKILL sent when it is a kill.
 * Independent of any record (a full ring buffer must not spare the process). */
static __always_inline __u8 cf_guard_act(const struct cf_guard_config *cfg, __u8 action, __u8 role)
{
	__u8 verdict = cf_verdict_for(cfg, cf_action_for_role(cfg, action, role));

	if (verdict == CF_VERDICT_KILLED)
		bpf_send_signal(9);
	cf_verdict_count(verdict);
	return verdict;
}

/* Judges the record under `er` with `action`, what can still be done at this hook: the verdict
 * is set and counted, and SIGKILL sent when it is a kill. */
static __always_inline void cf_guard_rec_judge(struct cf_guard_rec *rec, const struct cf_guard_config *cfg,
					       const struct cf_evasion_rule *er, __u8 action)
{
	rec->verdict.rule = er->rule;
	rec->verdict.verdict = cf_verdict_for(cfg, action);
	if (rec->verdict.verdict == CF_VERDICT_KILLED)
		bpf_send_signal(9);
	cf_verdict_count(rec->verdict.verdict);
}

/* IPv4 (first 4 bytes of `addr`) or IPv6 as the 16-byte form the guard maps use. */
static __always_inline void cf_addr_normalize(__u16 family, const __u8 *addr, __u8 *out)
{
	if (family == 2 /* AF_INET */) {
		__builtin_memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		__builtin_memcpy(out + 12, addr, 4);
	} else {
		__builtin_memcpy(out, addr, 16);
	}
}

#endif /* CF_GUARD_BPF_H */
