/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel <-> user space ABI of clawfence: record layouts, op codes, map keys and values,
 * limits. Plain C with fixed-width types so that it compiles for `clang -target bpf` (types from
 * vmlinux.h) and for C++ (types from <linux/types.h>). Layouts are asserted on both sides.
 *
 * Rules for changing this file: op codes, counters and flags are only ever appended; a record
 * grows only at its end (before its variable data), and user space checks `size` before reading.
 */
#ifndef CLAWFENCE_ABI_H
#define CLAWFENCE_ABI_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define CF_ABI_VERSION 1

/* ---- limits ------------------------------------------------------------------------------ */

#define CF_COMM_LEN 16
/* A path is built right-aligned in a buffer of twice this size so that every write the
 * verifier sees is `offset & (CF_PATH_MAX - 1)` plus a bounded length. */
#define CF_PATH_MAX 4096
/* Components walked from a dentry up to the root (mount crossings count as one). */
#define CF_PATH_DEPTH 64
#define CF_NAME_MAX 255
/* argv bytes copied at exec (NUL-separated, as in /proc/PID/cmdline). */
#define CF_ARGV_MAX 2048
/* Variable data of one record: up to CF_STR_SLOTS strings, each at most CF_PATH_MAX bytes. */
#define CF_STR_SLOTS 4
#define CF_DATA_MAX (CF_STR_SLOTS * CF_PATH_MAX)
/* argv needles matched in the kernel at exec (targets' argv_contains). */
#define CF_NEEDLES_MAX 8
#define CF_NEEDLE_LEN 32
/* cgroup leaf-name patterns (prefix*suffix) matched in the kernel at cgroup mkdir. */
#define CF_CGPAT_MAX 8
#define CF_CGPAT_LEN 48

/* ---- op codes (append only) -------------------------------------------------------------- */

enum cf_op {
	CF_OP_EXEC = 1,
	CF_OP_FORK = 2,
	CF_OP_EXIT = 3,
	CF_OP_COMM = 4,
	CF_OP_FILE = 5,
	CF_OP_NET = 6,
	CF_OP_DNS = 7,
	CF_OP_MAX,
};

/* ---- kernel counters (append only) ------------------------------------------------------- */

enum cf_counter {
	CF_CNT_RINGBUF_FULL = 0,    /* record not written: ring buffer had no room */
	CF_CNT_PATH_TOO_DEEP = 1,   /* path walk hit CF_PATH_DEPTH: record flagged truncated */
	CF_CNT_PATH_TOO_LONG = 2,   /* path longer than CF_PATH_MAX: record flagged truncated */
	CF_CNT_ARGV_TRUNCATED = 3,  /* argv longer than CF_ARGV_MAX */
	CF_CNT_STR_TRUNCATED = 4,   /* user string cut at CF_PATH_MAX */
	CF_CNT_READ_FAILED = 5,     /* a probe read of user or kernel memory failed */
	CF_CNT_TRACKED_FULL = 6,    /* a process could not be tracked: tracked map full */
	CF_CNT_INFLIGHT_FULL = 7,   /* syscall entry state could not be stored */
	CF_CNT_TRACKED_FORK = 8,    /* processes tracked by inheritance at fork */
	CF_CNT_TRACKED_MATCH = 9,   /* processes tracked by a target match in the kernel */
	CF_CNT_UNTRACKED_EXIT = 10, /* tracked processes removed at exit */
	CF_CNT_RECORDS = 11,        /* records written to the ring buffer */
	CF_CNT_HOOK_ORPHAN = 12,    /* a cgroup hook ran with no syscall entry (io_uring, kernel) */
	CF_CNT_TARGET_CGROUP = 13,  /* cgroups added to the target set at mkdir */
	CF_CNT_DNS_TRUNCATED = 14,  /* a DNS answer longer than CF_DNS_MAX: the rest not copied */
	CF_CNT_MAX,
};

/* ---- why a process is tracked ------------------------------------------------------------ */

enum cf_track_reason {
	CF_TRACK_NONE = 0,
	CF_TRACK_INHERITED = 1, /* parent was tracked at fork */
	CF_TRACK_COMM = 2,      /* comm matched a target at exec */
	CF_TRACK_ARGV = 3,      /* argv contained a target needle at exec */
	CF_TRACK_CGROUP = 4,    /* ran in a target cgroup at exec */
	CF_TRACK_RENAME = 5,    /* renamed its comm to a target name */
	CF_TRACK_USER = 6,      /* added by user space (/proc scan, `clawfence run`) */
};

/* ---- records ----------------------------------------------------------------------------- */

/* Every record starts with this header. `size` is the whole record including variable data. */
struct cf_hdr {
	__u16 op;
	__u16 size;
	__u32 cpu;
	__u64 ts_ns;     /* CLOCK_BOOTTIME */
	__u32 tgid;
	__u32 tid;
	__u64 cgroup_id; /* cgroup v2 id of the task */
	char comm[CF_COMM_LEN];
};

/* Flags shared by records that carry strings. */
enum cf_str_flag {
	CF_STR_TRUNCATED = 1 << 0, /* cut at the limit */
	CF_STR_RESOLVED = 1 << 1,  /* an absolute path walked from a kernel dentry */
};

/* Variable data: `len[i]` bytes of string i follow one another in `data`, no terminators. */
struct cf_strs {
	__u16 len[CF_STR_SLOTS];
	__u8 flags[CF_STR_SLOTS];
	__u32 _pad;
};

enum cf_exec_flag {
	CF_EXEC_ARGV_TRUNCATED = 1 << 0,
};

/* exec: str 0 = argv (NUL-separated, as in /proc/PID/cmdline), str 1 = resolved path of the
 * executed file. */
struct cf_exec {
	struct cf_hdr hdr;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 flags;        /* enum cf_exec_flag */
	__u64 start_ns;     /* task start, CLOCK_BOOTTIME */
	__u32 track_reason; /* enum cf_track_reason: why this process is tracked */
	__u32 root_tgid;    /* the process whose match started this tree's tracking */
	struct cf_strs strs;
	char data[];
};

/* fork of a new process (not a thread): hdr names the parent. */
struct cf_fork {
	struct cf_hdr hdr;
	__u32 child_tgid;
	__u32 _pad;
	__u64 child_start_ns;
};

/* exit of the last thread of a process. */
struct cf_exit {
	struct cf_hdr hdr;
	__s32 exit_code; /* wait(2) status: code << 8 | signal */
	__u32 _pad;
	__u64 start_ns;
};

/* comm change (prctl PR_SET_NAME, write to /proc/PID/comm): hdr.comm holds the old name. */
struct cf_comm {
	struct cf_hdr hdr;
	char new_comm[CF_COMM_LEN];
	__u32 track_reason; /* CF_TRACK_RENAME when the rename started tracking, else 0 */
	__u32 _pad;
};

enum cf_file_op {
	CF_FILE_OPEN = 1,
	CF_FILE_UNLINK = 2,
	CF_FILE_RENAME = 3,
};

/*
 * file operation. Strings:
 *   open, success: 0 = resolved path of the opened file.
 *   open, failure / unlink: 0 = resolved directory the name is relative to (cwd or dirfd; empty
 *     when the name is absolute), 1 = the name as passed by the caller.
 *   rename: 0/1 = old directory and name, 2/3 = new directory and name.
 */
struct cf_file {
	struct cf_hdr hdr;
	__u32 file_op;  /* enum cf_file_op */
	__u32 syscall;  /* syscall number, for the record */
	__s64 result;   /* fd or 0 on success, -errno on failure */
	__u32 flags;    /* open(2) flags, unlinkat/renameat2 flags */
	__u32 mode;
	struct cf_strs strs;
	char data[];
};

enum cf_net_op {
	CF_NET_CONNECT = 1,
	CF_NET_SENDTO = 2, /* UDP send with an explicit destination (sendto, sendmsg, sendmmsg) */
};

enum cf_net_flag {
	CF_NET_NO_SYSCALL = 1 << 0, /* seen by a cgroup hook with no syscall exit (io_uring) */
};

/* network operation, with the destination the cgroup hook was handed by the kernel. */
struct cf_net {
	struct cf_hdr hdr;
	__u32 net_op;   /* enum cf_net_op */
	__u32 syscall;
	__s64 result;   /* 0 / bytes on success, -errno on failure; 0 with CF_NET_NO_SYSCALL */
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 port;     /* host byte order */
	__u8 protocol;  /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 sock_type; /* SOCK_STREAM, SOCK_DGRAM */
	__u16 flags;    /* enum cf_net_flag */
	__u8 addr[16];  /* network byte order; IPv4 in the first 4 bytes */
};

/* Bytes of a DNS answer copied (the UDP payload). 1232 is the EDNS size resolvers use today. */
#define CF_DNS_MAX 1280

/*
 * A DNS answer received on a socket of a tracked process (UDP from port 53), copied before the
 * process can read it. hdr.tgid is the socket's owner; hdr.tid and hdr.comm are not known here.
 */
struct cf_dns {
	struct cf_hdr hdr;
	__u16 len;      /* payload bytes copied */
	__u16 family;   /* of the server */
	__u16 port;     /* server port */
	__u16 flags;    /* CF_STR_TRUNCATED when the answer was longer than CF_DNS_MAX */
	__u8 server[16];
	char data[CF_DNS_MAX];
};

/* ---- maps -------------------------------------------------------------------------------- */

/* Bytes a tracked process sent to one destination (cgroup_skb egress), for byte budgets. */
struct cf_egress_key {
	__u32 tgid;
	__u16 family;
	__u16 port;     /* host byte order */
	__u8 addr[16];  /* network byte order; IPv4 in the first 4 bytes */
};

struct cf_egress_val {
	__u64 bytes;
	__u64 packets;
};

/* Socket-local storage: the tracked process that connected or sent on a socket. */
struct cf_sock_owner {
	__u32 tgid;
	__u32 _pad;
};

/* tracked: tgid -> this. Never LRU: an evicted entry would silently stop watching a process. */
struct cf_tracked {
	__u64 since_ns;
	__u32 root_tgid;
	__u32 reason; /* enum cf_track_reason */
};

/* argv needle for in-kernel target matching. */
struct cf_needle {
	__u32 len;
	char bytes[CF_NEEDLE_LEN];
};

/* cgroup leaf-name pattern, for cgroups created after start: prefix*suffix, or, with `exact`,
 * the whole name in `prefix`. */
struct cf_cgpat {
	__u32 prefix_len;
	__u32 suffix_len;
	char prefix[CF_CGPAT_LEN];
	char suffix[CF_CGPAT_LEN];
	__u32 exact;
};

#endif /* CLAWFENCE_ABI_H */
