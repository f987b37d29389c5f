// Prometheus metrics: counted from the event stream (events by kind, alerts by rule and
// severity, records lost by where) and read at scrape time from the parts that keep their own
// counts (the kernel's counters, the tracked set, the ring buffer, the outputs). Served in the
// Prometheus text exposition format (version 0.0.4) with /healthz beside it, by cpp-httplib on
// its own thread. There is no Prometheus client library in Debian 12; the format is a few lines
// per family, written here.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "output/output.h"

namespace httplib {
class Server;
}

namespace clawfence::output {

// One sample of a family: label pairs and a value.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class Metrics : public EventOutput {
 public:
  Metrics();
  ~Metrics() override;

  void write(const v1::Event& ev) override;

  // A family read at scrape time. `type` is counter or gauge; `collect` runs on the HTTP thread
  // and must be thread-safe.
  void add_family(const std::string& name, const std::string& type, const std::string& help,
                  std::function<std::vector<Sample>()> collect);

  // The whole exposition, as /metrics serves it.
  std::string render() const;

  // Liveness: `alive` says whether the agent's pipeline still turns (it is asked per request).
  void set_health(std::function<std::string()> unhealthy_reason) { unhealthy_ = std::move(unhealthy_reason); }

  // Serves /metrics and /healthz on host:port ("127.0.0.1:9464", "[::1]:9464"). Returns "" or
  // why it could not listen.
  std::string serve(const std::string& address);
  // The port actually bound (after serve; useful with port 0).
  int port() const { return port_; }
  void stop();

 private:
  struct Family {
    std::string name, type, help;
    std::function<std::vector<Sample>()> collect;
  };
  std::vector<Family> families_;
  std::array<std::atomic<uint64_t>, 32> events_by_kind_{};
  mutable std::mutex mu_;  // the maps below: written by the pipeline, read by the HTTP thread
  std::map<std::pair<std::string, std::string>, uint64_t> alerts_;  // (rule, severity)
  std::map<std::string, uint64_t> outcomes_;                        // alert outcome
  std::map<std::string, uint64_t> lost_;                            // gap where → records
  std::function<std::string()> unhealthy_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" / "[v6]:port"; false when it is not one.
bool parse_listen_address(const std::string& address, std::string* host, int* port);

}  // namespace clawfence::output
