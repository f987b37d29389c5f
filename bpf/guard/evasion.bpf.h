/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ways around the other guards, judged at the exit of the syscall that opens them: an io_uring
 * ring and a packet socket. Shared by the raw sys_exit dispatcher and the fexit programs.
 */
#ifndef CF_EVASION_BPF_H
#define CF_EVASION_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "guard.bpf.h"

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

#endif /* CF_EVASION_BPF_H */
