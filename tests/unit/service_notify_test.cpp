// sd_notify as systemd sees it: a datagram socket named by NOTIFY_SOCKET in a temporary directory
// stands in for the service manager (no root needed).
#include "app/service_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "scoped_env.h"
#include "temp_dir.h"

namespace clawfence::app {
namespace {

using clawfence::testing::ScopedEnv;
using clawfence::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;


// The service manager's end: a SOCK_DGRAM socket bound in a temporary directory.
class Listener {
 public:
  explicit Listener(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << path;
  }
  ~Listener() { close(fd_); }
  // Every datagram waiting now (or arriving within `wait`).
  std::vector<std::string> take(milliseconds wait = milliseconds(0)) {
    std::vector<std::string> out;
    for (pollfd p{fd_, POLLIN, 0}; poll(&p, 1, out.empty() ? static_cast<int>(wait.count()) : 0) == 1;) {
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

class ServiceNotify : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string socket_ = dir_ / "notify.sock";
  Listener manager_{socket_};
};

TEST_F(ServiceNotify, ReadyAndStoppingReachTheManager) {
  ScopedEnv sock("NOTIFY_SOCKET", socket_.c_str());
  ScopedEnv wd("WATCHDOG_USEC", nullptr);
  ServiceNotifier n;
  EXPECT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdog_timeout().count(), 0);
  EXPECT_TRUE(manager_.take().empty()) << "nothing before the agent is ready";
  n.ready("watching 3 processes;\n2 programs attached");
  EXPECT_EQ(manager_.take(seconds(2)),
            std::vector<std::string>{"READY=1\nSTATUS=watching 3 processes; 2 programs attached"});
  // without a watchdog the main loop may wait for ever, and nothing is sent
  EXPECT_EQ(n.pet_watchdog(""), -1);
  EXPECT_EQ(n.pet_watchdog("stuck"), -1);
  EXPECT_TRUE(manager_.take(milliseconds(50)).empty());
  n.stopping("stopping; enforcement stays in force (pinned)");
  EXPECT_EQ(manager_.take(seconds(2)),
            std::vector<std::string>{"STOPPING=1\nSTATUS=stopping; enforcement stays in force (pinned)"});
}

TEST_F(ServiceNotify, WatchdogIsPettedAtHalfTheTimeoutWhileHealthy) {
  ScopedEnv sock("NOTIFY_SOCKET", socket_.c_str());
  ScopedEnv wd("WATCHDOG_USEC", "2000000");
  ScopedEnv wpid("WATCHDOG_PID", nullptr);
  ServiceNotifier n;
  ASSERT_EQ(n.watchdog_timeout(), seconds(2));
  n.ready("watching");
  manager_.take(seconds(2));
  const auto t0 = ServiceNotifier::Clock::now();
  EXPECT_EQ(n.pet_watchdog("", t0), 1000);  // the first call pets at once
  EXPECT_EQ(manager_.take(seconds(2)), std::vector<std::string>{"WATCHDOG=1"});
  // woken early (a signal, a rule change): not due yet, the wait is what is left
  EXPECT_EQ(n.pet_watchdog("", t0 + milliseconds(400)), 600);
  EXPECT_TRUE(manager_.take(milliseconds(50)).empty());
  EXPECT_EQ(n.pet_watchdog("", t0 + milliseconds(1000)), 1000);
  EXPECT_EQ(manager_.take(seconds(2)), std::vector<std::string>{"WATCHDOG=1"});
}

TEST_F(ServiceNotify, AStuckPipelineStarvesTheWatchdogUntilItMovesAgain) {
  ScopedEnv sock("NOTIFY_SOCKET", socket_.c_str());
  ScopedEnv wd("WATCHDOG_USEC", "30000000");
  ScopedEnv wpid("WATCHDOG_PID", nullptr);
  ServiceNotifier n;
  n.ready("watching 5 processes");
  manager_.take(seconds(2));
  const auto t0 = ServiceNotifier::Clock::now();
  EXPECT_EQ(n.pet_watchdog("", t0), 15000);
  EXPECT_EQ(manager_.take(seconds(2)), std::vector<std::string>{"WATCHDOG=1"});
  // due, but the pipeline is stuck: no pet; the reason is the status; checked again within a second
  EXPECT_EQ(n.pet_watchdog("the event pipeline has not turned for 6 s", t0 + seconds(15)), 1000);
  EXPECT_EQ(manager_.take(seconds(2)),
            std::vector<std::string>{"STATUS=the event pipeline has not turned for 6 s (watchdog not signalled)"});
  EXPECT_EQ(n.pet_watchdog("the event pipeline has not turned for 7 s", t0 + seconds(16)), 1000);
  for (const auto& m : manager_.take(seconds(2))) EXPECT_EQ(m.find("WATCHDOG=1"), std::string::npos) << m;
  // moving again: pet at once and put the healthy status back
  EXPECT_EQ(n.pet_watchdog("", t0 + seconds(17)), 15000);
  EXPECT_EQ(manager_.take(seconds(2)), std::vector<std::string>{"WATCHDOG=1\nSTATUS=watching 5 processes"});
}

TEST_F(ServiceNotify, WatchdogMeantForAnotherProcessIsIgnored) {
  ScopedEnv sock("NOTIFY_SOCKET", socket_.c_str());
  ScopedEnv wd("WATCHDOG_USEC", "2000000");
  const std::string other = std::to_string(getpid() + 1);
  ScopedEnv wpid("WATCHDOG_PID", other.c_str());
  ServiceNotifier n;
  EXPECT_EQ(n.watchdog_timeout().count(), 0);
  EXPECT_EQ(n.pet_watchdog(""), -1);
  EXPECT_TRUE(manager_.take(milliseconds(50)).empty());
}

TEST_F(ServiceNotify, WithoutNotifySocketNothingIsSentAndTheWatchdogIsOff) {
  ScopedEnv sock("NOTIFY_SOCKET", nullptr);
  ScopedEnv wd("WATCHDOG_USEC", "2000000");  // a stray watchdog variable alone means nothing
  ScopedEnv wpid("WATCHDOG_PID", nullptr);
  ServiceNotifier n;
  EXPECT_FALSE(n.enabled());
  EXPECT_EQ(n.watchdog_timeout().count(), 0);
  n.ready("watching");
  EXPECT_EQ(n.pet_watchdog(""), -1);
  n.stopping("stopping");
  EXPECT_TRUE(manager_.take(milliseconds(100)).empty());
}

TEST_F(ServiceNotify, AManagerThatIsGoneIsNotFatal) {
  const std::string gone = dir_ / "gone.sock";
  ScopedEnv sock("NOTIFY_SOCKET", gone.c_str());
  ScopedEnv wd("WATCHDOG_USEC", "2000000");
  ScopedEnv wpid("WATCHDOG_PID", nullptr);
  ServiceNotifier n;
  n.ready("watching");  // warns once, carries on
  EXPECT_EQ(n.pet_watchdog(""), 1000);
  n.stopping("stopping");
}

}  // namespace
}  // namespace clawfence::app
