#include "app/alert_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "proto/timestamp.h"

namespace clawfence::app {
namespace {

// A synthetic info alert from this process, built like any other so that the test shows the
// real shape of what clawfence sends; its dedup_key is the same on every run from a host.
v1::PagerDutyEvent test_event(const std::string& host) {
  v1::Event ev;
  v1::set_timestamp(v1::unix_now_ns(), ev.mutable_time());
  ev.set_kind(v1::Event::ALERT);
  ev.mutable_process()->set_pid(static_cast<uint32_t>(getpid()));
  ev.mutable_process()->set_comm("clawfence");
  v1::Alert* a = ev.mutable_alert();
  a->set_rule_id("clawfence-test");
  a->set_severity("info");
  a->set_action("alert");
  a->set_outcome("alerted");
  a->set_description("test alert");
  v1::PagerDutyEvent out = output::build_trigger(ev, host);
  out.mutable_payload()->set_summary("clawfence test alert from " + host);
  out.mutable_payload()->set_class_("test");
  return out;
}

}  // namespace

int alert_test(const output::PagerDutyOptions& given) {
  output::PagerDutyOptions opts = given;
  if (opts.host.empty()) opts.host = output::host_name();
  if (std::string err = output::check_endpoint(opts.url); !err.empty()) {
    std::fprintf(stderr, "clawfence alert test: %s\n", err.c_str());
    return 2;
  }
  std::string key;
  if (std::string err = output::load_routing_key(opts, &key); !err.empty()) {
    std::fprintf(stderr, "clawfence alert test: %s\n", err.c_str());
    return 2;
  }
  const v1::PagerDutyEvent event = test_event(opts.host);
  std::printf("sending a test event to %s (dedup_key %s)\n", opts.url.c_str(), event.dedup_key().c_str());
  const output::EnqueueAnswer answer = output::send_event(opts, key, event);
  if (answer.http_status == 0) {
    std::printf("no answer: %s\n", answer.error.c_str());
    return 1;
  }
  std::printf("HTTP %ld\n", answer.http_status);
  const v1::PagerDutyResponse& r = answer.response;
  if (!r.status().empty() || !r.message().empty()) {
    std::printf("status: %s\nmessage: %s\n", r.status().c_str(), r.message().c_str());
    if (!r.dedup_key().empty()) std::printf("dedup_key: %s\n", r.dedup_key().c_str());
    for (const auto& e : r.errors()) std::printf("error: %s\n", e.c_str());
  } else if (!answer.body.empty()) {
    // Not PagerDuty's JSON (a proxy's or another server's page): shown, without control bytes.
    std::string body = answer.body.substr(0, 2000);
    for (char& c : body) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = ' ';
    }
    std::printf("%s\n", body.c_str());
  }
  std::fflush(stdout);
  return answer.http_status >= 200 && answer.http_status < 300 ? 0 : 1;
}

}  // namespace clawfence::app
