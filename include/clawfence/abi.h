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

#define CF_ABI_VERSION 2

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
	CF_OP_GUARD = 8,
	CF_OP_ENV = 9,
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
	CF_CNT_BLOCKED = 15,        /* operations refused (EPERM) by a guard */
	CF_CNT_KILLED = 16,         /* processes sent SIGKILL by a guard */
	CF_CNT_WOULD_BLOCK = 17,    /* dry run: operations a guard would have refused or killed */
	CF_CNT_BUDGET_DROPS = 18,   /* packets dropped past an egress budget */
	CF_CNT_DNS_LEARNED = 19,    /* addresses learned from DNS answers for approved names */
	CF_CNT_DNS_LEARN_FAILED = 20, /* an approved answer's address could not be stored */
	CF_CNT_FAIL_CLOSED = 21,    /* egress refused because records were being lost (fail-closed) */
	CF_CNT_ENV_READS = 22,      /* environment reads by tracked processes (uprobes) */
	CF_CNT_ENV_FOLDED = 23,     /* of those, repeats folded into an earlier record of the window */
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

/* What a guard did about an operation (enforcement). */
enum cf_verdict_kind {
	CF_VERDICT_NONE = 0,        /* nothing: allowed, or no guard judged it */
	CF_VERDICT_BLOCKED = 1,     /* refused with EPERM (or, for packets, dropped) */
	CF_VERDICT_KILLED = 2,      /* SIGKILL sent before the process returned to user space */
	CF_VERDICT_WOULD_BLOCK = 3, /* dry run: would have been refused */
	CF_VERDICT_WOULD_KILL = 4,  /* dry run: would have been killed */
	CF_VERDICT_ALERT = 5,       /* a guard rule matched whose action is alert (or monitor mode) */
};

/* Rule indices with a fixed meaning in cf_verdict.rule (others index the generation's table). */
#define CF_RULE_NONE 0xffff
#define CF_RULE_FAIL_CLOSED 0xfffe

struct cf_verdict {
	__u8 verdict;    /* enum cf_verdict_kind */
	__u8 role;       /* the kernel's role index of the process (0: none) */
	__u16 rule;      /* index into the policy generation's rule table, or CF_RULE_* */
	__u32 generation; /* policy generation the decision was made under */
};

/*
 * Every record starts with this header. `size` is the whole record including variable data.
 * `comm` is the process's name (its thread group leader's), `thread_comm` the name of the thread
 * that acted: Node names every thread (libuv-worker, WorkerThread), and a thread's name is not
 * its process's.
 */
struct cf_hdr {
	__u16 op;
	__u16 size;
	__u16 cpu;
	__u8 role;       /* the process's role index as the kernel judged it (0: none) */
	__u8 _pad;
	__u64 ts_ns;     /* CLOCK_BOOTTIME */
	__u32 tgid;
	__u32 tid;
	__u64 cgroup_id; /* cgroup v2 id of the task */
	char comm[CF_COMM_LEN];
	char thread_comm[CF_COMM_LEN];
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
	struct cf_verdict verdict; /* a kill on exec */
	struct cf_strs strs;
	char data[];
};

/* fork of a new process (not a thread): hdr names the parent. */
struct cf_fork {
	struct cf_hdr hdr;
	__u32 child_tgid;
	__u32 flags;     /* CF_FORK_* */
	__u64 child_start_ns;
};

enum cf_fork_flag {
	/* the child could not be tracked (tracked map full): it runs unwatched, or, fail-closed in
	 * enforce mode, it and its parent are killed */
	CF_FORK_UNTRACKED = 1 << 0,
	CF_FORK_KILLED = 1 << 1,
};

/* exit of the last thread of a process. */
struct cf_exit {
	struct cf_hdr hdr;
	__s32 exit_code; /* wait(2) status: code << 8 | signal */
	__u32 _pad;
	__u64 start_ns;
};

/* A process's rename (prctl PR_SET_NAME or a write to /proc/PID/comm by its main thread; other
 * threads' names are theirs, not the process's): hdr.comm holds the old name. */
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
	CF_FILE_EXEC = 4,   /* an exec refused (or, dry run, judged) by the BPF LSM hook */
	CF_FILE_LINK = 5,   /* a hard link (link, linkat) */
	CF_FILE_MOUNT = 6,  /* a bind mount (mount MS_BIND, open_tree) asked for, at its entry: the
			     * source as named (slots 0, 1) and the mount point (slots 2, 3) */
	CF_FILE_CONNECT = 7, /* a unix socket connected to a peer bound to a path (docker.sock, D-Bus),
			      * at connect's exit: the path the peer's socket file has */
};

/*
 * file operation. Strings:
 *   open, success, and open or exec judged by a BPF LSM hook: 0 = resolved path of the file.
 *   open, failure / unlink: 0 = resolved directory the name is relative to (cwd or dirfd; empty
 *     when the name is absolute), 1 = the name as passed by the caller.
 *   rename, link: 0/1 = old directory and name, 2/3 = new directory and name.
 *   link judged by the link guard at may_linkat (syscall 0, a verdict): 0 = resolved path of the existing file.
 *   connect: 0 = resolved path of the socket file the peer is bound to; result is the descriptor.
 */
struct cf_file {
	struct cf_hdr hdr;
	__u32 file_op;  /* enum cf_file_op */
	__u32 syscall;  /* syscall number, for the record (0: from an LSM hook) */
	__s64 result;   /* fd or 0 on success, -errno on failure; LSM hook: -EPERM refused, 0 allowed */
	__u32 flags;    /* open(2) flags, unlinkat/renameat2/linkat flags */
	__u32 mode;
	struct cf_verdict verdict; /* a kill on open, or an LSM hook's refusal */
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
	struct cf_verdict verdict;
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

/* In a record's syscall number: the syscall came through the compat (32-bit) table and is named
 * by the native syscall it was judged as. */
#define CF_SYSCALL_COMPAT (1u << 16)

enum cf_guard_what {
	CF_GUARD_IO_URING = 1,   /* io_uring_setup (Node 26's libuv sets up rings in every process) */
	CF_GUARD_RAW_SOCKET = 2, /* a raw, packet or ICMP socket: a way around connect */
	CF_GUARD_BUDGET = 3,     /* egress past a byte budget (once per window and process group) */
	CF_GUARD_IO_URING_OP = 4, /* a file operation submitted through a ring: the syscall sensors never see it */
	CF_GUARD_COMPAT_SYSCALL = 5, /* a 32-bit (int $0x80) or x32 syscall: numbers of another table */
	CF_GUARD_MOUNT = 6,          /* mount, move_mount, fsmount, open_tree, mount_setattr, umount */
	CF_GUARD_NAMESPACE = 7,      /* unshare, setns, clone/clone3 with CLONE_NEW* */
	CF_GUARD_SHARED_FILES = 8,   /* clone with CLONE_FILES but not CLONE_THREAD: another process with its descriptors */
	CF_GUARD_PROCESS_ACCESS = 9, /* ptrace attach/seize, process_vm_readv/writev, pidfd_getfd of another process */
	CF_GUARD_LISTEN = 10,        /* listen() on a socket bound to an address that is not loopback */
};

/* Something a guard judged that has no record of its own. */
struct cf_guard_rec {
	struct cf_hdr hdr;
	__u32 what;       /* enum cf_guard_what */
	__s32 result;     /* io_uring_setup: its result (fd or -errno) */
	struct cf_verdict verdict;
	__u64 bytes;      /* budget: bytes counted in the window so far */
	__u64 window_ns;  /* budget: its window */
	__u32 group;      /* budget: the process group (tool run) charged */
	__u16 family;     /* socket: AF_*; budget: of the destination */
	__u16 port;       /* budget: destination port, host order */
	__u16 type;       /* socket: SOCK_*; io_uring operation: its IORING_OP_* */
	__u16 protocol;   /* socket: protocol */
	__u32 syscall;    /* compat, mount, namespace, shared files, process access: the syscall's number
			   * (compat: in the 32-bit table; x32: with its bit) */
	__u8 addr[16];    /* budget: destination, network order */
	__u64 arg;        /* namespace, shared files: the clone/unshare/setns flags; process access: the
			   * target pid; compat: the first argument */
};

/* How a process read its environment (which probe saw it). */
enum cf_env_kind {
	CF_ENV_UV_GETENV = 1,     /* uv_os_getenv (Node's process.env.X), in node or libuv.so.1 */
	CF_ENV_GETENV = 2,        /* libc getenv */
	CF_ENV_SECURE_GETENV = 3, /* libc secure_getenv */
	CF_ENV_ENUMERATE = 4,     /* node::RealEnvStore::Enumerate: the whole environment (keys, JSON) */
	CF_ENV_EXEC = 5,          /* at exec: the names of the variables the new program was handed */
	CF_ENV_PTRACE = 6,        /* ptrace attach/seize of another process (it can read all its memory) */
};

enum cf_env_flag {
	CF_ENV_SET = 1 << 0,       /* the variable was set (getenv returned a value) */
	CF_ENV_RESULT = 1 << 1,    /* the result is known (a return probe ran) */
	CF_ENV_TRUNCATED = 1 << 2, /* names cut at the record's limit */
	CF_ENV_FINGERPRINT = 1 << 3, /* `fingerprint` holds the keyed hash of the value read */
	CF_ENV_VALUES = 1 << 4,      /* CF_ENV_EXEC: string 1 holds a struct cf_env_value per name */
};

/* Bytes of variable names an exec record carries (NUL-separated names, never values). */
#define CF_ENV_NAMES_MAX 2048
/* A variable name read by getenv: at most this many bytes are copied. */
#define CF_ENV_NAME_MAX 128

/* Values an exec record fingerprints, at most (names past it have none: string 1 is cut). */
#define CF_ENV_VALUES_MAX 256

/*
 * CF_ENV_VALUES: what an exec record says of the value of each name it carries, in the order of
 * the names (string 1 may hold fewer: the last name's value was cut by the scan's limit, or
 * CF_ENV_VALUES_MAX was reached, then with CF_STR_TRUNCATED). Never the value itself.
 */
struct cf_env_value {
	__u64 fingerprint; /* SipHash-2-4 of the value's first CF_ENV_VALUE_MAX - 1 bytes, as cf_env's */
	__u32 len;         /* the value's length in bytes */
	__u32 _pad;
};

/*
 * An environment read by a tracked process. Strings: 0 = the variable name (getenv kinds), or
 * the NUL-separated names handed to the new program (CF_ENV_EXEC); 1 = with CF_ENV_VALUES, the
 * fingerprint and length of each of those names' values. Values are never copied.
 * Repeats of the same name by the same process within the fold window are counted, not sent:
 * `folded` is how many reads this record stands for beyond itself since the previous one.
 */
struct cf_env {
	struct cf_hdr hdr;
	__u32 kind;    /* enum cf_env_kind */
	__u32 flags;   /* enum cf_env_flag */
	__u32 folded;
	__u32 target;  /* CF_ENV_PTRACE: the traced pid */
	__s64 result;  /* CF_ENV_PTRACE: ptrace's result */
	__u64 fingerprint; /* CF_ENV_FINGERPRINT: SipHash-2-4 of the value under the host's key */
	struct cf_strs strs;
	char data[];
};

/* env_fp_key[0]: the host's key for value fingerprints (written by the agent; never output). */
struct cf_fp_key {
	__u64 k0, k1;
	__u32 set;
	__u32 _pad;
};

/* Bytes of a value the fingerprint covers, its terminator included (a longer value: its first 255). */
#define CF_ENV_VALUE_MAX 256

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

/* Socket-local storage: the tracked process that connected or sent on a socket, as it was
 * then (the socket may outlive it or be handed to a child). */
struct cf_sock_owner {
	__u32 tgid;
	__u32 group; /* cf_tracked.group: whose budget its bytes count against */
	__u8 role;
	__u8 _pad[7];
};

/* cf_tracked.origin of a process that started a watched tree (it matched a target). */
#define CF_ORIGIN_ROOT 0xff

/* tracked: tgid -> this. Never LRU: an evicted entry would silently stop watching a process. */
struct cf_tracked {
	__u64 since_ns;
	__u32 root_tgid;
	__u32 reason;    /* enum cf_track_reason */
	__u32 group;     /* budget group: the tool run (the first process below a non-final role) */
	__u8 role;       /* role index (0: none), judged at exec from the role rules */
	__u8 origin;     /* the role of the process it was forked from, or CF_ORIGIN_ROOT */
	__u8 seen;       /* CF_SEEN_*: what this process was already reported for (kernel-written) */
	__u8 _pad;
};

/* cf_tracked.seen */
enum cf_seen {
	CF_SEEN_COMPAT = 1 << 0, /* a compat syscall was reported (later ones are judged, not each reported) */
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

/* ---- guard policy: what user space compiles the rules into ------------------------------ */

#define CF_ROLE_MAX 16       /* role indices 1..15 (0: none), in rule-file order */
#define CF_GUARD_RULES 64    /* egress rules the kernel judges: bits of a __u64 */
#define CF_PORT_RANGES 8
#define CF_BUDGETS_MAX 8
#define CF_DNS_NAME_MAX 256  /* approved names: dotted, lower case, no trailing dot, zero padded */
#define CF_GPATH_MAX 64      /* path patterns: bits of a __u64 */
#define CF_GPATH_KEY 256     /* bytes of a path the path tries look at */
#define CF_BASE_PREFIX 16

enum cf_mode {
	CF_MODE_MONITOR = 0, /* guards judge and report, never refuse */
	CF_MODE_ENFORCE = 1, /* guards refuse and kill as each rule's action says */
	CF_MODE_DRY_RUN = 2, /* as enforce, but report "would" verdicts instead */
};

enum cf_action {
	CF_ACTION_ALERT = 0,
	CF_ACTION_BLOCK = 1,
	CF_ACTION_KILL = 2,
};

enum cf_guard_flag {
	CF_GUARD_ACTIVE = 1 << 0,       /* user space has written a policy */
	CF_GUARD_DEFAULT_DENY = 1 << 1, /* egress no rule allows is unapproved */
	CF_GUARD_FAIL_CLOSED = 1 << 2,  /* refuse new egress while records are being lost */
	CF_GUARD_PATHS = 1 << 3,        /* path patterns are configured (kill on open/exec) */
	CF_GUARD_LSM = 1 << 4,          /* BPF LSM hooks judge the path patterns (refusing), not the exits */
	CF_GUARD_RESOLVERS = 1 << 5,   /* learn addresses only from answers of guard_resolvers */
};

enum cf_evasion {
	CF_EVASION_IO_URING = 0,
	CF_EVASION_RAW_SOCKET = 1,   /* also: any socket the egress hooks do not understand */
	CF_EVASION_COMPAT = 2,
	CF_EVASION_MOUNT = 3,
	CF_EVASION_NAMESPACE = 4,
	CF_EVASION_SHARED_FILES = 5,
	CF_EVASION_PROCESS_ACCESS = 6,
	CF_EVASION_LISTEN = 7,
	CF_EVASION_MAX = 8,
};

struct cf_evasion_rule {
	__u16 rule;      /* CF_RULE_NONE: not configured */
	__u16 role_mask; /* bit r: applies to role r; 0: every role */
	__u8 action;     /* enum cf_action */
	__u8 _pad[3];
};

/* guard_config[0]: written by user space only (the kernel never writes it). */
struct cf_guard_config {
	__u32 mode;              /* enum cf_mode */
	__u32 flags;             /* enum cf_guard_flag */
	__u32 generation;        /* bumped by every policy write; verdicts carry it */
	__u16 unapproved_rule;   /* rule naming an unapproved destination */
	__u8 unapproved_action;  /* enum cf_action */
	__u8 _pad0;
	__u64 dns_min_ttl_ns;    /* an address learned from DNS lives at least this long */
	__u64 dns_hold_ns;       /* and at least this long after the last packet sent to it */
	__u64 fail_closed_ns;    /* fail-closed: refuse new egress this long after a lost record */
	__u16 role_final;        /* bit r: role r is kept at exec and by every descendant */
	__u8 _pad2[14];
	struct cf_evasion_rule evasion[CF_EVASION_MAX];
	__u16 budget_roles; /* bit r: some budget counts role r's bytes (0xffff: every role) */
	__u16 _pad1[3];
};

/* guard_state[0]: written by the kernel only. */
struct cf_guard_state {
	__u64 last_loss_ns; /* when a record was last lost (ring buffer full) */
};

struct cf_port_range {
	__u16 lo, hi; /* inclusive, host order */
};

enum cf_grule_kind {
	CF_GRULE_ALLOW = 1,  /* the destination is approved */
	CF_GRULE_DENY = 2,   /* the destination is denied even if approved */
	CF_GRULE_EXEMPT = 3, /* bytes to the destination do not count against budget `budget` */
};

/* guard_rules[i]: egress rule i, named by bit i of the CIDR and name maps. */
struct cf_guard_rule {
	__u8 kind;       /* enum cf_grule_kind; 0: unused */
	__u8 action;     /* enum cf_action */
	__u8 nports;     /* 0: any port */
	__u8 budget;     /* CF_GRULE_EXEMPT: the budget index */
	__u16 role_mask; /* bit r: applies to role r; 0: every role */
	__u16 rule;      /* rule table index, for verdicts */
	struct cf_port_range ports[CF_PORT_RANGES];
};

/* guard_cidrs (LPM trie): IPv4 is stored and looked up as ::ffff:a.b.c.d (prefixlen 96 + n). The
 * value is the union of the rules of every prefix that contains this one. */
struct cf_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* guard_names: approved (or denied) DNS names. */
struct cf_name_key {
	char name[CF_DNS_NAME_MAX];
};

struct cf_name_val {
	__u64 exact; /* rules for the name itself */
	__u64 sub;   /* rules for names under it (a rule's "*.name") */
};

/* guard_addrs (LRU): addresses learned from DNS answers for names in guard_names. */
struct cf_addr_key {
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
};

struct cf_addr_val {
	__u64 rules;      /* union of the rules of the names that resolved to it */
	__u64 expires_ns; /* CLOCK_BOOTTIME */
};

/* guard_budgets[i]: an egress byte budget. */
struct cf_budget {
	__u64 window_ns;
	__u64 max_bytes;
	__u16 role_mask; /* 0: every role */
	__u16 rule;      /* rule table index */
	__u8 action;     /* enum cf_action */
	__u8 enabled;
	__u8 _pad[2];
	__u64 exempt;    /* guard_rules bits (kind EXEMPT) whose destinations do not count */
};

struct cf_budget_key {
	__u32 group;  /* cf_tracked.group of the socket's owner */
	__u32 budget; /* index into guard_budgets */
};

struct cf_budget_val {
	__u64 window_start_ns;
	__u64 bytes;
	__u64 reported; /* the window's "over budget" record was written (64 bits: atomic cmpxchg) */
};

/*
 * Path patterns (kill on open and exec; refusal where BPF LSM exists). A pattern is a set of
 * conditions on the resolved path, all of which must hold:
 *   PREFIX   a guard_path_prefix entry carrying the pattern's bit matches (entries ending in a
 *            NUL byte match the whole path exactly)
 *   SUFFIX   a guard_path_suffix entry (reversed path) carrying the bit matches
 *   DIR      the directory part (up to and including the last '/') is a guard_path_dirs entry
 *            carrying the bit
 *   SLASHES  the path has exactly `slashes` '/' characters
 *   BASE_PREFIX  the last component starts with base_prefix
 * and the last component is at least min_leaf bytes long.
 */
enum cf_gpath_flag {
	CF_GPATH_PREFIX = 1 << 0,
	CF_GPATH_SUFFIX = 1 << 1,
	CF_GPATH_DIR = 1 << 2,
	CF_GPATH_SLASHES = 1 << 3,
	CF_GPATH_BASE_PREFIX = 1 << 4,
	CF_GPATH_ON_OPEN = 1 << 5, /* judged at open */
	CF_GPATH_ON_EXEC = 1 << 6, /* judged at exec (the executed file) */
	/* The rule's `access:` (none: any). An open is read, write (O_WRONLY, O_RDWR, O_TRUNC,
	 * O_APPEND) and/or create (O_CREAT); the judge is handed what the operation is. */
	CF_GPATH_READ = 1 << 7,
	CF_GPATH_WRITE = 1 << 8,
	CF_GPATH_CREATE = 1 << 9,
	CF_GPATH_CONNECT = 1 << 10, /* a unix socket connect to the path's socket file */
};
#define CF_GPATH_ACCESS (CF_GPATH_READ | CF_GPATH_WRITE | CF_GPATH_CREATE | CF_GPATH_CONNECT)

struct cf_gpath {
	__u16 flags;       /* enum cf_gpath_flag; 0: unused */
	__u16 role_mask;   /* 0: every role */
	__u8 action;       /* enum cf_action */
	__u8 base_prefix_len;
	__u16 slashes;
	__u16 min_leaf;
	__u16 rule;        /* rule table index */
	__u32 _pad;
	char base_prefix[CF_BASE_PREFIX];
};

struct cf_gpath_key {
	__u32 prefixlen; /* bits */
	__u8 data[CF_GPATH_KEY];
};

/*
 * A protected directory or file, by inode (map guard_anchors, key: inode number and device). A
 * path walk that reaches it names it, and what is below it, by `path`, its resolved path when the
 * rules were written: a rename of it or of a directory above it, a hard link to it, or a bind
 * mount of it elsewhere, leaves it under the name the rules protect. Checked against the inode's
 * generation where the filesystem has one (an inode number freed and reused is another file);
 * files are anchored only where it has.
 */
#define CF_ANCHORS_MAX 1024
struct cf_anchor_key {
	__u64 ino;
	__u32 dev;            /* the kernel's s_dev: major << 20 | minor */
	__u32 _pad;
};
struct cf_anchor {
	__u32 dev;            /* the kernel's s_dev: major << 20 | minor */
	__u32 generation;     /* i_generation, when has_generation */
	__u8 has_generation;
	__u8 _pad;
	__u16 components;     /* '/'-separated components of path */
	__u16 leaf_len;       /* bytes of its last component */
	__u16 len;            /* bytes of path, below CF_GPATH_KEY */
	char path[CF_GPATH_KEY]; /* absolute, no trailing '/' */
};

struct cf_gpath_dir {
	char dir[CF_GPATH_KEY]; /* zero padded */
};

/*
 * Role rules (guard_role_rules[i], judged in index order at every exec of a tracked process whose
 * role is not final): the first rule whose `from_mask` holds the process's origin and whose
 * conditions hold gives it `role`. The conditions are on what the kernel holds at exec: the
 * executed file's name (the dentry's, so a symlink's target) and argv, element by element.
 */
#define CF_ROLE_RULES 32
#define CF_ROLE_ARGS 12  /* argv elements a rule names */
#define CF_ROLE_TEXT 96  /* bytes of an element's literal parts */
#define CF_ROLE_EXE 32

enum cf_role_arg_kind {
	CF_RARG_ANY = 0,   /* any argument */
	CF_RARG_EXACT = 1, /* exactly text[0..prefix_len) */
	CF_RARG_GLOB = 2,  /* starts with the prefix and ends with the suffix (the '*' between: anything) */
};

struct cf_role_arg {
	__u8 kind;       /* enum cf_role_arg_kind */
	__u8 prefix_len;
	__u8 suffix_len;
	__u8 _pad;
	char text[CF_ROLE_TEXT]; /* the prefix, then the suffix */
};

enum cf_role_rule_flag {
	CF_RR_USED = 1 << 0,
	CF_RR_EXE = 1 << 1,       /* the executed file's name must be `exe` */
	CF_RR_ARGV = 1 << 2,      /* argv[0..nargs) must match args */
	CF_RR_MORE_ARGS = 1 << 3, /* with CF_RR_ARGV: further arguments may follow */
};

struct cf_role_rule {
	__u16 from_mask; /* bit 0: a process that started a watched tree; bit r: forked by role r */
	__u8 role;       /* the role given */
	__u8 flags;      /* enum cf_role_rule_flag */
	__u8 nargs;
	__u8 _pad[3];
	char exe[CF_ROLE_EXE]; /* zero padded: compared as whole words */
	struct cf_role_arg args[CF_ROLE_ARGS];
};

/* env_fold: one entry per (process, variable name) read in the current window. */
struct cf_env_fold_key {
	__u32 tgid;
	__u32 kind;
	__u64 name_hash; /* FNV-1a of the name, mixed with the address space (a new one per exec) */
};

struct cf_env_fold_val {
	__u64 window_start_ns;
	__u64 folded; /* reads since the last record */
};

/* ---- pinned bookkeeping, for user space only (a restarted agent, `clawfence status`) ------ */

#define CF_RULE_IDS 256
#define CF_RULE_ID_LEN 64

/* guard_rule_ids[i]: the id of rule table index i of the policy in force. */
struct cf_rule_id {
	char id[CF_RULE_ID_LEN];
};

/* guard_info[0]: who attached the pinned programs, where, and which policy they enforce. */
struct cf_guard_info {
	__u64 attached_unix_ns; /* when the programs were attached */
	__u64 policy_unix_ns;   /* when the policy in force was written */
	__u32 agent_pid;        /* the agent that wrote it last */
	__u32 generation;
	char build[64];         /* the clawfence build that loaded the programs */
	char rules_sha256[72];  /* hex */
	char rules_path[256];
	char attach_cgroup[256];
};

#endif /* CLAWFENCE_ABI_H */
