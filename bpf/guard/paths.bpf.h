/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Path patterns: a tracked process that opens, or executes, a file the rules deny with
 * `action: kill` gets SIGKILL before it returns to user space. Judged on the resolved path
 * cf_walk_path has just walked (so relative names, `..` and symlinks are already resolved),
 * against the patterns agent/enforce/paths.cpp compiles the globs into (include/clawfence/abi.h,
 * "Path patterns"). A decision is three map lookups and a look at the few patterns they name:
 * its cost does not grow with the number of patterns.
 *
 * The syscall and exec exits run after the open or exec has happened, so only a kill can be
 * enforced there. Where the kernel has BPF LSM, the hooks in guard/lsm.bpf.c judge instead, before
 * the open or exec happens: they refuse with EPERM for `block` and `kill` patterns alike (nothing
 * is left to kill), and the exits stand by (CF_GUARD_LSM). Exactly one of the two judges a path.
 */
#ifndef CF_GUARD_PATHS_BPF_H
#define CF_GUARD_PATHS_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/strings.bpf.h"
#include "guard.bpf.h"

_Static_assert(CF_GPATH_MAX == 64, "pattern sets are the bits of a __u64");
_Static_assert(CF_GPATH_KEY % 8 == 0 && CF_GPATH_KEY < CF_PATH_MAX, "the suffix key is reversed a word at a time");
_Static_assert(sizeof(struct cf_gpath_key) == 4 + CF_GPATH_KEY, "cf_gpath_key layout");
_Static_assert(CF_BASE_PREFIX <= CF_NAME_MAX, "a base prefix fits in a component");

/* Lookup keys: each larger than half the 512-byte stack, so built per CPU. */
struct cf_gpath_scratch {
	struct cf_gpath_dir dir;          /* first: 8-byte aligned for the memset */
	__u64 tail[CF_GPATH_KEY / 8];     /* the last CF_GPATH_KEY bytes before the path's NUL */
	struct cf_gpath_key key;          /* the prefix lookup, then the suffix lookup */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_gpath_scratch);
} gpath_scratch SEC(".maps") CF_SHARED;

/* What the lookups found, and the first pattern that holds (bpf_loop context). */
struct cf_gpath_judge {
	const struct cf_pathbuf *pb;
	__u64 cand;   /* patterns some lookup named and not yet judged */
	__u64 prefix; /* bits of the longest guard_path_prefix match */
	__u64 suffix; /* bits of the longest guard_path_suffix match */
	__u64 dir;    /* bits of the guard_path_dirs entry of the directory part */
	__u32 leaf;   /* offset of the last component in pb->buf */
	__u16 leaf_len;
	__u16 slashes;
	__u16 on;     /* CF_GPATH_ON_OPEN or CF_GPATH_ON_EXEC */
	__u16 rule;   /* of the pattern found */
	__u8 action;
	__u8 role;
	bool truncated;
	bool refusing; /* an LSM hook: block patterns hold too */
	bool found;
};

static __always_inline bool cf_gpath_holds(const struct cf_gpath_judge *j, const struct cf_gpath *p, __u64 bit)
{
	__u16 f = p->flags;

	if (!(f & j->on & (CF_GPATH_ON_OPEN | CF_GPATH_ON_EXEC)) || !cf_role_applies(p->role_mask, j->role))
		return false;
	/* a pattern for some kinds of access holds only for an operation of one of them */
	if ((f & CF_GPATH_ACCESS) && !(f & j->on & CF_GPATH_ACCESS))
		return false;
	if (p->action != CF_ACTION_KILL && !(j->refusing && p->action == CF_ACTION_BLOCK))
		return false;
	if (((f & CF_GPATH_PREFIX) && !(j->prefix & bit)) || ((f & CF_GPATH_SUFFIX) && !(j->suffix & bit)) ||
	    ((f & CF_GPATH_DIR) && !(j->dir & bit)))
		return false;
	/* a truncated walk kept only the tail: its count of '/' is not the path's */
	if ((f & CF_GPATH_SLASHES) && (j->truncated || j->slashes != p->slashes))
		return false;
	if (j->leaf_len < p->min_leaf)
		return false;
	if (f & CF_GPATH_BASE_PREFIX) {
		__u32 n = p->base_prefix_len;

		if (n > CF_BASE_PREFIX || n > j->leaf_len)
			return false;
		for (__u32 k = 0; k < CF_BASE_PREFIX && k < n; k++)
			/* the leaf ends at CF_PATH_MAX - 1: masked, the index stays inside buf */
			if (j->pb->buf[(j->leaf + k) & (2 * CF_PATH_MAX - 1)] != p->base_prefix[k])
				return false;
	}
	return true;
}

/* bpf_loop body over pattern i: the callback is verified once, not once per pattern. */
static long cf_gpath_step(__u32 i, void *data)
{
	struct cf_gpath_judge *j = data;
	__u64 bit = 1ull << (i & (CF_GPATH_MAX - 1));
	__u32 key = i;
	const struct cf_gpath *p;

	if (!(j->cand & bit))
		return j->cand ? 0 : 1;
	j->cand &= ~bit;
	p = bpf_map_lookup_elem(&guard_paths, &key);
	if (p && cf_gpath_holds(j, p, bit)) {
		j->found = true;
		j->rule = p->rule;
		j->action = p->action;
		return 1;
	}
	return j->cand ? 0 : 1;
}

/*
 * The patterns some lookup of the walked path names. Each trie value is the union of the bits
 * of every entry that is a prefix of it (user space keeps them so), so the longest match alone
 * gives every pattern the trie condition holds for.
 */
static __always_inline void cf_gpath_lookup(struct cf_gpath_judge *j, struct cf_gpath_scratch *s)
{
	const struct cf_pathbuf *pb = j->pb;
	__u32 start = pb->start & (CF_PATH_MAX - 1);
	__u32 len = (CF_PATH_MAX - 1) - start;
	__u32 n, dirlen;
	__u64 *bits;

	/* A truncated walk kept only the tail: the head conditions cannot be judged on it. */
	if (!j->truncated) {
		/* The path and its NUL: an entry ending in NUL matches only the whole path. */
		n = len + 1;
		if (n > CF_GPATH_KEY)
			n = CF_GPATH_KEY;
		s->key.prefixlen = n * 8;
		bpf_probe_read_kernel(s->key.data, n, &pb->buf[start]);
		bits = bpf_map_lookup_elem(&guard_path_prefix, &s->key);
		if (bits)
			j->prefix = *bits;

		/* Hash keys are compared whole: the directory part, zero padded. */
		dirlen = len - j->leaf_len;
		if (dirlen < CF_GPATH_KEY) {
			__builtin_memset(&s->dir, 0, sizeof(s->dir));
			bpf_probe_read_kernel(s->dir.dir, dirlen, &pb->buf[start]);
			bits = bpf_map_lookup_elem(&guard_path_dirs, &s->dir);
			if (bits)
				j->dir = *bits;
		}
	}

	/*
	 * The reversed path, for the suffix trie: the last CF_GPATH_KEY bytes copied in one read
	 * and reversed eight at a time, rather than a byte loop. Bytes before the path's start are
	 * stale but lie past the key's prefix length.
	 */
	bpf_probe_read_kernel(s->tail, sizeof(s->tail), &pb->buf[CF_PATH_MAX - 1 - CF_GPATH_KEY]);
	for (__u32 k = 0; k < CF_GPATH_KEY / 8; k++) {
		__u64 word = __builtin_bswap64(s->tail[CF_GPATH_KEY / 8 - 1 - k]);

		__builtin_memcpy(&s->key.data[8 * k], &word, sizeof(word));
	}
	n = len < CF_GPATH_KEY - 1 ? len : CF_GPATH_KEY - 1;
	s->key.prefixlen = n * 8;
	bits = bpf_map_lookup_elem(&guard_path_suffix, &s->key);
	if (bits)
		j->suffix = *bits;
}

/* A subprogram of its own: inlined, its keys and loop context pushed callers' stacks too far. */
static __noinline void cf_gpath_decide(const struct cf_guard_config *cfg, __u8 role, __u16 on, bool refusing,
				       struct cf_verdict *v)
{
	__u32 zero = 0;
	struct cf_pathbuf *pb = cf_get_pathbuf();
	struct cf_gpath_scratch *s = bpf_map_lookup_elem(&gpath_scratch, &zero);
	struct cf_gpath_judge j = { .on = on, .role = role, .refusing = refusing };

	if (!pb || !s || !pb->walked || pb->leaf_len > CF_NAME_MAX)
		return;
	j.pb = pb;
	j.leaf_len = pb->leaf_len;
	j.leaf = (CF_PATH_MAX - 1) - j.leaf_len;
	j.slashes = pb->components ? pb->components : 1; /* the root "/" has one, and no name */
	j.truncated = pb->truncated;

	cf_gpath_lookup(&j, s);
	j.cand = j.prefix | j.suffix | j.dir;
	if (!j.cand)
		return;
	bpf_loop(CF_GPATH_MAX, cf_gpath_step, &j, 0);
	if (!j.found)
		return;

	/* refusing, a kill pattern is refused too: the open or exec never happens */
	v->verdict = cf_verdict_for(cfg, refusing ? CF_ACTION_BLOCK : cf_action_for_role(cfg, j.action, role));
	v->role = role;
	v->rule = j.rule;
	v->generation = cfg->generation;
	/* Pending, SIGKILL is delivered on the way back to user space: the open's descriptor or the
	 * new program is never used. */
	if (v->verdict == CF_VERDICT_KILLED && bpf_send_signal(9)) {
		v->verdict = CF_VERDICT_ALERT; /* matched, but nothing was done: say so */
		return;
	}
	cf_verdict_count(v->verdict);
}

/*
 * The policy when the path patterns are to be judged here: by the LSM hooks (`refusing`) when
 * user space says they are in force, by the exits otherwise. NULL when there is no policy, it is
 * monitor mode, no path patterns are set, or the other mechanism judges: one map lookup.
 */
static __always_inline const struct cf_guard_config *cf_gpath_judging(bool refusing)
{
	const struct cf_guard_config *cfg = cf_guard_judging();

	if (!cfg || !(cfg->flags & CF_GUARD_PATHS) || !!(cfg->flags & CF_GUARD_LSM) != refusing)
		return NULL;
	return cfg;
}

/* What an open does, as path patterns' `access` names it (CF_GPATH_READ, _WRITE, _CREATE). */
static __always_inline __u16 cf_open_access(__u32 flags)
{
	__u32 acc = flags & 3; /* O_ACCMODE */
	__u16 out = 0;

	if (acc == 0 /* O_RDONLY */ || acc == 2 /* O_RDWR */)
		out |= CF_GPATH_READ;
	if (acc == 1 /* O_WRONLY */ || acc == 2 || (flags & (01000 /* O_TRUNC */ | 02000 /* O_APPEND */)))
		out |= CF_GPATH_WRITE;
	if (flags & 0100 /* O_CREAT */)
		out |= CF_GPATH_CREATE;
	return out;
}

/*
 * Judges the path the last cf_walk_path walked, for tracked process `t`, at `on`
 * (CF_GPATH_ON_OPEN or CF_GPATH_ON_EXEC). When a pattern holds (the first by bit order), sets *v:
 * at an exit a kill pattern, and in enforce mode SIGKILL is sent to the current process;
 * `refusing` (an LSM hook) a block or kill pattern, CF_VERDICT_BLOCKED (WOULD_BLOCK in dry run)
 * and no signal: the caller refuses. Leaves *v alone otherwise.
 */
static __always_inline void cf_guard_path(const struct cf_tracked *t, __u16 on, bool refusing, struct cf_verdict *v)
{
	const struct cf_guard_config *cfg = cf_gpath_judging(refusing);

	if (!cfg || !t)
		return;
	cf_gpath_decide(cfg, t->role, on, refusing, v);
}

#endif /* CF_GUARD_PATHS_BPF_H */
