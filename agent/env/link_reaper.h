// Destroys uprobe links off the caller's thread. Closing a uprobe's perf event waits for the
// kernel's RCU grace periods (70-85 ms each on this VM, measured with strace): one after another
// on the event pipeline's thread, a tool's exit stalled every event behind it for half a second.
// The reaper's thread takes what is pending and destroys each link on a short-lived thread of its
// own, so their waits overlap: a batch costs one wait, whatever its size.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace clawfence::env {

class LinkReaper {
 public:
  using DestroyFn = std::function<void(void*)>;
  explicit LinkReaper(DestroyFn destroy);
  ~LinkReaper();  // destroys what is still pending before it returns
  LinkReaper(const LinkReaper&) = delete;
  LinkReaper& operator=(const LinkReaper&) = delete;

  void add(void* link);
  size_t pending() const;    // added, not yet destroyed
  size_t destroyed() const;  // since start

  // At most this many links are destroyed at once (threads per batch).
  static constexpr size_t kBatchMax = 64;

 private:
  void run();

  const DestroyFn destroy_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<void*> pending_;
  size_t in_flight_ = 0;
  size_t destroyed_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace clawfence::env
