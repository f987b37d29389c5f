// Redaction (process/redactor.h): secret values recognised by their keyed fingerprint wherever
// they sit in argv, paths and names; well-known credential shapes and the operator's patterns;
// the fingerprint itself equal to the kernel's (a known vector both sides are tested against:
// tests/bpf/env_test.cpp has the kernel's side).
#include "process/redactor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "env/fingerprint.h"
#include "sensor/decoder.h"

namespace clawfence::process {
namespace {

// The key both sides use in the known-vector tests: bytes 00..0f.
struct Key {
  unsigned char bytes[16];
  Key() {
    for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(i);
  }
};

constexpr char kCanary[] = "sk-canary-7f3a9e11b2c4d6e8f0a1";  // also an OpenAI key's shape
constexpr char kPlain[] = "correct-horse-battery-staple";   // no known shape: only its fingerprint

// SipHash-2-4's own test vector (key 00..0f, message 00..0e), and the value the kernel's exec scan
// must give for the known vector (tests/bpf/env_test.cpp asserts the same constant).
TEST(Fingerprint, MatchesSipHashAndTheKernelsKnownVector) {
  Key key;
  env::Fingerprinter fp(key.bytes);
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(fp(msg), 0xa129ca6149be45e5ull);
  EXPECT_EQ(fp("clawfence-known-vector-0123456789"), 0xaa97ad4d3fdf8cb8ull);
  // a value longer than 255 bytes: its first 255, as the kernel fingerprints it
  EXPECT_EQ(fp(std::string(300, 'k')), fp(std::string(255, 'k')));
  EXPECT_EQ(fp(std::string(255, 'k')), 0x236318582b0dfb03ull);
  EXPECT_NE(fp(std::string(254, 'k')), fp(std::string(255, 'k')));
}

class RedactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    r_.set_key(key_.bytes);
    fp_ = std::make_unique<env::Fingerprinter>(key_.bytes);
  }
  // What the kernel would report of a secret variable's value at exec.
  void learn_exec(const std::string& name, const std::string& value) {
    sensor::DecodedRecord rec;
    rec.env_values.push_back({name, (*fp_)(value), static_cast<uint32_t>(value.size())});
    rec.env_values.push_back({"PATH", (*fp_)("/usr/bin:/bin"), 13});  // no secret: not learned
    r_.learn(rec);
  }
  std::string redacted(std::string text, bool thorough = true) {
    r_.redact(text, thorough);
    return text;
  }
  std::vector<std::string> argv(std::vector<std::string> a) {
    r_.redact_argv(a);
    return a;
  }

  Key key_;
  Redactor r_;
  std::unique_ptr<env::Fingerprinter> fp_;
};

// Every shape a secret takes in argv: alone, after '=' or ':', in a JSON body, in a URL, run into
// other text, quoted, as a header's value.
TEST_F(RedactorTest, ASecretValueIsReplacedWhereverItSitsInArgv) {
  learn_exec("OPENAI_API_KEY", kCanary);
  learn_exec("DB_PASSWORD", kPlain);
  const std::string c = kCanary, p = kPlain;
  EXPECT_EQ(argv({"curl", "-d", "k=" + p, "http://127.0.0.1:9/"}),
            (std::vector<std::string>{"curl", "-d", "k=[REDACTED:DB_PASSWORD]", "http://127.0.0.1:9/"}));
  EXPECT_EQ(redacted(p), "[REDACTED:DB_PASSWORD]");
  EXPECT_EQ(redacted("user:" + p), "user:[REDACTED:DB_PASSWORD]");
  EXPECT_EQ(redacted("{\"k\":\"" + p + "\",\"n\":1}"), "{\"k\":\"[REDACTED:DB_PASSWORD]\",\"n\":1}");
  EXPECT_EQ(redacted("https://example.test/api/" + p + "/x?y=1"), "https://example.test/api/[REDACTED:DB_PASSWORD]/x?y=1");
  EXPECT_EQ(redacted("echo x" + p + "y"), "echo x[REDACTED:DB_PASSWORD]y") << "run into other text";
  EXPECT_EQ(redacted("'" + p + "'"), "'[REDACTED:DB_PASSWORD]'");
  EXPECT_EQ(redacted("Authorization: Bearer " + p), "Authorization: Bearer [REDACTED:DB_PASSWORD]");
  // two secrets in one element, each named
  EXPECT_EQ(redacted(p + " " + c), "[REDACTED:DB_PASSWORD] [REDACTED:OPENAI_API_KEY]");
  // the value's neighbours and other text are left as they are
  EXPECT_EQ(redacted("correct-horse-battery"), "correct-horse-battery");
  EXPECT_EQ(redacted("sh -c 'echo $DB_PASSWORD'"), "sh -c 'echo $DB_PASSWORD'");
  const auto st = r_.stats();
  EXPECT_EQ(st.known, 2u) << "PATH is no secret: never learned";
  EXPECT_GE(st.replaced, 9u);
}

// Paths and names are looked at token by token (components, labels): a secret as a component is
// found, and the same value only part of a component is left (that is what argv's thorough
// search is for).
TEST_F(RedactorTest, PathsAndNamesAreSearchedByToken) {
  learn_exec("DB_PASSWORD", kPlain);
  const std::string p = kPlain;
  EXPECT_EQ(redacted("/tmp/" + p + "/out", false), "/tmp/[REDACTED:DB_PASSWORD]/out");
  EXPECT_EQ(redacted(p + ".evil.example", false), "[REDACTED:DB_PASSWORD].evil.example");
  EXPECT_EQ(redacted("/tmp/x" + p, false), "/tmp/x" + p);
}

// A value learned from a getenv (no length known) is found by token, and from /proc/PID/environ
// by the agent's own fingerprint.
TEST_F(RedactorTest, GetenvAndEnvironValuesAreLearnedToo) {
  sensor::DecodedRecord rec;
  rec.env_values.push_back({"GITHUB_TOKEN", (*fp_)(kPlain), 0});
  r_.learn(rec);
  EXPECT_EQ(redacted(std::string("--data=") + kPlain), "--data=[REDACTED:GITHUB_TOKEN]");
  r_.learn_value("SERVICE_SECRET", "s3rv1ce-value-abcdef");
  r_.learn_value("HOME", "/home/someone-long");  // no secret name: not learned
  r_.learn_value("SHORT_TOKEN", "abc");           // too short to be compared
  EXPECT_EQ(redacted("x=s3rv1ce-value-abcdef"), "x=[REDACTED:SERVICE_SECRET]");
  EXPECT_EQ(redacted("/home/someone-long"), "/home/someone-long");
  EXPECT_EQ(r_.stats().known, 2u);
}

// Without the key, or before anything was learned, a secret of no known shape is not found:
// the fingerprint is what recognises it (the test must be able to fail).
TEST_F(RedactorTest, NothingLearnedNothingReplacedButShapes) {
  EXPECT_EQ(redacted(std::string("k=") + kPlain), std::string("k=") + kPlain);
  Redactor keyless;
  std::string t = std::string("k=") + kCanary;
  keyless.redact(t);
  EXPECT_EQ(t, "k=[REDACTED:openai-key]") << "the built-in shapes need no key";
}

TEST_F(RedactorTest, BuiltInCredentialShapes) {
  const std::string gh = "ghp_" + std::string(36, 'A');
  EXPECT_EQ(redacted("token is " + gh), "token is [REDACTED:github-token]");
  EXPECT_EQ(redacted("github_pat_" + std::string(40, 'b')), "[REDACTED:github-token]");
  EXPECT_EQ(redacted("sk-ant-api03-" + std::string(30, 'x')), "[REDACTED:anthropic-key]");
  EXPECT_EQ(redacted("sk-proj-" + std::string(30, 'Y')), "[REDACTED:openai-key]");
  EXPECT_EQ(redacted("xoxb-1234-5678-abcdefghij"), "[REDACTED:slack-token]");
  EXPECT_EQ(redacted("id=AKIAIOSFODNN7EXAMPLE"), "id=[REDACTED:aws-access-key]");
  EXPECT_EQ(redacted("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\nnext"),
            "[REDACTED:private-key]\nnext");
  EXPECT_EQ(redacted("-----BEGIN RSA PRIVATE KEY-----\nMIIEow"), "[REDACTED:private-key]") << "cut: to the end";
  EXPECT_EQ(redacted("Authorization: Basic dXNlcjpwYXNz"), "Authorization: Basic [REDACTED:authorization]");
  EXPECT_EQ(redacted("authorization: bearer abc.def"), "authorization: bearer [REDACTED:authorization]");
  EXPECT_EQ(redacted("https://x.test/?a=1&password=hunter2&b=2"), "https://x.test/?a=1&password=[REDACTED:credential]&b=2");
  EXPECT_EQ(redacted("--api_key=abc123"), "--api_key=[REDACTED:credential]");
  EXPECT_EQ(redacted("OPENAI_API_KEY=whatever"), "OPENAI_API_KEY=[REDACTED:credential]");
  EXPECT_EQ(redacted("{\"client_secret\": \"s\\\"x\"}"), "{\"client_secret\": \"[REDACTED:credential]\"}");
  EXPECT_EQ(redacted("https://bob:pa55w0rd@git.example/r.git"), "https://bob:[REDACTED:url-password]@git.example/r.git");
  // what merely looks alike is left alone
  for (const std::string same : {"task-runner-0123456789abcdefghij", "ghp_short", "/usr/lib/x86_64-linux-gnu/libssl.so",
                                 "tokenizer=fast", "password", "Bearer", "AKIA12"})
    EXPECT_EQ(redacted(same), same);
}

// `--token X`: all of X, whatever it is; curl's `-u user:password`: the password.
TEST_F(RedactorTest, ArgvFlagsThatTakeASecret) {
  EXPECT_EQ(argv({"gh", "--token", "abc", "--repo", "x"}),
            (std::vector<std::string>{"gh", "--token", "[REDACTED:flag-value]", "--repo", "x"}));
  EXPECT_EQ(argv({"mysql", "--password", "pw", "-h", "db"}),
            (std::vector<std::string>{"mysql", "--password", "[REDACTED:flag-value]", "-h", "db"}));
  EXPECT_EQ(argv({"curl", "-u", "bob:hunter2", "http://x/"}),
            (std::vector<std::string>{"curl", "-u", "bob:[REDACTED:url-password]", "http://x/"}));
  EXPECT_EQ(argv({"cat", "--token-file", "/run/t", "-u"}),
            (std::vector<std::string>{"cat", "--token-file", "/run/t", "-u"}));
}

// The operator's patterns: the first capture group, else the whole match; a bad one is refused
// with RE2's reason and changes nothing.
TEST_F(RedactorTest, OperatorPatterns) {
  ASSERT_EQ(r_.set_patterns({"ACME-[0-9]{6}", "(?i)session=([a-z0-9]+)"}), "");
  EXPECT_EQ(redacted("ticket ACME-123456 done"), "ticket [REDACTED:pattern-1] done");
  EXPECT_EQ(redacted("SESSION=abc123;x"), "SESSION=[REDACTED:pattern-2];x");
  EXPECT_NE(r_.set_patterns({"ok", "unclosed("}).find("pattern 2 (unclosed(): missing )"), std::string::npos);
  EXPECT_EQ(redacted("ticket ACME-123456"), "ticket [REDACTED:pattern-1]") << "the old patterns stay";
  EXPECT_NE(Redactor::check_pattern("a|"), "") << "matches the empty text";
  EXPECT_NE(Redactor::check_pattern(""), "");
  EXPECT_EQ(Redactor::check_pattern("x+y"), "");
}

// An event's own text: exec argv and file name, file paths, DNS names; `redacted` says so.
TEST_F(RedactorTest, EventsAreMarked) {
  learn_exec("OPENAI_API_KEY", kPlain);
  v1::Event ev;
  ev.set_kind(v1::Event::EXEC);
  ev.mutable_exec()->set_filename("/usr/bin/curl");
  for (const char* a : {"curl", "-H", "x-key: correct-horse-battery-staple"}) ev.mutable_exec()->add_argv(a);
  EXPECT_EQ(r_.redact_event(ev), 1u);
  EXPECT_TRUE(ev.redacted());
  EXPECT_EQ(ev.exec().argv(2), "x-key: [REDACTED:OPENAI_API_KEY]");
  v1::Event f;
  f.set_kind(v1::Event::FILE);
  f.mutable_file()->set_path("/tmp/correct-horse-battery-staple");
  f.mutable_file()->set_new_path("/tmp/b");
  r_.redact_event(f);
  EXPECT_EQ(f.file().path(), "/tmp/[REDACTED:OPENAI_API_KEY]");
  EXPECT_TRUE(f.redacted());
  v1::Event d;
  d.set_kind(v1::Event::DNS);
  d.mutable_dns()->set_query("correct-horse-battery-staple.evil.test");
  d.mutable_dns()->add_answers()->set_name("correct-horse-battery-staple.evil.test");
  r_.redact_event(d);
  EXPECT_EQ(d.dns().query(), "[REDACTED:OPENAI_API_KEY].evil.test");
  EXPECT_EQ(d.dns().answers(0).name(), "[REDACTED:OPENAI_API_KEY].evil.test");
  v1::Event clean;
  clean.set_kind(v1::Event::EXEC);
  clean.mutable_exec()->add_argv("ls");
  EXPECT_EQ(r_.redact_event(clean), 0u);
  EXPECT_FALSE(clean.redacted());
}

// Bounded: past kMaxKnown values the least recently seen is forgotten, and counted.
TEST_F(RedactorTest, KnownValuesAreBounded) {
  learn_exec("FIRST_TOKEN", "first-secret-value-000");
  for (size_t i = 0; i < Redactor::kMaxKnown; ++i)
    r_.learn("X_TOKEN", (*fp_)("value-" + std::to_string(i)), 20);
  const auto st = r_.stats();
  EXPECT_EQ(st.known, Redactor::kMaxKnown);
  EXPECT_EQ(st.evicted, 1u);
  EXPECT_EQ(redacted("first-secret-value-000"), "first-secret-value-000") << "the oldest was forgotten";
}

// The names of secret variables: the rules', else the shipped defaults.
TEST_F(RedactorTest, SecretNames) {
  EXPECT_TRUE(r_.is_secret_name("OPENAI_API_KEY"));
  EXPECT_TRUE(r_.is_secret_name("AWS_SECRET_ACCESS_KEY"));
  EXPECT_FALSE(r_.is_secret_name("PATH"));
  r_.set_secret_names({"MY_*"});
  EXPECT_TRUE(r_.is_secret_name("MY_THING"));
  EXPECT_FALSE(r_.is_secret_name("OPENAI_API_KEY"));
  r_.set_secret_names({});
  EXPECT_TRUE(r_.is_secret_name("OPENAI_API_KEY"));
}

}  // namespace
}  // namespace clawfence::process
