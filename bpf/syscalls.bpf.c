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
#include "guard/guard.bpf.h"

/*
 * io_uring_setup by a tracked process. Operations submitted through a ring run in the kernel
 * without passing the syscall tracepoints (an open through io_uring is invisible to them; a
 * connect still meets the cgroup hooks), so setting up a ring is itself an event, and a kill in
 * enforce mode when a rule says so.
 */
static __always_inline void cf_io_uring_exit(const struct cf_tracked *t, long ret)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	const struct cf_evasion_rule *er;
	struct cf_guard_rec rec = {};

	cf_fill_hdr(&rec.hdr, CF_OP_GUARD);
	rec.hdr.size = sizeof(rec);
	rec.what = CF_GUARD_IO_URING;
	rec.result = ret;
	rec.verdict.rule = CF_RULE_NONE;
	rec.verdict.role = t->role;
	if (cfg && (cfg->flags & CF_GUARD_ACTIVE)) {
		er = &cfg->evasion[CF_EVASION_IO_URING];
		rec.verdict.generation = cfg->generation;
		if (er->rule != CF_RULE_NONE && cf_role_applies(er->role_mask, t->role)) {
			rec.verdict.rule = er->rule;
			/* the ring already exists: the only refusal left is the kill */
			rec.verdict.verdict = cf_verdict_for(cfg, er->action == CF_ACTION_KILL ? CF_ACTION_KILL
											   : CF_ACTION_ALERT);
			if (rec.verdict.verdict == CF_VERDICT_KILLED)
				bpf_send_signal(9);
			cf_verdict_count(rec.verdict.verdict);
		}
	}
	cf_output(&rec, sizeof(rec));
}

/*
 * A packet socket (AF_PACKET) never meets the cgroup sock_create hook, which runs for inet
 * sockets only, so it cannot be refused on this path: in enforce mode a watched process that
 * got one is killed before it can use it (the raw_socket rule's "block").
 */
static __always_inline void cf_packet_socket_exit(const struct cf_tracked *t, struct pt_regs *regs, long ret)
{
	const struct cf_guard_config *cfg = cf_guard_cfg();
	const struct cf_evasion_rule *er;
	struct cf_guard_rec rec = {};
	struct cf_inflight in = {};

	if (!cf_read_args(regs, CF_NR_socket, &in) || in.args[0] != 17 /* AF_PACKET */)
		return;
	if (!cfg || !(cfg->flags & CF_GUARD_ACTIVE))
		return;
	er = &cfg->evasion[CF_EVASION_RAW_SOCKET];
	if (er->rule == CF_RULE_NONE || !cf_role_applies(er->role_mask, t->role))
		return;
	cf_fill_hdr(&rec.hdr, CF_OP_GUARD);
	rec.hdr.size = sizeof(rec);
	rec.what = CF_GUARD_RAW_SOCKET;
	rec.result = ret;
	rec.family = 17;
	rec.type = in.args[1] & 0xf;
	rec.protocol = in.args[2];
	rec.verdict.rule = er->rule;
	rec.verdict.role = t->role;
	rec.verdict.generation = cfg->generation;
	rec.verdict.verdict = cf_verdict_for(cfg, er->action == CF_ACTION_ALERT ? CF_ACTION_ALERT : CF_ACTION_KILL);
	if (rec.verdict.verdict == CF_VERDICT_KILLED)
		bpf_send_signal(9);
	cf_verdict_count(rec.verdict.verdict);
	cf_output(&rec, sizeof(rec));
}

SEC("raw_tp/sys_enter")
int BPF_PROG(cf_sys_enter, struct pt_regs *regs, long nr)
{
	/* only network syscalls: their destination arrives in a cgroup hook before the exit */
	if (cf_net_wants(nr))
		cf_net_enter(nr);
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

	if (!t)
		return 0;
	nr = CF_SYSCALL_NR(regs);
	if (cf_file_wants(nr)) {
		struct cf_inflight in = {};

		if (cf_read_args(regs, nr, &in))
			cf_file_exit(&in, ret);
	} else if (cf_net_wants(nr)) {
		cf_net_leave(ret);
	} else if (nr == CF_NR_io_uring_setup) {
		cf_io_uring_exit(t, ret);
	} else if (nr == CF_NR_socket && ret >= 0) {
		cf_packet_socket_exit(t, regs, ret);
	}
	return 0;
}
