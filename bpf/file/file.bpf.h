/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * File operations of tracked processes, called from the sys_exit dispatcher: opens
 * (open, openat, openat2, creat), deletes (unlink, unlinkat), renames (rename, renameat,
 * renameat2), hard links (link, linkat) and unix socket connects. A successful open reports the path of the struct file that was installed at the
 * returned descriptor, walked from the kernel's dentries: never the caller's string.
 */
#ifndef CF_FILE_BPF_H
#define CF_FILE_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/strings.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "../guard/paths.bpf.h"

static __always_inline void cf_file_finish(struct cf_file *rec, struct cf_strw *w)
{
	__u32 size = sizeof(*rec) + w->off;

	if (size > sizeof(struct cf_scratch))
		return;
	rec->hdr.size = size;
	cf_output(rec, size);
}

/* A file record of `file_op` in the scratch buffer, and its string writer. */
static __always_inline struct cf_file *cf_file_rec(struct cf_scratch *s, struct cf_strw *w, __u32 file_op)
{
	struct cf_file *rec = (struct cf_file *)s->buf;

	__builtin_memset(rec, 0, sizeof(*rec));
	cf_fill_hdr(&rec->hdr, CF_OP_FILE);
	rec->file_op = file_op;
	w->data = rec->data;
	w->strs = &rec->strs;
	w->off = 0;
	return rec;
}

/* The same, for a syscall's exit: its number and result. */
static __always_inline struct cf_file *cf_file_begin(struct cf_scratch *s, struct cf_strw *w,
						     __u32 file_op, const struct cf_inflight *in, long ret)
{
	struct cf_file *rec = cf_file_rec(s, w, file_op);

	rec->syscall = in->nr | (in->compat ? CF_SYSCALL_COMPAT : 0);
	rec->result = ret;
	return rec;
}

static __always_inline void cf_file_open_exit(const struct cf_inflight *in, long ret)
{
	struct cf_scratch *s = cf_get_scratch();
	struct cf_strw w;
	int dfd = -100;
	const char *name;
	struct cf_file *rec;

	if (!s)
		return;
	rec = cf_file_begin(s, &w, CF_FILE_OPEN, in, ret);

	if (in->nr == CF_NR_openat || in->nr == CF_NR_openat2) {
		dfd = (int)in->args[0];
		name = (const char *)in->args[1];
		if (in->nr == CF_NR_openat) {
			rec->flags = in->args[2];
			rec->mode = in->args[3];
		} else {
			struct open_how how = {};

			bpf_probe_read_user(&how, sizeof(how), (void *)in->args[2]);
			rec->flags = how.flags;
			rec->mode = how.mode;
		}
	} else if (in->nr == CF_NR_open_by_handle_at) {
		/* no path: a file handle (root's, CAP_DAC_READ_SEARCH) under the mount of args[0] */
		dfd = (int)in->args[0];
		name = 0;
		rec->flags = in->args[2];
	} else if (in->nr == CF_NR_creat) {
		name = (const char *)in->args[0];
		rec->flags = 0100 | 01 | 01000; /* O_CREAT | O_WRONLY | O_TRUNC */
		rec->mode = in->args[1];
	} else {
		name = (const char *)in->args[0];
		rec->flags = in->args[1];
		rec->mode = in->args[2];
	}

	if (ret >= 0) {
		struct file *f = cf_fd_file(ret);

		if (f) {
			struct path fp = BPF_CORE_READ(f, f_path);

			cf_append_path(&w, 0, &fp);
			cf_guard_path(cf_lookup_tracked(cf_current_tgid()), CF_GPATH_ON_OPEN | cf_open_access(rec->flags),
				      false, &rec->verdict);
			cf_file_finish(rec, &w);
			return;
		}
	}
	/* Failed (or descriptor already gone): report the name as asked, with its directory. */
	if (name)
		cf_append_name_at(&w, 0, dfd, name);
	else
		cf_append_dir(&w, 0, dfd);
	cf_file_finish(rec, &w);
}

static __always_inline void cf_file_unlink_exit(const struct cf_inflight *in, long ret)
{
	struct cf_scratch *s = cf_get_scratch();
	struct cf_strw w;
	struct cf_file *rec;

	if (!s)
		return;
	rec = cf_file_begin(s, &w, CF_FILE_UNLINK, in, ret);
	if (in->nr == CF_NR_unlinkat) {
		rec->flags = in->args[2];
		cf_append_name_at(&w, 0, (int)in->args[0], (const char *)in->args[1]);
	} else {
		cf_append_name_at(&w, 0, -100, (const char *)in->args[0]);
	}
	cf_file_finish(rec, &w);
}

/*
 * Renames and hard links: both name an existing file and a new name, in the same argument
 * layout (renameat2 and linkat: olddfd, old, newdfd, new, flags).
 */
static __always_inline void cf_file_pair_exit(const struct cf_inflight *in, long ret, __u32 file_op)
{
	struct cf_scratch *s = cf_get_scratch();
	struct cf_strw w;
	struct cf_file *rec;

	if (!s)
		return;
	rec = cf_file_begin(s, &w, file_op, in, ret);
	if (in->nr == CF_NR_rename || in->nr == CF_NR_link) {
		cf_append_name_at(&w, 0, -100, (const char *)in->args[0]);
		cf_append_name_at(&w, 2, -100, (const char *)in->args[1]);
	} else {
		if (in->nr == CF_NR_renameat2 || in->nr == CF_NR_linkat)
			rec->flags = in->args[4];
		cf_append_name_at(&w, 0, (int)in->args[0], (const char *)in->args[1]);
		cf_append_name_at(&w, 2, (int)in->args[2], (const char *)in->args[3]);
	}
	cf_file_finish(rec, &w);
}

/*
 * A hard link about to be made by a tracked process, from linkat's permission check: `old` is
 * the existing file's path as the kernel looked it up, walked like an open's (resolved) and
 * judged as an open of that file. A file the
 * rules deny with `action: kill` gets the opener's SIGKILL here, delivered on the way back to
 * user space: the new name is made but never used. Reported only when a pattern holds (the
 * syscall exit reports every link). Judged here whether or not the BPF LSM hooks are in force:
 * they have no link hook.
 */
static __always_inline void cf_file_link_guard(const struct path *old)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());
	const struct cf_guard_config *cfg;
	struct cf_scratch *s;
	struct cf_strw w;
	struct cf_file *rec;
	struct path p;

	if (!t)
		return;
	cfg = cf_guard_judging();
	if (!cfg || !(cfg->flags & CF_GUARD_PATHS))
		return;
	s = cf_get_scratch();
	if (!s)
		return;
	rec = cf_file_rec(s, &w, CF_FILE_LINK);
	if (bpf_probe_read_kernel(&p, sizeof(p), old)) {
		cf_count(CF_CNT_READ_FAILED);
		return;
	}
	cf_append_path(&w, 0, &p);
	/* a link to a file gives its reader a new name for it: judged as a read */
	cf_gpath_decide(cfg, t->role, CF_GPATH_ON_OPEN | CF_GPATH_READ, false, &rec->verdict);
	if (rec->verdict.verdict != CF_VERDICT_NONE)
		cf_file_finish(rec, &w);
}

/*
 * A connect of a tracked process that succeeded: if the socket is a unix one and its peer is
 * bound to a path, that path is judged as a connect to the file (CF_GPATH_CONNECT) and
 * reported. The peer's socket file, walked from the kernel's dentries, is where the daemon
 * listens whatever name the caller used (a symlink, a relative name, /proc/self/cwd). A kill
 * lands before connect returns: the daemon sees a connection opened and closed, and nothing
 * is sent on it. Abstract names (no file) are not judged.
 */
static __noinline void cf_file_unix_connect_exit(int fd)
{
	struct cf_scratch *s;
	struct cf_strw w;
	struct cf_file *rec;
	struct socket *sock;
	struct unix_sock *u;
	struct sock *peer;
	struct path pp;
	sock = cf_file_socket(cf_fd_file(fd));
	if (!sock || BPF_CORE_READ(sock, sk, __sk_common.skc_family) != 1 /* AF_UNIX */)
		return;
	u = (struct unix_sock *)BPF_CORE_READ(sock, sk);
	peer = BPF_CORE_READ(u, peer);
	if (!peer)
		return;
	pp = BPF_CORE_READ((struct unix_sock *)peer, path);
	if (!pp.dentry)
		return;
	s = cf_get_scratch();
	if (!s)
		return;
	rec = cf_file_rec(s, &w, CF_FILE_CONNECT);
	rec->syscall = CF_NR_connect;
	rec->result = fd;
	cf_append_path(&w, 0, &pp);
	cf_guard_path(cf_lookup_tracked(cf_current_tgid()), CF_GPATH_ON_OPEN | CF_GPATH_CONNECT, false, &rec->verdict);
	cf_file_finish(rec, &w);
}

static __always_inline bool cf_file_wants(long nr)
{
	return nr == CF_NR_openat || nr == CF_NR_open || nr == CF_NR_openat2 || nr == CF_NR_creat ||
	       nr == CF_NR_open_by_handle_at || nr == CF_NR_unlinkat || nr == CF_NR_unlink || nr == CF_NR_renameat ||
	       nr == CF_NR_renameat2 || nr == CF_NR_rename || nr == CF_NR_linkat || nr == CF_NR_link;
}

static __always_inline void cf_file_exit(const struct cf_inflight *in, long ret)
{
	long nr = in->nr;

	if (nr == CF_NR_openat || nr == CF_NR_open || nr == CF_NR_openat2 || nr == CF_NR_creat ||
	    nr == CF_NR_open_by_handle_at)
		cf_file_open_exit(in, ret);
	else if (nr == CF_NR_unlinkat || nr == CF_NR_unlink)
		cf_file_unlink_exit(in, ret);
	else /* one inlined copy of the pair body: two pushed the callers past the 512-byte stack */
		cf_file_pair_exit(in, ret, nr == CF_NR_linkat || nr == CF_NR_link ? CF_FILE_LINK : CF_FILE_RENAME);
}

#endif /* CF_FILE_BPF_H */
