// Kernel tier: addresses learned from DNS answers (bpf/net/dns.bpf.c). The real object is
// started through the Sensor with its cgroup hooks on a cgroup the test creates; a tracked child
// in that cgroup asks a fake DNS server the test runs on a loopback address, port 53, which
// answers with crafted packets; the test then reads guard_addrs and the counters.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clawfence/abi.h"
#include "enforce/names.h"
#include "guard_fixture.h"
#include "harness.h"
#include "sensor/sensor.h"

namespace clawfence::testing {
namespace {

using Bytes = std::vector<uint8_t>;

// Not 127.0.0.53 (systemd-resolved may hold it): any 127/8 address is loopback on Linux.
constexpr const char* kServer = "127.53.0.1";
constexpr uint64_t kMinTtlNs = 30'000'000'000ull;
constexpr uint64_t kSecond = 1'000'000'000ull;

// ---- crafting DNS messages ---------------------------------------------------------------------

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Labels as given (a label may hold any byte, '.' included), then the root.
Bytes labels(const std::vector<std::string>& ls) {
  Bytes b;
  for (const auto& l : ls) {
    b.push_back(static_cast<uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
  return b;
}

Bytes wire_name(const std::string& dotted) {
  std::vector<std::string> ls;
  for (size_t start = 0;;) {
    size_t dot = dotted.find('.', start);
    ls.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return labels(ls);
}

Bytes ptr(uint16_t off) { return {static_cast<uint8_t>(0xc0 | off >> 8), static_cast<uint8_t>(off)}; }

constexpr uint16_t kA = 1, kCname = 5, kAaaa = 28, kIn = 1;
constexpr uint16_t kAnswerFlags = 0x8180;  // QR, RD, RA, NOERROR

struct Rr {
  Bytes owner = ptr(12);  // the question's name
  uint16_t type = kA;
  uint16_t klass = kIn;
  uint32_t ttl = 5;
  Bytes rdata;
};

Bytes ipv4(const char* text) {
  Bytes b(4);
  inet_pton(AF_INET, text, b.data());
  return b;
}

Bytes ipv6(const char* text) {
  Bytes b(16);
  inet_pton(AF_INET6, text, b.data());
  return b;
}

Bytes rr_bytes(const Rr& r) {
  Bytes b = r.owner;
  put16(b, r.type);
  put16(b, r.klass);
  put32(b, r.ttl);
  put16(b, static_cast<uint16_t>(r.rdata.size()));
  return cat(b, r.rdata);
}

// A response: header, one question (already in wire form), answers. Counts are as given.
Bytes message(const Bytes& qname, const std::vector<Rr>& answers, uint16_t flags = kAnswerFlags,
              uint16_t qdcount = 1, std::optional<uint16_t> ancount = std::nullopt) {
  Bytes b;
  put16(b, 0x1234);
  put16(b, flags);
  put16(b, qdcount);
  put16(b, ancount ? *ancount : static_cast<uint16_t>(answers.size()));
  put16(b, 0);
  put16(b, 0);
  b = cat(b, qname);
  put16(b, kA);
  put16(b, kIn);
  for (const auto& r : answers) b = cat(b, rr_bytes(r));
  return b;
}

Bytes answer(const std::string& qname, const std::vector<Rr>& answers) {
  return message(wire_name(qname), answers);
}

Rr a_record(const char* addr, uint32_t ttl = 5) { return Rr{ptr(12), kA, kIn, ttl, ipv4(addr)}; }

// ---- guard_addrs keys --------------------------------------------------------------------------

cf_addr_key v4_key(const char* text) {
  cf_addr_key k{};
  k.addr[10] = k.addr[11] = 0xff;
  inet_pton(AF_INET, text, k.addr + 12);
  return k;
}

cf_addr_key v6_key(const char* text) {
  cf_addr_key k{};
  inet_pton(AF_INET6, text, k.addr);
  return k;
}

uint64_t boot_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kSecond + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- the child and the fake server -------------------------------------------------------------

enum class Proto { kUdp, kTcp };

sockaddr_in server_addr() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  inet_pton(AF_INET, kServer, &a.sin_addr);
  return a;
}

// The child: asks the server over its own (tracked) socket and waits for the answer.
[[noreturn]] void ask(Proto proto) {
  int fd = socket(AF_INET, proto == Proto::kUdp ? SOCK_DGRAM : SOCK_STREAM, 0);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in srv = server_addr();
  if (connect(fd, reinterpret_cast<sockaddr*>(&srv), sizeof(srv)) != 0) _exit(3);
  const uint8_t query[] = {0, 12, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  // over TCP the 2-byte length goes first; over UDP only the (dummy) message
  const uint8_t* q = proto == Proto::kTcp ? query : query + 2;
  size_t qlen = proto == Proto::kTcp ? sizeof(query) : sizeof(query) - 2;
  if (send(fd, q, qlen, 0) != static_cast<ssize_t>(qlen)) _exit(4);
  uint8_t buf[4096];
  _exit(recv(fd, buf, sizeof(buf), 0) > 0 ? 0 : 5);
}

class DnsGuardTest : public ::testing::Test, protected GuardFixture {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs, binds port 53): skipped";
    udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = server_addr();
    if (bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(tcp_, 4) != 0)
      GTEST_SKIP() << "cannot run a fake DNS server on " << kServer << ":53 (" << std::strerror(errno)
                   << "): skipped";
    timeval tv{5, 0};
    setsockopt(udp_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    sensor::SensorOptions o;
    o.ringbuf_bytes = ringbuf_bytes();
    start_sensor("dns", o);
    names_fd_ = sensor_->map_fd("guard_names");
    addrs_fd_ = sensor_->map_fd("guard_addrs");
    ASSERT_GE(sensor_->map_fd("guard_config"), 0);
    ASSERT_GE(names_fd_, 0);
    ASSERT_GE(addrs_fd_, 0);
    // Monitor mode: learning happens in every mode, and nothing here may be refused.
    cf_guard_config cfg{};
    cfg.mode = CF_MODE_MONITOR;
    cfg.flags = CF_GUARD_ACTIVE;
    cfg.dns_min_ttl_ns = kMinTtlNs;
    write_guard_config(cfg);
    set_names({{"api.example.test", 1ull << 3},
               {"v6.example.test", 1ull << 4},
               {"cdn.example.test", 1ull << 1},
               {"*.slack.test", 1ull << 5},
               {"files.slack.test", 1ull << 7},
               {"*.long.test", 1ull << 9},
               {"other.test", 1ull << 8}});
    if (!read_records()) return;
    collect_records();
  }

  virtual uint32_t ringbuf_bytes() const { return 1u << 20; }
  virtual bool read_records() const { return true; }

  void TearDown() override {
    stop_sensor();
    if (udp_ >= 0) close(udp_);
    if (tcp_ >= 0) close(tcp_);
  }

  void set_names(const std::vector<std::pair<std::string, uint64_t>>& hosts) {
    enforce::NameTable t;
    ASSERT_EQ(enforce::compile_names(hosts, &t), "");
    ASSERT_EQ(enforce::write_names(names_fd_, t), "");
  }

  // A tracked child in the test cgroup asks; the server answers `reply` (its first two bytes
  // replaced by the query's id over UDP). Returns the child's pid once it has the answer.
  pid_t exchange(const Bytes& reply, Proto proto = Proto::kUdp) {
    Outcome o = run_child(cg_.get(), sensor_.get(), [proto] { ask(proto); }, [&] {
      if (proto == Proto::kUdp)
        serve_udp(reply);
      else
        serve_tcp(reply);
    });
    EXPECT_TRUE(o.exited_ok()) << "the child did not get its answer: " << o.status;
    return o.pid;
  }

  void serve_udp(const Bytes& reply) {
    uint8_t q[512];
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(udp_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    ASSERT_GT(n, 0) << "no query: " << std::strerror(errno);
    EXPECT_EQ(sendto(udp_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen),
              static_cast<ssize_t>(reply.size()));
  }

  // One write: the length prefix and the whole answer go in the first segment with data.
  void serve_tcp(const Bytes& reply) {
    pollfd p{tcp_, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "no connection";
    int c = accept(tcp_, nullptr, nullptr);
    ASSERT_GE(c, 0);
    uint8_t q[512];
    EXPECT_GT(recv(c, q, sizeof(q), 0), 0);
    Bytes framed;
    put16(framed, static_cast<uint16_t>(reply.size()));
    framed = cat(framed, reply);
    EXPECT_EQ(send(c, framed.data(), framed.size(), 0), static_cast<ssize_t>(framed.size()));
    close(c);
  }

  std::optional<cf_addr_val> learned(const cf_addr_key& k) const {
    cf_addr_val v{};
    if (bpf_map_lookup_elem(addrs_fd_, &k, &v) != 0) return std::nullopt;
    return v;
  }

  size_t learned_count() const {
    size_t n = 0;
    cf_addr_key cur{}, next{};
    for (const void* prev = nullptr; bpf_map_get_next_key(addrs_fd_, prev, &next) == 0; prev = &cur) {
      cur = next;
      ++n;
    }
    return n;
  }

  uint64_t counter(cf_counter c) const { return sensor_->counters()[c]; }

  // The CF_OP_DNS records copied for `pid` (the ring buffer path, unchanged by learning).
  std::vector<std::string> dns_records_of(pid_t pid) {
    sensor_->stop_reader();
    return records_of(pid, CF_OP_DNS);
  }

  int udp_ = -1, tcp_ = -1;
  int names_fd_ = -1, addrs_fd_ = -1;
};

TEST_F(DnsGuardTest, LearnsTheAddressesOfAnApprovedName) {
  uint64_t before = boot_ns();
  Bytes reply = answer("api.example.test", {a_record("10.1.2.3", 5), a_record("10.1.2.4", 3600)});
  pid_t pid = exchange(reply);
  uint64_t after = boot_ns();

  auto short_ttl = learned(v4_key("10.1.2.3"));
  ASSERT_TRUE(short_ttl) << "the A record was not learned";
  EXPECT_EQ(short_ttl->rules, 1ull << 3);
  // a 5 s TTL lives the minimum instead
  EXPECT_GE(short_ttl->expires_ns, before + kMinTtlNs);
  EXPECT_LE(short_ttl->expires_ns, after + kMinTtlNs);
  auto long_ttl = learned(v4_key("10.1.2.4"));
  ASSERT_TRUE(long_ttl);
  EXPECT_EQ(long_ttl->rules, 1ull << 3);
  EXPECT_GE(long_ttl->expires_ns, before + 3600 * kSecond);
  EXPECT_LE(long_ttl->expires_ns, after + 3600 * kSecond);
  EXPECT_EQ(learned_count(), 2u);
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 2u);
  EXPECT_EQ(counter(CF_CNT_DNS_LEARN_FAILED), 0u);

  // The answer is still copied into the ring buffer, whole.
  auto recs = dns_records_of(pid);
  ASSERT_EQ(recs.size(), 1u);
  cf_dns d{};
  std::memcpy(&d, recs[0].data(), std::min(recs[0].size(), sizeof(d)));
  EXPECT_EQ(d.len, reply.size());
  EXPECT_EQ(std::memcmp(d.data, reply.data(), reply.size()), 0);
}

TEST_F(DnsGuardTest, LearnsAaaaRecords) {
  exchange(answer("v6.example.test", {Rr{ptr(12), kAaaa, kIn, 120, ipv6("2001:db8::17")}}));
  auto v = learned(v6_key("2001:db8::17"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rules, 1ull << 4);
  EXPECT_EQ(learned_count(), 1u);
}

// The question is approved; the chain it resolves through is not looked at, and the address
// at the end of it is learned under the question's rules.
TEST_F(DnsGuardTest, CnameChainIsLearnedUnderTheQuestion) {
  Bytes q = wire_name("cdn.example.test");
  uint16_t target = static_cast<uint16_t>(12 + q.size() + 4 + 2 + 10);  // the first CNAME's rdata
  Bytes reply = message(q, {Rr{ptr(12), kCname, kIn, 60, wire_name("edge.provider.net")},
                            Rr{ptr(target), kCname, kIn, 60, cat(Bytes{4, 'e', 'd', 'g', 'e'}, ptr(target))},
                            Rr{wire_name("edge.edge.provider.net"), kA, kIn, 60, ipv4("10.3.0.1")}});
  exchange(reply);
  auto v = learned(v4_key("10.3.0.1"));
  ASSERT_TRUE(v) << "the address at the end of the chain was not learned";
  EXPECT_EQ(v->rules, 1ull << 1);
  EXPECT_EQ(learned_count(), 1u);  // CNAME data is never taken for an address
}

TEST_F(DnsGuardTest, WildcardsApproveNamesStrictlyBelow) {
  exchange(answer("a.b.slack.test", {a_record("10.5.0.1")}));
  exchange(answer("files.slack.test", {a_record("10.5.0.2")}));
  exchange(answer("slack.test", {a_record("10.5.0.3")}));        // "*.slack.test" is not slack.test
  exchange(answer("evilslack.test", {a_record("10.5.0.4")}));    // not at a label boundary
  exchange(answer("slack.test.evil", {a_record("10.5.0.5")}));  // a prefix is not a parent
  auto below = learned(v4_key("10.5.0.1"));
  ASSERT_TRUE(below);
  EXPECT_EQ(below->rules, 1ull << 5);
  auto both = learned(v4_key("10.5.0.2"));
  ASSERT_TRUE(both);
  EXPECT_EQ(both->rules, (1ull << 5) | (1ull << 7));
  EXPECT_FALSE(learned(v4_key("10.5.0.3")));
  EXPECT_FALSE(learned(v4_key("10.5.0.4")));
  EXPECT_FALSE(learned(v4_key("10.5.0.5")));
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 2u);
}

TEST_F(DnsGuardTest, UnapprovedNamesTeachNothing) {
  exchange(answer("evil.test", {a_record("10.6.0.1")}));
  exchange(answer("example.test", {a_record("10.6.0.2")}));        // only api. and v6. are approved
  exchange(answer("x.api.example.test", {a_record("10.6.0.3")}));  // exact names have no children
  exchange(answer("api.example.tes", {a_record("10.6.0.4")}));
  EXPECT_EQ(learned_count(), 0u);
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 0u);
}

TEST_F(DnsGuardTest, QuestionCaseDoesNotMatter) {
  exchange(answer("API.Example.TEST", {a_record("10.7.0.1")}));
  exchange(answer("X.SLACK.Test", {a_record("10.7.0.2")}));
  auto exact = learned(v4_key("10.7.0.1"));
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->rules, 1ull << 3);
  auto sub = learned(v4_key("10.7.0.2"));
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->rules, 1ull << 5);
}

// Names as long as a policy can hold (253) are read; longer ones are given up on, as
// policy::HostSet gives up on them.
TEST_F(DnsGuardTest, NameLengthLimit) {
  auto name_of_length = [](size_t n) {
    const std::string parent = ".long.test";
    size_t front_len = n - parent.size();  // the labels before it, with their dots
    std::string front;
    while (front_len - front.size() > 64) front += std::string(63, 'a') + ".";
    front += std::string(front_len - front.size(), 'b');
    return front + parent;
  };
  std::string ok = name_of_length(253), too_long = name_of_length(254);
  ASSERT_EQ(ok.size(), 253u);
  ASSERT_EQ(too_long.size(), 254u);
  ASSERT_LE(wire_name(too_long).size(), 256u);
  exchange(answer(ok, {a_record("10.8.0.1")}));
  exchange(answer(too_long, {a_record("10.8.0.2")}));
  auto v = learned(v4_key("10.8.0.1"));
  ASSERT_TRUE(v) << "a 253-byte name under an approved wildcard was not learned";
  EXPECT_EQ(v->rules, 1ull << 9);
  EXPECT_FALSE(learned(v4_key("10.8.0.2")));
}

// Each of these carries an A record for an approved question but is not an answer the kernel
// may trust, or is cut before the record ends. None may teach anything; the program keeps
// working afterwards.
TEST_F(DnsGuardTest, MalformedAnswersTeachNothing) {
  Bytes good = answer("api.example.test", {a_record("10.9.0.1")});
  Bytes q = wire_name("api.example.test");
  size_t header_and_question = 12 + q.size() + 4;
  std::vector<std::pair<std::string, Bytes>> bad = {
      {"header only", Bytes(good.begin(), good.begin() + 12)},
      {"cut in the question name", Bytes(good.begin(), good.begin() + 18)},
      {"cut after the question", Bytes(good.begin(), good.begin() + header_and_question)},
      {"cut in the record's fixed part", Bytes(good.begin(), good.begin() + header_and_question + 8)},
      {"cut in the address", Bytes(good.begin(), good.end() - 2)},
      {"a query, not an answer", message(q, {a_record("10.9.0.1")}, 0x0100)},
      {"NXDOMAIN", message(q, {a_record("10.9.0.1")}, 0x8183)},
      {"opcode not QUERY", message(q, {a_record("10.9.0.1")}, 0x8980)},
      {"two questions", message(q, {a_record("10.9.0.1")}, kAnswerFlags, 2)},
      {"no question", message(q, {a_record("10.9.0.1")}, kAnswerFlags, 0)},
      {"ANCOUNT 0", message(q, {a_record("10.9.0.1")}, kAnswerFlags, 1, 0)},
      {"compressed question", message(cat(Bytes{3, 'a', 'p', 'i'}, ptr(12)), {a_record("10.9.0.1")})},
      {"dot inside a label", message(labels({"api.example", "test"}), {a_record("10.9.0.1")})},
      {"NUL inside a label", message(labels({"api", "example", std::string("test\0x", 6)}), {a_record("10.9.0.1")})},
      {"space inside a label", message(labels({"api", "example", "te st"}), {a_record("10.9.0.1")})},
      {"reserved label type", message(cat(Bytes{0x41}, Bytes(65, 'a')), {a_record("10.9.0.1")})},
      {"root name", message(Bytes{0}, {a_record("10.9.0.1")})},
      {"A with 5 bytes", message(q, {Rr{ptr(12), kA, kIn, 5, {10, 9, 0, 1, 0}}})},
      {"AAAA with 4 bytes", message(q, {Rr{ptr(12), kAaaa, kIn, 5, ipv4("10.9.0.1")}})},
      {"class CH", message(q, {Rr{ptr(12), kA, 3, 5, ipv4("10.9.0.1")}})},
      {"rdlength past the end", [&] {
         Bytes b = good;
         b[b.size() - 5] = 0x10;  // rdlength 4 -> 16
         return b;
       }()},
      {"owner name cut", [&] {
         Bytes b = message(q, {});
         b[7] = 1;  // ANCOUNT 1, and an owner name that runs off the end
         return cat(b, Bytes{7, 'e', 'x'});
       }()},
  };
  for (const auto& [what, reply] : bad) {
    SCOPED_TRACE(what);
    exchange(reply);
    EXPECT_EQ(learned_count(), 0u);
  }
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 0u);
  exchange(good);
  EXPECT_TRUE(learned(v4_key("10.9.0.1"))) << "a good answer after the bad ones was not learned";
}

// Records are learned as they are read: the complete ones before a fault were sent by the server
// for the approved question like the rest. The walk stops at the fault and at 32 records.
TEST_F(DnsGuardTest, RecordsBeforeAFaultAndTheRecordLimit) {
  Bytes cut = answer("api.example.test", {a_record("10.10.0.1"), a_record("10.10.0.2")});
  cut.resize(cut.size() - 1);
  exchange(cut);
  EXPECT_TRUE(learned(v4_key("10.10.0.1")));
  EXPECT_FALSE(learned(v4_key("10.10.0.2")));

  std::vector<Rr> many;
  for (int i = 0; i < 40; ++i) many.push_back(a_record(("10.11.0." + std::to_string(i)).c_str()));
  exchange(answer("api.example.test", many));
  EXPECT_TRUE(learned(v4_key("10.11.0.31")));
  EXPECT_FALSE(learned(v4_key("10.11.0.32")));
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 33u);
}

// Other record types between the addresses (with and without compressed owners) are skipped
// correctly, whatever their data holds.
TEST_F(DnsGuardTest, OtherRecordsAreSkipped) {
  Bytes reply = answer("api.example.test",
                       {Rr{ptr(12), 16 /* TXT */, kIn, 5, Bytes{3, 1, 0, 0}},
                        Rr{wire_name("api.example.test"), kA, kIn, 5, ipv4("10.12.0.1")},
                        Rr{cat(Bytes{1, 'x'}, ptr(12)), 65 /* HTTPS */, kIn, 5, Bytes(40, 0xc0)},
                        Rr{ptr(12), kA, kIn, 5, ipv4("10.12.0.2")}});
  exchange(reply);
  EXPECT_TRUE(learned(v4_key("10.12.0.1")));
  EXPECT_TRUE(learned(v4_key("10.12.0.2")));
  EXPECT_EQ(learned_count(), 2u);
}

TEST_F(DnsGuardTest, AnAddressOfSeveralNamesKeepsEveryRuleAndTheLaterExpiry) {
  exchange(answer("api.example.test", {a_record("10.13.0.1", 3600)}));
  auto first = learned(v4_key("10.13.0.1"));
  ASSERT_TRUE(first);
  exchange(answer("other.test", {a_record("10.13.0.1", 5)}));
  auto merged = learned(v4_key("10.13.0.1"));
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->rules, (1ull << 3) | (1ull << 8));
  EXPECT_EQ(merged->expires_ns, first->expires_ns);  // the shorter TTL does not shorten it
}

TEST_F(DnsGuardTest, LearnsFromTheFirstTcpSegment) {
  exchange(answer("api.example.test", {a_record("10.14.0.1")}), Proto::kTcp);
  auto v = learned(v4_key("10.14.0.1"));
  ASSERT_TRUE(v) << "the answer over TCP was not learned";
  EXPECT_EQ(v->rules, 1ull << 3);
}

TEST_F(DnsGuardTest, NothingIsLearnedWithoutAnActivePolicy) {
  cf_guard_config cfg{};
  cfg.dns_min_ttl_ns = kMinTtlNs;
  write_guard_config(cfg);
  exchange(answer("api.example.test", {a_record("10.15.0.1")}));
  EXPECT_EQ(learned_count(), 0u);
}

// Nobody reads a one-page ring buffer: after a few answers their records are lost, and their
// addresses are learned all the same.
class DnsGuardFullRingTest : public DnsGuardTest {
 protected:
  uint32_t ringbuf_bytes() const override { return 4096; }
  bool read_records() const override { return false; }
};

TEST_F(DnsGuardFullRingTest, LearningDoesNotNeedRoomInTheRingBuffer) {
  for (int i = 1; i <= 6; ++i)
    exchange(answer("api.example.test", {a_record(("10.17.0." + std::to_string(i)).c_str())}));
  EXPECT_GT(counter(CF_CNT_RINGBUF_FULL), 0u) << "the ring buffer never filled: the test proves nothing";
  EXPECT_EQ(learned_count(), 6u);
  EXPECT_EQ(counter(CF_CNT_DNS_LEARNED), 6u);
}

TEST_F(DnsGuardTest, RewritingTheNamesDropsTheOldOnes) {
  set_names({{"new.test", 1ull << 2}});
  exchange(answer("api.example.test", {a_record("10.16.0.1")}));
  exchange(answer("new.test", {a_record("10.16.0.2")}));
  EXPECT_FALSE(learned(v4_key("10.16.0.1")));
  auto v = learned(v4_key("10.16.0.2"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->rules, 1ull << 2);
  size_t keys = 0;
  cf_name_key cur{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(names_fd_, prev, &next) == 0; prev = &cur) {
    cur = next;
    ++keys;
  }
  EXPECT_EQ(keys, 1u);
}

}  // namespace
}  // namespace clawfence::testing
