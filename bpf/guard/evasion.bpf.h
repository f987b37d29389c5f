/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ways around the other guards: file operations submitted through an io_uring ring (judged as
 * they are submitted) and packet sockets (at socket()'s exit). The exits are shared by the raw
 * sys_exit dispatcher and the fexit programs.
 */
#ifndef CF_EVASION_BPF_H
#define CF_EVASION_BPF_H

#include <bpf/bpf_endian.h>
#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "../file/file.bpf.h"
#include "guard.bpf.h"

/*
 * io_uring_setup by a tracked process: recorded, judged by no rule. Node 26's libuv sets up
 * rings in every process (it batches epoll_ctl through one), so a ring is no sign of anything;
 * what a ring can do that the syscall sensors never see is judged per operation below.
 */
static __always_inline void cf_io_uring_exit(const struct cf_tracked *t, long ret)
{
	struct cf_guard_rec *rec = cf_reserve(sizeof(*rec));

	if (!rec)
		return;
	cf_guard_rec_begin(rec, CF_GUARD_IO_URING, t, cf_guard_cfg());
	rec->result = ret;
	cf_submit(rec);
}

/*
 * What a rule of the evasion slot comes to for `t`, carried out now, before any record is
 * reserved (a full ring buffer must not spare the process). At these hooks nothing can be
 * refused: a block is carried out as a kill. CF_VERDICT_NONE when no rule applies.
 */
static __always_inline __u8 cf_evasion_act(const struct cf_guard_config *cfg, const struct cf_evasion_rule *er,
					   __u8 role)
{
	if (!er)
		return CF_VERDICT_NONE;
	return cf_guard_act(cfg, er->action == CF_ACTION_ALERT ? CF_ACTION_ALERT : CF_ACTION_KILL, role);
}

/* The record of `what`, begun and carrying the verdict cf_evasion_act came to; the caller fills
 * the rest and submits it. NULL when the ring buffer is full (counted). */
static __always_inline struct cf_guard_rec *cf_evasion_rec(const struct cf_tracked *t, __u32 what,
							  const struct cf_guard_config *cfg,
							  const struct cf_evasion_rule *er, __u8 verdict)
{
	struct cf_guard_rec *rec = cf_reserve(sizeof(*rec));

	if (!rec)
		return NULL;
	cf_guard_rec_begin(rec, what, t, cfg);
	if (er) {
		rec->verdict.rule = er->rule;
		rec->verdict.verdict = verdict;
	}
	return rec;
}

/*
 * Operations that name a file by path, submitted through a ring: they run in the kernel without
 * passing the syscall tracepoints, so an open of a secret through io_uring would never meet a
 * file rule (a connect or a UDP send through a ring still meets the cgroup hooks, a socket the
 * sock_create hook). Opcode values are the running kernel's (CO-RE enum values).
 */
static __always_inline bool cf_uring_op_bypasses(__u8 op)
{
	return op == bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT2) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_UNLINKAT) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_RENAMEAT) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_LINKAT) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_SYMLINKAT) ||
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_MKDIRAT) ||
	       /* a socket of any family, created past the socket() exit that judges families */
	       (bpf_core_enum_value_exists(enum io_uring_op, IORING_OP_SOCKET) &&
		op == bpf_core_enum_value(enum io_uring_op, IORING_OP_SOCKET));
}

/*
 * A connect of a unix socket through a ring: no sys_exit judges its peer (file/file.bpf.h), so
 * it is a bypass like a file operation. An inet connect still meets the cgroup hooks and is not
 * one. Judged by the socket's family (the address is copied in only when the request is issued,
 * after this): the descriptor is looked up in the submitter's table; a registered file (fixed,
 * not in the table) or a descriptor that is not a socket (the connect will fail) is judged too.
 * So is a connect whose issue is put off (linked after another request, drained, forced async):
 * the descriptor could name another socket by then (dup2 while a linked timeout runs).
 */
static __always_inline bool cf_uring_unix_connect(struct io_kiocb *req, __u8 op)
{
	struct socket *sock;

	if (op != bpf_core_enum_value(enum io_uring_op, IORING_OP_CONNECT))
		return false;
	/* REQ_F_FIXED_FILE, IO_DRAIN, IO_LINK, IO_HARDLINK, FORCE_ASYNC: the sqe's flag bits */
	if (BPF_CORE_READ(req, flags) & 0x1f)
		return true;
	if (BPF_CORE_READ(req, ctx, submit_state.link.head)) /* a link chain is being built */
		return true;
	sock = cf_file_socket(cf_fd_file(BPF_CORE_READ(req, cqe.fd)));
	return !sock || BPF_CORE_READ(sock, sk, __sk_common.skc_family) == 1 /* AF_UNIX */;
}

/*
 * A file operation submitted through a ring by a tracked process, as it is submitted (in the
 * submitter's context, SQPOLL's kernel thread being one of the process's threads): an event, and
 * a kill in enforce mode when the io_uring rule says so. The operation itself is already on its
 * way: the kill lands before the process can read its completion.
 */
static __always_inline void cf_uring_submit(struct io_kiocb *req)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());
	const struct cf_guard_config *cfg;
	const struct cf_evasion_rule *er;
	struct cf_guard_rec *rec;
	__u8 op;

	if (!t)
		return;
	op = BPF_CORE_READ(req, opcode);
	if (!cf_uring_op_bypasses(op) && !cf_uring_unix_connect(req, op))
		return;
	cfg = cf_guard_cfg();
	er = cf_evasion_applies(cfg, CF_EVASION_IO_URING, t->role);
	rec = cf_evasion_rec(t, CF_GUARD_IO_URING_OP, cfg, er, cf_evasion_act(cfg, er, t->role));
	if (!rec)
		return;
	rec->type = op;
	cf_submit(rec);
}

/*
 * The socket families the egress guards understand: local (AF_UNIX), the kernel's own
 * (AF_NETLINK) and inet, whose TCP and UDP the cgroup hooks judge (the sock_create hook refuses
 * every other inet protocol). Any other family (packet, vsock, TIPC, RDS, XDP, Bluetooth, CAN, ...)
 * reaches something the connect and sendmsg hooks never see.
 */
static __always_inline bool cf_socket_family_understood(__u64 family)
{
	return family == 1 /* AF_UNIX */ || family == 2 /* AF_INET */ || family == 10 /* AF_INET6 */ ||
	       family == 16 /* AF_NETLINK */;
}

/*
 * A socket of another family never meets the cgroup sock_create hook, which runs for inet
 * sockets only, so it cannot be refused on this path: in enforce mode a watched process that
 * got one is killed before it can use it (the raw_socket rule's "block").
 */
static __always_inline void cf_packet_socket_exit(const struct cf_tracked *t, struct pt_regs *regs, long ret)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	const struct cf_evasion_rule *er;
	struct cf_guard_rec *rec;
	struct cf_inflight in = {};

	if (!cf_read_args(regs, CF_NR_socket, &in) || cf_socket_family_understood(in.args[0]))
		return;
	er = cf_evasion_applies(cfg, CF_EVASION_RAW_SOCKET, t->role);
	if (!er)
		return;
	rec = cf_evasion_rec(t, CF_GUARD_RAW_SOCKET, cfg, er, cf_evasion_act(cfg, er, t->role));
	if (!rec)
		return;
	rec->result = ret;
	rec->family = in.args[0];
	rec->type = in.args[1] & 0xf;
	rec->protocol = in.args[2];
	cf_submit(rec);
}

/*
 * Syscalls judged at their entry: with SIGKILL pending, clone and ptrace attach fail before they
 * do anything, get_user_pages (process_vm_readv/writev) stops at its first page, and whatever
 * else completes (a mount) is never used by the process. What they do that the other guards
 * cannot see: a mount or a new mount namespace puts a secret under a path no file rule names;
 * a process sharing the caller's descriptor table (CLONE_FILES without CLONE_THREAD) outlives a
 * kill at an open and reads the descriptor; another process's memory holds its environment and
 * keys.
 */
#define CF_CLONE_FILES 0x00000400ull
#define CF_CLONE_THREAD 0x00010000ull
/* CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (clone, clone3, unshare) */
#define CF_CLONE_NEW 0x7e020000ull
#define CF_CLONE_NEWTIME 0x00000080ull /* unshare and clone3 only: clone()'s low byte is the exit signal */
#define CF_PTRACE_ATTACH_REQ 16
#define CF_PTRACE_SEIZE_REQ 0x4206

static __always_inline bool cf_evasion_enter_wants(long nr)
{
	return nr == CF_NR_clone || nr == CF_NR_clone3 || nr == CF_NR_unshare || nr == CF_NR_setns ||
	       nr == CF_NR_mount || nr == CF_NR_umount2 || nr == CF_NR_open_tree || nr == CF_NR_move_mount ||
	       nr == CF_NR_fsmount || nr == CF_NR_mount_setattr || nr == CF_NR_process_vm_readv ||
	       nr == CF_NR_process_vm_writev || nr == CF_NR_pidfd_getfd || nr == CF_NR_ptrace || nr == CF_NR_kill ||
	       nr == CF_NR_tkill || nr == CF_NR_tgkill || nr == CF_NR_prlimit64 || nr == CF_NR_listen ||
	       nr == CF_NR_pidfd_send_signal || nr == CF_NR_rt_sigqueueinfo || nr == CF_NR_rt_tgsigqueueinfo;
}

/*
 * listen(fd) on an inet socket bound to an address that is not loopback: a way in that no
 * connect or sendmsg hook meets (a peer outside connects, the tool writes to the accepted
 * socket). Fills the record's address; false for loopback listeners and other sockets.
 */
struct cf_listen_addr {
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

static __always_inline bool cf_listen_exposed(int fd, struct cf_listen_addr *rec)
{
	struct file *f = cf_fd_file(fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & 0170000) != 0140000 /* S_IFSOCK */)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	rec->family = family;
	rec->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (family == 2 /* AF_INET */) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(rec->addr, &a, 4);
		return rec->addr[0] != 127;
	}
	if (family == 10 /* AF_INET6 */) {
		__u8 *b = rec->addr;
		__u64 lo, hi;

		BPF_CORE_READ_INTO(rec->addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		__builtin_memcpy(&hi, b, 8);
		__builtin_memcpy(&lo, b + 8, 8);
		/* ::1 */
		if (!hi && lo == bpf_cpu_to_be64(1))
			return false;
		/* ::ffff:127.x.y.z */
		if (hi || b[8] || b[9])
			return true;
		return !(b[10] == 0xff && b[11] == 0xff && b[12] == 127);
	}
	return false;
}

/*
 * Whether `tgid` is one of the assistant's own processes (a tracked process whose role is not
 * final: the gateway, its helpers): a tool signalling it (SIGSEGV for a core dump of its memory,
 * SIGKILL to take the assistant down, SIGSTOP) or raising its limits (a core size) reaches into
 * it as surely as ptrace.
 */
static __always_inline bool cf_is_assistant(__u32 tgid)
{
	const struct cf_tracked *target = cf_lookup_tracked(tgid);

	const struct cf_guard_config *cfg = cf_guard_cfg();

	return target && cfg && target->role && !cf_role_final(cfg, target->role);
}

/* The process (thread group) a struct pid names: a thread's pid names its process. */
static __always_inline __u32 cf_pid_tgid(struct pid *p)
{
	struct hlist_node *first;
	struct task_struct *task;

	if (!p)
		return 0;
	first = BPF_CORE_READ(p, tasks[0].first); /* PIDTYPE_PID */
	if (!first)
		return 0;
	task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
	return BPF_CORE_READ(task, tgid);
}

/*
 * The process a descriptor refers to as a signal target: a pidfd (pidfd_open, clone's
 * CLONE_PIDFD; the struct pid is the file's private data, or its pidfs inode's) or a /proc/PID
 * directory (pidfd_send_signal takes both). 0 when it is neither.
 */
static __always_inline __u32 cf_fd_pid_tgid(int fd)
{
	struct file *f = cf_fd_file(fd);
	struct inode *inode;
	unsigned long magic;
	struct pid *p;

	if (!f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	magic = BPF_CORE_READ(inode, i_sb, s_magic);
	if (magic == 0x9fa0 /* PROC_SUPER_MAGIC */) {
		struct proc_inode *pi = container_of(inode, struct proc_inode, vfs_inode);

		return cf_pid_tgid(BPF_CORE_READ(pi, pid));
	}
	p = BPF_CORE_READ(f, private_data);
	if (!p && magic == 0x50494446 /* PID_FS_MAGIC */)
		p = BPF_CORE_READ(inode, i_private);
	return cf_pid_tgid(p);
}

/*
 * The process group a kill() with a pid of 0 or below aims at, as the pid of its leader: the
 * caller's own group (0), or -pid; -1 (every process the caller may signal) is returned as is.
 */
static __always_inline __s64 cf_kill_group(__s64 pid)
{
	struct task_struct *task;

	if (pid == 0) {
		task = (struct task_struct *)bpf_get_current_task();
		return BPF_CORE_READ(task, signal, pids[2 /* PIDTYPE_PGID */], numbers[0].nr);
	}
	return pid == -1 ? -1 : -pid;
}

/* What a clone's flags do that is judged: CF_GUARD_SHARED_FILES, CF_GUARD_NAMESPACE or 0. */
static __always_inline __u32 cf_clone_what(__u64 flags, __u64 new_mask)
{
	if ((flags & CF_CLONE_FILES) && !(flags & CF_CLONE_THREAD))
		return CF_GUARD_SHARED_FILES;
	if (flags & new_mask)
		return CF_GUARD_NAMESPACE;
	return 0;
}

static __always_inline __u32 cf_evasion_slot(__u32 what)
{
	switch (what) {
	case CF_GUARD_MOUNT: return CF_EVASION_MOUNT;
	case CF_GUARD_NAMESPACE: return CF_EVASION_NAMESPACE;
	case CF_GUARD_SHARED_FILES: return CF_EVASION_SHARED_FILES;
	case CF_GUARD_PROCESS_ACCESS: return CF_EVASION_PROCESS_ACCESS;
	case CF_GUARD_LISTEN: return CF_EVASION_LISTEN;
	case CF_GUARD_COMPAT_SYSCALL: return CF_EVASION_COMPAT;
	default: return CF_EVASION_MAX; /* no slot: no rule applies */
	}
}

/* Records `what` at a syscall's entry, judged under its evasion rule: a kill, or an alert. */
static __always_inline void cf_evasion_judge_enter(const struct cf_tracked *t, __u32 what, long nr, __u64 arg)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	const struct cf_evasion_rule *er = cf_evasion_applies(cfg, cf_evasion_slot(what), t->role);
	struct cf_guard_rec *rec = cf_evasion_rec(t, what, cfg, er, cf_evasion_act(cfg, er, t->role));

	if (!rec)
		return;
	rec->syscall = nr;
	rec->arg = arg;
	cf_submit(rec);
}

/*
 * A bind mount asked for (mount with MS_BIND, open_tree): a FILE record naming what is mounted
 * and where, so the file rules judge the source (the mount point is all a later open shows).
 * Names as the caller gave them, resolved against its working directory or dfd.
 */
static __always_inline void cf_mount_names(const struct cf_inflight *in)
{
	struct cf_scratch *s = cf_get_scratch();
	struct cf_strw w;
	struct cf_file *rec;

	if (!s)
		return;
	rec = cf_file_begin(s, &w, CF_FILE_MOUNT, in, 0);
	if (in->nr == CF_NR_mount) {
		rec->flags = in->args[3];
		cf_append_name_at(&w, 0, -100, (const char *)in->args[0]);
		cf_append_name_at(&w, 2, -100, (const char *)in->args[1]);
	} else {
		rec->flags = in->args[2];
		cf_append_name_at(&w, 0, (int)in->args[0], (const char *)in->args[1]);
	}
	cf_file_finish(rec, &w);
}

/* A listener open to the network: recorded with its address, judged under the listen rule. */
static __always_inline void cf_listen_enter(const struct cf_tracked *t, int fd)
{
	const struct cf_guard_config *cfg;
	const struct cf_evasion_rule *er;
	struct cf_listen_addr a = {};
	struct cf_guard_rec *rec;

	if (!cf_listen_exposed(fd, &a))
		return;
	cfg = cf_guard_cfg();
	er = cf_evasion_applies(cfg, CF_EVASION_LISTEN, t->role);
	rec = cf_evasion_rec(t, CF_GUARD_LISTEN, cfg, er, cf_evasion_act(cfg, er, t->role));
	if (!rec)
		return;
	rec->syscall = CF_NR_listen;
	rec->family = a.family;
	rec->port = a.port;
	__builtin_memcpy(rec->addr, a.addr, sizeof(a.addr));
	cf_submit(rec);
}

/* The entry of one of cf_evasion_enter_wants' syscalls. */
static __always_inline void cf_evasion_enter(struct pt_regs *regs, long nr)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());
	struct cf_inflight in = {};
	__u32 what = 0;
	__u64 arg = 0, flags = 0;

	if (!t || !cf_read_args(regs, nr, &in))
		return;
	if (nr == CF_NR_listen) {
		cf_listen_enter(t, (int)in.args[0]);
		return;
	}
	if (nr == CF_NR_clone) {
		arg = in.args[0];
		what = cf_clone_what(arg, CF_CLONE_NEW);
	} else if (nr == CF_NR_clone3) {
		if (bpf_probe_read_user(&flags, sizeof(flags), (void *)in.args[0]))
			return;
		arg = flags;
		/* CLONE_INTO_CGROUP: a child born in another cgroup, out from under --cgroup's hooks */
		what = cf_clone_what(arg, CF_CLONE_NEW | CF_CLONE_NEWTIME | 0x200000000ull);
	} else if (nr == CF_NR_unshare) {
		arg = in.args[0];
		if (arg & (CF_CLONE_NEW | CF_CLONE_NEWTIME))
			what = CF_GUARD_NAMESPACE;
	} else if (nr == CF_NR_setns) {
		arg = in.args[1];
		what = CF_GUARD_NAMESPACE;
	} else if (nr == CF_NR_ptrace) {
		if (in.args[0] == CF_PTRACE_ATTACH_REQ || in.args[0] == CF_PTRACE_SEIZE_REQ) {
			arg = in.args[1];
			what = CF_GUARD_PROCESS_ACCESS;
		}
	} else if (nr == CF_NR_kill || nr == CF_NR_tkill || nr == CF_NR_tgkill || nr == CF_NR_prlimit64 ||
		   nr == CF_NR_rt_sigqueueinfo || nr == CF_NR_rt_tgsigqueueinfo) {
		/*
		 * kill(pid), tkill(tid: a process's first thread's is its tgid), tgkill(tgid),
		 * rt_(tg)sigqueueinfo(tgid), prlimit64(pid); kill of a process group by its leader,
		 * and of every process (-1)
		 */
		__s64 target = (__s32)in.args[0];

		if (nr == CF_NR_kill && target <= 0)
			target = cf_kill_group(target);
		arg = target;
		if (target == -1 || (target > 0 && (__u32)target != cf_current_tgid() && cf_is_assistant((__u32)target)))
			what = CF_GUARD_PROCESS_ACCESS;
	} else if (nr == CF_NR_pidfd_send_signal) {
		/* the process a pidfd (or a /proc/PID directory) refers to */
		arg = cf_fd_pid_tgid((int)in.args[0]);
		if (arg && (__u32)arg != cf_current_tgid() && cf_is_assistant((__u32)arg))
			what = CF_GUARD_PROCESS_ACCESS;
	} else if (nr == CF_NR_process_vm_readv || nr == CF_NR_process_vm_writev || nr == CF_NR_pidfd_getfd) {
		arg = in.args[0];
		/* its own memory is no one else's */
		if (nr == CF_NR_pidfd_getfd || (__u32)arg != cf_current_tgid())
			what = CF_GUARD_PROCESS_ACCESS;
	} else {
		/* mount, umount2, open_tree, move_mount, fsmount, mount_setattr */
		if (nr == CF_NR_mount)
			arg = in.args[3];
		what = CF_GUARD_MOUNT;
		if ((nr == CF_NR_mount && (arg & 0x1000 /* MS_BIND */)) || nr == CF_NR_open_tree)
			cf_mount_names(&in);
	}
	if (what)
		cf_evasion_judge_enter(t, what, nr, arg);
}

/*
 * A compat syscall's entry by a tracked process: judged under the compat rule (a kill stops the
 * process before it uses what the syscall gave it), and reported the first time and whenever it
 * is judged. Its number is the 32-bit table's.
 */
static __always_inline void cf_compat_enter(struct pt_regs *regs, long nr)
{
	struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());
	const struct cf_guard_config *cfg;
	const struct cf_evasion_rule *er;
	struct cf_guard_rec *rec;
	__u8 verdict;

	if (!t)
		return;
	cfg = cf_guard_cfg();
	er = cf_evasion_applies(cfg, CF_EVASION_COMPAT, t->role);
	verdict = cf_evasion_act(cfg, er, t->role);
	if ((t->seen & CF_SEEN_COMPAT) && verdict != CF_VERDICT_KILLED && verdict != CF_VERDICT_WOULD_KILL)
		return;
	t->seen |= CF_SEEN_COMPAT;
	rec = cf_evasion_rec(t, CF_GUARD_COMPAT_SYSCALL, cfg, er, verdict);
	if (!rec)
		return;
	rec->syscall = nr;
	cf_submit(rec);
}

/*
 * A compat syscall's exit: the opens are judged with their own table (the path walked from the
 * descriptor they returned, like a native open's): fills `in` as the native open it is and
 * returns true. Nothing else is decoded, the native numbers meaning other syscalls.
 */
static __always_inline bool cf_compat_file_args(struct pt_regs *regs, long nr, struct cf_inflight *in)
{
	if (nr == CF_COMPAT_NR_open)
		in->nr = CF_NR_open;
	else if (nr == CF_COMPAT_NR_openat)
		in->nr = CF_NR_openat;
	else if (nr == CF_COMPAT_NR_creat)
		in->nr = CF_NR_creat;
	else if (nr == CF_COMPAT_NR_openat2)
		in->nr = CF_NR_openat2;
	else if (nr == CF_COMPAT_NR_open_by_handle_at)
		in->nr = CF_NR_open_by_handle_at;
	else
		return false;
#if defined(__TARGET_ARCH_x86)
	/*
	 * i386 passes arguments in ebx, ecx, edx, esi, edi; pointers are 32-bit. Read one by one:
	 * a copy of the registers would not fit the stack beside the path judge's frames.
	 */
	in->args[0] = (__u64)(__s64)(__s32)BPF_CORE_READ(regs, bx); /* a dfd is an int: AT_FDCWD */
	in->args[1] = (__u32)BPF_CORE_READ(regs, cx);
	in->args[2] = (__u32)BPF_CORE_READ(regs, dx);
	in->args[3] = (__u32)BPF_CORE_READ(regs, si);
	in->args[4] = (__u32)BPF_CORE_READ(regs, di);
	if (in->nr == CF_NR_open || in->nr == CF_NR_creat)
		in->args[0] = (__u32)in->args[0];
	/* a 32-bit openat2's struct open_how is the same layout */
	in->compat = 1;
	return true;
#else
	return false;
#endif
}

#endif /* CF_EVASION_BPF_H */
