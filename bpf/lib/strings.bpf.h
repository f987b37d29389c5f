/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Resolved paths and the variable-data area of records.
 *
 * A path is walked from a kernel `struct path` (dentry + vfsmount) up to the root of the
 * task's mount namespace, so relative names, `..`, symlinks and /proc/self/root are already
 * resolved: this is the file that was actually opened, not the string the caller passed.
 */
#ifndef CF_STRINGS_BPF_H
#define CF_STRINGS_BPF_H

#include "common.bpf.h"

/* Per-CPU buffer a path is built in, right-aligned, ending at CF_PATH_MAX - 1. */
struct cf_pathbuf {
	char buf[2 * CF_PATH_MAX];
	/* What the last walk found, for judging the path after it (guard/paths.bpf.h). */
	__u32 start;      /* the path is buf[start .. CF_PATH_MAX - 1), buf[CF_PATH_MAX - 1] = NUL */
	__u16 leaf_len;   /* bytes of its last component (0: the root) */
	__u16 components; /* names walked: the path's '/' count, except the root's 0 */
	__u8 walked;      /* set by a completed cf_walk_path, cleared by cf_append_path first */
	__u8 truncated;   /* the walk hit a limit: buf holds the tail of the path */
	__u8 _pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_pathbuf);
} pathbuf SEC(".maps") CF_SHARED;

/* What the file rules protect, by inode (include/clawfence/abi.h, struct cf_anchor). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CF_ANCHORS_MAX);
	__type(key, struct cf_anchor_key);
	__type(value, struct cf_anchor);
} guard_anchors SEC(".maps") CF_SHARED;

/* Writer of a record's variable data: strings appended one after another. */
struct cf_strw {
	char *data;           /* start of the record's data area (scratch) */
	struct cf_strs *strs; /* the record's string table */
	__u32 off;            /* bytes used so far */
};

static __always_inline struct cf_pathbuf *cf_get_pathbuf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pathbuf, &zero);
}

struct cf_walk {
	struct cf_pathbuf *pb;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct mount *mnt_parent;
	struct dentry *mnt_root; /* of vfsmnt: read once per mount, not once per step */
	__u32 dev;               /* its superblock's s_dev, for the anchors */
	__u32 off; /* the path so far starts here and ends at CF_PATH_MAX - 1 */
	__u16 leaf_len;
	__u16 components;
	bool done;
	bool truncated;
};

/*
 * Is `inode` (of the walk's current dentry) protected by inode? Then it, and the path below it,
 * is named by its protected path and the walk is done.
 */
static __always_inline bool cf_walk_anchor(struct cf_walk *w, struct inode *inode)
{
	const struct cf_anchor *a;
	struct cf_anchor_key key = { .dev = w->dev };
	__u32 off = w->off, len;

	if (!inode)
		return false;
	key.ino = BPF_CORE_READ(inode, i_ino);
	a = bpf_map_lookup_elem(&guard_anchors, &key);
	if (!a || (a->has_generation && BPF_CORE_READ(inode, i_generation) != a->generation))
		return false;
	len = a->len;
	if (len == 0 || len >= CF_GPATH_KEY || len > off || off > CF_PATH_MAX - 1)
		return false;
	off -= len;
	bpf_probe_read_kernel(&w->pb->buf[off & (CF_PATH_MAX - 1)], len & (CF_GPATH_KEY - 1), a->path);
	if (w->components == 0)
		w->leaf_len = a->leaf_len;
	w->components += a->components;
	w->off = off;
	w->done = true;
	return true;
}

/*
 * One step up the tree, as a bpf_loop callback: a plain loop would be verified once per
 * iteration with a different `off` range each time and exceed the verifier's budget.
 */
static long cf_walk_step(__u32 i, void *data)
{
	struct cf_walk *w = data;
	/* locals, not w->...: CO-RE relocations must name the kernel type, not struct cf_walk */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	/*
	 * d_parent, d_name and d_inode sit next to each other in struct dentry (since long before
	 * BTF): one read for the three when the running kernel's layout says so, three otherwise.
	 * (One copy on the stack: the walk runs three calls deep under some callers.)
	 */
	__u32 off_parent = bpf_core_field_offset(struct dentry, d_parent);
	__u32 off_name = bpf_core_field_offset(struct dentry, d_name);
	__u32 off_inode = bpf_core_field_offset(struct dentry, d_inode);
	struct {
		struct dentry *parent;
		struct qstr name;
		struct inode *inode;
	} d;

	if (!(off_name == off_parent + sizeof(void *) && off_inode == off_name + sizeof(struct qstr) &&
	      bpf_probe_read_kernel(&d, sizeof(d), (void *)dentry + off_parent) == 0)) {
		d.parent = BPF_CORE_READ(dentry, d_parent);
		d.name = BPF_CORE_READ(dentry, d_name);
		d.inode = BPF_CORE_READ(dentry, d_inode);
	}
	if (cf_walk_anchor(w, d.inode))
		return 1;
	struct dentry *parent = d.parent;

	/*
	 * A dentry that is its own parent without being its mount's root is a detached one (a
	 * memfd, a file of a kernel-internal mount): its own name is all the path there is, as
	 * d_path shows it ("/memfd:NAME"). Without it, an exec from a memfd would be "/".
	 */
	bool detached = dentry == parent && dentry != w->mnt_root;

	if (!detached && (dentry == w->mnt_root || dentry == parent)) {
		if (mnt != w->mnt_parent) {
			/* Top of a mount: continue from where it is mounted. */
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = w->mnt_parent;
			w->mnt = mnt;
			w->mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			w->vfsmnt = &mnt->mnt;
			w->mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
			w->dev = BPF_CORE_READ(mnt, mnt.mnt_sb, s_dev);
			return 0;
		}
		w->done = true;
		return 1;
	}

	__u32 len = d.name.len & CF_NAME_MAX;
	__u32 off = w->off;

	if (len + 1 > off || off > CF_PATH_MAX - 1) {
		cf_count(CF_CNT_PATH_TOO_LONG);
		w->truncated = true;
		w->done = true;
		return 1;
	}
	off -= len;
	/* masked offset plus a length below 256: the write stays inside 2 * CF_PATH_MAX */
	bpf_probe_read_kernel(&w->pb->buf[off & (CF_PATH_MAX - 1)], len, d.name.name);
	off -= 1;
	w->pb->buf[off & (CF_PATH_MAX - 1)] = '/';
	w->off = off;
	if (w->components++ == 0)
		w->leaf_len = len;
	w->dentry = parent;
	if (detached) {
		w->done = true;
		return 1;
	}
	return 0;
}

/*
 * Walks `p` into `pb`; returns the offset where the path starts (it ends at CF_PATH_MAX - 1).
 * Sets *truncated when the walk hit a limit; the kept part is then the tail of the path.
 */
static __always_inline __u32 cf_walk_path(const struct path *p, struct cf_pathbuf *pb, bool *truncated)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(p, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct cf_walk w = {
		.pb = pb,
		.dentry = BPF_CORE_READ(p, dentry),
		.vfsmnt = vfsmnt,
		.mnt = mnt,
		.mnt_parent = BPF_CORE_READ(mnt, mnt_parent),
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.dev = BPF_CORE_READ(vfsmnt, mnt_sb, s_dev),
		.off = CF_PATH_MAX - 1,
	};

	pb->buf[CF_PATH_MAX - 1] = '\0';
	bpf_loop(CF_PATH_DEPTH, cf_walk_step, &w, 0);
	if (!w.done) {
		cf_count(CF_CNT_PATH_TOO_DEEP);
		w.truncated = true;
	}
	*truncated = w.truncated;
	if (w.off >= CF_PATH_MAX - 1) {
		w.off = CF_PATH_MAX - 2;
		pb->buf[CF_PATH_MAX - 2] = '/';
	}
	pb->start = w.off;
	pb->leaf_len = w.leaf_len;
	pb->components = w.components;
	pb->truncated = w.truncated;
	pb->walked = 1;
	return w.off;
}

/*
 * Appends the path walked from `p` as string `slot`. A subprogram of its own, not inlined:
 * inlined into every caller it pushed some specialised programs past the 512-byte stack.
 */
static __noinline void cf_append_path(struct cf_strw *w, int slot, const struct path *p)
{
	struct cf_pathbuf *pb = cf_get_pathbuf();
	bool truncated;
	__u32 start, len;

	if (!pb)
		return;
	pb->walked = 0; /* nothing judges a stale path if the walk does not happen */
	if (slot >= CF_STR_SLOTS || w->off >= CF_DATA_MAX)
		return;
	start = cf_walk_path(p, pb, &truncated);
	len = (CF_PATH_MAX - 1) - start;
	bpf_probe_read_kernel(w->data + (w->off & (CF_DATA_MAX - 1)), len & (CF_PATH_MAX - 1),
			      &pb->buf[start & (CF_PATH_MAX - 1)]);
	len &= CF_PATH_MAX - 1;
	w->strs->len[slot & (CF_STR_SLOTS - 1)] = len;
	w->strs->flags[slot & (CF_STR_SLOTS - 1)] = CF_STR_RESOLVED | (truncated ? CF_STR_TRUNCATED : 0);
	w->off += len;
}

/* Appends a NUL-terminated string from user memory as string `slot`; returns its length. */
static __always_inline long cf_append_user_str(struct cf_strw *w, int slot, const char *ustr)
{
	long n;

	if (slot >= CF_STR_SLOTS || w->off >= CF_DATA_MAX)
		return -1;
	n = bpf_probe_read_user_str(w->data + (w->off & (CF_DATA_MAX - 1)), CF_PATH_MAX, ustr);
	if (n <= 0) {
		cf_count(CF_CNT_READ_FAILED);
		return -1;
	}
	n -= 1; /* without the terminator */
	if (n >= CF_PATH_MAX - 1) {
		cf_count(CF_CNT_STR_TRUNCATED);
		w->strs->flags[slot & (CF_STR_SLOTS - 1)] = CF_STR_TRUNCATED;
	}
	n &= CF_PATH_MAX - 1;
	w->strs->len[slot & (CF_STR_SLOTS - 1)] = n;
	w->off += n;
	return n;
}

/* The struct file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *cf_fd_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/* The socket behind a file, or NULL when it is not one. */
static __always_inline struct socket *cf_file_socket(struct file *f)
{
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & 0170000) != 0140000 /* S_IFSOCK */)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

/* Appends the directory a relative name is looked up from: the cwd, or the file behind dfd. */
static __always_inline void cf_append_dir(struct cf_strw *w, int slot, int dfd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (dfd == -100 /* AT_FDCWD */) {
		struct path pwd = BPF_CORE_READ(task, fs, pwd);

		cf_append_path(w, slot, &pwd);
		return;
	}
	struct file *f = cf_fd_file(dfd);

	if (f) {
		struct path fp = BPF_CORE_READ(f, f_path);

		cf_append_path(w, slot, &fp);
	}
}

/* Appends a caller's name and, when it is relative, the directory it is relative to. */
static __always_inline void cf_append_name_at(struct cf_strw *w, int dir_slot, int dfd, const char *uname)
{
	char first = 0;

	bpf_probe_read_user(&first, 1, uname);
	if (first != '/')
		cf_append_dir(w, dir_slot, dfd);
	cf_append_user_str(w, dir_slot + 1, uname);
}

#endif /* CF_STRINGS_BPF_H */
