/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Roles: who a watched process is inside the assistant's tree (the gateway, OpenClaw's own
 * helpers, a tool the gateway ran), decided here because the guards act on it: a kill rule for
 * tools must not kill OpenClaw's own sqlite worker, and must kill a tool however it names itself.
 *
 * A process's role is decided at each of its execs from the role rules that user space compiled
 * into guard_role_rules: the first rule whose from_mask holds the process's origin (the role of
 * the process it was forked from, or CF_ORIGIN_ROOT for one that matched a target) and whose
 * conditions hold on what the kernel has at exec (the executed file's name, argv element by
 * element). A role marked final in guard_config.role_final (the tool) is never judged again:
 * what a tool execs or forks stays a tool whatever it runs or renames itself to, so nothing
 * below a tool can become the gateway or a helper. comm plays no part below a tree's root.
 */
#ifndef CF_ROLES_BPF_H
#define CF_ROLES_BPF_H

#include "guard.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_ROLE_RULES);
	__type(key, __u32);
	__type(value, struct cf_role_rule);
} guard_role_rules SEC(".maps") CF_SHARED;

/* argv is copied at most CF_ARGV_MAX bytes into the scratch buffer, which runs far past that:
 * every index into it is masked with this. */
#define CF_ROLE_ARGV_MASK (2 * CF_ARGV_MAX - 1)
_Static_assert(CF_ROLE_ARGS < 16, "argv offsets are indexed & 15");

/* What an exec shows the role rules. */
struct cf_role_exec {
	const char *argv; /* NUL-separated, in the scratch record */
	__u32 argv_len;
	__u32 argc;       /* counted up to CF_ROLE_ARGS + 1: more than the rules can name */
	__u16 off[16];    /* argv[i] starts at argv + off[i] */
	__u16 len[16];
	char exe[CF_ROLE_EXE] __attribute__((aligned(8))); /* the executed file's name, zero padded */
	bool argv_unknown;     /* argv cannot be read (an LSM hook before exec): argv rules fail */
};

static __always_inline __u16 cf_origin_bit(__u8 origin)
{
	if (origin == CF_ORIGIN_ROOT)
		return 1;
	return origin && origin < CF_ROLE_MAX ? 1u << origin : 0; /* a role-less parent: no rule */
}

/* bpf_loop body: splits argv at its NULs, one byte per step. */
static long cf_role_split_step(__u32 i, void *data)
{
	struct cf_role_exec *e = data;
	__u32 k = e->argc;

	if (i >= e->argv_len || k > CF_ROLE_ARGS)
		return 1;
	if (e->argv[i & CF_ROLE_ARGV_MASK] != 0)
		return 0;
	e->len[k & 15] = i - e->off[k & 15];
	e->argc = ++k;
	if (k <= CF_ROLE_ARGS)
		e->off[k & 15] = i + 1;
	return 0;
}

/* Splits argv into the first CF_ROLE_ARGS elements (a last one cut at CF_ARGV_MAX counts). */
static __always_inline void cf_role_split_argv(struct cf_role_exec *e)
{
	__u32 k;

	e->argc = 0;
	e->off[0] = 0;
	bpf_loop(CF_ARGV_MAX, cf_role_split_step, e, 0);
	k = e->argc;
	if (k <= CF_ROLE_ARGS && e->off[k & 15] < e->argv_len) {
		e->len[k & 15] = e->argv_len - e->off[k & 15];
		e->argc = k + 1;
	}
}

struct cf_role_cmp {
	const char *hay;      /* argv */
	__u32 hay_off;
	const char *pat;      /* a rule's text */
	__u32 pat_off;
	bool differs;
};

/* bpf_loop body: one byte of an argv element against one byte of a rule's text. */
static long cf_role_cmp_step(__u32 i, void *data)
{
	struct cf_role_cmp *c = data;
	__u32 p = c->pat_off + i;

	if (p >= CF_ROLE_TEXT || c->hay[(c->hay_off + i) & CF_ROLE_ARGV_MASK] != c->pat[p]) {
		c->differs = true;
		return 1;
	}
	return 0;
}

static __always_inline bool cf_role_bytes_equal(const char *hay, __u32 hay_off, const char *pat, __u32 pat_off,
						__u32 n)
{
	struct cf_role_cmp c = { .hay = hay, .hay_off = hay_off, .pat = pat, .pat_off = pat_off };

	if (n > CF_ROLE_TEXT)
		return false;
	bpf_loop(n, cf_role_cmp_step, &c, 0);
	return !c.differs;
}

static __always_inline bool cf_role_arg_matches(const struct cf_role_arg *a, const struct cf_role_exec *e,
						__u32 k)
{
	__u32 off = e->off[k & 15], len = e->len[k & 15];
	__u32 plen = a->prefix_len, slen = a->suffix_len;

	if (a->kind == CF_RARG_ANY)
		return true;
	if (a->kind == CF_RARG_EXACT)
		return len == plen && cf_role_bytes_equal(e->argv, off, a->text, 0, plen);
	if (len < plen + slen)
		return false;
	return cf_role_bytes_equal(e->argv, off, a->text, 0, plen) &&
	       cf_role_bytes_equal(e->argv, off + len - slen, a->text, plen, slen);
}

struct cf_role_argv_ctx {
	const struct cf_role_rule *rule;
	const struct cf_role_exec *exec;
	bool differs;
};

/* bpf_loop body: argument k against the rule's pattern k (one body for the verifier to check,
 * not one per argument). */
static long cf_role_argv_step(__u32 k, void *data)
{
	struct cf_role_argv_ctx *c = data;

	if (k >= CF_ROLE_ARGS || !cf_role_arg_matches(&c->rule->args[k], c->exec, k)) {
		c->differs = true;
		return 1;
	}
	return 0;
}

static __always_inline bool cf_role_exec_matches(const struct cf_role_rule *r, const struct cf_role_exec *e)
{
	if (r->flags & CF_RR_EXE) {
		/* both names are zero padded to CF_ROLE_EXE bytes: four words, no loop */
		const __u64 *a = (const __u64 *)r->exe, *b = (const __u64 *)e->exe;

		if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[3] != b[3])
			return false;
	}
	if (r->flags & CF_RR_ARGV) {
		struct cf_role_argv_ctx c = { .rule = r, .exec = e };
		__u32 n = r->nargs;

		if (e->argv_unknown)
			return false;
		if (n > CF_ROLE_ARGS || e->argc < n || (!(r->flags & CF_RR_MORE_ARGS) && e->argc != n))
			return false;
		bpf_loop(n, cf_role_argv_step, &c, 0);
		if (c.differs)
			return false;
	}
	return true;
}

struct cf_role_judge {
	const struct cf_role_exec *exec; /* NULL: no exec (a rename): only rules without conditions */
	__u16 origin_bit;
	__u8 role;
};

/* bpf_loop body: rule i, in the rules' order; the first that holds decides. */
static long cf_role_rule_step(__u32 i, void *data)
{
	struct cf_role_judge *j = data;
	__u32 key = i;
	const struct cf_role_rule *r = bpf_map_lookup_elem(&guard_role_rules, &key);

	if (!r || !(r->flags & CF_RR_USED))
		return 1; /* the end of the table */
	if (!(r->from_mask & j->origin_bit))
		return 0;
	if (r->flags & (CF_RR_EXE | CF_RR_ARGV)) {
		if (!j->exec || !cf_role_exec_matches(r, j->exec))
			return 0;
	}
	j->role = r->role;
	return 1;
}

/* Judges t's role again (at exec, or with exec NULL when a process starts a tree by renaming
 * itself); a final role is kept. */
static __always_inline void cf_role_judge(struct cf_tracked *t, const struct cf_role_exec *exec)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	struct cf_role_judge j = { .exec = exec, .origin_bit = cf_origin_bit(t->origin) };

	if (!cfg || cf_role_final(cfg, t->role))
		return;
	if (j.origin_bit)
		bpf_loop(CF_ROLE_RULES, cf_role_rule_step, &j, 0);
	t->role = j.role;
}

/* The role of t once its exec of bprm succeeds, argv being what sched_process_exec copied. */
static __always_inline void cf_role_judge_exec(struct cf_tracked *t, struct linux_binprm *bprm, const char *argv,
					       __u32 argv_len)
{
	struct cf_role_exec e = { .argv = argv, .argv_len = argv_len };

	if (cf_role_final(cf_guard_cfg(), t->role))
		return;
	/* the name's bytes and its NUL; the rest of e.exe stays zero. A longer name is cut, and
	 * matches no rule (a rule's name is shorter than CF_ROLE_EXE). */
	bpf_probe_read_kernel_str(e.exe, sizeof(e.exe), BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name));
	cf_role_split_argv(&e);
	cf_role_judge(t, &e);
}

/* A child forked by `parent`: it runs the parent's program, with the parent's role, until it
 * execs; a child of a role that is not final starts a new tool run (budget group). */
static __always_inline void cf_role_inherit(struct cf_tracked *child, const struct cf_tracked *parent, __u32 ctgid)
{
	child->role = parent->role;
	child->origin = parent->role;
	child->group = cf_role_final(cf_guard_cfg(), parent->role) ? parent->group : ctgid;
}

#endif /* CF_ROLES_BPF_H */
