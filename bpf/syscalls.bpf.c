// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The two syscall dispatchers. On kernels without fentry/LSM these raw tracepoints are the only
 * way to see file operations, and any program on them puts every task's syscalls on the slow
 * path, so what runs for an uninteresting syscall must be as close to nothing as possible: both
 * filter on the syscall number before touching a map. File operations are handled at exit
 * only, from the registers saved at entry; network syscalls keep entry state for the hooks.
 */
#include "lib/common.bpf.h"
#include "lib/syscalls.bpf.h"
#include "file/file.bpf.h"
#include "net/net.bpf.h"

SEC("raw_tp/sys_enter")
int BPF_PROG(cf_sys_enter, struct pt_regs *regs, long nr)
{
	struct cf_inflight in = {};
	__u64 id;

	/* only network syscalls: their destination arrives in a cgroup hook before the exit */
	if (!cf_net_wants(nr))
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!cf_lookup_tracked(id >> 32))
		return 0;
	in.nr = nr;
	if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
		cf_count(CF_CNT_INFLIGHT_FULL);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(cf_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = CF_SYSCALL_NR(regs);
	__u64 id;

	if (cf_file_wants(nr)) {
		struct cf_inflight in = {};

		if (!cf_lookup_tracked(cf_current_tgid()))
			return 0;
		if (cf_read_args(regs, nr, &in))
			cf_file_exit(&in, ret);
		return 0;
	}
	if (!cf_net_wants(nr))
		return 0;
	id = bpf_get_current_pid_tgid();
	struct cf_inflight *in = bpf_map_lookup_elem(&inflight, &id);

	if (!in)
		return 0;
	cf_net_exit(in, ret);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}
