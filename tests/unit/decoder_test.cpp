// decode_record on synthetic ring-buffer records built byte by byte, and the decoder helpers.
#include "sensor/decoder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "clawfence/abi.h"

namespace clawfence::sensor {
namespace {

using v1::Event;
using namespace std::string_literals;

constexpr uint64_t kTs = 1700000000123456789ull;  // seconds 1700000000, nanos 123456789

#if defined(__x86_64__)
constexpr uint32_t kSysOpenat = 257, kSysConnect = 42, kSysSendto = 44, kSysUnlinkat = 263,
                   kSysRenameat2 = 316;
#elif defined(__aarch64__)
constexpr uint32_t kSysOpenat = 56, kSysConnect = 203, kSysSendto = 206, kSysUnlinkat = 35,
                   kSysRenameat2 = 276;
#endif

void fill_hdr(cf_hdr& h, uint16_t op) {
  h.op = op;
  h.cpu = 3;
  h.ts_ns = kTs;
  h.tgid = 4242;
  h.tid = 4243;
  h.cgroup_id = 777;
  std::strncpy(h.comm, "node", sizeof(h.comm));
}

// A fixed-size record: hdr.size is the struct size.
template <typename T>
std::vector<uint8_t> fixed_record(T rec) {
  rec.hdr.size = sizeof(T);
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &rec, sizeof(T));
  return out;
}

// A record with variable data: the strings follow the fixed part, lengths in rec.strs.
template <typename T>
std::vector<uint8_t> strs_record(T rec, const std::vector<std::string>& strs) {
  std::string data;
  for (size_t i = 0; i < strs.size() && i < CF_STR_SLOTS; ++i) {
    rec.strs.len[i] = static_cast<uint16_t>(strs[i].size());
    data += strs[i];
  }
  rec.hdr.size = static_cast<uint16_t>(sizeof(T) + data.size());
  std::vector<uint8_t> out(sizeof(T) + data.size());
  std::memcpy(out.data(), &rec, sizeof(T));
  std::memcpy(out.data() + sizeof(T), data.data(), data.size());
  return out;
}

DecodeStatus decode(const std::vector<uint8_t>& bytes, DecodedRecord& out) {
  return decode_record(bytes.data(), bytes.size(), BootClock(0), out);
}

void expect_time(const Event& ev) {
  EXPECT_EQ(ev.time().seconds(), 1700000000);
  EXPECT_EQ(ev.time().nanos(), 123456789);
}

bool has_flag(const v1::FileOp& f, const std::string& name) {
  for (const auto& fl : f.flags())
    if (fl == name) return true;
  return false;
}

cf_exec exec_record() {
  cf_exec r{};
  fill_hdr(r.hdr, CF_OP_EXEC);
  r.ppid = 4000;
  r.uid = 1000;
  r.gid = 1001;
  r.start_ns = 555;
  r.track_reason = CF_TRACK_ARGV;
  r.root_tgid = 4242;
  return r;
}

// ---- EXEC ------------------------------------------------------------------------------------

TEST(DecodeExec, ArgvFilenameAndProcessFacts) {
  const std::string argv = "node\0/usr/lib/node_modules/openclaw/dist/index.js\0gateway\0"s;
  auto bytes = strs_record(exec_record(), {argv, "/usr/bin/node"});
  DecodedRecord out;
  ASSERT_EQ(decode(bytes, out), DecodeStatus::kOk);

  const Event& ev = out.event;
  EXPECT_EQ(ev.kind(), Event::EXEC);
  ASSERT_TRUE(ev.has_exec());
  expect_time(ev);
  EXPECT_EQ(ev.exec().filename(), "/usr/bin/node");
  ASSERT_EQ(ev.exec().argv_size(), 3);
  EXPECT_EQ(ev.exec().argv(0), "node");
  EXPECT_EQ(ev.exec().argv(1), "/usr/lib/node_modules/openclaw/dist/index.js");
  EXPECT_EQ(ev.exec().argv(2), "gateway");
  EXPECT_FALSE(ev.exec().argv_truncated());
  EXPECT_FALSE(ev.has_process());  // filled by the process layer

  const RecordProcess& p = out.proc;
  EXPECT_EQ(p.op, CF_OP_EXEC);
  EXPECT_EQ(p.ts_ns, kTs);
  EXPECT_EQ(p.tgid, 4242u);
  EXPECT_EQ(p.tid, 4243u);
  EXPECT_EQ(p.cgroup_id, 777u);
  EXPECT_EQ(p.comm, "node");
  EXPECT_EQ(p.ppid, 4000u);
  EXPECT_EQ(p.uid, 1000u);
  EXPECT_EQ(p.gid, 1001u);
  EXPECT_EQ(p.start_ns, 555u);
  EXPECT_EQ(p.track_reason, static_cast<uint32_t>(CF_TRACK_ARGV));
  EXPECT_EQ(p.root_tgid, 4242u);
}

TEST(DecodeExec, ArgvTruncatedFlagAndUnterminatedLastArg) {
  cf_exec r = exec_record();
  r.flags = CF_EXEC_ARGV_TRUNCATED;
  auto bytes = strs_record(r, {"python3\0-c\0impo"s, "/usr/bin/python3.12"});
  DecodedRecord out;
  ASSERT_EQ(decode(bytes, out), DecodeStatus::kOk);
  EXPECT_TRUE(out.event.exec().argv_truncated());
  ASSERT_EQ(out.event.exec().argv_size(), 3);
  EXPECT_EQ(out.event.exec().argv(2), "impo");
}

TEST(DecodeExec, FullLengthCommIsNotOverread) {
  cf_exec r = exec_record();
  std::memset(r.hdr.comm, 'x', sizeof(r.hdr.comm));  // no terminator at all
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.proc.comm, std::string(CF_COMM_LEN, 'x'));
}

TEST(DecodeExec, StringLengthsBeyondTheRecordAreTruncated) {
  auto bytes = strs_record(exec_record(), {"node", "/usr/bin/node"});
  cf_exec r;
  std::memcpy(&r, bytes.data(), sizeof(r));
  r.strs.len[1] = 14;  // one byte more than the record holds
  std::memcpy(bytes.data(), &r, sizeof(r));
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);
}

TEST(DecodeExec, StringLongerThanPathMaxIsRejected) {
  // The data is present, but no slot may exceed CF_PATH_MAX.
  auto bytes = strs_record(exec_record(), {std::string(CF_PATH_MAX + 1, 'a')});
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);
  auto ok = strs_record(exec_record(), {std::string(CF_PATH_MAX, 'a')});
  EXPECT_EQ(decode(ok, out), DecodeStatus::kOk);
}

TEST(DecodeExec, FixedPartShorterThanExecIsTruncated) {
  cf_exec r = exec_record();
  std::vector<uint8_t> bytes(sizeof(cf_hdr) + 8);
  r.hdr.size = static_cast<uint16_t>(bytes.size());
  std::memcpy(bytes.data(), &r, bytes.size());
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);
}

// ---- FORK, EXIT, COMM ----------------------------------------------------------------------

TEST(DecodeFork, ChildPid) {
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_FORK);
  r.child_tgid = 5000;
  r.child_start_ns = 999;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.kind(), Event::FORK);
  EXPECT_EQ(out.event.fork().child_pid(), 5000u);
  EXPECT_EQ(out.proc.tgid, 4242u);
  EXPECT_EQ(out.proc.child_tgid, 5000u);
  EXPECT_EQ(out.proc.child_start_ns, 999u);
  expect_time(out.event);
}

TEST(DecodeFork, WrongSizeIsBadSize) {
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_FORK);
  std::vector<uint8_t> bytes(sizeof(cf_fork) + 8);
  std::memcpy(bytes.data(), &r, sizeof(r));
  cf_hdr h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  h.size = static_cast<uint16_t>(bytes.size());
  std::memcpy(bytes.data(), &h, sizeof(h));
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kBadSize);
}

DecodedRecord decode_exit(int32_t status) {
  cf_exit r{};
  fill_hdr(r.hdr, CF_OP_EXIT);
  r.exit_code = status;
  r.start_ns = 321;
  DecodedRecord out;
  EXPECT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  return out;
}

TEST(DecodeExit, KilledBySignal) {
  DecodedRecord out = decode_exit(9);
  EXPECT_EQ(out.event.kind(), Event::EXIT);
  EXPECT_EQ(out.event.exit().signal(), "SIGKILL");
  EXPECT_FALSE(out.event.exit().has_code());
  EXPECT_FALSE(out.event.exit().core_dumped());
  EXPECT_EQ(out.proc.start_ns, 321u);
}

TEST(DecodeExit, CoreDump) {
  DecodedRecord out = decode_exit(11 | 0x80);
  EXPECT_EQ(out.event.exit().signal(), "SIGSEGV");
  EXPECT_TRUE(out.event.exit().core_dumped());
}

TEST(DecodeExit, ExitCode) {
  DecodedRecord out = decode_exit(3 << 8);
  ASSERT_TRUE(out.event.exit().has_code());
  EXPECT_EQ(out.event.exit().code(), 3);
  EXPECT_EQ(out.event.exit().signal(), "");

  DecodedRecord zero = decode_exit(0);
  ASSERT_TRUE(zero.event.exit().has_code());  // exit(0) is a code, not "no code"
  EXPECT_EQ(zero.event.exit().code(), 0);
}

TEST(DecodeComm, OldAndNewName) {
  cf_comm r{};
  fill_hdr(r.hdr, CF_OP_COMM);
  std::strncpy(r.new_comm, "openclaw-gatewa", sizeof(r.new_comm));
  r.track_reason = CF_TRACK_RENAME;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.kind(), Event::COMM);
  EXPECT_EQ(out.event.comm().old_comm(), "node");
  EXPECT_EQ(out.event.comm().new_comm(), "openclaw-gatewa");
  EXPECT_EQ(out.proc.track_reason, static_cast<uint32_t>(CF_TRACK_RENAME));
}

// ---- FILE ------------------------------------------------------------------------------------

cf_file file_record(uint32_t op, int64_t result, uint32_t flags) {
  cf_file r{};
  fill_hdr(r.hdr, CF_OP_FILE);
  r.file_op = op;
  r.syscall = kSysOpenat;
  r.result = result;
  r.flags = flags;
  return r;
}

TEST(DecodeFile, OpenSuccessResolvedPath) {
  cf_file r = file_record(CF_FILE_OPEN, 3, O_CREAT | O_WRONLY);
  r.mode = 0644;
  r.strs.flags[0] = CF_STR_RESOLVED;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/home/u/.ssh/id_rsa"}), out), DecodeStatus::kOk);
  const Event& ev = out.event;
  EXPECT_EQ(ev.kind(), Event::FILE);
  expect_time(ev);
  const v1::FileOp& f = ev.file();
  EXPECT_EQ(f.op(), v1::FileOp::OPEN);
  EXPECT_EQ(f.path(), "/home/u/.ssh/id_rsa");
  EXPECT_TRUE(f.resolved());
  EXPECT_FALSE(f.truncated());
  EXPECT_EQ(f.access(), "write");
  EXPECT_TRUE(has_flag(f, "O_CREAT"));
  EXPECT_FALSE(has_flag(f, "O_TRUNC"));
  EXPECT_FALSE(has_flag(f, "O_APPEND"));
  EXPECT_EQ(f.mode(), 0644u);
  ASSERT_TRUE(f.has_result());
  EXPECT_EQ(f.result(), 3);
  EXPECT_EQ(f.error(), "");
  EXPECT_EQ(f.syscall(), "openat");
}

TEST(DecodeFile, OpenAccessModes) {
  DecodedRecord out;
  cf_file r = file_record(CF_FILE_OPEN, 3, O_RDONLY | O_CLOEXEC);
  r.strs.flags[0] = CF_STR_RESOLVED;
  ASSERT_EQ(decode(strs_record(r, {"/etc/hosts"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.file().access(), "read");
  EXPECT_TRUE(has_flag(out.event.file(), "O_CLOEXEC"));
  EXPECT_FALSE(has_flag(out.event.file(), "O_CREAT"));

  r = file_record(CF_FILE_OPEN, 4, O_RDWR | O_TRUNC);
  r.strs.flags[0] = CF_STR_RESOLVED;
  ASSERT_EQ(decode(strs_record(r, {"/tmp/x"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.file().access(), "read_write");
  EXPECT_TRUE(has_flag(out.event.file(), "O_TRUNC"));
}

TEST(DecodeFile, OpenFailureJoinsDirectoryAndName) {
  cf_file r = file_record(CF_FILE_OPEN, -2, O_RDONLY);
  r.strs.flags[0] = CF_STR_RESOLVED;  // the directory was resolved, the name was not
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/tmp/a", "../b/c"}), out), DecodeStatus::kOk);
  const v1::FileOp& f = out.event.file();
  EXPECT_EQ(f.path(), "/tmp/b/c");
  EXPECT_FALSE(f.resolved());
  ASSERT_TRUE(f.has_result());
  EXPECT_EQ(f.result(), -2);
  EXPECT_EQ(f.error(), "ENOENT");
}

TEST(DecodeFile, OpenFailureAbsoluteNameIgnoresDirectory) {
  cf_file r = file_record(CF_FILE_OPEN, -13, O_RDONLY);
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"", "/etc//shadow"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.file().path(), "/etc/shadow");
  EXPECT_EQ(out.event.file().error(), "EACCES");
}

// Found by tests/fuzz/decoder_fuzz (UBSan): negating the most negative result to name the
// error overflowed. Without a sanitizer this only shows that the value is named as a number.
TEST(DecodeFile, MostNegativeResultIsNamedAsANumber) {
  cf_file r = file_record(CF_FILE_OPEN, std::numeric_limits<int64_t>::min(), O_RDONLY);
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/tmp", "x"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.file().error(), "E-9223372036854775808");
}

TEST(DecodeFile, TruncatedStringFlagsTheEvent) {
  cf_file r = file_record(CF_FILE_OPEN, 3, O_RDONLY);
  r.strs.flags[0] = CF_STR_RESOLVED | CF_STR_TRUNCATED;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/very/long"}), out), DecodeStatus::kOk);
  EXPECT_TRUE(out.event.file().truncated());
}

TEST(DecodeFile, Unlink) {
  cf_file r = file_record(CF_FILE_UNLINK, 0, AT_REMOVEDIR);
  r.syscall = kSysUnlinkat;
  r.strs.flags[0] = CF_STR_RESOLVED;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/home/u", "./cache/"}), out), DecodeStatus::kOk);
  const v1::FileOp& f = out.event.file();
  EXPECT_EQ(f.op(), v1::FileOp::UNLINK);
  EXPECT_EQ(f.path(), "/home/u/cache");
  ASSERT_EQ(f.flags_size(), 1);
  EXPECT_EQ(f.flags(0), "AT_REMOVEDIR");
  ASSERT_TRUE(f.has_result());
  EXPECT_EQ(f.result(), 0);
  EXPECT_EQ(f.error(), "");
  EXPECT_EQ(f.syscall(), "unlinkat");
}

TEST(DecodeFile, Rename) {
  cf_file r = file_record(CF_FILE_RENAME, 0, RENAME_NOREPLACE);
  r.syscall = kSysRenameat2;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/home/u", "a.txt", "/home/u/sub", "../b.txt"}), out), DecodeStatus::kOk);
  const v1::FileOp& f = out.event.file();
  EXPECT_EQ(f.op(), v1::FileOp::RENAME);
  EXPECT_EQ(f.path(), "/home/u/a.txt");
  EXPECT_EQ(f.new_path(), "/home/u/b.txt");
  ASSERT_EQ(f.flags_size(), 1);
  EXPECT_EQ(f.flags(0), "RENAME_NOREPLACE");
  EXPECT_EQ(f.syscall(), "renameat2");
}

// A unix socket connected: the path is the socket file the peer is bound to, walked in the kernel.
TEST(DecodeFile, UnixConnectNamesThePeersSocketFile) {
  cf_file r = file_record(CF_FILE_CONNECT, 5, 0);
  r.syscall = kSysConnect;
  r.strs.flags[0] = CF_STR_RESOLVED;
  r.verdict.verdict = CF_VERDICT_KILLED;
  r.verdict.rule = 3;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"/run/docker.sock"}), out), DecodeStatus::kOk);
  const v1::FileOp& f = out.event.file();
  EXPECT_EQ(f.op(), v1::FileOp::CONNECT);
  EXPECT_EQ(f.path(), "/run/docker.sock");
  EXPECT_TRUE(f.resolved());
  EXPECT_EQ(f.access(), "connect");
  EXPECT_EQ(f.syscall(), "connect");
  EXPECT_EQ(f.result(), 5);
  EXPECT_EQ(out.event.enforcement().verdict(), "killed");
}

TEST(DecodeFile, UnknownFileOp) {
  DecodedRecord out;
  EXPECT_EQ(decode(strs_record(file_record(9, 0, 0), {}), out), DecodeStatus::kUnknownOp);
}

TEST(DecodeFile, StringsBeyondTheRecordAreTruncated) {
  cf_file r = file_record(CF_FILE_RENAME, 0, 0);
  auto bytes = strs_record(r, {"/a", "b", "/c", "d"});
  bytes.pop_back();  // the last string now overruns the record
  cf_hdr h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  h.size = static_cast<uint16_t>(bytes.size());
  std::memcpy(bytes.data(), &h, sizeof(h));
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);
}

// ---- NET -------------------------------------------------------------------------------------

cf_net net_record(uint16_t family, std::initializer_list<uint8_t> addr) {
  cf_net r{};
  fill_hdr(r.hdr, CF_OP_NET);
  r.net_op = CF_NET_CONNECT;
  r.syscall = kSysConnect;
  r.family = family;
  r.port = 443;
  r.protocol = IPPROTO_TCP;
  r.sock_type = SOCK_STREAM;
  size_t i = 0;
  for (uint8_t b : addr) r.addr[i++] = b;
  return r;
}

TEST(DecodeNet, ConnectIpv4) {
  cf_net r = net_record(AF_INET, {93, 184, 216, 34});
  r.result = -115;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.kind(), Event::NET);
  expect_time(out.event);
  const v1::NetOp& n = out.event.net();
  EXPECT_EQ(n.op(), v1::NetOp::CONNECT);
  EXPECT_EQ(n.family(), "ipv4");
  EXPECT_EQ(n.address(), "93.184.216.34");
  EXPECT_FALSE(n.ipv4_mapped());
  EXPECT_EQ(n.port(), 443u);
  EXPECT_EQ(n.protocol(), "tcp");
  ASSERT_TRUE(n.has_result());
  EXPECT_EQ(n.result(), -115);
  EXPECT_EQ(n.error(), "EINPROGRESS");
  EXPECT_EQ(n.syscall(), "connect");
}

TEST(DecodeNet, MostNegativeResultIsNamedAsANumber) {
  cf_net r = net_record(AF_INET, {10, 0, 0, 1});
  r.result = std::numeric_limits<int64_t>::min();
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.net().error(), "E-9223372036854775808");
}

TEST(DecodeNet, SendtoIpv6Loopback) {
  cf_net r = net_record(AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  r.net_op = CF_NET_SENDTO;
  r.syscall = kSysSendto;
  r.protocol = IPPROTO_UDP;
  r.port = 53;
  r.result = 29;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  const v1::NetOp& n = out.event.net();
  EXPECT_EQ(n.op(), v1::NetOp::SENDTO);
  EXPECT_EQ(n.family(), "ipv6");
  EXPECT_EQ(n.address(), "::1");
  EXPECT_FALSE(n.ipv4_mapped());
  EXPECT_EQ(n.protocol(), "udp");
  EXPECT_EQ(n.port(), 53u);
  EXPECT_EQ(n.result(), 29);
  EXPECT_EQ(n.error(), "");
  EXPECT_EQ(n.syscall(), "sendto");
}

TEST(DecodeNet, Ipv4MappedIpv6ShownAsIpv4) {
  cf_net r = net_record(AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1});
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  const v1::NetOp& n = out.event.net();
  EXPECT_EQ(n.address(), "127.0.0.1");
  EXPECT_EQ(n.family(), "ipv4");
  EXPECT_TRUE(n.ipv4_mapped());
}

TEST(DecodeNet, NoSyscallHasNoResult) {
  cf_net r = net_record(AF_INET, {10, 0, 0, 1});
  r.flags = CF_NET_NO_SYSCALL;
  r.protocol = 132;  // SCTP: shown as its number
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  const v1::NetOp& n = out.event.net();
  EXPECT_FALSE(n.has_result());
  EXPECT_EQ(n.syscall(), "");
  EXPECT_EQ(n.error(), "");
  EXPECT_EQ(n.protocol(), "132");
  EXPECT_EQ(n.address(), "10.0.0.1");
}

// ---- malformed records -----------------------------------------------------------------------

TEST(DecodeErrors, ShorterThanHeader) {
  std::vector<uint8_t> bytes(sizeof(cf_hdr) - 1, 0);
  DecodedRecord out;
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);
  EXPECT_EQ(decode_record(bytes.data(), 0, BootClock(0), out), DecodeStatus::kTruncated);
}

TEST(DecodeErrors, HeaderSizeDiffersFromRecordSize) {
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_FORK);
  auto bytes = fixed_record(r);
  DecodedRecord out;
  EXPECT_EQ(decode_record(bytes.data(), bytes.size() - 4, BootClock(0), out), DecodeStatus::kBadSize);
  bytes.resize(bytes.size() + 4);
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kBadSize);
}

TEST(DecodeErrors, UnknownOp) {
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_MAX);
  DecodedRecord out;
  EXPECT_EQ(decode(fixed_record(r), out), DecodeStatus::kUnknownOp);
  fill_hdr(r.hdr, 0);
  EXPECT_EQ(decode(fixed_record(r), out), DecodeStatus::kUnknownOp);
}

TEST(DecodeErrors, StatusNames) {
  EXPECT_STREQ(to_string(DecodeStatus::kOk), "ok");
  EXPECT_STRNE(to_string(DecodeStatus::kTruncated), to_string(DecodeStatus::kBadSize));
  EXPECT_STRNE(to_string(DecodeStatus::kUnknownOp), "?");
}

TEST(DecodeErrors, PreviousContentIsCleared) {
  DecodedRecord out;
  cf_exec e = exec_record();
  ASSERT_EQ(decode(strs_record(e, {"a\0"s, "/bin/a"}), out), DecodeStatus::kOk);
  cf_fork f{};
  fill_hdr(f.hdr, CF_OP_FORK);
  f.child_tgid = 1;
  ASSERT_EQ(decode(fixed_record(f), out), DecodeStatus::kOk);
  EXPECT_FALSE(out.event.has_exec());
  EXPECT_EQ(out.proc.ppid, 0u);
  EXPECT_EQ(out.proc.uid, 0u);
}

// ---- clock and helpers -----------------------------------------------------------------------

TEST(BootClockTest, OffsetIsApplied) {
  EXPECT_EQ(BootClock(0).to_unix_ns(5), 5);
  EXPECT_EQ(BootClock(1000).to_unix_ns(5), 1005);
  // A record's timestamp is untrusted: far-off values saturate (found by decoder_fuzz).
  EXPECT_EQ(BootClock(1000000000).to_unix_ns(9223372036854775552ull), INT64_MAX);
  EXPECT_EQ(BootClock(-5).to_unix_ns(UINT64_MAX), INT64_MAX);
  EXPECT_EQ(BootClock(INT64_MIN).to_unix_ns(0), INT64_MIN);
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_FORK);
  r.hdr.ts_ns = 1;
  auto bytes = fixed_record(r);
  DecodedRecord out;
  ASSERT_EQ(decode_record(bytes.data(), bytes.size(), BootClock(2999999999), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.time().seconds(), 3);
  EXPECT_EQ(out.event.time().nanos(), 0);
}

TEST(BootClockTest, RealClockIsNearNow) {
  // The default clock maps "now" in boot time to about "now" in wall time.
  timespec boot{}, real{};
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_REALTIME, &real);
  BootClock clock;
  int64_t mapped = clock.to_unix_ns(static_cast<uint64_t>(boot.tv_sec) * 1000000000ull + boot.tv_nsec);
  int64_t real_ns = real.tv_sec * 1000000000ll + real.tv_nsec;
  EXPECT_LT(std::llabs(mapped - real_ns), 1000000000ll);
}

TEST(NormalizePath, CollapsesDotsAndSlashes) {
  EXPECT_EQ(normalize_path("/a/./b/../c//d"), "/a/c/d");
  EXPECT_EQ(normalize_path("/.."), "/");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(normalize_path("/a/b/"), "/a/b");
  EXPECT_EQ(normalize_path("/a/.../b"), "/a/.../b");
  EXPECT_EQ(normalize_path("/a/b/.."), "/a");
}

TEST(SplitArgv, WithAndWithoutTrailingNul) {
  const char with[] = "ls\0-la\0/tmp\0";  // sizeof includes the literal's own NUL
  EXPECT_EQ(split_argv(with, sizeof(with) - 1), (std::vector<std::string>{"ls", "-la", "/tmp"}));
  const char without[] = "ls\0-la\0/tm";
  EXPECT_EQ(split_argv(without, sizeof(without) - 1), (std::vector<std::string>{"ls", "-la", "/tm"}));
  EXPECT_TRUE(split_argv("", 0).empty());
  const char empty_arg[] = "a\0\0b\0";
  EXPECT_EQ(split_argv(empty_arg, sizeof(empty_arg) - 1), (std::vector<std::string>{"a", "", "b"}));
}

TEST(ErrnoName, KnownAndUnknown) {
  EXPECT_EQ(errno_name(2), "ENOENT");
  EXPECT_EQ(errno_name(111), "ECONNREFUSED");
  EXPECT_EQ(errno_name(4000), "E4000");
  EXPECT_EQ(errno_name(0), "E0");
}

TEST(SyscallName, KnownAndUnknown) {
  EXPECT_EQ(syscall_name(kSysOpenat), "openat");
  EXPECT_EQ(syscall_name(kSysConnect), "connect");
  EXPECT_EQ(syscall_name(-1), "");
  EXPECT_EQ(syscall_name(100000), "");
}

TEST(TrackReasonName, AllReasons) {
  EXPECT_EQ(track_reason_name(CF_TRACK_INHERITED), "inherited");
  EXPECT_EQ(track_reason_name(CF_TRACK_COMM), "comm");
  EXPECT_EQ(track_reason_name(CF_TRACK_ARGV), "argv");
  EXPECT_EQ(track_reason_name(CF_TRACK_CGROUP), "cgroup");
  EXPECT_EQ(track_reason_name(CF_TRACK_RENAME), "rename");
  EXPECT_EQ(track_reason_name(CF_TRACK_USER), "user");
  EXPECT_EQ(track_reason_name(CF_TRACK_NONE), "");
  EXPECT_EQ(track_reason_name(99), "");
}

TEST(FormatAddress, Families) {
  bool mapped = true;
  const uint8_t v4[16] = {192, 168, 1, 20};
  EXPECT_EQ(format_address(AF_INET, v4, &mapped), "192.168.1.20");
  EXPECT_FALSE(mapped);

  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
  EXPECT_EQ(format_address(AF_INET6, v6, &mapped), "2001:db8::42");
  EXPECT_FALSE(mapped);

  const uint8_t m[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(format_address(AF_INET6, m, &mapped), "10.1.2.3");
  EXPECT_TRUE(mapped);

  // ::ffff:0:0/96 only: an IPv4-compatible (::a.b.c.d) address is not mapped.
  const uint8_t compat[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3};
  format_address(AF_INET6, compat, &mapped);
  EXPECT_FALSE(mapped);
}

// A guard's verdict rides on the record it judged: the event says what was done and how; the
// rule index stays for the agent to name (it depends on the policy generation).
TEST(DecodeVerdict, NetBlockedCarriesEnforcement) {
  cf_net r = net_record(AF_INET, {192, 0, 2, 1});
  r.result = -1;
  r.verdict.verdict = CF_VERDICT_BLOCKED;
  r.verdict.rule = 3;
  r.verdict.generation = 7;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  ASSERT_TRUE(out.event.has_enforcement());
  EXPECT_EQ(out.event.enforcement().verdict(), "blocked");
  EXPECT_EQ(out.event.enforcement().mechanism(), "cgroup connect hook");
  EXPECT_EQ(out.event.enforcement().generation(), 7u);
  EXPECT_EQ(out.event.enforcement().rule_id(), "");
  EXPECT_EQ(out.verdict.rule, 3);
  EXPECT_EQ(out.event.net().error(), "EPERM");
  // the next record of the same DecodedRecord starts clean
  cf_net plain = net_record(AF_INET, {192, 0, 2, 2});
  ASSERT_EQ(decode(fixed_record(plain), out), DecodeStatus::kOk);
  EXPECT_FALSE(out.event.has_enforcement());
  EXPECT_EQ(out.verdict.verdict, CF_VERDICT_NONE);
}

TEST(DecodeVerdict, FailClosedIsNamedByTheKernel) {
  cf_net r = net_record(AF_INET, {127, 0, 0, 1});
  r.verdict.verdict = CF_VERDICT_BLOCKED;
  r.verdict.rule = CF_RULE_FAIL_CLOSED;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.enforcement().rule_id(), "fail-closed");
}

TEST(DecodeGuard, BudgetAndRawSocketAndIoUring) {
  cf_guard_rec r{};
  fill_hdr(r.hdr, CF_OP_GUARD);
  r.what = CF_GUARD_BUDGET;
  r.bytes = 11u << 20;
  r.window_ns = 60'000'000'000ull;
  r.group = 4242;
  r.family = AF_INET;
  r.port = 18789;
  r.addr[0] = 127;
  r.addr[3] = 13;
  r.verdict.verdict = CF_VERDICT_BLOCKED;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.kind(), Event::GUARD);
  EXPECT_EQ(out.event.guard().what(), "egress_budget");
  EXPECT_EQ(out.event.guard().bytes(), 11u << 20);
  EXPECT_EQ(out.event.guard().window_ms(), 60000u);
  EXPECT_EQ(out.event.guard().group(), 4242u);
  EXPECT_EQ(out.event.guard().address(), "127.0.0.13");
  EXPECT_EQ(out.event.enforcement().verdict(), "blocked");

  r.what = CF_GUARD_RAW_SOCKET;
  r.family = AF_INET;
  r.type = SOCK_RAW;
  r.protocol = IPPROTO_ICMP;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.guard().socket(), "inet raw icmp");
  EXPECT_EQ(out.event.enforcement().mechanism(), "cgroup sock_create hook");

  r.what = CF_GUARD_IO_URING;
  r.result = 5;
  r.verdict.verdict = CF_VERDICT_NONE;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.guard().what(), "io_uring_setup");
  EXPECT_EQ(out.event.guard().result(), 5);
  EXPECT_FALSE(out.event.has_enforcement());

  r.what = 99;
  EXPECT_EQ(decode(fixed_record(r), out), DecodeStatus::kUnknownOp);
  auto bytes = fixed_record(r);
  bytes.pop_back();
  EXPECT_NE(decode(bytes, out), DecodeStatus::kOk);
}

// ---- ENV -------------------------------------------------------------------------------------

cf_env env_record(uint32_t kind, uint32_t flags) {
  cf_env r{};
  fill_hdr(r.hdr, CF_OP_ENV);
  r.kind = kind;
  r.flags = flags;
  return r;
}

TEST(DecodeEnv, GetenvNameSetAndFolded) {
  cf_env r = env_record(CF_ENV_GETENV, CF_ENV_RESULT | CF_ENV_SET);
  r.folded = 999;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"OPENAI_API_KEY"}), out), DecodeStatus::kOk);
  const Event& ev = out.event;
  EXPECT_EQ(ev.kind(), Event::ENV);
  ASSERT_TRUE(ev.has_env());
  expect_time(ev);
  EXPECT_EQ(out.proc.tgid, 4242u);
  EXPECT_EQ(out.proc.comm, "node");
  EXPECT_EQ(ev.env().op(), "getenv");
  EXPECT_EQ(ev.env().name(), "OPENAI_API_KEY");
  ASSERT_TRUE(ev.env().has_set());
  EXPECT_TRUE(ev.env().set());
  EXPECT_EQ(ev.env().folded(), 999u);
  EXPECT_FALSE(ev.env().truncated());
  EXPECT_FALSE(ev.env().secret());  // the agent decides that
  EXPECT_EQ(ev.env().names_size(), 0);

  // not set: the result is known and says so
  r = env_record(CF_ENV_SECURE_GETENV, CF_ENV_RESULT);
  ASSERT_EQ(decode(strs_record(r, {"GH_TOKEN"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.env().op(), "secure_getenv");
  EXPECT_EQ(out.event.env().name(), "GH_TOKEN");
  ASSERT_TRUE(out.event.env().has_set());
  EXPECT_FALSE(out.event.env().set());
  EXPECT_EQ(out.event.env().folded(), 0u);

  // no return probe ran: whether it was set is unknown, not false
  r = env_record(CF_ENV_UV_GETENV, 0);
  ASSERT_EQ(decode(strs_record(r, {"HOME"}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.env().op(), "uv_os_getenv");
  EXPECT_FALSE(out.event.env().has_set());
}

TEST(DecodeEnv, NameCutAtTheLimitIsFlagged) {
  cf_env r = env_record(CF_ENV_GETENV, CF_ENV_RESULT | CF_ENV_TRUNCATED);
  r.strs.flags[0] = CF_STR_TRUNCATED;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {std::string(CF_ENV_NAME_MAX, 'A')}), out), DecodeStatus::kOk);
  EXPECT_TRUE(out.event.env().truncated());
  EXPECT_EQ(out.event.env().name().size(), static_cast<size_t>(CF_ENV_NAME_MAX));
}

TEST(DecodeEnv, ExecNamesSplitOnNul) {
  cf_env r = env_record(CF_ENV_EXEC, 0);
  const std::string names = "PATH\0OPENAI_API_KEY\0HOME\0"s;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {names}), out), DecodeStatus::kOk);
  const auto& e = out.event.env();
  EXPECT_EQ(out.event.kind(), Event::ENV);
  EXPECT_EQ(e.op(), "exec");
  ASSERT_EQ(e.names_size(), 3);
  EXPECT_EQ(e.names(0), "PATH");
  EXPECT_EQ(e.names(1), "OPENAI_API_KEY");
  EXPECT_EQ(e.names(2), "HOME");
  EXPECT_EQ(e.name(), "");
  EXPECT_FALSE(e.has_set());
  EXPECT_FALSE(e.truncated());

  r.flags = CF_ENV_TRUNCATED;
  ASSERT_EQ(decode(strs_record(r, {"A\0\0B\0"s}), out), DecodeStatus::kOk);
  ASSERT_EQ(out.event.env().names_size(), 2);  // no empty names
  EXPECT_EQ(out.event.env().names(1), "B");
  EXPECT_TRUE(out.event.env().truncated());

  ASSERT_EQ(decode(strs_record(r, {""}), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.env().names_size(), 0);
}

// An exec's environment with CF_ENV_VALUES: string 1 holds each name's value fingerprint and
// length, in name order (fewer when the kernel cut them); they are for redaction, never output.
TEST(DecodeEnv, ExecValuesPairWithTheirNamesAndStayOutOfTheEvent) {
  cf_env r = env_record(CF_ENV_EXEC, CF_ENV_VALUES);
  const std::string names = "PATH\0OPENAI_API_KEY\0HOME\0"s;
  cf_env_value v[2] = {{0x1111, 13, 0}, {0xfeedface12345678ull, 51, 0}};  // HOME's was cut
  const std::string values(reinterpret_cast<const char*>(v), sizeof(v));
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {names, values}), out), DecodeStatus::kOk);
  ASSERT_EQ(out.env_values.size(), 2u);
  EXPECT_EQ(out.env_values[0].name, "PATH");
  EXPECT_EQ(out.env_values[0].fingerprint, 0x1111u);
  EXPECT_EQ(out.env_values[0].len, 13u);
  EXPECT_EQ(out.env_values[1].name, "OPENAI_API_KEY");
  EXPECT_EQ(out.env_values[1].fingerprint, 0xfeedface12345678ull);
  EXPECT_EQ(out.env_values[1].len, 51u);
  ASSERT_EQ(out.event.env().names_size(), 3);
  EXPECT_EQ(out.event.env().fingerprint(), "");
  // a record without the flag has none; the next decode forgets the last one's
  ASSERT_EQ(decode(strs_record(env_record(CF_ENV_EXEC, 0), {names}), out), DecodeStatus::kOk);
  EXPECT_TRUE(out.env_values.empty());
  // string 1 that is not whole values is malformed
  ASSERT_EQ(decode(strs_record(r, {names, values.substr(0, 20)}), out), DecodeStatus::kBadSize);
}

// A getenv's fingerprint is also kept for redaction (its length is not known); an unset
// variable's read has none.
TEST(DecodeEnv, GetenvFingerprintIsKeptForRedaction) {
  cf_env r = env_record(CF_ENV_GETENV, CF_ENV_RESULT | CF_ENV_SET | CF_ENV_FINGERPRINT);
  r.fingerprint = 0xabcdef0123456789ull;
  DecodedRecord out;
  ASSERT_EQ(decode(strs_record(r, {"GITHUB_TOKEN"}), out), DecodeStatus::kOk);
  ASSERT_EQ(out.env_values.size(), 1u);
  EXPECT_EQ(out.env_values[0].name, "GITHUB_TOKEN");
  EXPECT_EQ(out.env_values[0].fingerprint, 0xabcdef0123456789ull);
  EXPECT_EQ(out.env_values[0].len, 0u);
  EXPECT_EQ(out.event.env().fingerprint(), "abcdef0123456789");
}

TEST(DecodeEnv, PtraceTargetAndResult) {
  cf_env r = env_record(CF_ENV_PTRACE, CF_ENV_RESULT);
  r.target = 31337;
  r.result = -1;  // -EPERM
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.env().op(), "ptrace");
  EXPECT_EQ(out.event.env().target_pid(), 31337u);
  EXPECT_EQ(out.event.env().result(), -1);
  EXPECT_EQ(out.event.env().name(), "");
}

TEST(DecodeEnv, EnumerateHasNoName) {
  cf_env r = env_record(CF_ENV_ENUMERATE, 0);
  r.folded = 4;
  DecodedRecord out;
  ASSERT_EQ(decode(fixed_record(r), out), DecodeStatus::kOk);
  EXPECT_EQ(out.event.env().op(), "enumerate");
  EXPECT_EQ(out.event.env().folded(), 4u);
  EXPECT_EQ(out.event.env().name(), "");
  EXPECT_FALSE(out.event.env().has_set());
}

TEST(DecodeEnv, BadRecordsAreErrors) {
  DecodedRecord out;
  cf_env r = env_record(99, 0);
  EXPECT_EQ(decode(fixed_record(r), out), DecodeStatus::kUnknownOp);

  // shorter than the fixed part
  r = env_record(CF_ENV_GETENV, 0);
  auto bytes = fixed_record(r);
  bytes.resize(sizeof(cf_env) - 8);
  cf_hdr h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  h.size = static_cast<uint16_t>(bytes.size());
  std::memcpy(bytes.data(), &h, sizeof(h));
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);

  // a string longer than the data that follows
  bytes = strs_record(r, {"SHORT"});
  cf_env bad;
  std::memcpy(&bad, bytes.data(), sizeof(bad));
  bad.strs.len[0] = 200;
  std::memcpy(bytes.data(), &bad, sizeof(bad));
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kTruncated);

  // header size disagrees with the record's
  bytes = strs_record(r, {"SHORT"});
  bytes.push_back(0);
  EXPECT_EQ(decode(bytes, out), DecodeStatus::kBadSize);
}

}  // namespace
}  // namespace clawfence::sensor
