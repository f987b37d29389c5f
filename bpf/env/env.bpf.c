// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Environment reads by tracked processes, seen by uprobes on the functions that read it. In
 * Node `process.env.X` makes no system call at all; uv_os_getenv is where it can be seen.
 *
 * The programs name no binary (SEC("uprobe") / SEC("uretprobe")), so libbpf never attaches
 * them on its own: user space attaches each to the object that has the function (found from
 * /proc/PID/exe and /proc/PID/maps of a watched process) with an explicit binary and offset and
 * pid -1. Every process mapping that object then runs them, so each one asks the tracked map
 * before anything else.
 *
 *   cf_env_getenv, cf_env_getenv_ret                 libc: char *getenv(const char *name)
 *   cf_env_secure_getenv, cf_env_secure_getenv_ret   libc: char *secure_getenv(const char *name)
 *   cf_env_uv_getenv                                 node or libuv.so.1:
 *                                                    int uv_os_getenv(const char *name, char *buffer,
 *                                                                     size_t *size)
 *                                                    (the getenv it calls reports the result, or the
 *                                                    return probe when that getenv is not probed; only
 *                                                    in a file with its own getenv, or for one process
 *                                                    whose getenv is not probed: where getenv comes
 *                                                    from a probed shared libc, its probes see the read)
 *   cf_env_enumerate                                 node: node::RealEnvStore::Enumerate(v8::Isolate*)
 *                                                    const (entry only: the whole environment)
 *
 * Only the name is read, never the value: not the pointer getenv returns, not the buffer
 * uv_os_getenv fills. Repeats of a name by the same process within cf_env_window_ns are
 * counted in env_fold and reported with the next record of that name, so a hot loop over
 * process.env costs a map update per read and no ring-buffer space.
 */
#include "../lib/common.bpf.h"
#include "siphash.bpf.h"

/* Load-time knob: a name read again by the same process within this long is folded. */
const volatile __u64 cf_env_window_ns CF_SHARED = 60ull * 1000000000ull;

/* An entry still pending after this long belongs to a thread that never returned. */
#define CF_ENV_CALL_STALE_NS 1000000000ull
/* Bytes read of a name: one more than is kept, to tell a name of CF_ENV_NAME_MAX bytes from a
 * longer one. */
#define CF_ENV_NAME_READ (CF_ENV_NAME_MAX + 2)

/* A read in progress on one thread: its name, from the entry to the return probe. */
struct cf_env_call {
	const char *name;
	__u64 ts_ns;
	__u32 kind; /* enum cf_env_kind */
	__u32 _pad;
};

/* LRU: a thread that dies inside getenv never reaches the return probe. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct cf_env_call);
} env_calls SEC(".maps") CF_SHARED;

/* LRU: one entry per (process, kind, name) read lately; an evicted entry only costs a record. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct cf_env_fold_key);
	__type(value, struct cf_env_fold_val);
} env_fold SEC(".maps") CF_SHARED;

/* A value being fingerprinted, per CPU: it never leaves the kernel. */
struct cf_fp_buf {
	__u8 bytes[CF_ENV_VALUE_MAX + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_fp_buf);
} env_fp_buf SEC(".maps") CF_SHARED;

/* bpf_loop state of a fingerprint over the per-CPU buffer. */
struct cf_sip_words {
	struct cf_sip s;
	const struct cf_fp_buf *buf;
	__u32 words;
};

/* bpf_loop body: one full 8-byte word of the value (little endian, as SipHash reads it). */
static long cf_sip_word(__u32 i, void *data)
{
	struct cf_sip_words *w = data;
	__u64 m;

	if (i >= w->words || i >= CF_ENV_VALUE_MAX / 8)
		return 1;
	__builtin_memcpy(&m, &w->buf->bytes[(i * 8) & (CF_ENV_VALUE_MAX - 1)], 8);
	cf_sip_absorb(&w->s, m);
	return 0;
}

/*
 * SipHash-2-4 of the value `uvalue` points to, under the host's key: two reads of the same
 * secret can be matched, and the value cannot be recovered from it. The value is read into a
 * per-CPU buffer that is never output, and cleared after.
 */
static __noinline __u64 cf_env_fingerprint(const char *uvalue, bool *ok)
{
	__u32 zero = 0;
	const struct cf_fp_key *key = bpf_map_lookup_elem(&env_fp_key, &zero);
	struct cf_fp_buf *buf = bpf_map_lookup_elem(&env_fp_buf, &zero);
	struct cf_sip_words w = {};
	__u64 b = 0, out;
	long n;
	__u32 len, rem;

	*ok = false;
	if (!key || !key->set || !buf || !uvalue)
		return 0;
	__builtin_memset(buf->bytes, 0, sizeof(buf->bytes));
	n = bpf_probe_read_user_str(buf->bytes, CF_ENV_VALUE_MAX, uvalue);
	if (n <= 0)
		return 0;
	len = (__u32)(n - 1) & (CF_ENV_VALUE_MAX - 1);
	cf_sip_init(&w.s, key->k0, key->k1);
	w.buf = buf;
	w.words = len / 8;
	bpf_loop(CF_ENV_VALUE_MAX / 8, cf_sip_word, &w, 0);
	/* the last bytes (zero padded by the memset) and the length */
	rem = len & 7;
	__builtin_memcpy(&b, &buf->bytes[(len - rem) & (CF_ENV_VALUE_MAX - 1)], 8);
	if (rem == 0)
		b = 0;
	else
		b &= (1ull << (8 * rem)) - 1;
	out = cf_sip_finish(&w.s, b, len);
	__builtin_memset(buf->bytes, 0, sizeof(buf->bytes));
	*ok = true;
	return out;
}

static __always_inline __u64 cf_fnv1a(const char *s, __u32 len)
{
	__u64 h = 0xcbf29ce484222325ull;

	for (__u32 i = 0; i < CF_ENV_NAME_MAX; i++) {
		if (i >= len)
			break;
		h ^= (__u8)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * Is this read the first of its (process, kind, name) in the window? If not, it is counted in
 * the fold entry. If so, the entry starts a new window and *folded is what the old one held.
 * Two threads of one process can race here; the worst outcome is one fold miscounted.
 */
static __always_inline bool cf_env_first_in_window(__u32 tgid, __u32 kind, __u64 hash, __u32 *folded)
{
	struct cf_env_fold_key key = { .tgid = tgid, .kind = kind, .name_hash = hash };
	struct cf_env_fold_val *v = bpf_map_lookup_elem(&env_fold, &key);
	__u64 now = bpf_ktime_get_boot_ns();

	if (v && now - v->window_start_ns < cf_env_window_ns) {
		__sync_fetch_and_add(&v->folded, 1);
		cf_count(CF_CNT_ENV_FOLDED);
		return false;
	}
	if (v) {
		*folded = v->folded > 0xffffffffull ? 0xffffffffu : (__u32)v->folded;
		v->window_start_ns = now;
		v->folded = 0;
		return true;
	}
	struct cf_env_fold_val nv = { .window_start_ns = now };

	bpf_map_update_elem(&env_fold, &key, &nv, BPF_ANY);
	*folded = 0;
	return true;
}

/* One environment read by the current (tracked) process: a record, or a fold. */
static __always_inline void cf_env_read(__u32 kind, const char *uname, __u32 flags, const char *uvalue)
{
	/* the record and its one string, on the stack: 88 + CF_ENV_NAME_READ bytes */
	__u8 buf[sizeof(struct cf_env) + CF_ENV_NAME_READ] __attribute__((aligned(8))) = {};
	struct cf_env *rec = (struct cf_env *)buf;
	__u32 len = 0, folded = 0;
	bool truncated = false;

	cf_count(CF_CNT_ENV_READS);
	if (uname) {
		long n = bpf_probe_read_user_str(rec->data, CF_ENV_NAME_READ, uname);

		if (n <= 0) {
			cf_count(CF_CNT_READ_FAILED);
		} else {
			len = n - 1;
			if (len > CF_ENV_NAME_MAX) {
				len = CF_ENV_NAME_MAX;
				truncated = true;
			}
		}
	}
	/*
	 * The address space is part of the key: after an exec (a new mm, same tgid) the new
	 * program's first read of a name is its own record, not a fold into the old program's.
	 */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 mm = (__u64)BPF_CORE_READ(task, mm);

	if (!cf_env_first_in_window(cf_current_tgid(), kind, cf_fnv1a(rec->data, len) ^ mm, &folded))
		return;
	if (truncated) {
		cf_count(CF_CNT_STR_TRUNCATED);
		flags |= CF_ENV_TRUNCATED;
		rec->strs.flags[0] = CF_STR_TRUNCATED;
	}
	if (uvalue) {
		bool ok;

		rec->fingerprint = cf_env_fingerprint(uvalue, &ok);
		if (ok)
			flags |= CF_ENV_FINGERPRINT;
	}
	cf_fill_hdr(&rec->hdr, CF_OP_ENV);
	rec->kind = kind;
	rec->flags = flags;
	rec->folded = folded;
	if (len > CF_ENV_NAME_MAX) /* cannot happen; the verifier sees the output's bound here */
		return;
	rec->strs.len[0] = len;
	rec->hdr.size = sizeof(*rec) + len;
	cf_output(rec, sizeof(*rec) + len);
}

/* Entry: remember the name pointer for the return probe. */
static __always_inline int cf_env_enter(__u32 kind, const char *name)
{
	struct cf_env_call call = { .name = name, .kind = kind }, *outer;
	__u64 id;

	if (!cf_lookup_tracked(cf_current_tgid()))
		return 0;
	id = bpf_get_current_pid_tgid();
	call.ts_ns = bpf_ktime_get_boot_ns();
	/*
	 * uv_os_getenv calls getenv, and secure_getenv may: the outermost call is the read, and
	 * the inner one leaves its entry alone. uv_os_getenv is never inside another read, so its
	 * entry always starts one (one left behind by a call that returned early is replaced).
	 */
	outer = bpf_map_lookup_elem(&env_calls, &id);
	if (outer && kind != CF_ENV_UV_GETENV && call.ts_ns - outer->ts_ns < CF_ENV_CALL_STALE_NS)
		return 0;
	bpf_map_update_elem(&env_calls, &id, &call, BPF_ANY);
	return 0;
}

/*
 * Return: the read is complete; `set` is what the function's result says, `value` the value it
 * returned (NULL: none to fingerprint).
 */
static __always_inline int cf_env_leave(__u32 kind, bool set, const char *value)
{
	struct cf_env_call *call;
	const char *name;
	__u64 id;

	if (!cf_lookup_tracked(cf_current_tgid()))
		return 0;
	id = bpf_get_current_pid_tgid();
	call = bpf_map_lookup_elem(&env_calls, &id);
	if (!call)
		return 0;
	/*
	 * uv_os_getenv is getenv plus a copy: the getenv inside it says whether the variable is set,
	 * which spares uv_os_getenv a return probe (a trap per process.env read) where that getenv is
	 * probed. Any other inner call leaves the report to the outer one's return.
	 */
	if (call->kind != kind && !(call->kind == CF_ENV_UV_GETENV && kind == CF_ENV_GETENV))
		return 0;
	kind = call->kind;
	name = call->name;
	bpf_map_delete_elem(&env_calls, &id);
	cf_env_read(kind, name, CF_ENV_RESULT | (set ? CF_ENV_SET : 0), value);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cf_env_getenv, const char *name)
{
	return cf_env_enter(CF_ENV_GETENV, name);
}

SEC("uretprobe")
int BPF_KRETPROBE(cf_env_getenv_ret, const char *value)
{
	return cf_env_leave(CF_ENV_GETENV, value != 0, value);
}

SEC("uprobe")
int BPF_KPROBE(cf_env_secure_getenv, const char *name)
{
	return cf_env_enter(CF_ENV_SECURE_GETENV, name);
}

SEC("uretprobe")
int BPF_KRETPROBE(cf_env_secure_getenv_ret, const char *value)
{
	return cf_env_leave(CF_ENV_SECURE_GETENV, value != 0, value);
}

SEC("uprobe")
int BPF_KPROBE(cf_env_uv_getenv, const char *name)
{
	return cf_env_enter(CF_ENV_UV_GETENV, name);
}

/*
 * uv_os_getenv's return: 0 when the variable is set. Reports the read when the getenv inside it
 * did not (no probe there: a libc whose symbols cannot be read, one mapped late); when it did,
 * the entry's state is gone and this does nothing. No fingerprint: the value is in the caller's
 * buffer, which is not read.
 */
SEC("uretprobe")
int BPF_KRETPROBE(cf_env_uv_getenv_ret, int rc)
{
	return cf_env_leave(CF_ENV_UV_GETENV, rc == 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(cf_env_enumerate)
{
	if (!cf_lookup_tracked(cf_current_tgid()))
		return 0;
	cf_env_read(CF_ENV_ENUMERATE, 0, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
