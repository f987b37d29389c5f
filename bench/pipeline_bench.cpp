// Throughput of the user-space pipeline with no kernel: synthetic ring-buffer records go through
// what app::Pipeline::worker does to each one (sensor::decode_record -> process::Tracker::apply
// -> output::JsonLinesSink::write, a flush per batch of 1024) into /dev/null, and the cost is
// split by stage. The last phase adds the reader's copy and the bounded queue between the two
// threads, with the agent's default queue capacity. Any record not written is a loss and fails
// the run.
//
// Then the same worker with the agent's other outputs behind the JSON lines: the live-tail server
// (with no client, and with a client that connects and never reads: the agent must not slow
// down for it), the metrics and the audit log (of security-relevant events only, the default,
// and of every event).
//
//   pipeline_bench [N]     N records (default 200000), each phase run 3 times, median reported
//   pipeline_bench --processes N
//                          the memory of N tracked processes in user space: N children of the
//                          gateway, each forked and exec'd, as the records would come, with RSS
//                          before and after
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "clawfence/abi.h"
#include "output/audit.h"
#include "output/json_lines.h"
#include "output/metrics.h"
#include "output/tail.h"
#include "process/proc_fs.h"
#include "process/process_table.h"
#include "process/tracker.h"
#include "sensor/bounded_queue.h"
#include "sensor/decoder.h"

namespace {

using clawfence::output::JsonLinesSink;
using clawfence::process::ProcFs;
using clawfence::process::ProcInfo;
using clawfence::process::ProcessTable;
using clawfence::process::Tracker;
namespace sensor = clawfence::sensor;

// The synthetic process tree: init, an OpenClaw gateway tracked as a root, and its workers.
constexpr uint32_t kInit = 1;
constexpr uint32_t kRoot = 4000;
constexpr uint32_t kFirstChild = 4001;
constexpr uint32_t kChildren = 8;
constexpr uint64_t kCgroupId = 7321;
constexpr uint64_t kStartNs = 1000000000ull;
const char* const kCgroupPath = "/system.slice/openclaw-gateway.service";

void populate(ProcessTable& table) {
  ProcInfo init;
  init.pid = kInit;
  init.comm = "systemd";
  init.exe = "/usr/lib/systemd/systemd";
  init.argv = {"/sbin/init"};
  table.upsert(init);

  ProcInfo root;
  root.pid = kRoot;
  root.ppid = kInit;
  root.uid = root.gid = 1000;
  root.comm = "openclaw-gatewa";
  root.exe = "/usr/bin/node";
  root.argv = {"node", "/usr/lib/node_modules/openclaw/dist/index.js", "gateway"};
  root.cgroup_id = kCgroupId;
  root.cgroup = kCgroupPath;
  root.start_ns = kStartNs;
  root.tracked_by = "comm";
  root.root_pid = kRoot;
  root.target = "openclaw";
  table.upsert(root);

  static const char* const kComms[] = {"node", "bash", "git", "python3"};
  for (uint32_t i = 0; i < kChildren; ++i) {
    ProcInfo c = root;
    c.pid = kFirstChild + i;
    c.ppid = kRoot;
    c.comm = kComms[i % 4];
    c.exe = std::string("/usr/bin/") + c.comm;
    c.argv = {c.comm, "-c", "npm test"};
    c.start_ns = kStartNs + 1000 * (i + 1);
    c.tracked_by = "inherited";
    table.upsert(c);
  }
}

void fill_hdr(cf_hdr& h, uint16_t op, size_t size, uint32_t pid, uint64_t ts, const char* comm) {
  h.op = op;
  h.size = static_cast<uint16_t>(size);
  h.cpu = pid % 2;
  h.ts_ns = ts;
  h.tgid = pid;
  h.tid = pid;
  h.cgroup_id = kCgroupId;
  std::strncpy(h.comm, comm, sizeof(h.comm));
}

template <typename Rec>
std::string with_strings(const Rec& fixed, const std::vector<std::string>& strs) {
  std::string out(reinterpret_cast<const char*>(&fixed), sizeof(fixed));
  for (const auto& s : strs) out += s;
  return out;
}

std::string file_open(uint32_t pid, uint64_t ts, const std::string& path, bool failed) {
  cf_file r{};
  r.file_op = CF_FILE_OPEN;
  r.syscall = 257;  // openat
  r.flags = O_RDONLY | O_CLOEXEC;
  std::vector<std::string> strs;
  if (failed) {  // ENOENT: directory and name as passed
    r.result = -2;
    size_t slash = path.rfind('/');
    strs = {path.substr(0, slash), path.substr(slash + 1)};
    r.strs.len[0] = static_cast<uint16_t>(strs[0].size());
    r.strs.len[1] = static_cast<uint16_t>(strs[1].size());
    r.strs.flags[0] = CF_STR_RESOLVED;
  } else {
    r.result = 3;
    strs = {path};
    r.strs.len[0] = static_cast<uint16_t>(path.size());
    r.strs.flags[0] = CF_STR_RESOLVED;
  }
  size_t size = sizeof(r);
  for (const auto& s : strs) size += s.size();
  fill_hdr(r.hdr, CF_OP_FILE, size, pid, ts, "node");
  return with_strings(r, strs);
}

std::string net_connect(uint32_t pid, uint64_t ts, int i) {
  cf_net r{};
  fill_hdr(r.hdr, CF_OP_NET, sizeof(r), pid, ts, "node");
  r.net_op = CF_NET_CONNECT;
  r.syscall = 42;
  r.result = i % 3 ? -115 : 0;  // EINPROGRESS (non-blocking, as node connects) or done
  r.family = 2;                 // AF_INET
  r.port = i % 4 ? 443 : 53;
  r.protocol = 6;  // TCP
  r.sock_type = 1;
  const uint8_t addr[4] = {104, 18, static_cast<uint8_t>(i % 200), 7};
  std::memcpy(r.addr, addr, sizeof(addr));
  return std::string(reinterpret_cast<const char*>(&r), sizeof(r));
}

std::string exec_git(uint32_t pid, uint64_t ts, uint64_t start_ns) {
  cf_exec r{};
  r.ppid = kRoot;
  r.uid = r.gid = 1000;
  r.start_ns = start_ns;
  r.track_reason = CF_TRACK_INHERITED;
  r.root_tgid = kRoot;
  static const char kArgv[] = "git\0status\0--porcelain\0--untracked-files=all";
  std::vector<std::string> strs = {std::string(kArgv, sizeof(kArgv) - 1), "/usr/bin/git"};
  r.strs.len[0] = static_cast<uint16_t>(strs[0].size());
  r.strs.len[1] = static_cast<uint16_t>(strs[1].size());
  r.strs.flags[1] = CF_STR_RESOLVED;
  fill_hdr(r.hdr, CF_OP_EXEC, sizeof(r) + strs[0].size() + strs[1].size(), pid, ts, "git");
  return with_strings(r, strs);
}

std::string fork_child(uint32_t parent, uint32_t child, uint64_t ts, uint64_t child_start_ns) {
  cf_fork r{};
  fill_hdr(r.hdr, CF_OP_FORK, sizeof(r), parent, ts, "node");
  r.child_tgid = child;
  r.child_start_ns = child_start_ns;
  return std::string(reinterpret_cast<const char*>(&r), sizeof(r));
}

struct Mix {
  size_t file = 0, file_failed = 0, net = 0, exec = 0, bytes = 0;
};

// Per 100 records: 85 file opens (1 in 10 failing), 12 connects, 3 execs; ~40-byte paths.
std::vector<std::string> make_records(size_t n, Mix& mix) {
  static const char* const kDirs[] = {"/home/dev/.openclaw/workspace/src/", "/home/dev/project/node_modules/x/",
                                      "/usr/lib/node_modules/openclaw/lib/", "/home/dev/.config/openclaw/"};
  std::vector<std::string> out;
  out.reserve(n);
  uint64_t ts = kStartNs * 2;
  for (size_t i = 0; i < n; ++i) {
    uint32_t child = static_cast<uint32_t>(i % kChildren);
    uint32_t pid = kFirstChild + child;
    ts += 1500;
    int slot = static_cast<int>(i % 100);
    if (slot < 85) {
      char name[16];
      std::snprintf(name, sizeof(name), "m%04zu.js", i % 997);
      bool failed = slot % 10 == 3;
      out.push_back(file_open(pid, ts, std::string(kDirs[i % 4]) + name, failed));
      ++mix.file;
      mix.file_failed += failed;
    } else if (slot < 97) {
      out.push_back(net_connect(pid, ts, static_cast<int>(i)));
      ++mix.net;
    } else {
      out.push_back(exec_git(pid, ts, kStartNs + 1000 * (child + 1)));
      ++mix.exec;
    }
    mix.bytes += out.back().size();
  }
  return out;
}

enum class Stage { kDecode, kApply, kFull };

struct Run {
  double seconds = 0;
  uint64_t errors = 0;   // records not decoded or not written
  uint64_t dropped = 0;  // queue drops
};

struct Fixture {
  sensor::BootClock clock;
  ProcFs procfs;
  ProcessTable table{65536, &procfs};
  Tracker tracker{table, procfs, clock};
  Fixture() { populate(table); }
};

// The worker's loop body for one batch, stopping after `stage`. Returns the records not decoded.
uint64_t process_batch(const std::string* begin, const std::string* end, Stage stage, Fixture& fx,
                       JsonLinesSink& sink, sensor::DecodedRecord& rec,
                       const std::vector<clawfence::output::EventOutput*>& outputs = {}) {
  uint64_t errors = 0;
  for (const std::string* raw = begin; raw != end; ++raw) {
    if (sensor::decode_record(raw->data(), raw->size(), fx.clock, rec) != sensor::DecodeStatus::kOk) {
      ++errors;
      continue;
    }
    if (stage == Stage::kDecode) continue;
    fx.tracker.apply(rec);
    if (stage == Stage::kFull) {
      sink.write(rec.event, rec.process_generation);
      for (auto* o : outputs) o->write(rec.event);
    }
  }
  if (stage == Stage::kFull) {
    sink.flush();
    for (auto* o : outputs) o->flush();
  }
  return errors;
}

// The worker alone, on records already in memory (no copy, no queue).
Run run_inline(const std::vector<std::string>& records, Stage stage) {
  Fixture fx;
  JsonLinesSink sink("/dev/null");
  sensor::DecodedRecord rec;
  Run r;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < records.size(); i += 1024) {
    size_t end = std::min(records.size(), i + 1024);
    r.errors += process_batch(&records[i], records.data() + end, stage, fx, sink, rec);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stage == Stage::kFull) r.errors = records.size() - sink.written();
  if (fx.table.size() != 2 + kChildren)
    std::fprintf(stderr, "pipeline_bench: warning: the process table grew to %zu entries (read /proc)\n",
                 fx.table.size());
  return r;
}

// Reader thread: copies each record into the bounded queue as the ring-buffer callback does.
// This thread: the worker, popping batches of up to 1024.
Run run_queued(const std::vector<std::string>& records, size_t capacity) {
  Fixture fx;
  JsonLinesSink sink("/dev/null");
  sensor::BoundedQueue<std::string> queue(capacity);
  sensor::DecodedRecord rec;
  std::vector<std::string> batch;
  batch.reserve(1024);
  Run r;
  auto t0 = std::chrono::steady_clock::now();
  std::thread reader([&] {
    for (const std::string& raw : records) queue.push(std::string(raw.data(), raw.size()));
    queue.close();
  });
  for (bool open = true; open;) {
    batch.clear();
    open = queue.pop_batch(batch, 1024, std::chrono::milliseconds(200));
    r.errors += process_batch(batch.data(), batch.data() + batch.size(), Stage::kFull, fx, sink, rec);
  }
  reader.join();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.dropped = queue.dropped();
  r.errors = records.size() - r.dropped - sink.written();
  return r;
}

enum class Outputs { kTail, kTailStuckClient, kAuditAll };

// The worker with the outputs the agent runs by default behind the JSON lines (tail server,
// metrics, audit log of security-relevant events), or with every event audited.
Run run_outputs(const std::vector<std::string>& records, Outputs which) {
  namespace out = clawfence::output;
  char tmpl[] = "/tmp/cf-pipeline-bench.XXXXXX";
  const std::string dir = mkdtemp(tmpl) ? tmpl : "";
  Run r;
  if (dir.empty()) {
    r.errors = records.size();
    return r;
  }
  std::string err;
  out::TailOptions to;
  to.socket_path = dir + "/tail.sock";
  auto tail = out::TailServer::open(to, [](clawfence::v1::Event) {}, &err);
  out::AuditOptions ao;
  ao.dir = dir + "/audit";
  ao.all_events = which == Outputs::kAuditAll;
  ao.fsync = out::AuditOptions::Fsync::kInterval;
  auto audit = out::AuditLog::open(ao, &err);
  out::Metrics metrics;
  int client = -1;
  if (tail && which == Outputs::kTailStuckClient) {
    // a client that asks for everything and then never reads
    client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", to.socket_path.c_str());
    const std::string req = out::serialize_delimited(clawfence::v1::TailRequest());
    if (connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        write(client, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
      std::fprintf(stderr, "pipeline_bench: the stuck tail client could not connect\n");
    for (int i = 0; i < 1000 && tail->clients() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!tail || !audit) {
    std::fprintf(stderr, "pipeline_bench: outputs: %s\n", err.c_str());
    r.errors = records.size();
  } else {
    Fixture fx;
    JsonLinesSink sink("/dev/null");
    sensor::DecodedRecord rec;
    std::vector<out::EventOutput*> outputs = {audit.get(), tail.get(), &metrics};
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < records.size(); i += 1024) {
      size_t end = std::min(records.size(), i + 1024);
      r.errors += process_batch(&records[i], records.data() + end, Stage::kFull, fx, sink, rec, outputs);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.errors = records.size() - sink.written();
    if (which == Outputs::kTailStuckClient && tail->dropped_total() == 0)
      std::fprintf(stderr, "pipeline_bench: the stuck tail client dropped nothing\n");
    if (which == Outputs::kAuditAll && audit->records() != records.size()) r.errors += records.size() - audit->records();
  }
  if (client >= 0) close(client);
  tail.reset();
  audit.reset();
  std::string rm = "rm -rf '" + dir + "'";
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "pipeline_bench: could not remove %s\n", dir.c_str());
  return r;
}

template <typename F>
Run median_of(int reps, F&& f) {
  std::vector<Run> runs;
  for (int i = 0; i < reps; ++i) runs.push_back(f());
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
  Run m = runs[runs.size() / 2];
  for (const Run& x : runs) {  // a loss in any repetition counts
    m.errors = std::max(m.errors, x.errors);
    m.dropped = std::max(m.dropped, x.dropped);
  }
  return m;
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && std::fgets(line, sizeof(line), f))
    if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  if (f) std::fclose(f);
  return kib;
}

// N processes tracked at once: each a fork of the gateway, then an exec, applied as the worker
// would; the records are made one at a time, so the RSS growth is the process state alone.
int run_processes(size_t n) {
  sensor::BootClock clock;
  ProcFs procfs;
  clawfence::app::CommonOptions common;
  common.max_tracked = static_cast<uint32_t>(n);
  ProcessTable table(common.table_size(), &procfs);
  Tracker tracker(table, procfs, clock);
  populate(table);
  sensor::DecodedRecord rec;
  const long before = rss_kib();
  uint64_t errors = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t pid = 100000 + static_cast<uint32_t>(i);
    const uint64_t ts = kStartNs * 2 + i * 3000;
    for (const std::string& raw : {fork_child(kRoot, pid, ts, ts), exec_git(pid, ts + 1000, ts)}) {
      if (sensor::decode_record(raw.data(), raw.size(), clock, rec) != sensor::DecodeStatus::kOk) {
        ++errors;
        continue;
      }
      tracker.apply(rec);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long after = rss_kib();
  std::printf("processes: %zu tracked at once (a fork and an exec each, as git with its argv), table of %zu "
              "entries, room for %zu: RSS %.1f MiB -> %.1f MiB (+%.0f bytes per process), %.0f ns per process "
              "(fork + exec records); goal RSS <= 64 MiB at 100k: %s\n",
              n, table.size(), common.table_size(), before / 1024.0, after / 1024.0,
              (after - before) * 1024.0 / static_cast<double>(n), secs * 1e9 / static_cast<double>(n),
              after <= 64 * 1024 ? "met" : "NOT met");
  if (errors || table.size() < n) {
    std::fprintf(stderr, "pipeline_bench: %llu records not decoded, %zu processes in the table\n",
                 static_cast<unsigned long long>(errors), table.size());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--processes") == 0) {
    size_t n = std::strtoul(argv[2], nullptr, 10);
    return n ? run_processes(n) : 2;
  }
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  if (n == 0) {
    std::fprintf(stderr, "usage: pipeline_bench [N]\n");
    return 2;
  }
  const int reps = 3;
  Mix mix;
  std::vector<std::string> records = make_records(n, mix);
  std::printf("pipeline: %zu synthetic records (%zu file opens, %zu of them failed; %zu connects; %zu execs), "
              "%.0f bytes on average; median of %d runs; JSON lines to /dev/null\n\n",
              n, mix.file, mix.file_failed, mix.net, mix.exec, static_cast<double>(mix.bytes) / n, reps);

  // Warm-up: allocator, protobuf descriptors, the cgroup path cache.
  run_inline(records, Stage::kFull);

  const size_t capacity = clawfence::app::CommonOptions{}.queue_capacity;
  struct Row {
    const char* name;
    Run run;
  };
  const Row rows[] = {
      {"decode", median_of(reps, [&] { return run_inline(records, Stage::kDecode); })},
      {"decode + apply", median_of(reps, [&] { return run_inline(records, Stage::kApply); })},
      {"decode + apply + JSON (worker)", median_of(reps, [&] { return run_inline(records, Stage::kFull); })},
      {"reader copy + queue + worker (2 threads)", median_of(reps, [&] { return run_queued(records, capacity); })},
      {"worker + tail + metrics + audit (alerts only)", median_of(reps, [&] { return run_outputs(records, Outputs::kTail); })},
      {"  the same, a tail client that never reads",
       median_of(reps, [&] { return run_outputs(records, Outputs::kTailStuckClient); })},
      {"worker + tail + metrics + audit of every event",
       median_of(reps, [&] { return run_outputs(records, Outputs::kAuditAll); })},
  };

  std::printf("| stage | records/s | ns/record | lost |\n|---|---:|---:|---:|\n");
  bool lossy = false;
  for (const Row& r : rows) {
    uint64_t lost = r.run.errors + r.run.dropped;
    lossy |= lost != 0;
    std::printf("| %s | %.0f | %.0f | %llu |\n", r.name, n / r.run.seconds, r.run.seconds * 1e9 / n,
                static_cast<unsigned long long>(lost));
  }
  const Run& full = rows[3].run;
  double rate = n / full.seconds;
  std::printf("\npipeline: %.0f records/s with %s (goal >= 500000/s, zero loss): %s\n", rate,
              lossy ? "LOSSES" : "zero loss", !lossy && rate >= 500000 ? "met" : "NOT met");
  std::printf("tail: a client that never reads costs the worker %.2fx (%.0f vs %.0f records/s)\n",
              rows[5].run.seconds / rows[4].run.seconds, n / rows[5].run.seconds, n / rows[4].run.seconds);
  return lossy ? 1 : 0;
}
