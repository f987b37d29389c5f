/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Environment reads that need no uprobe: the names of the variables a tracked process hands to
 * a new program at exec (sched_process_exec, bpf/process/process.bpf.c), and ptrace attach or
 * seize by a tracked process (the tracer can read all of the tracee's memory, its environment
 * included), judged at the ptrace exit by the raw sys_exit dispatcher or the fexit program.
 * The uprobe programs for getenv and friends are in env.bpf.c.
 *
 * Values never enter a record: the exec scan copies the bytes before each '=' and steps over
 * the rest, reading the environment block through a chunk on the stack (gone when the program
 * ends), never through a map user space could read. As it steps over a value it hashes it
 * (SipHash-2-4 under the host's key, siphash.bpf.h): the record carries each value's
 * fingerprint and length, so the agent can recognise a secret's value where it must not print
 * it (a tool's argv), without ever holding the value.
 */
#ifndef CF_ENV_BPF_H
#define CF_ENV_BPF_H

#include "../lib/common.bpf.h"
#include "../lib/syscalls.bpf.h"
#include "siphash.bpf.h"

/* Bytes of the environment block read at a time, onto the stack (with the exec program's own
 * stack and the rest of the scan's state, within 512 bytes). */
#define CF_ENV_CHUNK 64
/* Bytes of the environment block looked at, at most: names past it are not seen (TRUNCATED). */
#define CF_ENV_SCAN_MAX (64 << 10)

_Static_assert((CF_ENV_NAMES_MAX & (CF_ENV_NAMES_MAX - 1)) == 0, "names are written at a masked offset");
_Static_assert((CF_ENV_CHUNK & (CF_ENV_CHUNK - 1)) == 0, "chunk index is masked");
/* Where the value fingerprints are gathered during the scan (the names' length is not known
 * until it ends), in the record's data area, past the longest record. */
#define CF_ENV_VALUES_STAGE (2 * CF_ENV_NAMES_MAX + CF_ENV_VALUES_MAX * sizeof(struct cf_env_value))
#define CF_ENV_VALUES_BYTES (CF_ENV_VALUES_MAX * sizeof(struct cf_env_value))

_Static_assert(sizeof(struct cf_env_value) == 16, "cf_env_value layout");
_Static_assert((CF_ENV_VALUES_MAX & (CF_ENV_VALUES_MAX - 1)) == 0, "values are written at a masked index");
_Static_assert(CF_ENV_VALUES_BYTES <= CF_PATH_MAX, "the values are one string slot");
_Static_assert(sizeof(struct cf_env) + CF_ENV_NAMES_MAX + CF_ENV_VALUES_BYTES <= CF_ENV_VALUES_STAGE,
	       "the staged values do not overlap where they are copied to");
_Static_assert(sizeof(struct cf_env) + CF_ENV_VALUES_STAGE + CF_ENV_VALUES_BYTES <= sizeof(struct cf_scratch),
	       "exec env record and staged values fit in scratch");
_Static_assert(sizeof(struct cf_env) <= CF_FIXED_MAX, "record fixed part");

#define CF_PTRACE_ATTACH 16
#define CF_PTRACE_SEIZE 0x4206

struct cf_env_scan {
	char *names;         /* the record's data area, in scratch */
	unsigned long start; /* mm->env_start */
	__u32 len;           /* bytes of the block to scan */
	__u32 out;           /* bytes of names written */
	__u32 complete;      /* `out` after the last complete name: what the record keeps */
	bool in_value;       /* between a '=' and the string's NUL: skipped */
	bool full;           /* CF_ENV_NAMES_MAX reached */
	bool failed;         /* a read of the block failed */
	/* the values: hashed while a key is set, for the names the record keeps */
	bool hashing;        /* a fingerprint key is set */
	bool named_value;    /* the value being stepped over belongs to a name the record keeps */
	bool values_full;    /* CF_ENV_VALUES_MAX reached */
	struct cf_env_value *values; /* staged, in scratch (set with or without a key: the
				      * verifier checks the loop body with either) */
	__u32 nvalues;
	__u32 vlen;          /* bytes of the current value */
	__u64 tail;          /* its bytes not yet absorbed (little endian) */
	__u64 k0, k1;
	struct cf_sip sip;
	char chunk[CF_ENV_CHUNK];
};

static __always_inline void cf_env_value_start(struct cf_env_scan *c)
{
	cf_sip_init(&c->sip, c->k0, c->k1);
	c->vlen = 0;
	c->tail = 0;
}

/* One byte of a value: only the first CF_ENV_VALUE_MAX - 1 are hashed, as cf_env_fingerprint
 * hashes a value read by getenv. */
static __always_inline void cf_env_value_byte(struct cf_env_scan *c, __u8 b)
{
	__u32 n = c->vlen;

	c->vlen = n + 1;
	if (n >= CF_ENV_VALUE_MAX - 1)
		return;
	c->tail |= (__u64)b << (8 * (n & 7));
	if ((n & 7) == 7) {
		cf_sip_absorb(&c->sip, c->tail);
		c->tail = 0;
	}
}

static __always_inline void cf_env_value_end(struct cf_env_scan *c)
{
	__u32 hashed = c->vlen < CF_ENV_VALUE_MAX - 1 ? c->vlen : CF_ENV_VALUE_MAX - 1;
	struct cf_env_value *v;

	if (c->nvalues >= CF_ENV_VALUES_MAX) {
		c->values_full = true;
		return;
	}
	v = &c->values[c->nvalues & (CF_ENV_VALUES_MAX - 1)];
	v->fingerprint = cf_sip_finish(&c->sip, c->tail, hashed);
	v->len = c->vlen;
	v->_pad = 0;
	c->nvalues++;
}

/*
 * bpf_loop body, one byte of the block per call: the callback is verified once, where a plain
 * loop over up to CF_ENV_SCAN_MAX bytes would not fit the verifier's budget. Each name ends in
 * a NUL, as argv does in an exec record; strings with no '=' count as a name, empty names are
 * dropped.
 */
static long cf_env_scan_step(__u32 i, void *data)
{
	struct cf_env_scan *c = data;
	__u32 k = i & (CF_ENV_CHUNK - 1);
	bool end_of_name;
	char ch;

	if (k == 0) {
		/* 64-bit: a 32-bit n is bounded in a zero-extended copy the call never sees */
		__u64 n = (__u64)c->len - i;

		if (n > CF_ENV_CHUNK)
			n = CF_ENV_CHUNK;
		if (bpf_probe_read_user(c->chunk, n, (const void *)(c->start + i))) {
			c->failed = true;
			return 1;
		}
	}
	ch = c->chunk[k];
	if (c->in_value) {
		c->in_value = ch != '\0';
		if (c->named_value) {
			if (c->in_value)
				cf_env_value_byte(c, ch);
			else
				cf_env_value_end(c);
		}
		return 0;
	}
	end_of_name = ch == '=' || ch == '\0';
	if (end_of_name) {
		c->in_value = ch == '=';
		c->named_value = false;
		if (c->out == c->complete) /* an empty name */
			return 0;
		/* a name with no '=' has the empty value */
		if (c->hashing && c->out < CF_ENV_NAMES_MAX) {
			cf_env_value_start(c);
			c->named_value = c->in_value;
			if (!c->in_value)
				cf_env_value_end(c);
		}
		ch = '\0';
	}
	if (c->out >= CF_ENV_NAMES_MAX) {
		c->full = true;
		return 1;
	}
	c->names[c->out & (CF_ENV_NAMES_MAX - 1)] = ch;
	c->out++;
	if (end_of_name)
		c->complete = c->out;
	return 0;
}

/*
 * A CF_ENV_EXEC record with the names of the environment `task` (current, just exec'd) was
 * handed. Built in the scratch buffer, which the exec record no longer needs. A subprogram of
 * its own: its chunk must not add to the stack of the exec program's other paths. (Unused by
 * the syscall objects that include this header for the ptrace exit.)
 */
static __noinline __attribute__((unused)) void cf_env_exec(struct task_struct *task)
{
	struct cf_scratch *s = cf_get_scratch();
	unsigned long start = BPF_CORE_READ(task, mm, env_start);
	unsigned long end = BPF_CORE_READ(task, mm, env_end);
	struct cf_env_scan c = {};
	const struct cf_fp_key *key;
	struct cf_env *rec;
	bool truncated = false;
	__u64 block;
	__u32 len, size, zero = 0;
	__u64 vbytes;

	if (!s)
		return;
	rec = (struct cf_env *)s->buf;
	__builtin_memset(rec, 0, sizeof(*rec));
	cf_fill_hdr(&rec->hdr, CF_OP_ENV);
	rec->kind = CF_ENV_EXEC;

	block = end > start ? end - start : 0;
	if (block > CF_ENV_SCAN_MAX) {
		block = CF_ENV_SCAN_MAX;
		truncated = true;
	}
	c.names = rec->data;
	c.start = start;
	c.len = block;
	c.values = (struct cf_env_value *)(rec->data + CF_ENV_VALUES_STAGE);
	key = bpf_map_lookup_elem(&env_fp_key, &zero);
	if (key && key->set) {
		c.hashing = true;
		c.k0 = key->k0;
		c.k1 = key->k1;
	}
	bpf_loop(c.len, cf_env_scan_step, &c, 0);
	if (c.failed)
		cf_count(CF_CNT_READ_FAILED);
	/* a name cut at the limit is dropped whole: the record ends with a complete name */
	if (c.full || c.failed || truncated || c.out != c.complete) {
		truncated = true;
		cf_count(CF_CNT_STR_TRUNCATED);
	}
	len = c.complete;
	if (len > CF_ENV_NAMES_MAX)
		return;
	rec->strs.len[0] = len;
	if (truncated) {
		rec->flags = CF_ENV_TRUNCATED;
		rec->strs.flags[0] = CF_STR_TRUNCATED;
	}
	vbytes = 0;
	if (c.hashing) {
		/* string 1 follows the names: the values move there from where they were gathered */
		vbytes = c.nvalues * sizeof(struct cf_env_value);
		/* clang checks a copy of vbytes and passes another to the helper: mask the one passed */
		barrier_var(vbytes);
		vbytes &= 2 * CF_ENV_VALUES_BYTES - 1;
		if (vbytes > CF_ENV_VALUES_BYTES)
			return;
		if (vbytes && bpf_probe_read_kernel(rec->data + len, vbytes, rec->data + CF_ENV_VALUES_STAGE))
			return;
		rec->flags |= CF_ENV_VALUES;
		rec->strs.len[1] = vbytes;
		if (c.values_full)
			rec->strs.flags[1] = CF_STR_TRUNCATED;
	}
	size = sizeof(*rec) + len + vbytes;
	rec->hdr.size = size;
	cf_output_now(rec, size);
}

/*
 * The exit of ptrace(2) by a tracked process: attach and seize are reported with their target
 * and result, other requests need an attached tracee already and say nothing new.
 */
static __always_inline void cf_env_ptrace_exit(struct pt_regs *regs, long ret)
{
	struct cf_inflight in = {};
	struct cf_env *rec;

	if (!cf_read_args(regs, CF_NR_ptrace, &in))
		return;
	if (in.args[0] != CF_PTRACE_ATTACH && in.args[0] != CF_PTRACE_SEIZE)
		return;
	rec = cf_reserve(sizeof(*rec));
	if (!rec)
		return;
	cf_fill_hdr(&rec->hdr, CF_OP_ENV);
	rec->hdr.size = sizeof(*rec);
	rec->kind = CF_ENV_PTRACE;
	rec->flags = CF_ENV_RESULT;
	rec->target = (__u32)in.args[1];
	rec->result = ret;
	cf_submit(rec);
}

#endif /* CF_ENV_BPF_H */
