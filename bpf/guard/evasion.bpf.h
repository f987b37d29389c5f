/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ways around the other guards: file operations submitted through an io_uring ring (judged as
 * they are submitted) and packet sockets (at socket()'s exit). The exits are shared by the raw
 * sys_exit dispatcher and the fexit programs.
 */
#ifndef CF_EVASION_BPF_H
#define CF_EVASION_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"
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
	       op == bpf_core_enum_value(enum io_uring_op, IORING_OP_MKDIRAT);
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
	__u8 op, verdict = CF_VERDICT_NONE;

	if (!t)
		return;
	op = BPF_CORE_READ(req, opcode);
	if (!cf_uring_op_bypasses(op))
		return;
	cfg = cf_guard_cfg();
	er = cf_evasion_applies(cfg, CF_EVASION_IO_URING, t->role);
	if (er)
		verdict = cf_guard_act(cfg, er->action == CF_ACTION_ALERT ? CF_ACTION_ALERT : CF_ACTION_KILL, t->role);
	rec = cf_reserve(sizeof(*rec));
	if (!rec)
		return;
	cf_guard_rec_begin(rec, CF_GUARD_IO_URING_OP, t, cfg);
	rec->type = op;
	if (er) {
		rec->verdict.rule = er->rule;
		rec->verdict.verdict = verdict;
	}
	cf_submit(rec);
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
	struct cf_guard_rec *rec;
	struct cf_inflight in = {};
	__u8 verdict;

	if (!cf_read_args(regs, CF_NR_socket, &in) || in.args[0] != 17 /* AF_PACKET */)
		return;
	er = cf_evasion_applies(cfg, CF_EVASION_RAW_SOCKET, t->role);
	if (!er)
		return;
	verdict = cf_guard_act(cfg, er->action == CF_ACTION_ALERT ? CF_ACTION_ALERT : CF_ACTION_KILL, t->role);
	rec = cf_reserve(sizeof(*rec));
	if (!rec)
		return;
	cf_guard_rec_begin(rec, CF_GUARD_RAW_SOCKET, t, cfg);
	rec->result = ret;
	rec->family = 17;
	rec->type = in.args[1] & 0xf;
	rec->protocol = in.args[2];
	rec->verdict.rule = er->rule;
	rec->verdict.verdict = verdict;
	cf_submit(rec);
}

#endif /* CF_EVASION_BPF_H */
