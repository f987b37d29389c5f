// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process lifecycle and the tracked set.
 *
 * A process is tracked when it matches a target at exec (comm, argv needle, target cgroup),
 * when it renames itself to a target comm, when user space adds it, or when its parent is
 * tracked at fork. The fork tracepoint fires before the child is first woken, so a child is
 * tracked before its first instruction. Only tracked processes produce records. Roles are
 * judged at exec (guard/roles.bpf.h).
 */
#include "../lib/common.bpf.h"
#include "../lib/strings.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "../guard/guard.bpf.h"
#include "../guard/roles.bpf.h"
#include "../guard/paths.bpf.h"
#include "../env/env.bpf.h"

/* ---- fork --------------------------------------------------------------------------------- */

SEC("raw_tp/sched_process_fork")
int BPF_PROG(cf_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct cf_tracked *t, child_t = {};
	struct cf_fork rec = {};

	if (ctgid == ptgid) /* a new thread, tracked through its tgid already */
		return 0;
	t = cf_lookup_tracked(ptgid);
	if (!t)
		return 0;
	child_t.root_tgid = t->root_tgid;
	child_t.reason = CF_TRACK_INHERITED;
	cf_role_inherit(&child_t, t, ctgid);
	if (cf_track(ctgid, &child_t)) {
		cf_count(CF_CNT_TRACKED_FORK);
	} else if (cf_lookup_tracked(ctgid) || ctgid == cf_agent_tgid) {
		return 0;
	} else {
		/*
		 * The tracked map is full: the child would run unwatched. Never silent: a record for
		 * a GAP and an alert; fail-closed in enforce mode, the parent (current) is killed
		 * now and the child at its first syscall's exit.
		 */
		const struct cf_guard_config *cfg = cf_guard_cfg();
		__u8 one = 1;

		rec.flags = CF_FORK_UNTRACKED;
		if (cfg && (cfg->flags & CF_GUARD_ACTIVE) && (cfg->flags & CF_GUARD_FAIL_CLOSED) &&
		    cfg->mode == CF_MODE_ENFORCE && !bpf_map_update_elem(&doomed, &ctgid, &one, BPF_ANY)) {
			__sync_fetch_and_add(&cf_doomed_pending, 1);
			bpf_send_signal(9);
			rec.flags |= CF_FORK_KILLED;
		}
	}

	cf_fill_hdr_role(&rec.hdr, CF_OP_FORK, t->role);
	rec.hdr.size = sizeof(rec);
	rec.child_tgid = ctgid;
	rec.child_start_ns = BPF_CORE_READ(child, start_boottime);
	/* with probes per process, woken now: the agent places the child's before it gets far */
	if (cf_fork_wakeup)
		cf_output_now(&rec, sizeof(rec));
	else
		cf_output(&rec, sizeof(rec));
	return 0;
}

/* ---- exec --------------------------------------------------------------------------------- */

struct cf_needle_ctx {
	const char *hay;
	__u32 hay_len;
	const struct cf_needle *needle;
	bool found;
};

/* bpf_loop body: does the needle start at hay[i]? The callback is verified once, not per i. */
static long cf_needle_at(__u32 i, void *data)
{
	struct cf_needle_ctx *c = data;
	__u32 n = c->needle->len;

	if (n == 0 || n > CF_NEEDLE_LEN || i + n > c->hay_len)
		return 1;
	for (__u32 j = 0; j < CF_NEEDLE_LEN; j++) {
		if (j >= n) {
			c->found = true;
			return 1;
		}
		/* hay lives in the scratch data area, far larger than CF_ARGV_MAX + CF_NEEDLE_LEN */
		if (c->hay[(i + j) & (2 * CF_ARGV_MAX - 1)] != c->needle->bytes[j])
			return 0;
	}
	c->found = true;
	return 1;
}

static __always_inline bool cf_argv_matches(const char *argv, __u32 len)
{
	for (__u32 k = 0; k < CF_NEEDLES_MAX; k++) {
		const struct cf_needle *nd = bpf_map_lookup_elem(&target_needles, &k);
		struct cf_needle_ctx c = { .hay = argv, .hay_len = len, .needle = nd };

		if (!nd || nd->len == 0)
			continue;
		bpf_loop(len, cf_needle_at, &c, 0);
		if (c.found)
			return true;
	}
	return false;
}

/* Copies argv of the current (just exec'd) task as string 0 of the record. */
static __always_inline void cf_append_argv(struct cf_exec *rec, struct task_struct *task)
{
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;

	if (len > CF_ARGV_MAX) {
		len = CF_ARGV_MAX;
		rec->flags |= CF_EXEC_ARGV_TRUNCATED;
		cf_count(CF_CNT_ARGV_TRUNCATED);
	}
	if (bpf_probe_read_user(rec->data, len, (void *)start)) {
		cf_count(CF_CNT_READ_FAILED);
		len = 0;
	}
	rec->strs.len[0] = len;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(cf_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = cf_current_tgid();
	struct cf_tracked *t = cf_lookup_tracked(tgid);
	struct cf_scratch *s;
	struct cf_exec *rec;
	struct cf_strw w;
	__u32 reason = 0, root = tgid;

	if (tgid == cf_agent_tgid)
		return 0;
	s = cf_get_scratch();
	if (!s)
		return 0;
	rec = (struct cf_exec *)s->buf;
	__builtin_memset(rec, 0, sizeof(*rec));
	cf_fill_hdr(&rec->hdr, CF_OP_EXEC);
	cf_append_argv(rec, p);

	if (t) {
		reason = t->reason;
		root = t->root_tgid;
		/* a new program: judge the role again (a final role is kept) */
		cf_role_judge_exec(t, bprm, rec->data, rec->strs.len[0]);
	} else {
		__u64 cgid = rec->hdr.cgroup_id;

		if (bpf_map_lookup_elem(&target_comms, rec->hdr.comm))
			reason = CF_TRACK_COMM;
		else if (bpf_map_lookup_elem(&target_cgroups, &cgid))
			reason = CF_TRACK_CGROUP;
		else if (cf_match_argv && cf_argv_matches(rec->data, rec->strs.len[0]))
			reason = CF_TRACK_ARGV;
		if (!reason || !cf_in_scope(p))
			return 0;
		struct cf_tracked nt = { .root_tgid = tgid, .reason = reason, .group = tgid, .origin = CF_ORIGIN_ROOT };

		cf_role_judge_exec(&nt, bprm, rec->data, rec->strs.len[0]);
		if (!cf_track(tgid, &nt))
			return 0;
		cf_count(CF_CNT_TRACKED_MATCH);
		t = cf_lookup_tracked(tgid);
	}

	rec->ppid = BPF_CORE_READ(p, real_parent, tgid);
	rec->uid = BPF_CORE_READ(p, cred, uid.val);
	rec->gid = BPF_CORE_READ(p, cred, gid.val);
	rec->start_ns = BPF_CORE_READ(p, start_boottime);
	rec->track_reason = reason;
	rec->root_tgid = root;
	rec->hdr.role = t ? t->role : 0;

	w.data = rec->data;
	w.strs = &rec->strs;
	w.off = rec->strs.len[0] & (CF_PATH_MAX - 1);
	struct path fp = BPF_CORE_READ(bprm, file, f_path);

	cf_append_path(&w, 1, &fp);
	cf_guard_path(cf_lookup_tracked(tgid), CF_GPATH_ON_EXEC, false, &rec->verdict);

	__u32 size = sizeof(*rec) + w.off;

	if (size > sizeof(struct cf_scratch))
		return 0;
	rec->hdr.size = size;
	cf_output(rec, size);
	cf_env_exec(p); /* the names it was handed: reuses the scratch buffer */
	return 0;
}

/* ---- exit --------------------------------------------------------------------------------- */

SEC("raw_tp/sched_process_exit")
int BPF_PROG(cf_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct cf_exit rec = {};

	bpf_map_delete_elem(&inflight, &id);
	if (!cf_lookup_tracked(tgid))
		return 0;
	/* Fires for every thread; the process is gone when the last one leaves. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;

	cf_fill_hdr(&rec.hdr, CF_OP_EXIT);
	rec.hdr.size = sizeof(rec);
	rec.exit_code = BPF_CORE_READ(p, exit_code);
	rec.start_ns = BPF_CORE_READ(p, group_leader, start_boottime);
	cf_output(&rec, sizeof(rec));

	bpf_map_delete_elem(&tracked, &tgid);
	cf_count(CF_CNT_UNTRACKED_EXIT);
	return 0;
}

/* ---- comm rename -------------------------------------------------------------------------- */

SEC("raw_tp/task_rename")
int BPF_PROG(cf_rename, struct task_struct *task, const char *comm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct cf_tracked nt = { .root_tgid = tgid, .reason = CF_TRACK_RENAME, .group = tgid, .origin = CF_ORIGIN_ROOT };
	struct cf_tracked *t;
	struct cf_comm rec = {};
	__u8 role;

	if (tgid == cf_agent_tgid)
		return 0;
	/*
	 * A thread's name is its own: Node names every thread it starts (libuv-worker, WorkerThread,
	 * node-V8Worker), and none of that renames the process. Only the main thread's name is.
	 */
	if (BPF_CORE_READ(task, pid) != tgid)
		return 0;
	/* exec renames the task to the new binary's name: the exec record already says that */
	if (bpf_core_field_exists(task->in_execve) && BPF_CORE_READ_BITFIELD_PROBED(task, in_execve))
		return 0;
	bpf_probe_read_kernel_str(rec.new_comm, sizeof(rec.new_comm), comm);
	t = cf_lookup_tracked(tgid);
	if (t) {
		role = t->role; /* a tracked process's role does not follow its name */
	} else {
		/* a process that names itself as a target starts a tree */
		if (!bpf_map_lookup_elem(&target_comms, rec.new_comm) || !cf_in_scope(task))
			return 0;
		cf_role_judge(&nt, NULL);
		if (!cf_track(tgid, &nt))
			return 0;
		cf_count(CF_CNT_TRACKED_MATCH);
		rec.track_reason = CF_TRACK_RENAME;
		role = nt.role;
	}

	cf_fill_hdr_role(&rec.hdr, CF_OP_COMM, role);
	/* The renamed task may not be current (a write to /proc/PID/comm): the header is its. */
	rec.hdr.tgid = tgid;
	rec.hdr.tid = tgid;
	BPF_CORE_READ_STR_INTO(&rec.hdr.comm, task, comm);
	__builtin_memcpy(rec.hdr.thread_comm, rec.hdr.comm, sizeof(rec.hdr.comm));
	rec.hdr.size = sizeof(rec);
	cf_output(&rec, sizeof(rec));
	return 0;
}

/* ---- target cgroups created after start --------------------------------------------------- */

struct cf_cgpat_ctx {
	const char *name;
	__u32 len;
	bool matched;
};

/* bpf_loop body: does the new cgroup's leaf name match pattern i (prefix*suffix)? */
static long cf_cgpat_step(__u32 i, void *data)
{
	struct cf_cgpat_ctx *c = data;
	__u32 key = i;
	const struct cf_cgpat *pat = bpf_map_lookup_elem(&target_cgpats, &key);
	__u32 plen, slen, base;

	if (!pat)
		return 1;
	plen = pat->prefix_len;
	slen = pat->suffix_len;
	if ((plen == 0 && slen == 0) || plen > CF_CGPAT_LEN || slen > CF_CGPAT_LEN || plen > c->len ||
	    slen > c->len || (pat->exact && plen != c->len))
		return 0;
	for (__u32 j = 0; j < CF_CGPAT_LEN && j < plen; j++)
		if (c->name[j] != pat->prefix[j])
			return 0;
	base = c->len - slen;
	for (__u32 j = 0; j < CF_CGPAT_LEN && j < slen; j++)
		if (c->name[(base + j) & (2 * CF_CGPAT_LEN - 1)] != pat->suffix[j])
			return 0;
	c->matched = true;
	return 1;
}

/*
 * A unit like openclaw-gateway.service gets its cgroup before its first process is moved in
 * and execs; adding the cgroup here, synchronously, means that exec is already a match.
 */
SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(cf_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	char name[2 * CF_CGPAT_LEN] = {};
	struct cf_cgpat_ctx c = { .name = name };
	long n;

	/* hierarchy 0 is the cgroup v2 (default) hierarchy; v1 mkdirs of a hybrid layout are not */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	/*
	 * A cgroup below a target cgroup is a target too: a pod's new container (its scope made under
	 * the pod's slice long after the pod matched) or a unit's sub-cgroup. css.parent is the
	 * parent cgroup's own css; its kernfs node id is the parent's cgroup id.
	 */
	__u64 parent_id = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);

	if (parent_id && bpf_map_lookup_elem(&target_cgroups, &parent_id)) {
		c.matched = 1;
	} else {
		n = bpf_probe_read_kernel_str(name, CF_CGPAT_LEN + 1, BPF_CORE_READ(cgrp, kn, name));
		if (n <= 1)
			return 0;
		c.len = n - 1;
		bpf_loop(CF_CGPAT_MAX, cf_cgpat_step, &c, 0);
	}
	if (c.matched) {
		__u64 id = BPF_CORE_READ(cgrp, kn, id);
		__u8 one = 1;

		bpf_map_update_elem(&target_cgroups, &id, &one, BPF_ANY);
		cf_count(CF_CNT_TARGET_CGROUP);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
