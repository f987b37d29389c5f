// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The floor of `make bench`: the least a syscall sensor on raw tracepoints can cost. Attaching
 * any program to sys_enter or sys_exit sets the syscall-tracepoint work flag on every task, so
 * every syscall of every process takes the slow entry/exit path; on top of that each program
 * does what any filter must, one lookup of the current tgid in a hash map (never present here).
 * clawfence with the process untracked should cost no more than this.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u32);
} floor_tgids SEC(".maps");

static __always_inline int floor_filter(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* the helper call is never optimised away; the result is deliberately unused */
	bpf_map_lookup_elem(&floor_tgids, &tgid);
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(floor_sys_enter, struct pt_regs *regs, long nr)
{
	return floor_filter();
}

SEC("raw_tp/sys_exit")
int BPF_PROG(floor_sys_exit, struct pt_regs *regs, long ret)
{
	return floor_filter();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
