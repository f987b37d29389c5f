// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The two syscall dispatchers. On kernels without fentry/LSM these raw tracepoints are the only
 * way to see file operations, and any program on them puts every task's syscalls on the slow
 * path, so what runs for an uninteresting syscall must be as close to nothing as possible: entry
 * filters on the syscall number before touching a map, exit does one lookup of the tracked map.
 * File operations are handled at exit only, from the registers saved at entry; network
 * syscalls keep entry state for the hooks.
 */
#include "lib/common.bpf.h"
#include "lib/syscalls.bpf.h"
#include "file/file.bpf.h"
#include "net/net.bpf.h"
#include "guard/evasion.bpf.h"
#include "env/env.bpf.h"

SEC("raw_tp/sys_enter")
int BPF_PROG(cf_sys_enter, struct pt_regs *regs, long nr)
{
	/* a compat syscall's number is another table's: judged as such, never decoded as native */
	if (cf_compat_syscall(nr))
		cf_compat_enter(regs, nr);
	/* network syscalls: their destination arrives in a cgroup hook before the exit */
	else if (cf_net_wants(nr))
		cf_net_enter(nr);
	/* the few judged at entry, before they take effect (guard/evasion.bpf.h) */
	else if (cf_evasion_enter_wants(nr))
		cf_evasion_enter(regs, nr);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(cf_sys_exit, struct pt_regs *regs, long ret)
{
	long nr;

	/*
	 * The tracked lookup first: it is what every exit of every process pays. Reading the
	 * syscall number is a probe read and costs more than the lookup, so only watched
	 * processes pay it.
	 */
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());
	struct cf_inflight in;

	if (!t) {
		/* a process that could not be tracked, fail-closed: killed before it runs on */
		if (cf_doomed_pending) {
			__u32 tgid = cf_current_tgid();

			if (bpf_map_lookup_elem(&doomed, &tgid)) {
				bpf_send_signal(9);
				bpf_map_delete_elem(&doomed, &tgid);
				__sync_fetch_and_add(&cf_doomed_pending, -1);
				cf_count(CF_CNT_KILLED);
			}
		}
		return 0;
	}
	__builtin_memset(&in, 0, sizeof(in));
	nr = CF_SYSCALL_NR(regs);
	if (cf_compat_syscall(nr)) {
		/* one inlined copy of the file handling for both tables: two overflow the stack */
		if (!cf_compat_file_args(regs, nr, &in))
			return 0;
	} else if (cf_file_wants(nr)) {
		if (!cf_read_args(regs, nr, &in))
			return 0;
	} else {
		if (cf_net_wants(nr)) {
			cf_net_leave(ret);
			if (nr == CF_NR_connect && ret == 0)
				cf_file_unix_connect_exit((int)PT_REGS_PARM1_CORE_SYSCALL(regs));
		} else if (nr == CF_NR_io_uring_setup)
			cf_io_uring_exit(t, ret);
		else if (nr == CF_NR_socket && ret >= 0)
			cf_packet_socket_exit(t, regs, ret);
		else if (nr == CF_NR_ptrace)
			cf_env_ptrace_exit(regs, ret);
		return 0;
	}
	cf_file_exit(&in, ret);
	return 0;
}

/*
 * Not a dispatcher: operations submitted through an io_uring ring, which never pass the two
 * above (guard/evasion.bpf.h). Runs for every submission on the host: one map lookup for an
 * untracked submitter.
 */
SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(cf_uring_submit_req, struct io_kiocb *req)
{
	cf_uring_submit(req);
	return 0;
}

/*
 * Not a dispatcher: the hard-link guard (file/file.bpf.h), loaded with either set of syscall
 * hooks where the kernel's BTF has may_linkat (agent/sensor/sensor.cpp). linkat's permission
 * check, called with the existing file's path as the kernel looked it up, after both names are
 * resolved and before the link is made. A kprobe, not fentry: it needs no BPF tracing programs
 * (not every kernel that has the rest allows them); and not security_path_link, which says the
 * same but exists only with CONFIG_SECURITY_PATH. Runs for every link on the host: one map lookup
 * for an untracked caller.
 */
SEC("kprobe/may_linkat")
int BPF_KPROBE(cf_link_guard, void *idmap, const struct path *link)
{
	cf_file_link_guard(link);
	return 0;
}
