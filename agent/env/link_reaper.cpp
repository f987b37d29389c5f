#include "env/link_reaper.h"

#include <algorithm>

#include "common/thread_name.h"

namespace clawfence::env {

LinkReaper::LinkReaper(DestroyFn destroy) : destroy_(std::move(destroy)), thread_([this] { run(); }) {}

LinkReaper::~LinkReaper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LinkReaper::add(void* link) {
  if (!link) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(link);
  }
  wake_.notify_one();
}

size_t LinkReaper::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size() + in_flight_;
}

size_t LinkReaper::destroyed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return destroyed_;
}

void LinkReaper::run() {
  common::name_this_thread("cf-env-reaper");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    const size_t n = std::min(pending_.size(), kBatchMax);
    std::vector<void*> batch(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_ = n;
    lock.unlock();
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (void* link : batch) {
      try {
        threads.emplace_back([this, link] { destroy_(link); });
      } catch (const std::system_error&) {
        destroy_(link);  // no thread to be had: here, waiting its turn
      }
    }
    for (std::thread& t : threads) t.join();
    lock.lock();
    in_flight_ = 0;
    destroyed_ += n;
  }
}

}  // namespace clawfence::env
