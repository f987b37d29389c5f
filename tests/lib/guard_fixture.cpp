#include "guard_fixture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace clawfence::sensor {
void PrintTo(SyscallHooks h, std::ostream* os) { *os << (h == SyscallHooks::kFentry ? "fentry" : "tracepoints"); }
}  // namespace clawfence::sensor

namespace clawfence::testing {

std::string hook_name(const ::testing::TestParamInfo<sensor::SyscallHooks>& info) {
  return info.param == sensor::SyscallHooks::kFentry ? "Fentry" : "Tracepoints";
}

sensor::SensorOptions hook_options(sensor::SyscallHooks hooks, uint32_t ringbuf_bytes) {
  sensor::SensorOptions o;
  o.ringbuf_bytes = ringbuf_bytes;
  o.hooks = hooks;
  o.fallback_to_tracepoints = false;
  return o;
}

cf_guard_config guard_config(uint32_t mode, uint32_t flags, uint32_t generation) {
  cf_guard_config cfg{};
  cfg.mode = mode;
  cfg.flags = flags;
  cfg.generation = generation;
  for (auto& e : cfg.evasion) e.rule = CF_RULE_NONE;
  return cfg;
}

bool Outcome::killed() const { return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

bool Outcome::exited(int code) const { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code; }

Outcome run_child(const TestCgroup* cg, sensor::Sensor* sensor, const std::function<void()>& body,
                  const std::function<void()>& meanwhile, const sensor::TrackedRole& role) {
  Outcome o;
  int go[2], out[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return o;
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    close(go[0]);
    close(go[1]);
    return o;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(out[0]);
    dup2(out[1], 1);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    body();
    _exit(0);
  }
  close(go[0]);
  close(out[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    close(go[1]);
    close(out[0]);
    return o;
  }
  if (cg) cg->add(pid);
  if (sensor) {
    EXPECT_TRUE(sensor->track(pid, pid, CF_TRACK_USER, role));
  }
  EXPECT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  if (meanwhile) meanwhile();
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) o.out.append(buf, n);
  close(out[0]);
  waitpid(pid, &o.status, 0);
  o.pid = pid;
  return o;
}

void GuardFixture::start_sensor(const std::string& tag, sensor::SensorOptions o) {
  cg_ = std::make_unique<TestCgroup>(tag);
  o.attach_cgroup = cg_->path();
  o.agent_tgid = getpid();
  sensor_ = sensor::Sensor::start(o, {});
}

void GuardFixture::collect_records() {
  sensor_->start_reader([this](const void* d, size_t n) {
    std::lock_guard<std::mutex> l(mu_);
    records_.emplace_back(static_cast<const char*>(d), n);
  });
}

void GuardFixture::stop_sensor() {
  if (sensor_) sensor_->stop_reader();
  sensor_.reset();
  cg_.reset();
}

void GuardFixture::write_guard_config(const cf_guard_config& cfg) {
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(sensor_->map_fd("guard_config"), &zero, &cfg, BPF_ANY), 0);
}

std::string GuardFixture::write_path_maps(const enforce::CompiledPaths& compiled) const {
  enforce::PathMapFds fds{sensor_->map_fd("guard_paths"), sensor_->map_fd("guard_path_prefix"),
                          sensor_->map_fd("guard_path_suffix"), sensor_->map_fd("guard_path_dirs")};
  return enforce::write_paths(fds, compiled);
}

Outcome GuardFixture::spawn(bool track, void (*body)(const std::string&), const std::string& arg) {
  return run_child(cg_.get(), track ? sensor_.get() : nullptr, [&] { body(arg); });
}

Outcome GuardFixture::spawn(const sensor::TrackedRole& role, void (*body)(const std::string&), const std::string& arg) {
  return run_child(cg_.get(), sensor_.get(), [&] { body(arg); }, {}, role);
}

std::vector<std::string> GuardFixture::records() const {
  std::lock_guard<std::mutex> l(mu_);
  return records_;
}

std::vector<std::string> GuardFixture::records_of(pid_t pid, uint32_t op) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& r : records_) {
    cf_hdr h{};
    if (r.size() < sizeof(h)) continue;
    std::memcpy(&h, r.data(), sizeof(h));
    if (h.op == op && h.tgid == static_cast<uint32_t>(pid)) out.push_back(r);
  }
  return out;
}

std::vector<FileRecord> GuardFixture::file_records(pid_t pid, const std::string& path) const {
  return find_file_records(pid, std::nullopt, path);
}

std::vector<FileRecord> GuardFixture::file_records(pid_t pid, uint32_t file_op, const std::string& path) const {
  return find_file_records(pid, file_op, path);
}

std::vector<FileRecord> GuardFixture::find_file_records(pid_t pid, std::optional<uint32_t> file_op,
                                                        const std::string& path) const {
  std::vector<FileRecord> found;
  eventually(
      [&] {
        found.clear();
        for (const auto& r : records_of(pid, CF_OP_FILE)) {
          if (r.size() < sizeof(cf_file)) continue;
          cf_file f;
          std::memcpy(&f, r.data(), sizeof(f));
          if (f.hdr.size != r.size() || (file_op && f.file_op != *file_op) ||
              sizeof(cf_file) + f.strs.len[0] > r.size())
            continue;
          FileRecord fr{f.file_op, f.result, f.verdict, r.substr(sizeof(cf_file), f.strs.len[0])};
          if (fr.path == path) found.push_back(fr);
        }
        return !found.empty();
      },
      std::chrono::seconds(2));
  return found;
}

Listener::Listener(const char* addr) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, addr, &a.sin_addr);
  socklen_t len = sizeof(a);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd_, 16) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    error_ = std::string("listen on ") + addr + ": " + std::strerror(errno);
    return;
  }
  port_ = ntohs(a.sin_port);
}

Listener::~Listener() {
  if (fd_ >= 0) close(fd_);
}

int Listener::accept_pending() {
  int n = 0;
  for (pollfd p{fd_, POLLIN, 0}; poll(&p, 1, 0) == 1; ++n) {
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) break;
    close(c);
  }
  return n;
}

}  // namespace clawfence::testing
