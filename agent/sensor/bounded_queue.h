// A bounded multi-producer queue. A full queue drops and counts: the ring-buffer reader must
// never wait on the slow consumers behind it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace clawfence::sensor {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // Returns false (and counts a drop) when full or closed.
  bool push(T item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_ || items_.size() >= capacity_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
    return true;
  }

  // Pushes all of `items` under one lock with one wakeup; what does not fit is dropped and
  // counted. Returns how many were dropped; `items` is left empty.
  template <typename Container>
  size_t push_all(Container& items) {
    if (items.empty()) return 0;
    size_t dropped = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& item : items) {
        if (closed_ || items_.size() >= capacity_) {
          ++dropped;
          continue;
        }
        items_.push_back(std::move(item));
      }
    }
    items.clear();
    if (dropped) dropped_.fetch_add(dropped, std::memory_order_relaxed);
    cv_.notify_one();
    return dropped;
  }

  // Moves up to `max` items into `out`; waits up to `timeout` for the first. Returns false once
  // closed and empty.
  template <typename Container>
  bool pop_batch(Container& out, size_t max, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return !closed_;
    while (!items_.empty() && max-- > 0) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return true;
  }

  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace clawfence::sensor
