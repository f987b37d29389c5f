// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The two syscall dispatchers. On kernels without fentry/LSM these raw tracepoints are the only
 * way to see file operations, and any program on them puts every task's syscalls on the slow
 * path, so what runs for an uninteresting syscall must be as close to nothing as possible:
 * entry filters on the syscall number before touching a map, exit does one lookup.
 */
#include "lib/common.bpf.h"
#include "lib/syscalls.bpf.h"
#include "file/file.bpf.h"
#include "net/net.bpf.h"

SEC("raw_tp/sys_enter")
int BPF_PROG(cf_sys_enter, struct pt_regs *regs, long nr)
{
	struct cf_inflight in = {};
	struct pt_regs r;
	__u64 id;

	if (!cf_file_wants(nr) && !cf_net_wants(nr))
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!cf_lookup_tracked(id >> 32))
		return 0;
	/* one read of the user registers instead of one per argument */
	if (bpf_probe_read_kernel(&r, sizeof(r), regs)) {
		cf_count(CF_CNT_READ_FAILED);
		return 0;
	}
	in.nr = nr;
	in.args[0] = PT_REGS_PARM1_SYSCALL(&r);
	in.args[1] = PT_REGS_PARM2_SYSCALL(&r);
	in.args[2] = PT_REGS_PARM3_SYSCALL(&r);
	in.args[3] = PT_REGS_PARM4_SYSCALL(&r);
	in.args[4] = PT_REGS_PARM5_SYSCALL(&r);
	if (bpf_map_update_elem(&inflight, &id, &in, BPF_ANY))
		cf_count(CF_CNT_INFLIGHT_FULL);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(cf_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct cf_inflight *in = bpf_map_lookup_elem(&inflight, &id);

	if (!in)
		return 0;
	if (cf_file_wants(in->nr))
		cf_file_exit(in, ret);
	else
		cf_net_exit(in, ret);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}
