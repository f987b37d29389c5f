// JSON lines output: field names, enums, optional fields, the file sink.
#include "output/json_lines.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace clawfence::output {
namespace {

using clawfence::testing::TempDir;

v1::Event fork_event() {
  v1::Event ev;
  ev.mutable_time()->set_seconds(1700000000);
  ev.mutable_time()->set_nanos(5);
  ev.set_kind(v1::Event::FORK);
  ev.mutable_fork()->set_child_pid(4243);
  v1::Process* p = ev.mutable_process();
  p->set_pid(4242);
  p->set_comm("node");
  p->set_tracked_by("comm");
  p->set_root_pid(4242);
  p->add_argv("node");
  p->add_argv("gateway.js");
  auto* a = p->add_lineage();
  a->set_pid(1);
  a->set_comm("systemd");
  return ev;
}

v1::Event file_event(int32_t result) {
  v1::Event ev;
  ev.set_kind(v1::Event::FILE);
  v1::FileOp* f = ev.mutable_file();
  f->set_op(v1::FileOp::UNLINK);
  f->set_path("/tmp/x");
  f->set_result(result);
  return ev;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ToJson, SnakeCaseFieldNamesAndEnumNames) {
  const std::string j = to_json(fork_event());
  EXPECT_TRUE(contains(j, "\"child_pid\":4243")) << j;
  EXPECT_TRUE(contains(j, "\"tracked_by\":\"comm\"")) << j;
  EXPECT_TRUE(contains(j, "\"root_pid\":4242")) << j;
  EXPECT_TRUE(contains(j, "\"kind\":\"FORK\"")) << j;
  EXPECT_TRUE(contains(j, "\"argv\":[\"node\",\"gateway.js\"]")) << j;
  EXPECT_TRUE(contains(j, "\"lineage\":[{")) << j;
  EXPECT_FALSE(contains(j, "childPid")) << j;
  EXPECT_FALSE(contains(j, "trackedBy")) << j;
  EXPECT_FALSE(contains(j, "\n")) << j;
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
}

TEST(ToJson, TimestampIsRfc3339) {
  const std::string j = to_json(fork_event());
  EXPECT_TRUE(contains(j, "\"time\":\"2023-11-14T22:13:20.000000005Z\"")) << j;
}

TEST(ToJson, OptionalResultZeroIsPrinted) {
  EXPECT_TRUE(contains(to_json(file_event(0)), "\"result\":0")) << to_json(file_event(0));
  EXPECT_TRUE(contains(to_json(file_event(-2)), "\"result\":-2"));
  v1::Event no_result = file_event(0);
  no_result.mutable_file()->clear_result();
  EXPECT_FALSE(contains(to_json(no_result), "\"result\"")) << to_json(no_result);
  // A plain proto3 field at its default is left out.
  EXPECT_FALSE(contains(to_json(no_result), "\"resolved\""));
}

TEST(ToJson, ExitCodeZeroIsPrinted) {
  v1::Event ev;
  ev.set_kind(v1::Event::EXIT);
  ev.mutable_exit()->set_code(0);
  EXPECT_TRUE(contains(to_json(ev), "\"code\":0")) << to_json(ev);
}

TEST(ToJson, RoundTrips) {
  const v1::Event ev = fork_event();
  v1::Event back;
  google::protobuf::util::JsonParseOptions opts;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(to_json(ev), &back, opts).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ev, back));
}

TEST(JsonLinesSinkTest, FileIsCreated0600WithOneLinePerEvent) {
  TempDir dir;
  const std::string path = dir / "events.jsonl";
  {
    JsonLinesSink sink(path);
    sink.write(fork_event());
    sink.write(file_event(0));
    sink.flush();
    EXPECT_EQ(sink.written(), 2u);
    EXPECT_EQ(sink.failed(), 0u);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(read_lines(path).size(), 2u);  // flushed before the sink closes
  }
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], to_json(fork_event()));
  EXPECT_EQ(lines[1], to_json(file_event(0)));
}

TEST(JsonLinesSinkTest, AppendsToAnExistingFile) {
  TempDir dir;
  const std::string path = dir.write("events.jsonl", "{\"earlier\":1}\n");
  {
    JsonLinesSink sink(path);
    sink.write(file_event(3));
  }
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"earlier\":1}");
  EXPECT_EQ(lines[1], to_json(file_event(3)));
}

TEST(JsonLinesSinkTest, UnopenablePathThrows) {
  TempDir dir;
  EXPECT_THROW(JsonLinesSink(dir / "missing-dir/events.jsonl"), std::runtime_error);
}

}  // namespace
}  // namespace clawfence::output

namespace clawfence::output {
namespace {

// The sink reuses a process's rendered JSON while the table generation and the per-event
// parts (thread, comm, cgroup) stay the same, and renders anew when any of them changes.
TEST(JsonLinesSinkCache, ReusesOnlyWhileTheProcessIsUnchanged) {
  char tmpl[] = "/tmp/clawfence-sinkcache.XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::vector<std::string> expected;
  {
    JsonLinesSink sink(tmpl);
    v1::Event ev;
    ev.set_kind(v1::Event::FILE);
    ev.mutable_process()->set_pid(10);
    ev.mutable_process()->set_comm("a");
    ev.mutable_process()->add_argv("one");
    auto emit = [&](uint64_t gen) {
      sink.write(ev, gen);
      expected.push_back(to_json(ev));
    };
    emit(5);
    emit(5);                                  // same state: cached
    ev.mutable_process()->set_argv(0, "two");  // new exec: the table generation moves
    emit(6);
    ev.mutable_process()->set_tid(11);        // another thread, same generation
    emit(6);
    ev.mutable_process()->set_comm("b");
    emit(6);
    ev.mutable_process()->set_cgroup("/x");   // path resolved later
    emit(6);
  }
  std::ifstream in(tmpl);
  std::vector<std::string> got;
  for (std::string line; std::getline(in, line);) got.push_back(line);
  EXPECT_EQ(got, expected);
  unlink(tmpl);
}

}  // namespace
}  // namespace clawfence::output

namespace clawfence::output {
namespace {

// A full disk loses lines at the flush, not at the write: they are counted as lost, not written.
TEST(JsonLinesSink, LinesLostToAFullDiskAreCounted) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full here: skipped";
  JsonLinesSink sink("/dev/full");
  v1::Event ev;
  ev.set_kind(v1::Event::EXEC);
  for (int i = 0; i < 3; ++i) sink.write(ev);
  sink.flush();
  EXPECT_EQ(sink.failed(), 3u);
  EXPECT_EQ(sink.written(), 0u);
  sink.write(ev);
  sink.flush();
  EXPECT_EQ(sink.failed(), 4u);
}

}  // namespace
}  // namespace clawfence::output
