// The audit log: what it writes (one hash-chained AuditRecord per line), what it keeps, rotation,
// restarts (clean and after a crash mid-write), HMAC keys, write failures; and what
// `audit verify` says about edited, deleted, reordered, truncated and forged logs.
#include "output/audit.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/audit_cmd.h"
#include "output/audit_verify.h"
#include "output/json_printer.h"
#include "temp_dir.h"

namespace clawfence::output {
namespace {

namespace fs = std::filesystem;
using clawfence::testing::TempDir;

v1::Event alert_event(int i) {
  v1::Event ev;
  ev.mutable_time()->set_seconds(1700000000 + i);
  ev.set_kind(v1::Event::ALERT);
  ev.mutable_process()->set_pid(4000 + static_cast<uint32_t>(i));
  ev.mutable_process()->set_comm("node");
  v1::Alert* a = ev.mutable_alert();
  a->set_rule_id("rule-" + std::to_string(i));
  a->set_severity("warning");
  a->set_outcome("alerted");
  a->set_description("a tool read a secret file");
  return ev;
}

v1::Event net_event(const std::string& verdict) {
  v1::Event ev;
  ev.mutable_time()->set_seconds(1700000100);
  ev.set_kind(v1::Event::NET);
  ev.mutable_net()->set_address("203.0.113.7");
  if (!verdict.empty()) {
    ev.mutable_enforcement()->set_verdict(verdict);
    ev.mutable_enforcement()->set_rule_id("egress-default");
  }
  return ev;
}

AuditOptions options(const std::string& dir) {
  AuditOptions o;
  o.dir = dir;
  return o;
}

std::unique_ptr<AuditLog> open_log(const AuditOptions& o) {
  std::string err;
  auto log = AuditLog::open(o, &err);
  EXPECT_NE(log, nullptr) << err;
  return log;
}

void write_alerts(const AuditOptions& o, int n, int from = 0) {
  auto log = open_log(o);
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < n; ++i) log->write(alert_event(from + i));
  EXPECT_EQ(log->failures(), 0u);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spill(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(slurp(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  spill(path, s);
}

v1::AuditRecord parse(const std::string& line) {
  v1::AuditRecord rec;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &rec).ok()) << line;
  return rec;
}

// Every .jsonl file of the directory, in name order.
std::vector<std::string> log_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> rotated(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& f : log_files(dir))
    if (fs::path(f).filename() != "audit.jsonl") out.push_back(f);
  return out;
}

// All records of the directory, in chain order (rotated files by name, then audit.jsonl).
std::vector<std::string> all_lines(const std::string& dir) {
  std::vector<std::string> out;
  std::vector<std::string> files = rotated(dir);
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return parse(read_lines(a).front()).seq() < parse(read_lines(b).front()).seq();
  });
  files.push_back(dir + "/audit.jsonl");
  for (const auto& f : files)
    for (auto& l : read_lines(f)) out.push_back(l);
  return out;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string key_file(const TempDir& tmp, const std::string& name, const std::string& bytes, mode_t mode = 0600) {
  std::string path = tmp.write(name, bytes);
  chmod(path.c_str(), mode);
  return path;
}

// ---- what is written ---------------------------------------------------------------------------

TEST(AuditLog, EachLineIsTheRecordInProtobufJsonChainedByHash) {
  TempDir tmp;
  write_alerts(options(tmp.path()), 5);
  const auto lines = read_lines(tmp / "audit.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  std::string prev_hash;
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::AuditRecord rec = parse(lines[i]);
    EXPECT_EQ(rec.seq(), i + 1);
    EXPECT_EQ(rec.prev(), prev_hash);
    EXPECT_EQ(rec.event().alert().rule_id(), "rule-" + std::to_string(i));
    // The line is exactly the schema's JSON of the whole record...
    std::string printed;
    print_json(rec, printed);
    EXPECT_EQ(printed, lines[i]);
    // ...and its hash is over that JSON printed without hash and hmac.
    v1::AuditRecord body = rec;
    body.clear_hash();
    body.clear_hmac();
    std::string body_json;
    print_json(body, body_json);
    EXPECT_EQ(rec.hash(), sha256_hex(body_json));
    EXPECT_TRUE(rec.hmac().empty());
    prev_hash = rec.hash();
  }
  EXPECT_TRUE(lines[0].find("\"prev\"") == std::string::npos) << "seq 1 has no prev";

  VerifyReport r = verify_audit({tmp / "audit.jsonl"}, "");
  ASSERT_TRUE(r.ok) << r.file << ":" << r.line << " " << r.why;
  EXPECT_NE(r.summary.find("5 records in 1 file"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("seq 1..5"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("2023-11-14T22:13:20Z .. 2023-11-14T22:13:24Z"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find(parse(lines[0]).hash()), std::string::npos);
  EXPECT_NE(r.summary.find(prev_hash), std::string::npos);
  EXPECT_NE(r.summary.find("hmac   none"), std::string::npos) << r.summary;
}

TEST(AuditLog, KeepsSecurityRelevantEventsUnlessAllEvents) {
  v1::Event exec;
  exec.set_kind(v1::Event::EXEC);
  v1::Event matched = net_event("matched");
  v1::Event gap;
  gap.set_kind(v1::Event::GAP);
  gap.mutable_gap()->set_where("kernel_ringbuf");
  gap.mutable_gap()->set_lost(7);
  v1::Event note;
  note.set_kind(v1::Event::AGENT);
  note.mutable_agent()->set_what("rules_reloaded");
  const std::vector<v1::Event> events = {exec, matched, net_event("would-block"), net_event("blocked"),
                                         net_event("killed"), alert_event(1), gap, note};
  EXPECT_FALSE(audit_relevant(exec));
  EXPECT_FALSE(audit_relevant(matched));
  EXPECT_TRUE(audit_relevant(net_event("would-kill")));

  for (bool all : {false, true}) {
    TempDir tmp;
    AuditOptions o = options(tmp.path());
    o.all_events = all;
    auto log = open_log(o);
    for (const auto& ev : events) log->write(ev);
    EXPECT_EQ(log->records(), all ? 8u : 6u);
    log.reset();
    const auto lines = read_lines(tmp / "audit.jsonl");
    ASSERT_EQ(lines.size(), all ? 8u : 6u);
    EXPECT_EQ(parse(lines[0]).event().kind(), all ? v1::Event::EXEC : v1::Event::NET);
    EXPECT_EQ(parse(lines[0]).event().enforcement().verdict(), all ? "" : "would-block");
    EXPECT_TRUE(verify_audit({tmp / "audit.jsonl"}, "").ok);
  }
}

TEST(AuditLog, BlocksKillsAndAgentNotesAreCritical) {
  v1::Event kill_alert = alert_event(0);
  kill_alert.mutable_alert()->set_outcome("killed");
  v1::Event note;
  note.set_kind(v1::Event::AGENT);
  EXPECT_TRUE(audit_critical(net_event("blocked")));
  EXPECT_TRUE(audit_critical(net_event("killed")));
  EXPECT_TRUE(audit_critical(kill_alert));
  EXPECT_TRUE(audit_critical(note));
  EXPECT_FALSE(audit_critical(net_event("would-block")));
  EXPECT_FALSE(audit_critical(alert_event(0)));
}

TEST(AuditLog, DirectoryIsOwnerOnlyAndFilesAre0600) {
  TempDir tmp;
  AuditOptions o = options(tmp / "var/audit");
  o.rotate_bytes = 1500;
  write_alerts(o, 12);
  EXPECT_EQ(mode_of(o.dir), 0700u);
  ASSERT_GE(log_files(o.dir).size(), 2u);
  for (const auto& f : log_files(o.dir)) EXPECT_EQ(mode_of(f), 0600u) << f;
}

TEST(AuditLog, SecondWriterOnTheSameDirectoryIsRefused) {
  TempDir tmp;
  auto first = open_log(options(tmp.path()));
  std::string err;
  EXPECT_EQ(AuditLog::open(options(tmp.path()), &err), nullptr);
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
}

// ---- verify: what tampering it names -----------------------------------------------------------

class AuditVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    write_alerts(options(tmp_.path()), 10);
    path_ = tmp_ / "audit.jsonl";
    lines_ = read_lines(path_);
    ASSERT_EQ(lines_.size(), 10u);
    ASSERT_TRUE(verify_audit({path_}, "").ok);
  }
  VerifyReport verify_broken() {
    VerifyReport r = verify_audit({path_}, "");
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.usage_error) << r.why;
    EXPECT_EQ(r.file, path_);
    return r;
  }
  TempDir tmp_;
  std::string path_;
  std::vector<std::string> lines_;
};

TEST_F(AuditVerify, EditedFieldIsNamed) {
  auto lines = lines_;
  const size_t at = lines[3].find("rule-3");
  ASSERT_NE(at, std::string::npos);
  lines[3].replace(at, 6, "rule-9");
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 4u);
  EXPECT_EQ(r.seq, 4u);
  EXPECT_NE(r.why.find("edited"), std::string::npos) << r.why;
  EXPECT_NE(r.summary.find("3 records before it verified"), std::string::npos) << r.summary;
}

TEST_F(AuditVerify, ReplacedRecordWithARecomputedHashBreaksTheNextPrev) {
  // Whoever edits a record and fixes its hash still cannot fix the next record's prev.
  auto lines = lines_;
  v1::AuditRecord rec = parse(lines[3]);
  rec.mutable_event()->mutable_alert()->set_rule_id("harmless");
  rec.clear_hash();
  std::string body;
  print_json(rec, body);
  rec.set_hash(sha256_hex(body));
  lines[3].clear();
  print_json(rec, lines[3]);
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 5u);
  EXPECT_EQ(r.seq, 5u);
  EXPECT_NE(r.why.find("prev does not match the hash of seq 4"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, DeletedLineIsMissing) {
  auto lines = lines_;
  lines.erase(lines.begin() + 3);
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 4u);
  EXPECT_EQ(r.seq, 5u);
  EXPECT_NE(r.why.find("missing 1 record before it (seq 4)"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, DeletedFirstLinesAreMissingUnlessPartial) {
  auto lines = lines_;
  lines.erase(lines.begin(), lines.begin() + 2);
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 1u);
  EXPECT_EQ(r.seq, 3u);
  EXPECT_NE(r.why.find("missing 2 records before it (seq 1..2)"), std::string::npos) << r.why;
  VerifyReport partial = verify_audit({path_}, "", true);
  ASSERT_TRUE(partial.ok) << partial.why;
  EXPECT_NE(partial.summary.find("mid-chain"), std::string::npos) << partial.summary;
}

TEST_F(AuditVerify, SwappedLinesAreReordered) {
  auto lines = lines_;
  std::swap(lines[4], lines[5]);
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 5u);
  EXPECT_EQ(r.seq, 6u);
  EXPECT_NE(r.why.find("reordered"), std::string::npos) << r.why;
  EXPECT_NE(r.why.find(path_ + ":6"), std::string::npos) << r.why;

  lines = lines_;
  std::swap(lines[2], lines[7]);
  write_lines(path_, lines);
  r = verify_broken();
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.seq, 8u);
  EXPECT_NE(r.why.find("reordered"), std::string::npos) << r.why;

  // the first record too: seq 1 is further down, not missing
  lines = lines_;
  std::swap(lines[0], lines[1]);
  write_lines(path_, lines);
  r = verify_broken();
  EXPECT_EQ(r.line, 1u);
  EXPECT_EQ(r.seq, 2u);
  EXPECT_NE(r.why.find("reordered"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, RepeatedLineIsReordered) {
  auto lines = lines_;
  lines.insert(lines.begin() + 6, lines[5]);
  write_lines(path_, lines);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 7u);
  EXPECT_EQ(r.seq, 6u);
  EXPECT_NE(r.why.find("repeated"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, LastLineCutMidwayIsTruncatedTail) {
  std::string content = slurp(path_);
  content.resize(content.size() - lines_.back().size() / 2);
  spill(path_, content);
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 10u);
  EXPECT_EQ(r.seq, 10u);
  EXPECT_NE(r.why.find("truncated tail"), std::string::npos) << r.why;

  // The same cut with a newline put back (an editor's doing) is still the tail cut short.
  spill(path_, content + "\n");
  r = verify_broken();
  EXPECT_EQ(r.line, 10u);
  EXPECT_NE(r.why.find("truncated tail"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, GarbageIsNamed) {
  spill(path_, slurp(path_) + "garbage\n");
  VerifyReport r = verify_broken();
  EXPECT_EQ(r.line, 11u);
  EXPECT_EQ(r.seq, 0u);
  EXPECT_NE(r.why.find("not an audit record"), std::string::npos) << r.why;

  auto lines = lines_;
  lines.insert(lines.begin() + 2, "{\"seq\":\"3\",\"note\":\"inserted\"}");
  write_lines(path_, lines);
  r = verify_broken();
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.seq, 3u);
  EXPECT_NE(r.why.find("not an audit record"), std::string::npos) << r.why;
}

TEST_F(AuditVerify, CommandExitStatus) {
  EXPECT_EQ(app::audit_verify({path_}, ""), 0);
  EXPECT_EQ(app::audit_verify({tmp_ / "no-such-file.jsonl"}, ""), 2);
  EXPECT_EQ(app::audit_verify({path_}, tmp_ / "no-such-key"), 2);
  auto lines = lines_;
  lines.erase(lines.begin() + 1);
  write_lines(path_, lines);
  EXPECT_EQ(app::audit_verify({path_}, ""), 1);
  VerifyReport none = verify_audit({}, "");
  EXPECT_TRUE(none.usage_error);
}

// ---- rotation and restarts ---------------------------------------------------------------------

TEST(AuditLog, RotationBySizeKeepsTheChainAcrossFiles) {
  TempDir tmp;
  AuditOptions o = options(tmp.path());
  o.rotate_bytes = 2000;
  write_alerts(o, 40);
  const auto old = rotated(tmp.path());
  ASSERT_GE(old.size(), 3u);
  for (const auto& f : log_files(tmp.path())) EXPECT_LE(fs::file_size(f), 2000u) << f;
  for (const auto& f : old) {
    // audit-<UTC yyyymmddThhmmssZ>-<first seq>.jsonl, named by its own first record
    const std::string name = fs::path(f).filename().string();
    ASSERT_EQ(name.rfind("audit-", 0), 0u) << name;
    EXPECT_EQ(name[14], 'T') << name;
    EXPECT_EQ(name[21], 'Z') << name;
    const std::string seq = name.substr(23, name.size() - 23 - 6);
    EXPECT_EQ(seq, std::to_string(parse(read_lines(f).front()).seq())) << name;
  }
  const auto lines = all_lines(tmp.path());
  ASSERT_EQ(lines.size(), 40u);
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(parse(lines[i]).seq(), i + 1);
    EXPECT_EQ(parse(lines[i]).prev(), parse(lines[i - 1]).hash());
  }

  std::vector<std::string> files = log_files(tmp.path());
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(files.begin(), files.end(), rng);
    VerifyReport r = verify_audit(files, "");
    ASSERT_TRUE(r.ok) << r.file << ":" << r.line << " " << r.why;
    EXPECT_NE(r.summary.find("40 records in " + std::to_string(files.size()) + " files"), std::string::npos)
        << r.summary;
  }

  // A rotated file removed from the middle: its records are missing.
  std::vector<std::string> by_seq = old;
  std::sort(by_seq.begin(), by_seq.end(), [](const std::string& a, const std::string& b) {
    return parse(read_lines(a).front()).seq() < parse(read_lines(b).front()).seq();
  });
  const std::string removed = by_seq[1];
  const uint64_t removed_records = read_lines(removed).size();
  const std::string next = by_seq[2];
  fs::remove(removed);
  VerifyReport r = verify_audit(log_files(tmp.path()), "");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.file, next);
  EXPECT_EQ(r.line, 1u);
  EXPECT_NE(r.why.find("missing " + std::to_string(removed_records) + " records"), std::string::npos) << r.why;
  EXPECT_NE(r.why.find("a file may be missing"), std::string::npos) << r.why;
}

TEST(AuditLog, RotationByAge) {
  TempDir tmp;
  AuditOptions o = options(tmp.path());
  o.rotate_age = std::chrono::seconds(1);
  auto log = open_log(o);
  log->write(alert_event(0));
  log->write(alert_event(1));
  EXPECT_TRUE(rotated(tmp.path()).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  log->write(alert_event(2));
  log.reset();
  ASSERT_EQ(rotated(tmp.path()).size(), 1u);
  EXPECT_EQ(read_lines(rotated(tmp.path())[0]).size(), 2u);
  EXPECT_EQ(parse(read_lines(tmp / "audit.jsonl")[0]).seq(), 3u);
  EXPECT_TRUE(verify_audit(log_files(tmp.path()), "").ok);
}

TEST(AuditLog, RestartContinuesSeqAndPrev) {
  TempDir tmp;
  write_alerts(options(tmp.path()), 3);
  write_alerts(options(tmp.path()), 3, 3);
  const auto lines = read_lines(tmp / "audit.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(parse(lines[3]).seq(), 4u);
  EXPECT_EQ(parse(lines[3]).prev(), parse(lines[2]).hash());
  EXPECT_TRUE(verify_audit({tmp / "audit.jsonl"}, "").ok);

  // Only rotated files left (the current one archived by hand): the chain goes on from the newest.
  fs::rename(tmp / "audit.jsonl", tmp / "audit-20240101T000000Z-1.jsonl");
  auto log = open_log(options(tmp.path()));
  EXPECT_EQ(log->last_seq(), 6u);
  log->write(alert_event(6));
  log.reset();
  EXPECT_EQ(parse(read_lines(tmp / "audit.jsonl")[0]).prev(), parse(lines[5]).hash());
  EXPECT_TRUE(verify_audit(log_files(tmp.path()), "").ok);
}

TEST(AuditLog, RestartAfterACrashMidWriteMovesTheFileAsideAndContinues) {
  TempDir tmp;
  write_alerts(options(tmp.path()), 5);
  const auto lines = read_lines(tmp / "audit.jsonl");
  std::string content = slurp(tmp / "audit.jsonl");
  content.resize(content.size() - 40);  // the last write cut short
  spill(tmp / "audit.jsonl", content);

  auto log = open_log(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->last_seq(), 5u);  // seq 5 is the audit_continued record
  log->write(alert_event(5));
  log.reset();

  // The damaged file is kept byte for byte under a rotated name.
  const auto old = rotated(tmp.path());
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(slurp(old[0]), content);
  EXPECT_EQ(mode_of(old[0]), 0600u);
  const auto now = read_lines(tmp / "audit.jsonl");
  ASSERT_EQ(now.size(), 2u);
  v1::AuditRecord note = parse(now[0]);
  EXPECT_EQ(note.seq(), 5u);
  EXPECT_EQ(note.prev(), parse(lines[3]).hash());
  EXPECT_EQ(note.event().kind(), v1::Event::AGENT);
  EXPECT_EQ(note.event().agent().what(), "audit_continued");
  EXPECT_NE(note.event().agent().detail().find("incomplete record"), std::string::npos)
      << note.event().agent().detail();
  EXPECT_NE(note.event().agent().detail().find("after seq 4"), std::string::npos) << note.event().agent().detail();

  // verify still tells the truth about the old file...
  VerifyReport r = verify_audit(log_files(tmp.path()), "");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.file, old[0]);
  EXPECT_EQ(r.line, 5u);
  EXPECT_EQ(r.seq, 5u);
  EXPECT_NE(r.why.find("truncated tail"), std::string::npos) << r.why;
  // ...and the chain from the last good record on holds.
  const auto good = read_lines(old[0]);
  write_lines(tmp / "good.jsonl", {good.begin(), good.begin() + 4});
  r = verify_audit({tmp / "audit.jsonl", tmp / "good.jsonl"}, "");
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << " " << r.why;
}

TEST(AuditLog, RestartAfterAnEditedLastLineContinuesFromTheRecordBefore) {
  TempDir tmp;
  write_alerts(options(tmp.path()), 4);
  auto lines = read_lines(tmp / "audit.jsonl");
  const std::string hash3 = parse(lines[2]).hash();
  lines[3].replace(lines[3].find("rule-3"), 6, "rule-X");
  write_lines(tmp / "audit.jsonl", lines);
  auto log = open_log(options(tmp.path()));
  EXPECT_EQ(log->last_seq(), 4u);
  log.reset();
  v1::AuditRecord note = parse(read_lines(tmp / "audit.jsonl")[0]);
  EXPECT_EQ(note.prev(), hash3);
  EXPECT_NE(note.event().agent().detail().find("1 line(s) that do not verify"), std::string::npos)
      << note.event().agent().detail();
}

// ---- HMAC --------------------------------------------------------------------------------------

TEST(AuditHmac, KeyedChainVerifiesAndAForgedChainDoesNot) {
  TempDir tmp;
  const std::string key = key_file(tmp, "keys/right", "0123456789abcdef-right-key");
  const std::string other = key_file(tmp, "keys/other", "0123456789abcdef-other-key");
  AuditOptions o = options(tmp / "real");
  o.hmac_key_file = key;
  write_alerts(o, 5);
  const std::string real = tmp / "real/audit.jsonl";
  EXPECT_EQ(parse(read_lines(real)[0]).hmac().size(), 64u);

  VerifyReport r = verify_audit({real}, key);
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_NE(r.summary.find("hmac   verified on every record"), std::string::npos) << r.summary;
  r = verify_audit({real}, "");
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_NE(r.summary.find("not checked"), std::string::npos) << r.summary;

  // A whole new chain, consistent in itself, written with another key.
  AuditOptions forged = options(tmp / "forged");
  forged.hmac_key_file = other;
  write_alerts(forged, 5);
  EXPECT_TRUE(verify_audit({tmp / "forged/audit.jsonl"}, "").ok);
  r = verify_audit({tmp / "forged/audit.jsonl"}, key);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.line, 1u);
  EXPECT_NE(r.why.find("hmac does not match (forged or wrong key)"), std::string::npos) << r.why;

  // ...or without any key.
  write_alerts(options(tmp / "plain"), 3);
  r = verify_audit({tmp / "plain/audit.jsonl"}, key);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.line, 1u);
  EXPECT_NE(r.why.find("no hmac"), std::string::npos) << r.why;
}

TEST(AuditHmac, KeyFileMustBePrivateRegularAndLongEnough) {
  TempDir tmp;
  const std::string secret = "do-not-print-this-secret-key";
  struct Case {
    std::string path;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {key_file(tmp, "open", secret, 0644), "mode 0644"},
      {key_file(tmp, "group", secret, 0640), "mode 0640"},
      {key_file(tmp, "short", "short", 0600), "shorter than 16 bytes"},
      {tmp.mkdirs("adir"), "not a regular file"},
      {tmp / "missing", "No such file"},
  };
  for (const auto& c : cases) {
    AuditOptions o = options(tmp / "log");
    o.hmac_key_file = c.path;
    std::string err;
    EXPECT_EQ(AuditLog::open(o, &err), nullptr) << c.path;
    EXPECT_NE(err.find(c.expect), std::string::npos) << err;
    EXPECT_NE(err.find(c.path), std::string::npos) << err;
    EXPECT_EQ(err.find(secret), std::string::npos) << err;
  }
  AuditOptions o = options(tmp / "log");
  o.hmac_key_file = key_file(tmp, "good", secret, 0400);
  EXPECT_NE(open_log(o), nullptr);
}

// ---- write failures ----------------------------------------------------------------------------

// Caps the size of files this process may write (RLIMIT_FSIZE), so writes fail for real, root or
// not; SIGXFSZ is ignored meanwhile so the write returns an error instead of ending the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = saved_;
    lim.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  struct rlimit saved_ {};
  sighandler_t old_handler_ = SIG_DFL;
};

TEST(AuditLog, WriteFailuresAreFollowedByAGapRecordAndTheChainHolds) {
  TempDir tmp;
  auto log = open_log(options(tmp.path()));
  for (int i = 0; i < 3; ++i) log->write(alert_event(i));
  const uint64_t size = fs::file_size(tmp / "audit.jsonl");
  {
    // Room for 10 more bytes: each write is cut short, and the partial line must be taken back.
    FileSizeLimit limit(size + 10);
    for (int i = 3; i < 6; ++i) log->write(alert_event(i));
  }
  EXPECT_EQ(log->failures(), 3u);
  EXPECT_EQ(fs::file_size(tmp / "audit.jsonl"), size);
  log->write(alert_event(6));
  EXPECT_EQ(log->failures(), 3u);
  log.reset();

  const auto lines = read_lines(tmp / "audit.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  v1::AuditRecord gap = parse(lines[3]);
  EXPECT_EQ(gap.seq(), 4u);
  EXPECT_EQ(gap.prev(), parse(lines[2]).hash());
  EXPECT_EQ(gap.event().kind(), v1::Event::GAP);
  EXPECT_EQ(gap.event().gap().where(), "audit_log");
  EXPECT_EQ(gap.event().gap().lost(), 3u);
  EXPECT_EQ(gap.event().gap().lost_total(), 3u);
  EXPECT_EQ(parse(lines[4]).seq(), 5u);
  EXPECT_EQ(parse(lines[4]).event().alert().rule_id(), "rule-6");
  VerifyReport r = verify_audit({tmp / "audit.jsonl"}, "");
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << " " << r.why;
}

TEST(AuditLog, FsyncPoliciesWriteTheSameChain) {
  // Syncing is not observable here; each policy must still write every record, in order.
  for (auto policy : {AuditOptions::Fsync::kAlways, AuditOptions::Fsync::kCritical, AuditOptions::Fsync::kInterval}) {
    TempDir tmp;
    AuditOptions o = options(tmp.path());
    o.fsync = policy;
    o.fsync_interval = std::chrono::milliseconds(0);
    auto log = open_log(o);
    log->write(alert_event(0));
    log->write(net_event("blocked"));
    log->flush();
    log->write(alert_event(1));
    log.reset();
    EXPECT_EQ(read_lines(tmp / "audit.jsonl").size(), 3u);
    EXPECT_TRUE(verify_audit({tmp / "audit.jsonl"}, "").ok);
  }
}

}  // namespace
}  // namespace clawfence::output
