// Tells the service manager how the agent is doing, through libsystemd's sd_notify: READY=1 once
// the programs are attached and the guards applied (Type=notify units wait for it, and so does
// anything ordered after the unit), a STATUS= line for `systemctl status`, WATCHDOG=1 while the
// event pipeline turns, STOPPING=1 on the way out. Outside systemd (no NOTIFY_SOCKET in the
// environment) every call does nothing.
#pragma once

#include <chrono>
#include <string>

namespace clawfence::app {

class ServiceNotifier {
 public:
  using Clock = std::chrono::steady_clock;

  // Reads NOTIFY_SOCKET and the watchdog (WATCHDOG_USEC, and WATCHDOG_PID when set) from the
  // environment, once.
  ServiceNotifier();

  // Whether a service manager listens (NOTIFY_SOCKET is set).
  bool enabled() const { return enabled_; }
  // The watchdog timeout systemd enforces (WatchdogSec=); zero when there is none.
  std::chrono::microseconds watchdog_timeout() const { return watchdog_; }

  // READY=1 with the status line shown while healthy.
  void ready(const std::string& status);
  void stopping(const std::string& status);

  // Called from the main loop whenever it wakes. `trouble` is "" while the agent is healthy, else
  // why it is not: then the watchdog is left to expire (systemd restarts the agent) and the reason
  // becomes the status line. Pets at half the timeout, as systemd advises. Returns how many
  // milliseconds the loop may sleep before the next call is due; -1 when there is no watchdog.
  int pet_watchdog(const std::string& trouble, Clock::time_point now = Clock::now());

 private:
  void send(const std::string& message);

  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  Clock::time_point next_pet_{};  // the epoch: the first call pets
  std::string status_;            // the last healthy status, restored when the trouble ends
  bool troubled_ = false;
  bool send_failed_ = false;      // warned once
};

}  // namespace clawfence::app
