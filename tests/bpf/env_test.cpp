// Kernel tier: environment reads (bpf/env/env.bpf.c, bpf/env/env.bpf.h). The real object is
// started through the Sensor on a cgroup the test creates; the test attaches the getenv and
// secure_getenv uprobes itself to the libc this process (and so each forked child) maps, with
// pid -1, as the agent will per watched binary. Tracked children read variables, exec programs
// with secrets in their environment and ptrace-seize processes of their own; the raw records
// and counters are asserted, and no record may hold a value's bytes. Run on both syscall hook
// flavours: the ptrace exit is seen by the raw sys_exit dispatcher or by its fexit program.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "clawfence/abi.h"
#include "env/fingerprint_key.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/decoder.h"
#include "sensor/kernel.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kApiKey[] = "CF_TEST_API_KEY";
constexpr char kApiValue[] = "s3cr3t-value-xyz";
constexpr char kUnset[] = "CF_TEST_UNSET";
constexpr char kSecureName[] = "CF_TEST_SECURE_TOKEN";
constexpr char kSecureValue[] = "s3cure-token-value-qrs";
constexpr char kExecValue[] = "secret-value-abc";
constexpr int kLoop = 1000;

// An environment record as the kernel wrote it, checked for a consistent size.
struct EnvRecord {
  std::string str;     // string 0: the name, or exec's NUL-separated names
  std::string values;  // string 1: exec's cf_env_value per name (CF_ENV_VALUES)
  cf_env rec{};        // last: its data[] is not copied
};

std::vector<cf_env_value> values_of(const EnvRecord& e) {
  std::vector<cf_env_value> out(e.values.size() / sizeof(cf_env_value));
  if (!out.empty()) std::memcpy(out.data(), e.values.data(), out.size() * sizeof(cf_env_value));
  return out;
}

// The libc getenv comes from in this process: the file the uprobes go on.
std::string libc_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&::getenv), &info) && info.dli_fname && std::strstr(info.dli_fname, "libc"))
    return info.dli_fname;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    size_t slash = line.find('/');
    if (slash != std::string::npos && line.find("/libc.so", slash) != std::string::npos) return line.substr(slash);
  }
  return "";
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t j = s.find('\0', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

class EnvTest : public ::testing::TestWithParam<sensor::SyscallHooks>, protected GuardFixture {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    if (GetParam() == sensor::SyscallHooks::kFentry && !sensor::probe_kernel().tracing)
      GTEST_SKIP() << "this kernel has no BPF tracing programs (fentry/fexit): the fentry path cannot run here";
  }

  void TearDown() override {
    for (bpf_link* l : links_) bpf_link__destroy(l);
    links_.clear();
    stop_sensor();
  }

  void start(uint64_t window_ns = 60'000'000'000ull) {
    sensor::SensorOptions o = hook_options(GetParam(), 4u << 20);
    o.env_fold_window_ns = window_ns;
    start_sensor("env", o);
    ASSERT_EQ(sensor_->hooks(), GetParam());
    collect_records();
  }

  // The getenv and secure_getenv probes on libc, entry and return, system-wide.
  void attach_libc() {
    const std::string libc = libc_path();
    ASSERT_NE(libc, "") << "cannot find the libc this process maps";
    struct {
      const char* prog;
      const char* func;
      bool ret;
    } probes[] = {
        {"cf_env_getenv", "getenv", false},
        {"cf_env_getenv_ret", "getenv", true},
        {"cf_env_secure_getenv", "secure_getenv", false},
        {"cf_env_secure_getenv_ret", "secure_getenv", true},
    };
    for (const auto& p : probes) {
      bpf_program* prog = sensor_->program(p.prog);
      ASSERT_NE(prog, nullptr) << p.prog << " is not in the object";
      bpf_uprobe_opts o{};
      o.sz = sizeof(o);
      o.retprobe = p.ret;
      o.func_name = p.func;
      bpf_link* l = bpf_program__attach_uprobe_opts(prog, -1, libc.c_str(), 0, &o);
      ASSERT_NE(l, nullptr) << "attaching " << p.prog << " to " << libc << ":" << p.func << ": "
                            << std::strerror(errno);
      links_.push_back(l);
    }
  }

  // The well-formed environment records of `pid` (of `kind`, when not 0), waiting up to
  // `wait` for at least `want` of them.
  std::vector<EnvRecord> env_records(pid_t pid, uint32_t kind = 0, size_t want = 1,
                                     std::chrono::milliseconds wait = 2000ms) const {
    std::vector<EnvRecord> found;
    eventually(
        [&] {
          found.clear();
          for (const auto& r : records_of(pid, CF_OP_ENV)) {
            EnvRecord e;
            EXPECT_GE(r.size(), sizeof(cf_env));
            if (r.size() < sizeof(cf_env)) continue;
            std::memcpy(&e.rec, r.data(), sizeof(e.rec));
            EXPECT_EQ(e.rec.hdr.size, r.size());
            EXPECT_EQ(sizeof(cf_env) + e.rec.strs.len[0] + e.rec.strs.len[1], r.size())
                << "names, the values' fingerprints, then nothing";
            if (kind && e.rec.kind != kind) continue;
            e.str = r.substr(sizeof(cf_env), e.rec.strs.len[0]);
            e.values = r.substr(sizeof(cf_env) + e.rec.strs.len[0], e.rec.strs.len[1]);
            found.push_back(std::move(e));
          }
          return found.size() >= want;
        },
        wait);
    return found;
  }

  // No record read so far holds `needle` anywhere in its bytes.
  void expect_in_no_record(const std::string& needle) const {
    auto all = records();
    ASSERT_FALSE(all.empty());
    for (const auto& r : all) {
      cf_hdr h{};
      std::memcpy(&h, r.data(), std::min(sizeof(h), r.size()));
      EXPECT_EQ(r.find(needle), std::string::npos) << "a record of op " << h.op << " from pid " << h.tgid
                                                   << " holds the value " << needle;
    }
  }

  // Reads still pending (entry seen, return not) for threads of `pid`.
  size_t pending_calls(pid_t pid) const {
    int fd = sensor_->map_fd("env_calls");
    EXPECT_GE(fd, 0);
    size_t n = 0;
    uint64_t key = 0, next = 0;
    for (uint64_t* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
      key = next;
      if ((key >> 32) == static_cast<uint64_t>(pid)) ++n;
    }
    return n;
  }

  uint64_t counter(cf_counter c) const { return sensor_->counters()[c]; }

  std::vector<bpf_link*> links_;
};

// getenv of a set and an unset variable, secure_getenv (which calls getenv inside libc), and
// the set one read kLoop times more.
void read_variables() {
  setenv(kApiKey, kApiValue, 1);
  setenv(kSecureName, kSecureValue, 1);
  unsetenv(kUnset);
  volatile const char* sink = getenv(kApiKey);
  sink = getenv(kUnset);
  sink = secure_getenv(kSecureName);
  for (int i = 0; i < kLoop; ++i) sink = getenv(kApiKey);
  (void)sink;
}

TEST_P(EnvTest, GetenvIsReportedByNameOncePerWindowAndNeverWithItsValue) {
  start();
  attach_libc();
  const uint64_t reads = counter(CF_CNT_ENV_READS), folded = counter(CF_CNT_ENV_FOLDED);

  Outcome o = run_child(cg_.get(), sensor_.get(), read_variables);
  ASSERT_TRUE(o.exited_ok()) << o.status;

  auto recs = env_records(o.pid, 0, 3);
  ASSERT_EQ(recs.size(), 3u) << "one record per (kind, name): the loop is folded";
  int seen = 0;
  for (const auto& e : recs) {
    EXPECT_EQ(e.rec.hdr.tgid, static_cast<uint32_t>(o.pid));
    EXPECT_EQ(e.rec.hdr.cgroup_id, cg_->id());
    EXPECT_EQ(e.rec.folded, 0u) << "the first record of a window stands for no earlier read";
    EXPECT_EQ(e.rec.target, 0u);
    EXPECT_EQ(e.rec.result, 0);
    if (e.str == kApiKey) {
      ++seen;
      EXPECT_EQ(e.rec.kind, static_cast<uint32_t>(CF_ENV_GETENV));
      EXPECT_EQ(e.rec.flags, static_cast<uint32_t>(CF_ENV_RESULT | CF_ENV_SET));
    } else if (e.str == kUnset) {
      ++seen;
      EXPECT_EQ(e.rec.kind, static_cast<uint32_t>(CF_ENV_GETENV));
      EXPECT_EQ(e.rec.flags, static_cast<uint32_t>(CF_ENV_RESULT)) << "read, and not set";
    } else if (e.str == kSecureName) {
      ++seen;
      // the getenv inside secure_getenv is part of the same read, not a second one
      EXPECT_EQ(e.rec.kind, static_cast<uint32_t>(CF_ENV_SECURE_GETENV));
      EXPECT_EQ(e.rec.flags, static_cast<uint32_t>(CF_ENV_RESULT | CF_ENV_SET));
    } else {
      ADD_FAILURE() << "unexpected environment record: kind " << e.rec.kind << " name " << e.str;
    }
  }
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(counter(CF_CNT_ENV_READS) - reads, static_cast<uint64_t>(kLoop + 3));
  EXPECT_EQ(counter(CF_CNT_ENV_FOLDED) - folded, static_cast<uint64_t>(kLoop));
  EXPECT_EQ(pending_calls(o.pid), 0u) << "every entry's state is gone at its return";
  expect_in_no_record(kApiValue);
  expect_in_no_record(kSecureValue);

  // decoded, the records are ENV events naming the variable
  sensor::DecodedRecord d;
  for (const auto& r : records_of(o.pid, CF_OP_ENV)) {
    ASSERT_EQ(sensor::decode_record(r.data(), r.size(), sensor::BootClock(0), d), sensor::DecodeStatus::kOk);
    EXPECT_EQ(d.event.kind(), v1::Event::ENV);
    EXPECT_TRUE(d.event.env().has_set());
    EXPECT_EQ(d.event.env().set(), d.event.env().name() != kUnset);
  }
}

TEST_P(EnvTest, UntrackedProcessesProduceNothing) {
  start();
  attach_libc();
  const uint64_t reads = counter(CF_CNT_ENV_READS);

  Outcome o = run_child(cg_.get(), nullptr, read_variables);
  ASSERT_TRUE(o.exited_ok()) << o.status;
  std::string bin = "/usr/bin/env";
  Outcome x = run_child(cg_.get(), nullptr, [&] {
    std::string secret = std::string("OPENAI_API_KEY=") + kExecValue;
    char* envp[] = {secret.data(), nullptr};
    execle(bin.c_str(), "env", static_cast<char*>(nullptr), envp);
    _exit(127);
  });
  ASSERT_TRUE(x.exited_ok()) << x.status;
  // a tracked child afterwards: once its record is in, the untracked ones would be too
  Outcome marker = run_child(cg_.get(), sensor_.get(), [] { (void)!getenv(kUnset); });
  ASSERT_EQ(env_records(marker.pid).size(), 1u);

  EXPECT_TRUE(env_records(o.pid, 0, 1, 0ms).empty());
  EXPECT_TRUE(env_records(x.pid, 0, 1, 0ms).empty());
  EXPECT_EQ(counter(CF_CNT_ENV_READS) - reads, 1u) << "only the tracked marker's read counts";
  EXPECT_EQ(pending_calls(o.pid), 0u) << "untracked calls leave no state";
}

TEST_P(EnvTest, RepeatsAreReportedWithTheNextRecordAfterTheWindow) {
  start(300'000'000ull);  // 300 ms
  attach_libc();
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    setenv(kApiKey, kApiValue, 1);
    volatile const char* sink = nullptr;
    for (int i = 0; i < 10; ++i) sink = getenv(kApiKey);
    usleep(500'000);
    sink = getenv(kApiKey);
    (void)sink;
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  auto recs = env_records(o.pid, CF_ENV_GETENV, 2);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].str, kApiKey);
  EXPECT_EQ(recs[0].rec.folded, 0u);
  EXPECT_EQ(recs[1].str, kApiKey);
  EXPECT_EQ(recs[1].rec.folded, 9u) << "the nine repeats of the first window";
  EXPECT_GE(recs[1].rec.hdr.ts_ns - recs[0].rec.hdr.ts_ns, 300'000'000ull);
  expect_in_no_record(kApiValue);
}

// An exec starts a new program in the same process: its first read of a name already read by
// the old program within the window is a record of its own, not a fold into the old one's.
TEST_P(EnvTest, TheProgramAfterAnExecHasItsOwnFirstRead) {
  start();
  attach_libc();
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    setenv(kApiKey, kApiValue, 1);
    volatile const char* sink = getenv(kApiKey);
    (void)sink;
    const std::string code = std::string("import ctypes; ctypes.CDLL(None).getenv(b'") + kApiKey + "')";
    execlp("python3", "python3", "-c", code.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  // (the reader may still be on its way to the second: wait for it, not for any record)
  size_t named = 0;
  eventually(
      [&] {
        named = 0;
        for (const auto& r : env_records(o.pid, CF_ENV_GETENV, 1, 0ms)) named += r.str == kApiKey;
        return named >= 2;
      },
      2000ms);
  EXPECT_EQ(named, 2u) << "one record before the exec and one after it";
  expect_in_no_record(kApiValue);
}

// SipHash-2-4 as OpenSSL computes it: the reference the kernel's fingerprint must equal.
uint64_t siphash_reference(const unsigned char key[16], const std::string& data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  size_t size = 8;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END};
  unsigned char out[8] = {};
  size_t outl = 0;
  EVP_MAC_init(ctx, key, 16, params);
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MAC_final(ctx, out, &outl, sizeof(out));
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  uint64_t v = 0;
  std::memcpy(&v, out, 8);  // little endian, as SipHash defines its output
  return v;
}

// A read's record may carry a keyed fingerprint of the value: equal for equal values, different
// otherwise, equal to SipHash-2-4 under the host's key, and the value itself in no record.
TEST_P(EnvTest, ValuesAreFingerprintedNeverCopied) {
  start();
  attach_libc();
  unsigned char key[16];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<unsigned char>(0x10 + 7 * i);
  ASSERT_EQ(env::install_key(sensor_->map_fd("env_fp_key"), key), "");
  static const std::string kLong(200, 'x');  // several SipHash blocks and a tail
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    setenv("CF_FP_A_API_KEY", "same-value-123", 1);
    setenv("CF_FP_B_API_KEY", "same-value-123", 1);
    setenv("CF_FP_C_API_KEY", "other-value-45", 1);
    setenv("CF_FP_D_API_KEY", kLong.c_str(), 1);
    setenv("CF_FP_E_API_KEY", "", 1);
    for (const char* n : {"CF_FP_A_API_KEY", "CF_FP_B_API_KEY", "CF_FP_C_API_KEY", "CF_FP_D_API_KEY", "CF_FP_E_API_KEY",
                          "CF_FP_UNSET_API_KEY"}) {
      volatile const char* sink = getenv(n);
      (void)sink;
    }
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  auto recs = env_records(o.pid, CF_ENV_GETENV, 6);
  std::map<std::string, const EnvRecord*> by_name;
  for (const auto& r : recs) by_name[r.str] = &r;
  for (const char* n : {"CF_FP_A_API_KEY", "CF_FP_B_API_KEY", "CF_FP_C_API_KEY", "CF_FP_D_API_KEY", "CF_FP_E_API_KEY"}) {
    ASSERT_TRUE(by_name.count(n)) << n;
    EXPECT_TRUE(by_name[n]->rec.flags & CF_ENV_FINGERPRINT) << n;
  }
  const uint64_t a = by_name["CF_FP_A_API_KEY"]->rec.fingerprint;
  EXPECT_EQ(a, by_name["CF_FP_B_API_KEY"]->rec.fingerprint);
  EXPECT_NE(a, by_name["CF_FP_C_API_KEY"]->rec.fingerprint);
  EXPECT_EQ(a, siphash_reference(key, "same-value-123"));
  EXPECT_EQ(by_name["CF_FP_C_API_KEY"]->rec.fingerprint, siphash_reference(key, "other-value-45"));
  EXPECT_EQ(by_name["CF_FP_D_API_KEY"]->rec.fingerprint, siphash_reference(key, kLong));
  EXPECT_EQ(by_name["CF_FP_E_API_KEY"]->rec.fingerprint, siphash_reference(key, ""));
  ASSERT_TRUE(by_name.count("CF_FP_UNSET_API_KEY"));
  EXPECT_FALSE(by_name["CF_FP_UNSET_API_KEY"]->rec.flags & CF_ENV_FINGERPRINT);
  expect_in_no_record("same-value-123");
  expect_in_no_record("other-value-45");
}

TEST_P(EnvTest, ExecHandsOverNamesNeverValues) {
  start();
  const std::string bin = "/usr/bin/env";
  Outcome o = run_child(cg_.get(), sensor_.get(), [&] {
    std::string secret = std::string("OPENAI_API_KEY=") + kExecValue;
    std::string path = "PATH=/usr/bin:/bin", empty = "EMPTY=", bare = "NOEQUALS", nameless = "=novalue",
                two = "A=B=C";
    char* envp[] = {secret.data(), path.data(), empty.data(), bare.data(), nameless.data(), two.data(), nullptr};
    execle(bin.c_str(), "env", static_cast<char*>(nullptr), envp);
    _exit(127);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  ASSERT_NE(o.out.find(kExecValue), std::string::npos) << "env did not get the variable: " << o.out;

  auto recs = env_records(o.pid, CF_ENV_EXEC);
  ASSERT_EQ(recs.size(), 1u);
  const EnvRecord& e = recs[0];
  EXPECT_EQ(e.rec.flags, 0u);
  EXPECT_EQ(e.rec.folded, 0u);
  EXPECT_EQ(e.rec.strs.flags[0], 0);
  ASSERT_FALSE(e.str.empty());
  EXPECT_EQ(e.str.back(), '\0') << "each name ends in a NUL";
  EXPECT_EQ(split_names(e.str), (std::vector<std::string>{"OPENAI_API_KEY", "PATH", "EMPTY", "NOEQUALS", "A"}));
  expect_in_no_record(kExecValue);
  expect_in_no_record("/usr/bin:/bin");

  // after the exec record of the same process
  auto execs = records_of(o.pid, CF_OP_EXEC);
  ASSERT_EQ(execs.size(), 1u);
  cf_hdr h{};
  std::memcpy(&h, execs[0].data(), sizeof(h));
  EXPECT_LE(h.ts_ns, e.rec.hdr.ts_ns);
}

// With the host's key set, an exec's record also carries each value's fingerprint and length
// (never the value), one per name in order: the known vector (key 00..0f) gives the constant the
// agent's own fingerprint gives (tests/unit/redactor_test.cpp), a long value's covers its first
// 255 bytes, a name with no '=' and an empty value have the empty value's.
TEST_P(EnvTest, ExecFingerprintsEachValueNeverCopiesIt) {
  start();
  unsigned char key[16];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<unsigned char>(i);
  ASSERT_EQ(env::install_key(sensor_->map_fd("env_fp_key"), key), "");
  static const std::string kKnown = "clawfence-known-vector-0123456789", kLong(300, 'L');
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    std::string known = "OPENAI_API_KEY=" + kKnown, long_value = "LONG_TOKEN=" + kLong, path = "PATH=/usr/bin:/bin",
                empty = "EMPTY=", bare = "NOEQUALS", nameless = "=novalue", two = "A=B=C";
    char* envp[] = {known.data(), long_value.data(), path.data(), empty.data(), bare.data(), nameless.data(),
                    two.data(), nullptr};
    execle("/usr/bin/env", "env", static_cast<char*>(nullptr), envp);
    _exit(127);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  auto recs = env_records(o.pid, CF_ENV_EXEC);
  ASSERT_EQ(recs.size(), 1u);
  const EnvRecord& e = recs[0];
  EXPECT_EQ(e.rec.flags, static_cast<uint32_t>(CF_ENV_VALUES));
  EXPECT_EQ(e.rec.strs.flags[1], 0);
  const auto names = split_names(e.str);
  ASSERT_EQ(names, (std::vector<std::string>{"OPENAI_API_KEY", "LONG_TOKEN", "PATH", "EMPTY", "NOEQUALS", "A"}));
  const auto v = values_of(e);
  ASSERT_EQ(v.size(), names.size());
  EXPECT_EQ(v[0].fingerprint, 0xaa97ad4d3fdf8cb8ull) << "the known vector";
  EXPECT_EQ(v[0].fingerprint, siphash_reference(key, kKnown));
  EXPECT_EQ(v[0].len, kKnown.size());
  EXPECT_EQ(v[1].fingerprint, siphash_reference(key, kLong.substr(0, 255)));
  EXPECT_EQ(v[1].len, 300u);
  EXPECT_EQ(v[2].fingerprint, siphash_reference(key, "/usr/bin:/bin"));
  EXPECT_EQ(v[2].len, 13u);
  EXPECT_EQ(v[3].fingerprint, siphash_reference(key, ""));
  EXPECT_EQ(v[3].len, 0u);
  EXPECT_EQ(v[4].fingerprint, siphash_reference(key, ""));
  EXPECT_EQ(v[5].fingerprint, siphash_reference(key, "B=C"));
  EXPECT_EQ(v[5].len, 3u);
  expect_in_no_record(kKnown);
  expect_in_no_record(kLong.substr(0, 64));
  expect_in_no_record("/usr/bin:/bin");

  // decoded: each name paired with its value's fingerprint, for the agent's redaction only
  sensor::DecodedRecord d;
  for (const auto& r : records_of(o.pid, CF_OP_ENV)) {
    ASSERT_EQ(sensor::decode_record(r.data(), r.size(), sensor::BootClock(0), d), sensor::DecodeStatus::kOk);
    ASSERT_EQ(d.env_values.size(), 6u);
    EXPECT_EQ(d.env_values[0].name, "OPENAI_API_KEY");
    EXPECT_EQ(d.env_values[0].fingerprint, 0xaa97ad4d3fdf8cb8ull);
    EXPECT_EQ(d.event.env().fingerprint(), "") << "not part of the event";
  }
}

// More names than CF_ENV_VALUES_MAX: the values stop there, and string 1 says it was cut.
TEST_P(EnvTest, ExecValuesAreCutAtTheirLimit) {
  start();
  unsigned char key[16] = {1};
  ASSERT_EQ(env::install_key(sensor_->map_fd("env_fp_key"), key), "");
  constexpr int kVars = 300;  // short names: all of them fit CF_ENV_NAMES_MAX
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    static std::vector<std::string> vars;
    static std::vector<char*> envp;
    char buf[32];
    for (int i = 0; i < kVars; ++i) {
      std::snprintf(buf, sizeof(buf), "V%03d=%d", i, i);
      vars.emplace_back(buf);
    }
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    execle("/bin/true", "true", static_cast<char*>(nullptr), envp.data());
    _exit(127);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  auto recs = env_records(o.pid, CF_ENV_EXEC);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(split_names(recs[0].str).size(), static_cast<size_t>(kVars));
  const auto v = values_of(recs[0]);
  ASSERT_EQ(v.size(), static_cast<size_t>(CF_ENV_VALUES_MAX));
  EXPECT_EQ(recs[0].rec.strs.flags[1], CF_STR_TRUNCATED);
  EXPECT_EQ(v[255].fingerprint, siphash_reference(key, "255"));
}

TEST_P(EnvTest, ExecNamesAreCutAtTheLimitOnANameBoundary) {
  start();
  constexpr int kVars = 300;
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    static std::vector<std::string> vars;
    static std::vector<char*> envp;
    char buf[64];
    for (int i = 0; i < kVars; ++i) {
      std::snprintf(buf, sizeof(buf), "CF_LONG_NAME_VARIABLE_%03d=v%03d", i, i);
      vars.emplace_back(buf);
    }
    vars.push_back(std::string("OPENAI_API_KEY=") + kExecValue);
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    execle("/bin/true", "true", static_cast<char*>(nullptr), envp.data());
    _exit(127);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  auto recs = env_records(o.pid, CF_ENV_EXEC);
  ASSERT_EQ(recs.size(), 1u);
  const EnvRecord& e = recs[0];
  EXPECT_EQ(e.rec.flags, static_cast<uint32_t>(CF_ENV_TRUNCATED));
  EXPECT_EQ(e.rec.strs.flags[0], CF_STR_TRUNCATED);
  ASSERT_LE(e.str.size(), static_cast<size_t>(CF_ENV_NAMES_MAX));
  EXPECT_EQ(e.str.back(), '\0');
  auto names = split_names(e.str);
  const size_t per_name = std::strlen("CF_LONG_NAME_VARIABLE_000") + 1;
  ASSERT_EQ(names.size(), CF_ENV_NAMES_MAX / per_name) << "as many whole names as fit";
  char want[64];
  for (size_t i = 0; i < names.size(); ++i) {
    std::snprintf(want, sizeof(want), "CF_LONG_NAME_VARIABLE_%03zu", i);
    EXPECT_EQ(names[i], want);
  }
  expect_in_no_record(kExecValue);
}

TEST_P(EnvTest, PtraceSeizeAndAttachAreReportedWithTheirTarget) {
  start();
  constexpr pid_t kNoSuchPid = 0x3fffffff;  // above any pid_max: ESRCH
  Outcome o = run_child(cg_.get(), sensor_.get(), [] {
    pid_t victim = fork();
    if (victim == 0) {
      alarm(10);
      for (;;) pause();
    }
    long seize = ptrace(PTRACE_SEIZE, victim, nullptr, nullptr);
    int seize_errno = seize ? errno : 0;
    long interrupt = ptrace(PTRACE_INTERRUPT, victim, nullptr, nullptr);  // not an attach: no record
    long attach = ptrace(PTRACE_ATTACH, kNoSuchPid, nullptr, nullptr);
    int attach_errno = attach ? errno : 0;
    kill(victim, SIGKILL);
    waitpid(victim, nullptr, 0);
    dprintf(1, "victim=%d seize=%d interrupt=%ld attach=%d\n", victim, seize_errno, interrupt, attach_errno);
  });
  ASSERT_TRUE(o.exited_ok()) << o.status;
  int victim = 0, seize_errno = -1, attach_errno = -1;
  long interrupt = -1;
  ASSERT_EQ(std::sscanf(o.out.c_str(), "victim=%d seize=%d interrupt=%ld attach=%d", &victim, &seize_errno, &interrupt,
                        &attach_errno),
            4)
      << o.out;
  ASSERT_EQ(seize_errno, 0) << "PTRACE_SEIZE of an own child failed: " << std::strerror(seize_errno);
  EXPECT_EQ(interrupt, 0);
  EXPECT_EQ(attach_errno, ESRCH);

  auto recs = env_records(o.pid, CF_ENV_PTRACE, 2);
  ASSERT_EQ(recs.size(), 2u) << "seize and attach; the interrupt is not an attach";
  EXPECT_EQ(recs[0].rec.target, static_cast<uint32_t>(victim));
  EXPECT_EQ(recs[0].rec.result, 0);
  EXPECT_EQ(recs[0].rec.flags, static_cast<uint32_t>(CF_ENV_RESULT));
  EXPECT_EQ(recs[0].rec.strs.len[0], 0);
  EXPECT_EQ(recs[1].rec.target, static_cast<uint32_t>(kNoSuchPid));
  EXPECT_EQ(recs[1].rec.result, -ESRCH);
  EXPECT_EQ(recs[1].rec.hdr.tgid, static_cast<uint32_t>(o.pid));
}

INSTANTIATE_TEST_SUITE_P(Hooks, EnvTest,
                         ::testing::Values(sensor::SyscallHooks::kTracepoints, sensor::SyscallHooks::kFentry),
                         hook_name);

}  // namespace
}  // namespace clawfence::testing
