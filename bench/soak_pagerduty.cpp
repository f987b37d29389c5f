// The PagerDuty stand-in of `make soak` (scripts/soak.sh): tests/lib/fake_pagerduty's schema-
// checking Events API v2 server, accepting everything, on a loopback address and a port the
// kernel picks. It prints its URL once it listens, then waits for SIGTERM or SIGINT and prints
// what it received, so the soak can compare it with what the agent says it sent:
//
//   url http://127.0.0.50:41234/v2/enqueue
//   ... (on SIGTERM)
//   received 120
//   accepted 120           answered 202: matched the schema
//   triggers 120           of those, event_action trigger
//   schema_errors 0
//   schema_error <why>     one line per request that broke the schema
//   key <dedup_key> <n>    accepted requests per dedup key
//   marker <path> <n>      accepted triggers per evidence path
//
//   soak_pagerduty [HOST]  HOST defaults to 127.0.0.50; the routing key is $CLAWFENCE_PAGERDUTY_KEY
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fake_pagerduty.h"

int main(int argc, char** argv) {
  const char* key = std::getenv("CLAWFENCE_PAGERDUTY_KEY");
  if (key == nullptr || *key == '\0') {
    std::fprintf(stderr, "soak_pagerduty: set CLAWFENCE_PAGERDUTY_KEY to the routing key the agent uses\n");
    return 2;
  }
  const std::string host = argc > 1 ? argv[1] : "127.0.0.50";

  // Blocked before the server's threads start, so they inherit the mask and sigwait below is the
  // only one to see the signal.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  int received = 0, accepted = 0, triggers = 0;
  {
    clawfence::testing::FakePagerDuty fake(key, host);
    if (!fake.ok()) {
      std::fprintf(stderr, "soak_pagerduty: cannot listen on %s\n", host.c_str());
      return 1;
    }
    std::printf("url %s\n", fake.url().c_str());
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);

    const auto all = fake.received();
    received = static_cast<int>(all.size());
    for (const auto& r : all) {
      if (r.answer != clawfence::testing::Answer::kAccept || !r.schema_error.empty()) continue;
      ++accepted;
      triggers += r.action == "trigger";
    }
    const auto errors = fake.schema_errors();
    std::printf("received %d\naccepted %d\ntriggers %d\nschema_errors %zu\n", received, accepted, triggers,
                errors.size());
    for (const auto& e : errors) std::printf("schema_error %s\n", e.c_str());
    for (const auto& [k, n] : fake.accepted_by_key()) std::printf("key %s %d\n", k.c_str(), n);
    for (const auto& [m, n] : fake.accepted_by_marker()) std::printf("marker %s %d\n", m.c_str(), n);
  }
  std::fflush(stdout);
  return 0;
}
