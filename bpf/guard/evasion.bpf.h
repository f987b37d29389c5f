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
	const struct cf_evasion_rule *er = cf_evasion_applies(cfg, CF_EVASION_IO_URING, t->role);
	struct cf_guard_rec rec = {};

	cf_guard_rec_begin(&rec, CF_GUARD_IO_URING, t, cfg);
	rec.result = ret;
	/* the ring already exists: the only refusal left is the kill */
	if (er)
		cf_guard_rec_judge(&rec, cfg, er, er->action == CF_ACTION_KILL ? CF_ACTION_KILL : CF_ACTION_ALERT);
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
	er = cf_evasion_applies(cfg, CF_EVASION_RAW_SOCKET, t->role);
	if (!er)
		return;
	cf_guard_rec_begin(&rec, CF_GUARD_RAW_SOCKET, t, cfg);
	rec.result = ret;
	rec.family = 17;
	rec.type = in.args[1] & 0xf;
	rec.protocol = in.args[2];
	cf_guard_rec_judge(&rec, cfg, er, er->action == CF_ACTION_ALERT ? CF_ACTION_ALERT : CF_ACTION_KILL);
	cf_output(&rec, sizeof(rec));
}

#endif /* CF_EVASION_BPF_H */
