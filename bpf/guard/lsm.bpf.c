// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Path patterns refused before the open or exec happens, where the kernel has BPF LSM ("bpf" in
 * the active LSM list). The exits (file/file.bpf.h, process/process.bpf.c) can only kill after
 * the fact; these hooks return -EPERM instead, for `block` and `kill` patterns alike, and the
 * exits stand by while user space says these are in force (CF_GUARD_LSM, guard/paths.bpf.h).
 *
 * Switched off before load unless user space asks for them (agent/sensor/sensor.cpp): the object
 * loads unchanged on kernels without BPF LSM.
 *
 * A judged open or exec is reported as a cf_file record (CF_FILE_OPEN or CF_FILE_EXEC, the
 * resolved path as string 0, -EPERM or, dry run, 0 as the result), with the verdict. A refused
 * open is also reported by the syscall exit, as a failed open without a verdict.
 */
#include "../lib/common.bpf.h"
#include "../lib/strings.bpf.h"
#include "guard.bpf.h"
#include "roles.bpf.h"
#include "paths.bpf.h"

#define CF_EPERM 1
#define CF_MAX_ERRNO 4095

/*
 * Another BPF LSM program on the hook refused already: its answer stands. Since Linux 6.12 the
 * verifier accepts only a return value it can bound to [-MAX_ERRNO, 0]: the value is sign
 * extended and compared in the register that is returned (left alone, clang returns the raw
 * context word and compares a copy), and anything out of range becomes -EPERM.
 */
static __always_inline int cf_lsm_earlier(int ret)
{
	long v = ret;

	barrier_var(v);
	if (v < -CF_MAX_ERRNO || v > 0)
		return -CF_EPERM;
	return v;
}

/* Reports the judged path cf_walk_path left in `pb`: only called when a pattern held. */
static __always_inline void cf_lsm_report(const struct cf_pathbuf *pb, __u32 file_op, __u32 flags,
					  const struct cf_verdict *v)
{
	struct cf_scratch *s = cf_get_scratch();
	struct cf_file *rec;
	__u32 start, len;

	if (!s)
		return;
	rec = (struct cf_file *)s->buf;
	__builtin_memset(rec, 0, sizeof(*rec));
	cf_fill_hdr(&rec->hdr, CF_OP_FILE);
	rec->file_op = file_op;
	rec->result = v->verdict == CF_VERDICT_BLOCKED ? -CF_EPERM : 0;
	rec->flags = flags;
	rec->verdict = *v;
	/* the path is buf[start .. CF_PATH_MAX - 1): masked, the copy stays inside both buffers */
	start = pb->start & (CF_PATH_MAX - 1);
	len = ((CF_PATH_MAX - 1) - start) & (CF_PATH_MAX - 1);
	bpf_probe_read_kernel(rec->data, len, &pb->buf[start]);
	rec->strs.len[0] = len;
	rec->strs.flags[0] = CF_STR_RESOLVED | (pb->truncated ? CF_STR_TRUNCATED : 0);
	rec->hdr.size = sizeof(*rec) + len;
	cf_output(rec, sizeof(*rec) + len);
}

/*
 * The one body of both hooks: walks `file`'s path, judges it for a process of the role `t` says
 * at `on`, reports a pattern that holds, and says what to return. Filter first: the caller
 * checked the process is tracked, cf_gpath_judging that the patterns are this hook's to judge.
 */
static __always_inline int cf_lsm_judge(const struct cf_tracked *t, struct file *file, __u16 on, __u32 file_op,
					__u32 flags)
{
	struct cf_pathbuf *pb = cf_get_pathbuf();
	struct path fp = BPF_CORE_READ(file, f_path);
	struct cf_verdict v = {};
	bool truncated;

	if (!pb)
		return 0;
	cf_walk_path(&fp, pb, &truncated);
	cf_guard_path(t, on, true, &v);
	if (v.verdict == CF_VERDICT_NONE)
		return 0;
	cf_lsm_report(pb, file_op, flags, &v);
	return v.verdict == CF_VERDICT_BLOCKED ? -CF_EPERM : 0;
}

SEC("lsm/file_open")
int BPF_PROG(cf_lsm_file_open, struct file *file, int ret)
{
	const struct cf_tracked *t;

	if (ret)
		return cf_lsm_earlier(ret);
	t = cf_lookup_tracked(cf_current_tgid());
	if (!t || !cf_gpath_judging(true))
		return 0;
	/* every open, the exec's own open of the file (and its interpreter) included: a file the
	 * rules deny is denied however it is opened */
	__u32 flags = BPF_CORE_READ(file, f_flags);

	return cf_lsm_judge(t, file, CF_GPATH_ON_OPEN | cf_open_access(flags), CF_FILE_OPEN, flags);
}

/*
 * The role the process will have once this exec succeeds (sched_process_exec judges it again,
 * guard/roles.bpf.h): a rule for the tool role must hold for the gateway's child exec'ing curl
 * although, until the exec, the child still has the gateway's role. The new argv is in the new
 * mm, which cannot be read from here: rules that name argv do not hold, so a helper's exec is
 * judged as the role it would get without them (the tool, in the shipped rules): the stricter.
 */
static __always_inline void cf_lsm_exec_role(struct cf_tracked *nt, struct linux_binprm *bprm)
{
	struct cf_role_exec e = { .argv_unknown = true };

	if (cf_role_final(cf_guard_cfg(), nt->role))
		return;
	bpf_probe_read_kernel_str(e.exe, sizeof(e.exe), BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name));
	cf_role_judge(nt, &e);
}

/*
 * Called for each file an exec goes through (a script, then its interpreter), before the point
 * of no return: refusing here leaves the caller running its old program, execve failing with
 * EPERM.
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(cf_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	const struct cf_tracked *t;
	struct cf_tracked nt;

	if (ret)
		return cf_lsm_earlier(ret);
	t = cf_lookup_tracked(cf_current_tgid());
	if (!t || !cf_gpath_judging(true))
		return 0;
	nt = *t;
	cf_lsm_exec_role(&nt, bprm);
	return cf_lsm_judge(&nt, BPF_CORE_READ(bprm, file), CF_GPATH_ON_EXEC, CF_FILE_EXEC, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
