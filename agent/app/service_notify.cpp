#include "app/service_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace clawfence::app {
namespace {

// One status line: a newline would start another assignment in the notification.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket && *socket;
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, names this process
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceNotifier::ready(const std::string& status) {
  status_ = one_line(status);
  send("READY=1\nSTATUS=" + status_);
}

void ServiceNotifier::stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + one_line(status)); }

int ServiceNotifier::pet_watchdog(const std::string& trouble, Clock::time_point now) {
  if (watchdog_.count() == 0) return -1;
  const auto period = std::chrono::duration_cast<Clock::duration>(watchdog_ / 2);
  if (now >= next_pet_) {
    if (trouble.empty()) {
      if (troubled_) spdlog::info("healthy again: signalling systemd's watchdog again");
      send(troubled_ ? "WATCHDOG=1\nSTATUS=" + status_ : std::string("WATCHDOG=1"));
      troubled_ = false;
      next_pet_ = now + period;
    } else {
      if (!troubled_)
        spdlog::error("{}: no longer signalling systemd's watchdog, which restarts the agent when it runs out", trouble);
      troubled_ = true;
      send("STATUS=" + one_line(trouble) + " (watchdog not signalled)");
      // look again soon, to pet as soon as things move again
      next_pet_ = now + std::min<Clock::duration>(period, std::chrono::seconds(1));
    }
  }
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next_pet_ - now).count());
}

void ServiceNotifier::send(const std::string& message) {
  if (!enabled_) return;
  const int r = sd_notify(0, message.c_str());
  if (r < 0 && !send_failed_) {
    send_failed_ = true;
    spdlog::warn("cannot notify the service manager on $NOTIFY_SOCKET: {}", std::strerror(-r));
  }
}

}  // namespace clawfence::app
