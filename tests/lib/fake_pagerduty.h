// A stand-in for PagerDuty's Events API v2 on 127.0.0.1 (or another loopback address; a port the
// kernel picks), for the unit and end-to-end tests and the soak (bench/soak_pagerduty): it checks
// every POST /v2/enqueue against the Events v2 schema and answers as the test scripts it: 202,
// 400, 429, 500, or not at all (for 3 s, longer than a client's timeout in the tests).
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::testing {

enum class Answer { kAccept, kReject, kTooMany, kServerError, kHang, kNotFound };

struct Received {
  std::chrono::steady_clock::time_point at;
  std::string action;
  std::string dedup_key;
  std::string marker;        // the alert's evidence path
  std::string summary;
  std::string severity;
  std::string rule_id;
  std::string schema_error;  // "" when the request matched the Events v2 schema
  Answer answer = Answer::kAccept;
};

// What PagerDuty requires of POST /v2/enqueue, checked on the JSON as sent; "" when it holds.
std::string pagerduty_schema_error(const httplib::Request& req, const std::string& routing_key, v1::PagerDutyEvent* ev);

class FakePagerDuty {
 public:
  explicit FakePagerDuty(std::string routing_key, std::string host = "127.0.0.1");
  ~FakePagerDuty();

  bool ok() const { return port_ > 0; }
  std::string url() const { return "http://" + host_ + ":" + std::to_string(port_) + "/v2/enqueue"; }

  // The next answers, in order; after them, the default.
  void answer_next(std::vector<Answer> answers);
  void answer_by_default(Answer a);

  std::vector<Received> received() const;
  // Requests answered 202, by dedup_key and by marker.
  std::map<std::string, int> accepted_by_key() const;
  std::map<std::string, int> accepted_by_marker() const;
  std::vector<std::string> schema_errors() const;

 private:
  void handle(const httplib::Request& req, httplib::Response& res);

  std::string key_;
  std::string host_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool closing_ = false;
  std::deque<Answer> script_;
  Answer default_ = Answer::kAccept;
  std::vector<Received> received_;
};

}  // namespace clawfence::testing
