// The real OpenClaw for tests and benchmarks: the install scripts/install-openclaw.sh made, a
// loopback model provider that answers with exec-tool calls (tests/openclaw/mock_model.py), a
// loopback sink that keeps what it is sent, a gateway state directory, and the gateway itself
// started as production starts it (`openclaw gateway --bind loopback`), driven through its
// OpenAI-compatible chat endpoint.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace httplib {
class Server;
}

namespace clawfence::testing {

struct OpenClawInstall {
  std::string dir;          // build/openclaw
  std::string node_bin;     // the directory of Node 26's `node`: first on the gateway's PATH
  std::string openclaw;     // the CLI
  std::string package_dir;  // node_modules/openclaw
  // Finds the install under the build directory ($CLAWFENCE_OPENCLAW_DIR wins). "" when found,
  // else why not (for a test's skip message).
  static std::string find(OpenClawInstall* out);
};

// A free TCP port on 127.0.0.1 (bound, read, closed: good for a server started right after).
uint16_t free_loopback_port();

// tests/openclaw/mock_model.py on a free loopback port. A user message with `RUN: <command>`
// gets a call of the exec tool with that command; a tool result, text quoting it.
class MockModel {
 public:
  explicit MockModel(const std::string& dir);
  ~MockModel();
  bool ready() const { return port_ != 0; }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<Child> child_;
  uint16_t port_ = 0;
};

// An HTTP server on 127.0.0.1 that answers every POST with 200 and keeps every body.
class Sink {
 public:
  Sink();
  ~Sink();
  uint16_t port() const { return port_; }
  std::string received() const;  // every body so far, one after the other
  size_t requests() const;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::string received_;
  size_t requests_ = 0;
};

// A gateway's state directory: HOME/.openclaw/openclaw.json with the chat endpoint on and the
// mock model as the provider (as a user configures a local model server).
std::string make_gateway_home(const std::string& dir, uint16_t model_port);

// `openclaw gateway --allow-unconfigured --auth none --bind loopback --port PORT`, HOME its
// state directory, Node 26 first on PATH, `env` added to the environment; in `cgroup`.
class Gateway {
 public:
  Gateway(const OpenClawInstall& oc, const std::string& home, uint16_t port, const std::string& cgroup,
          const std::string& log, const std::vector<std::string>& env = {});
  ~Gateway();
  pid_t pid() const;
  uint16_t port() const { return port_; }
  // Polls GET /v1/models until it answers 200 (the gateway serves) or `timeout` passes.
  bool wait_serving(std::chrono::seconds timeout);
  // One POST /v1/chat/completions with a user message: the assistant's answer, or "" (and
  // *error says why).
  std::string chat(const std::string& message, std::string* error = nullptr,
                   std::chrono::seconds timeout = std::chrono::seconds(120));
  // SIGTERM, then SIGKILL after `grace`; what the gateway left in its cgroup is killed too.
  int stop(std::chrono::seconds grace = std::chrono::seconds(10));
  std::string log() const;

 private:
  std::string log_, cgroup_;
  uint16_t port_;
  std::unique_ptr<Child> child_;
  bool stopped_ = false;
};

}  // namespace clawfence::testing
