// The kernel/user ABI layout. The same sizes are asserted on the BPF side
// (bpf/lib/common.bpf.h); a change on one side only fails the build here.
#include <gtest/gtest.h>

#include <cstddef>

#include "clawfence/abi.h"

static_assert(sizeof(cf_hdr) == 64, "cf_hdr layout");
static_assert(sizeof(cf_strs) == 16, "cf_strs layout");
static_assert(sizeof(cf_exec) == 120, "cf_exec layout");
static_assert(sizeof(cf_fork) == 80, "cf_fork layout");
static_assert(sizeof(cf_exit) == 80, "cf_exit layout");
static_assert(sizeof(cf_comm) == 88, "cf_comm layout");
static_assert(sizeof(cf_file) == 112, "cf_file layout");
static_assert(sizeof(cf_net) == 112, "cf_net layout");
static_assert(sizeof(cf_dns) == 88 + CF_DNS_MAX, "cf_dns layout");
static_assert(offsetof(cf_dns, data) == 88, "cf_dns layout");

static_assert(offsetof(cf_hdr, op) == 0, "cf_hdr::op");
static_assert(offsetof(cf_hdr, size) == 2, "cf_hdr::size");
static_assert(offsetof(cf_hdr, cpu) == 4, "cf_hdr::cpu");
static_assert(offsetof(cf_hdr, role) == 6, "cf_hdr::role");
static_assert(offsetof(cf_hdr, ts_ns) == 8, "cf_hdr::ts_ns");
static_assert(offsetof(cf_hdr, tgid) == 16, "cf_hdr::tgid");
static_assert(offsetof(cf_hdr, tid) == 20, "cf_hdr::tid");
static_assert(offsetof(cf_hdr, cgroup_id) == 24, "cf_hdr::cgroup_id");
static_assert(offsetof(cf_hdr, comm) == 32, "cf_hdr::comm");
static_assert(offsetof(cf_hdr, thread_comm) == 48, "cf_hdr::thread_comm");

static_assert(offsetof(cf_strs, len) == 0, "cf_strs::len");
static_assert(offsetof(cf_strs, flags) == 8, "cf_strs::flags");

static_assert(offsetof(cf_exec, ppid) == 64, "cf_exec::ppid");
static_assert(offsetof(cf_exec, start_ns) == 80, "cf_exec::start_ns");
static_assert(offsetof(cf_exec, root_tgid) == 92, "cf_exec::root_tgid");
static_assert(offsetof(cf_exec, verdict) == 96, "cf_exec::verdict");
static_assert(offsetof(cf_exec, strs) == 104, "cf_exec::strs");
static_assert(offsetof(cf_exec, data) == 120, "cf_exec::data");

static_assert(offsetof(cf_fork, child_tgid) == 64, "cf_fork::child_tgid");
static_assert(offsetof(cf_fork, child_start_ns) == 72, "cf_fork::child_start_ns");
static_assert(offsetof(cf_exit, exit_code) == 64, "cf_exit::exit_code");
static_assert(offsetof(cf_exit, start_ns) == 72, "cf_exit::start_ns");
static_assert(offsetof(cf_comm, new_comm) == 64, "cf_comm::new_comm");
static_assert(offsetof(cf_comm, track_reason) == 80, "cf_comm::track_reason");

static_assert(offsetof(cf_file, result) == 72, "cf_file::result");
static_assert(offsetof(cf_file, flags) == 80, "cf_file::flags");
static_assert(offsetof(cf_file, verdict) == 88, "cf_file::verdict");
static_assert(offsetof(cf_file, strs) == 96, "cf_file::strs");
static_assert(offsetof(cf_file, data) == 112, "cf_file::data");

static_assert(offsetof(cf_net, result) == 72, "cf_net::result");
static_assert(offsetof(cf_net, family) == 80, "cf_net::family");
static_assert(offsetof(cf_net, port) == 82, "cf_net::port");
static_assert(offsetof(cf_net, flags) == 86, "cf_net::flags");
static_assert(offsetof(cf_net, addr) == 88, "cf_net::addr");
static_assert(offsetof(cf_net, verdict) == 104, "cf_net::verdict");
static_assert(sizeof(cf_verdict) == 8, "cf_verdict layout");
static_assert(sizeof(cf_env) == 112, "cf_env layout");
static_assert(offsetof(cf_env, fingerprint) == 88, "cf_env::fingerprint");
static_assert(offsetof(cf_env, strs) == 96, "cf_env::strs");
static_assert(sizeof(cf_env_value) == 16, "cf_env_value layout");
static_assert(offsetof(cf_env_value, len) == 8, "cf_env_value::len");
static_assert(CF_ENV_VALUES_MAX * sizeof(cf_env_value) <= CF_PATH_MAX, "exec values are one string slot");
static_assert(sizeof(cf_guard_rec) == 136, "cf_guard_rec layout");
static_assert(sizeof(cf_guard_rule) == 40, "cf_guard_rule layout");
static_assert(sizeof(cf_gpath) == 32, "cf_gpath layout");
static_assert(sizeof(cf_cidr_key) == 20, "cf_cidr_key layout");
static_assert(sizeof(cf_gpath_key) == 4 + CF_GPATH_KEY, "cf_gpath_key layout");

static_assert(sizeof(cf_tracked) == 24, "cf_tracked layout");
static_assert(offsetof(cf_tracked, role) == 20, "cf_tracked::role");
static_assert(offsetof(cf_tracked, origin) == 21, "cf_tracked::origin");
static_assert(sizeof(cf_role_arg) == 4 + CF_ROLE_TEXT, "cf_role_arg layout");
static_assert(sizeof(cf_role_rule) == 40 + CF_ROLE_ARGS * (4 + CF_ROLE_TEXT), "cf_role_rule layout");
static_assert(offsetof(cf_role_rule, exe) == 8, "cf_role_rule::exe (compared as aligned words)");
static_assert(CF_ROLE_EXE % 8 == 0, "cf_role_rule::exe is whole words");
static_assert(sizeof(cf_needle) == 4 + CF_NEEDLE_LEN, "cf_needle layout");
static_assert(sizeof(cf_cgpat) == 12 + 2 * CF_CGPAT_LEN, "cf_cgpat layout");

// The same limits the BPF side relies on for its masks.
static_assert((CF_PATH_MAX & (CF_PATH_MAX - 1)) == 0, "CF_PATH_MAX is a power of two");
static_assert((CF_DATA_MAX & (CF_DATA_MAX - 1)) == 0, "CF_DATA_MAX is a power of two");
static_assert(CF_ARGV_MAX <= CF_PATH_MAX, "argv fits one string slot");

namespace {

// Op codes and counters are append-only: their values are part of the ABI.
TEST(Abi, OpCodesAreStable) {
  EXPECT_EQ(CF_OP_EXEC, 1);
  EXPECT_EQ(CF_OP_FORK, 2);
  EXPECT_EQ(CF_OP_EXIT, 3);
  EXPECT_EQ(CF_OP_COMM, 4);
  EXPECT_EQ(CF_OP_FILE, 5);
  EXPECT_EQ(CF_OP_NET, 6);
  EXPECT_EQ(CF_OP_DNS, 7);
  EXPECT_EQ(CF_OP_GUARD, 8);
  EXPECT_EQ(CF_OP_ENV, 9);
  EXPECT_EQ(CF_OP_MAX, 10);
}

TEST(Abi, CountersAndReasonsAreStable) {
  EXPECT_EQ(CF_CNT_RINGBUF_FULL, 0);
  EXPECT_EQ(CF_CNT_RECORDS, 11);
  EXPECT_EQ(CF_CNT_TARGET_CGROUP, 13);
  EXPECT_EQ(CF_CNT_DNS_TRUNCATED, 14);
  EXPECT_EQ(CF_CNT_BLOCKED, 15);
  EXPECT_EQ(CF_CNT_FAIL_CLOSED, 21);
  EXPECT_EQ(CF_CNT_ENV_FOLDED, 23);
  EXPECT_EQ(CF_CNT_MAX, 24);
  EXPECT_EQ(CF_TRACK_INHERITED, 1);
  EXPECT_EQ(CF_TRACK_USER, 6);
}

}  // namespace
