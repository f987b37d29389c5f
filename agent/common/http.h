// What the agent's HTTP clients (PagerDuty, the pod list) share: libcurl's one-time global set-up
// and the loopback test that decides where plain http is allowed.
#pragma once

#include <string>

namespace clawfence::common {

// curl_global_init, once per process, before the first easy handle.
void init_curl_once();

// localhost, 127.0.0.0/8 or ::1 (brackets allowed): the only hosts plain http may go to, since
// that traffic never leaves the machine.
bool is_loopback_host(std::string host);

}  // namespace clawfence::common
