#include "output/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/thread_name.h"

namespace clawfence::output {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Label values escape backslash, double quote and newline; help text backslash and newline.
std::string escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

void append_family(std::string& out, const std::string& name, const std::string& type, const std::string& help,
                   const std::vector<Sample>& samples) {
  out += "# HELP " + name + " " + escape(help, false) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
  for (const auto& s : samples) {
    out += name;
    if (!s.labels.empty()) {
      out += "{";
      for (size_t i = 0; i < s.labels.size(); ++i) {
        if (i) out += ",";
        out += s.labels[i].first + "=\"" + escape(s.labels[i].second, true) + "\"";
      }
      out += "}";
    }
    out += " " + number(s.value) + "\n";
  }
}

// "" when host:port can be bound by a socket that does not share it.
std::string address_free(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return "not a numeric address of this host";
  std::string err;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) err = std::strerror(errno);
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return err;
}

}  // namespace

Metrics::Metrics() = default;

Metrics::~Metrics() { stop(); }

void Metrics::write(const v1::Event& ev) {
  const size_t kind = static_cast<size_t>(ev.kind());
  if (kind < events_by_kind_.size()) events_by_kind_[kind].fetch_add(1, std::memory_order_relaxed);
  if (ev.kind() == v1::Event::ALERT) {
    std::lock_guard<std::mutex> l(mu_);
    ++alerts_[{ev.alert().rule_id(), ev.alert().severity()}];
    ++outcomes_[ev.alert().outcome()];
  } else if (ev.kind() == v1::Event::GAP) {
    std::lock_guard<std::mutex> l(mu_);
    lost_[ev.gap().where()] += ev.gap().lost();
  }
}

void Metrics::add_family(const std::string& name, const std::string& type, const std::string& help,
                         std::function<std::vector<Sample>()> collect) {
  families_.push_back({name, type, help, std::move(collect)});
}

std::string Metrics::render() const {
  std::string out;
  std::vector<Sample> events;
  for (int k = v1::Event::Kind_MIN; k <= v1::Event::Kind_MAX; ++k) {
    if (!v1::Event::Kind_IsValid(k) || k == v1::Event::KIND_UNSPECIFIED) continue;
    events.push_back({{{"kind", lower(v1::Event::Kind_Name(static_cast<v1::Event::Kind>(k)))}},
                      static_cast<double>(events_by_kind_[static_cast<size_t>(k)].load(std::memory_order_relaxed))});
  }
  append_family(out, "clawfence_events_total", "counter", "Events written to the outputs, by kind.", events);
  std::vector<Sample> alerts, outcomes, lost;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, n] : alerts_) alerts.push_back({{{"rule", k.first}, {"severity", k.second}}, double(n)});
    for (const auto& [k, n] : outcomes_) outcomes.push_back({{{"outcome", k}}, double(n)});
    for (const auto& [k, n] : lost_) lost.push_back({{{"where", k}}, double(n)});
  }
  append_family(out, "clawfence_alerts_total", "counter", "Alerts raised, by rule and severity.", alerts);
  append_family(out, "clawfence_alert_outcomes_total", "counter",
                "Alerts by what was done: alerted, blocked, killed, would-block, would-kill.", outcomes);
  append_family(out, "clawfence_records_lost_total", "counter",
                "Records lost on the way to the outputs, by where (as reported in gap records).", lost);
  for (const auto& f : families_) append_family(out, f.name, f.type, f.help, f.collect());
  return out;
}

bool parse_listen_address(const std::string& address, std::string* host, int* port) {
  std::string h, p;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') return false;
    h = address.substr(1, close - 1);
    p = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
  }
  if (h.empty() || p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), ::isdigit)) return false;
  int n = std::stoi(p);
  if (n > 65535) return false;
  *host = h;
  *port = n;
  return true;
}

std::string Metrics::serve(const std::string& address) {
  std::string host;
  int port = 0;
  if (!parse_listen_address(address, &host, &port))
    return "metrics address '" + address + "' is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)";
  if (server_) return "metrics are already served";
  // cpp-httplib binds with SO_REUSEPORT, which would let a second agent share the port without
  // a word: a plain bind first finds an address in use.
  if (port != 0) {
    if (auto err = address_free(host, port); !err.empty()) return "cannot listen for metrics on " + address + ": " + err;
  }
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why = unhealthy_ ? unhealthy_() : std::string();
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ok\n" : why + "\n", "text/plain");
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host.c_str());
    if (port_ < 0) return "cannot listen for metrics on " + address;
  } else {
    if (!server_->bind_to_port(host.c_str(), port))
      return "cannot listen for metrics on " + address + " (address in use, or not an address of this host)";
    port_ = port;
  }
  thread_ = std::thread([this] {
    common::name_this_thread("cf-metrics");
    server_->listen_after_bind();
  });
  // stop() before the listening loop runs would not end it: wait until it does (bounded)
  for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return "";
}

void Metrics::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace clawfence::output
