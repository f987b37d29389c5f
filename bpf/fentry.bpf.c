// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The same file and network handling as syscalls.bpf.c, attached with fentry/fexit to the
 * syscall wrappers of only the syscalls clawfence handles. Raw sys_enter/sys_exit programs put
 * every syscall of every task on the slow path; these cost nothing to other syscalls and one
 * trampoline plus one map lookup to these syscalls of untracked processes.
 *
 * User space loads either these or the raw tracepoint dispatchers (never both), these only
 * where the kernel has the `tracing` program type, and falls back to the dispatchers if they
 * do not load (a wrapper renamed or missing).
 */
#include "lib/common.bpf.h"
#include "lib/syscalls.bpf.h"
#include "file/file.bpf.h"
#include "net/net.bpf.h"
#include "guard/evasion.bpf.h"
#include "env/env.bpf.h"

#if defined(__TARGET_ARCH_x86)
#define CF_WRAPPER(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define CF_WRAPPER(name) "__arm64_sys_" #name
#endif

static __always_inline int cf_fexit_file(struct pt_regs *regs, long nr, long ret)
{
	struct cf_inflight in = {};

	if (!cf_lookup_tracked(cf_current_tgid()))
		return 0;
	/* regs is a BTF pointer here: the verifier allows direct loads, no copy to the stack */
	in.nr = nr;
	in.args[0] = PT_REGS_PARM1_SYSCALL(regs);
	in.args[1] = PT_REGS_PARM2_SYSCALL(regs);
	in.args[2] = PT_REGS_PARM3_SYSCALL(regs);
	in.args[3] = PT_REGS_PARM4_SYSCALL(regs);
	in.args[4] = PT_REGS_PARM5_SYSCALL(regs);
	cf_file_exit(&in, ret);
	return 0;
}

#define CF_FILE_PROG(name)                                                           \
	SEC("fexit/" CF_WRAPPER(name))                                               \
	int BPF_PROG(cf_fexit_##name, struct pt_regs *regs, long ret)               \
	{                                                                            \
		return cf_fexit_file(regs, CF_NR_##name, ret);                       \
	}

#define CF_NET_PROGS(name)                                                           \
	SEC("fentry/" CF_WRAPPER(name))                                              \
	int BPF_PROG(cf_fentry_##name, struct pt_regs *regs)                         \
	{                                                                            \
		cf_net_enter(CF_NR_##name);                                          \
		return 0;                                                            \
	}                                                                            \
	SEC("fexit/" CF_WRAPPER(name))                                               \
	int BPF_PROG(cf_fexit_##name, struct pt_regs *regs, long ret)               \
	{                                                                            \
		cf_net_leave(ret);                                                   \
		return 0;                                                            \
	}

CF_FILE_PROG(openat)
CF_FILE_PROG(openat2)
CF_FILE_PROG(unlinkat)
CF_FILE_PROG(renameat)
CF_FILE_PROG(renameat2)
CF_FILE_PROG(linkat)
#if defined(__TARGET_ARCH_x86)
/* the legacy calls exist on x86 only */
CF_FILE_PROG(open)
CF_FILE_PROG(creat)
CF_FILE_PROG(unlink)
CF_FILE_PROG(rename)
CF_FILE_PROG(link)
#endif

SEC("fentry/" CF_WRAPPER(connect))
int BPF_PROG(cf_fentry_connect, struct pt_regs *regs)
{
	cf_net_enter(CF_NR_connect);
	return 0;
}

/* a connect also judges the unix socket's peer (file/file.bpf.h) */
SEC("fexit/" CF_WRAPPER(connect))
int BPF_PROG(cf_fexit_connect, struct pt_regs *regs, long ret)
{
	cf_net_leave(ret);
	if (ret == 0 && cf_lookup_tracked(cf_current_tgid()))
		cf_file_unix_connect_exit((int)PT_REGS_PARM1_SYSCALL(regs));
	return 0;
}
CF_NET_PROGS(sendto)
CF_NET_PROGS(sendmsg)
CF_NET_PROGS(sendmmsg)

/* io_uring_setup and socket: their exits are judged (bpf/guard/evasion.bpf.h) */
SEC("fexit/" CF_WRAPPER(io_uring_setup))
int BPF_PROG(cf_fexit_io_uring_setup, struct pt_regs *regs, long ret)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());

	if (t)
		cf_io_uring_exit(t, ret);
	return 0;
}

SEC("fexit/" CF_WRAPPER(socket))
int BPF_PROG(cf_fexit_socket, struct pt_regs *regs, long ret)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());

	if (t && ret >= 0)
		cf_packet_socket_exit(t, regs, ret);
	return 0;
}

/* ptrace attach and seize: the tracer can read the tracee's environment (bpf/env/env.bpf.h) */
SEC("fexit/" CF_WRAPPER(ptrace))
int BPF_PROG(cf_fexit_ptrace, struct pt_regs *regs, long ret)
{
	if (cf_lookup_tracked(cf_current_tgid()))
		cf_env_ptrace_exit(regs, ret);
	return 0;
}

/* open_by_handle_at: an open without a path (bpf/file/file.bpf.h) */
CF_FILE_PROG(open_by_handle_at)

/*
 * Syscalls judged at their entry (bpf/guard/evasion.bpf.h). Compat (32-bit) syscalls enter
 * through other wrappers (__ia32_*) and are not judged on this path: the agent says so at start.
 */
#define CF_EVASION_PROG(name)                                                        \
	SEC("fentry/" CF_WRAPPER(name))                                              \
	int BPF_PROG(cf_fentry_##name, struct pt_regs *regs)                         \
	{                                                                            \
		cf_evasion_enter(regs, CF_NR_##name);                                \
		return 0;                                                            \
	}

CF_EVASION_PROG(clone)
CF_EVASION_PROG(clone3)
CF_EVASION_PROG(unshare)
CF_EVASION_PROG(setns)
CF_EVASION_PROG(mount)
CF_EVASION_PROG(umount)
CF_EVASION_PROG(open_tree)
CF_EVASION_PROG(move_mount)
CF_EVASION_PROG(fsmount)
CF_EVASION_PROG(mount_setattr)
CF_EVASION_PROG(process_vm_readv)
CF_EVASION_PROG(process_vm_writev)
CF_EVASION_PROG(pidfd_getfd)
CF_EVASION_PROG(ptrace)
CF_EVASION_PROG(kill)
CF_EVASION_PROG(tkill)
CF_EVASION_PROG(tgkill)
CF_EVASION_PROG(prlimit64)
CF_EVASION_PROG(listen)
CF_EVASION_PROG(pidfd_send_signal)
CF_EVASION_PROG(rt_sigqueueinfo)
CF_EVASION_PROG(rt_tgsigqueueinfo)
