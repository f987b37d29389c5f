/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by every clawfence program: maps, load-time knobs, counters, record headers. */
#ifndef CF_COMMON_BPF_H
#define CF_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "clawfence/abi.h"

_Static_assert(sizeof(struct cf_hdr) == 64, "cf_hdr layout");
_Static_assert(sizeof(struct cf_strs) == 16, "cf_strs layout");
_Static_assert(sizeof(struct cf_exec) == 120, "cf_exec layout");
_Static_assert(sizeof(struct cf_fork) == 80, "cf_fork layout");
_Static_assert(sizeof(struct cf_exit) == 80, "cf_exit layout");
_Static_assert(sizeof(struct cf_comm) == 88, "cf_comm layout");
_Static_assert(sizeof(struct cf_file) == 112, "cf_file layout");
_Static_assert(sizeof(struct cf_net) == 112, "cf_net layout");
_Static_assert(sizeof(struct cf_dns) == 88 + CF_DNS_MAX, "cf_dns layout");
_Static_assert(sizeof(struct cf_cgpat) == 12 + 2 * CF_CGPAT_LEN, "cf_cgpat layout");
_Static_assert(sizeof(struct cf_tracked) == 24, "cf_tracked layout");
_Static_assert(sizeof(struct cf_env) == 112, "cf_env layout");
_Static_assert(sizeof(struct cf_guard_rec) == 136, "cf_guard_rec layout");
_Static_assert(sizeof(struct cf_role_rule) == 40 + CF_ROLE_ARGS * (4 + CF_ROLE_TEXT), "cf_role_rule layout");
_Static_assert(CF_ROLE_TEXT <= 255 && CF_ROLE_EXE <= 255, "role rule lengths are bytes");
_Static_assert(sizeof(struct cf_guard_rule) == 40, "cf_guard_rule layout");
_Static_assert(sizeof(struct cf_gpath) == 32, "cf_gpath layout");
/* The verifier only accepts the masked offsets below if these are powers of two. */
_Static_assert((CF_PATH_MAX & (CF_PATH_MAX - 1)) == 0, "CF_PATH_MAX must be a power of two");
_Static_assert((CF_DATA_MAX & (CF_DATA_MAX - 1)) == 0, "CF_DATA_MAX must be a power of two");
_Static_assert(CF_ARGV_MAX <= CF_PATH_MAX, "argv is one string slot");

/*
 * Every object linked into clawfence.bpf.o includes this header; `__weak` lets the static
 * linker (bpftool gen object) merge the identical definitions into one map.
 */
#define CF_SHARED __weak

/* Load-time knobs, set by user space between open and load. */
const volatile __u32 cf_agent_tgid CF_SHARED = 0;    /* never tracked, never reported */
const volatile bool cf_match_argv CF_SHARED = false; /* argv needles configured */
/*
 * Only a process in this cgroup v2 subtree (its id, at its level below the root) starts a watched
 * tree (0: any process). What a watched process forks is watched wherever it goes.
 */
const volatile __u64 cf_scope_cgroup CF_SHARED = 0;
const volatile __u32 cf_scope_level CF_SHARED = 0;
/*
 * Wake the reader only once this much data is waiting (0: for every record). Each wakeup is an
 * irq_work on the producing CPU (a self-IPI, a VM exit under virtualisation) and cost more than
 * the rest of a tracked open; the reader polls on a short timer for the rest.
 */
const volatile __u32 cf_wakeup_bytes CF_SHARED = 0;
/* Wake the reader at a fork record too: environment probes placed per process are placed for a
 * child as the agent reads its fork (the exec record always wakes it). */
const volatile __u32 cf_fork_wakeup CF_SHARED = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by user space before load */
	__type(key, __u32);         /* tgid */
	__type(value, struct cf_tracked);
} tracked SEC(".maps") CF_SHARED;

/*
 * Processes that could not be tracked (the map full) while fail-closed enforce mode was on: each
 * is killed at the exit of its first syscall (the fork's return into it). `doomed_pending` keeps
 * that lookup off every other process's exits while the map is empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);  /* tgid */
	__type(value, __u8);
} doomed SEC(".maps") CF_SHARED;

volatile __u32 cf_doomed_pending CF_SHARED = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") CF_SHARED;

/* Target definitions, written by user space from the rules' `targets:`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[CF_COMM_LEN]);
	__type(value, __u8);
} target_comms SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, __u8);
} target_cgroups SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_NEEDLES_MAX);
	__type(key, __u32);
	__type(value, struct cf_needle);
} target_needles SEC(".maps") CF_SHARED;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CF_CGPAT_MAX);
	__type(key, __u32);
	__type(value, struct cf_cgpat);
} target_cgpats SEC(".maps") CF_SHARED;

/* guard_state[0]: what the kernel tells the guards (fail-closed reads when records were lost). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_guard_state);
} guard_state SEC(".maps") CF_SHARED;

/*
 * One record under construction per CPU: records are far larger than the 512-byte stack. The
 * fixed part of any record fits in CF_FIXED_MAX; its data may run CF_PATH_MAX past CF_DATA_MAX
 * so that the last masked append stays inside the buffer.
 */
#define CF_FIXED_MAX 128
struct cf_scratch {
	__u8 buf[CF_FIXED_MAX + CF_DATA_MAX + CF_PATH_MAX];
};
_Static_assert(sizeof(struct cf_exec) <= CF_FIXED_MAX, "record fixed part");
_Static_assert(sizeof(struct cf_file) <= CF_FIXED_MAX, "record fixed part");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cf_scratch);
} scratch SEC(".maps") CF_SHARED;

static __always_inline void cf_count(enum cf_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* A record could not be written: counted, and remembered for fail-closed egress. */
static __always_inline void cf_lost_record(void)
{
	__u32 zero = 0;
	struct cf_guard_state *st = bpf_map_lookup_elem(&guard_state, &zero);

	cf_count(CF_CNT_RINGBUF_FULL);
	if (st)
		st->last_loss_ns = bpf_ktime_get_boot_ns();
}

static __always_inline __u32 cf_current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline struct cf_tracked *cf_lookup_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid);
}

static __always_inline struct cf_scratch *cf_get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * The header of a record about the current task, a process of role `role`. `comm` is the
 * process's name, the thread group leader's: a thread's own name (Node names its threads
 * libuv-worker, WorkerThread, ...) is `thread_comm`.
 */
static __always_inline void cf_fill_hdr_role(struct cf_hdr *h, __u16 op, __u8 role)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->op = op;
	h->size = 0;
	h->cpu = bpf_get_smp_processor_id();
	h->role = role;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->thread_comm, sizeof(h->thread_comm));
	if (h->tid == h->tgid) {
		__builtin_memcpy(h->comm, h->thread_comm, sizeof(h->comm));
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		BPF_CORE_READ_STR_INTO(&h->comm, task, group_leader, comm);
	}
}

/* As cf_fill_hdr_role, for a record whose caller has not looked the process up. */
static __always_inline void cf_fill_hdr(struct cf_hdr *h, __u16 op)
{
	const struct cf_tracked *t = cf_lookup_tracked(cf_current_tgid());

	cf_fill_hdr_role(h, op, t ? t->role : 0);
}

/* Whether to wake the reader for the record about to be written (see cf_wakeup_bytes). */
static __always_inline __u64 cf_wakeup_flags(void)
{
	if (!cf_wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cf_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void cf_output_flags(void *rec, __u64 size, __u64 flags)
{
	if (bpf_ringbuf_output(&events, rec, size, flags)) {
		cf_lost_record();
		return;
	}
	cf_count(CF_CNT_RECORDS);
}

/* Copies a finished record into the ring buffer; `size` must already be bounded. */
static __always_inline void cf_output(void *rec, __u64 size)
{
	cf_output_flags(rec, size, cf_wakeup_flags());
}

/* The same, waking the reader now whatever is waiting: for the record that ends an exec (and,
 * with cf_fork_wakeup, a fork), after which the agent places the process's environment probes
 * (the sooner, the fewer of its first reads go unseen). */
static __always_inline void cf_output_now(void *rec, __u64 size)
{
	cf_output_flags(rec, size, cf_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : 0);
}

/*
 * A fixed-size record built in place in the ring buffer, zeroed, rather than on the stack (the
 * syscall dispatchers' whole call chain has 512 bytes); NULL (counted as lost) when there is no
 * room. cf_submit() writes it.
 */
static __always_inline void *cf_reserve(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		cf_lost_record();
		return NULL;
	}
	__builtin_memset(rec, 0, size);
	return rec;
}

static __always_inline void cf_submit(void *rec)
{
	bpf_ringbuf_submit(rec, cf_wakeup_flags());
	cf_count(CF_CNT_RECORDS);
}

/* Starts tracking `tgid` as `t` (since_ns is filled in); returns false (and counts) when the
 * map is full. */
static __always_inline bool cf_track(__u32 tgid, struct cf_tracked *t)
{
	t->since_ns = bpf_ktime_get_boot_ns();
	if (tgid == cf_agent_tgid)
		return false;
	if (bpf_map_update_elem(&tracked, &tgid, t, BPF_NOEXIST) == 0)
		return true;
	/* -EEXIST is fine: already tracked. Anything else means the map is full. */
	if (!bpf_map_lookup_elem(&tracked, &tgid))
		cf_count(CF_CNT_TRACKED_FULL);
	return false;
}


/* Whether `task` is in the subtree that may start a watched tree (cf_scope_cgroup). */
static __always_inline bool cf_in_scope(struct task_struct *task)
{
	struct cgroup *cg, *anc = NULL;

	if (!cf_scope_cgroup)
		return true;
	cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	if (!cg || cf_scope_level > 63 || BPF_CORE_READ(cg, level) < (int)cf_scope_level)
		return false;
	if (bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[cf_scope_level & 63]) || !anc)
		return false;
	return BPF_CORE_READ(anc, kn, id) == cf_scope_cgroup;
}

#endif /* CF_COMMON_BPF_H */
