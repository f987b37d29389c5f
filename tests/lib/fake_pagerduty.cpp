#include "fake_pagerduty.h"

#include <google/protobuf/util/json_util.h>

#include <set>

namespace clawfence::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

size_t utf8_chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::string pagerduty_schema_error(const httplib::Request& req, const std::string& routing_key, v1::PagerDutyEvent* ev) {
  if (req.get_header_value("Content-Type") != "application/json") return "Content-Type is not application/json";
  for (const char* field : {"\"routing_key\":", "\"event_action\":", "\"dedup_key\":"}) {
    if (req.body.find(field) == std::string::npos) return std::string("missing ") + field;
  }
  // Strict: an unknown field name (a camelCase one, a typo) fails here.
  if (!google::protobuf::util::JsonStringToMessage(req.body, ev).ok()) return "not an Events v2 JSON object";
  if (ev->routing_key() != routing_key) return "wrong routing_key";
  if (ev->event_action() != "trigger" && ev->event_action() != "resolve") return "bad event_action";
  if (ev->dedup_key().empty() || ev->dedup_key().size() > 255) return "bad dedup_key";
  if (ev->event_action() == "resolve") return "";
  const v1::PagerDutyPayload& p = ev->payload();
  if (req.body.find("\"payload\":{") == std::string::npos) return "trigger without payload";
  if (p.summary().empty() || utf8_chars(p.summary()) > 1024) return "bad payload.summary";
  if (p.source().empty()) return "missing payload.source";
  const std::set<std::string> severities{"critical", "error", "warning", "info"};
  if (!severities.count(p.severity())) return "bad payload.severity";
  if (req.body.find("\"timestamp\":\"") == std::string::npos || !p.has_timestamp()) return "bad payload.timestamp";
  if (!p.custom_details().has_process() || !p.custom_details().has_alert()) {
    return "custom_details without process or alert";
  }
  return "";
}

FakePagerDuty::FakePagerDuty(std::string routing_key, std::string host)
    : key_(std::move(routing_key)), host_(std::move(host)) {
  server_.Post("/v2/enqueue", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
  server_.set_keep_alive_timeout(1);
  port_ = server_.bind_to_any_port(host_);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
}

FakePagerDuty::~FakePagerDuty() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  server_.stop();
  thread_.join();
}

void FakePagerDuty::answer_next(std::vector<Answer> answers) {
  std::lock_guard<std::mutex> lock(mutex_);
  script_.insert(script_.end(), answers.begin(), answers.end());
}

void FakePagerDuty::answer_by_default(Answer a) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_ = a;
}

std::vector<Received> FakePagerDuty::received() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

std::map<std::string, int> FakePagerDuty::accepted_by_key() const {
  std::map<std::string, int> out;
  for (const auto& r : received())
    if (r.answer == Answer::kAccept && r.schema_error.empty()) ++out[r.dedup_key];
  return out;
}

std::map<std::string, int> FakePagerDuty::accepted_by_marker() const {
  std::map<std::string, int> out;
  for (const auto& r : received())
    if (r.answer == Answer::kAccept && r.schema_error.empty() && r.action == "trigger") ++out[r.marker];
  return out;
}

std::vector<std::string> FakePagerDuty::schema_errors() const {
  std::vector<std::string> out;
  for (const auto& r : received())
    if (!r.schema_error.empty()) out.push_back(r.schema_error);
  return out;
}

void FakePagerDuty::handle(const httplib::Request& req, httplib::Response& res) {
  Received r;
  r.at = Clock::now();
  v1::PagerDutyEvent ev;
  r.schema_error = pagerduty_schema_error(req, key_, &ev);
  r.rule_id = ev.payload().custom_details().alert().rule_id();
  r.action = ev.event_action();
  r.dedup_key = ev.dedup_key();
  r.marker = ev.payload().custom_details().alert().evidence().path();
  r.summary = ev.payload().summary();
  r.severity = ev.payload().severity();
  std::unique_lock<std::mutex> lock(mutex_);
  if (!script_.empty()) {
    r.answer = script_.front();
    script_.pop_front();
  } else {
    r.answer = default_;
  }
  if (!r.schema_error.empty()) r.answer = Answer::kReject;
  received_.push_back(r);
  switch (r.answer) {
    case Answer::kAccept:
      res.status = 202;
      res.set_content(R"({"status":"success","message":"Event processed","dedup_key":")" + r.dedup_key + "\"}",
                      "application/json");
      break;
    case Answer::kReject:
      // Quotes the routing key back, as a careless server might: the client must mask it.
      res.status = 400;
      res.set_content(R"({"status":"invalid event","message":"Event object is invalid","errors":[")" +
                          (r.schema_error.empty() ? "Length of 'summary' is invalid" : r.schema_error) +
                          " (routing_key " + key_ + ")\"]}",
                      "application/json");
      break;
    case Answer::kTooMany:
      res.status = 429;
      res.set_content(R"({"status":"throttle event","message":"Requests for this service are arriving too quickly."})",
                      "application/json");
      break;
    case Answer::kNotFound:  // a wrong URL, or a proxy in the way
      res.status = 404;
      res.set_content("not found", "text/plain");
      break;
    case Answer::kServerError:
      res.status = 500;
      res.set_content("internal error", "text/plain");
      break;
    case Answer::kHang:
      changed_.wait_for(lock, 3s, [this] { return closing_; });
      res.status = 500;
      break;
  }
}


}  // namespace clawfence::testing
