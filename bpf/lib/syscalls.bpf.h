/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Syscall numbers the raw sys_enter/sys_exit dispatchers handle, per architecture, and the
 * per-thread state carried from a syscall's entry to its exit.
 */
#ifndef CF_SYSCALLS_BPF_H
#define CF_SYSCALLS_BPF_H

#include "common.bpf.h"

/*
 * The syscall number at sys_exit, from the registers saved at entry. The argument registers
 * are still there too (arm64 keeps the clobbered x0 in orig_x0, which the libbpf macros read),
 * so file operations need no entry state.
 */
#if defined(__TARGET_ARCH_x86)
#define CF_SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define CF_SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#endif

#if defined(__TARGET_ARCH_x86)
#define CF_NR_open 2
#define CF_NR_creat 85
#define CF_NR_unlink 87
#define CF_NR_rename 82
#define CF_NR_link 86
#define CF_NR_connect 42
#define CF_NR_sendto 44
#define CF_NR_sendmsg 46
#define CF_NR_sendmmsg 307
#define CF_NR_openat 257
#define CF_NR_unlinkat 263
#define CF_NR_renameat 264
#define CF_NR_renameat2 316
#define CF_NR_linkat 265
#define CF_NR_openat2 437
#define CF_NR_io_uring_setup 425
#define CF_NR_socket 41
#define CF_NR_ptrace 101
#define CF_NR_open_by_handle_at 304
#define CF_NR_clone 56
#define CF_NR_clone3 435
#define CF_NR_unshare 272
#define CF_NR_setns 308
#define CF_NR_mount 165
#define CF_NR_umount2 166
#define CF_NR_umount CF_NR_umount2 /* its wrapper is __x64_sys_umount */
#define CF_NR_open_tree 428
#define CF_NR_move_mount 429
#define CF_NR_fsmount 432
#define CF_NR_mount_setattr 442
#define CF_NR_process_vm_readv 310
#define CF_NR_process_vm_writev 311
#define CF_NR_pidfd_getfd 438
#define CF_NR_pidfd_send_signal 424
#define CF_NR_rt_sigqueueinfo 129
#define CF_NR_rt_tgsigqueueinfo 297
#define CF_NR_kill 62
#define CF_NR_tkill 200
#define CF_NR_tgkill 234
#define CF_NR_prlimit64 302
#define CF_NR_listen 50
#elif defined(__TARGET_ARCH_arm64)
/* arm64 has only the *at variants; the legacy numbers never match. */
#define CF_NR_open -1
#define CF_NR_creat -2
#define CF_NR_unlink -3
#define CF_NR_rename -4
#define CF_NR_link -5
#define CF_NR_connect 203
#define CF_NR_sendto 206
#define CF_NR_sendmsg 211
#define CF_NR_sendmmsg 269
#define CF_NR_openat 56
#define CF_NR_unlinkat 35
#define CF_NR_renameat 38
#define CF_NR_renameat2 276
#define CF_NR_linkat 37
#define CF_NR_openat2 437
#define CF_NR_io_uring_setup 425
#define CF_NR_socket 198
#define CF_NR_ptrace 117
#define CF_NR_open_by_handle_at 265
#define CF_NR_clone 220
#define CF_NR_clone3 435
#define CF_NR_unshare 97
#define CF_NR_setns 268
#define CF_NR_mount 40
#define CF_NR_umount2 39
#define CF_NR_umount CF_NR_umount2
#define CF_NR_open_tree 428
#define CF_NR_move_mount 429
#define CF_NR_fsmount 432
#define CF_NR_mount_setattr 442
#define CF_NR_process_vm_readv 270
#define CF_NR_process_vm_writev 271
#define CF_NR_pidfd_getfd 438
#define CF_NR_pidfd_send_signal 424
#define CF_NR_rt_sigqueueinfo 138
#define CF_NR_rt_tgsigqueueinfo 240
#define CF_NR_kill 129
#define CF_NR_tkill 130
#define CF_NR_tgkill 131
#define CF_NR_prlimit64 261
#define CF_NR_listen 201
#else
#error "clawfence: syscall numbers for this architecture are missing (bpf/lib/syscalls.bpf.h)"
#endif

/*
 * Whether the current syscall came through another syscall table than the native one: on
 * x86-64 a 32-bit syscall (int $0x80, sysenter: TS_COMPAT in the thread's status) or an x32 one
 * (the number carries __X32_SYSCALL_BIT); on arm64 an AArch32 task (TIF_32BIT). Their numbers
 * mean other syscalls, so the native decoding must never be applied to them.
 */
static __always_inline bool cf_compat_syscall(long nr)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = bpf_get_current_task_btf();

	return (task->thread_info.status & 0x0002 /* TS_COMPAT */) || (nr & 0x40000000 /* __X32_SYSCALL_BIT */);
#elif defined(__TARGET_ARCH_arm64)
	struct task_struct *task = bpf_get_current_task_btf();

	return task->thread_info.flags & (1UL << 22 /* TIF_32BIT */);
#endif
}

/* The compat (i386) numbers of the opens, judged with their own table at exit. */
#define CF_COMPAT_NR_open 5
#define CF_COMPAT_NR_creat 8
#define CF_COMPAT_NR_openat 295
#define CF_COMPAT_NR_open_by_handle_at 342
#define CF_COMPAT_NR_openat2 437

/*
 * A syscall's number and arguments; for network syscalls also what the cgroup hooks saw in
 * between entry and exit (kept in `inflight`).
 */
struct cf_inflight {
	__s64 nr;
	__u64 args[5];
	/* filled by a cgroup sock_addr hook that ran inside this syscall */
	__u8 has_addr;
	__u8 protocol;
	__u8 sock_type;
	__u8 compat;      /* a compat syscall: nr is the native one it was judged as */
	__u16 family;
	__u16 port;
	__u8 addr[16];
	struct cf_verdict verdict; /* what the guard decided about that destination */
};

/*
 * Entry state of network syscalls, for the cgroup hooks to fill. LRU: a thread that dies inside
 * a syscall never reaches sys_exit, so entries can leak; the exit dispatcher and thread exit
 * delete them on every path they see.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct cf_inflight);
} inflight SEC(".maps") CF_SHARED;


/* Reads the syscall arguments from the saved user registers: one read, not one per argument. */
static __always_inline bool cf_read_args(struct pt_regs *regs, long nr, struct cf_inflight *in)
{
	struct pt_regs r;

	if (bpf_probe_read_kernel(&r, sizeof(r), regs)) {
		cf_count(CF_CNT_READ_FAILED);
		return false;
	}
	in->nr = nr;
	in->args[0] = PT_REGS_PARM1_SYSCALL(&r);
	in->args[1] = PT_REGS_PARM2_SYSCALL(&r);
	in->args[2] = PT_REGS_PARM3_SYSCALL(&r);
	in->args[3] = PT_REGS_PARM4_SYSCALL(&r);
	in->args[4] = PT_REGS_PARM5_SYSCALL(&r);
	return true;
}

#endif /* CF_SYSCALLS_BPF_H */
