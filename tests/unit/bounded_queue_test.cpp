// BoundedQueue: drops are counted, order is kept, close ends the consumer.
#include "sensor/bounded_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace clawfence::sensor {
namespace {

using std::chrono::milliseconds;

TEST(BoundedQueueTest, PushBeyondCapacityCountsDrops) {
  BoundedQueue<int> q(2);
  EXPECT_EQ(q.capacity(), 2u);
  EXPECT_TRUE(q.push(1));
  EXPECT_TRUE(q.push(2));
  EXPECT_FALSE(q.push(3));
  EXPECT_FALSE(q.push(4));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.dropped(), 2u);
}

TEST(BoundedQueueTest, PopBatchKeepsOrderAndHonoursMax) {
  BoundedQueue<int> q(10);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(q.push(i));
  std::vector<int> out;
  ASSERT_TRUE(q.pop_batch(out, 3, milliseconds(0)));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  ASSERT_TRUE(q.pop_batch(out, 10, milliseconds(0)));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3, 4, 5}));  // appended
  EXPECT_EQ(q.size(), 0u);
  // Room again after popping.
  EXPECT_TRUE(q.push(6));
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(BoundedQueueTest, EmptyOpenQueueTimesOutWithTrue) {
  BoundedQueue<int> q(1);
  std::vector<int> out;
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(q.pop_batch(out, 8, milliseconds(20)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(15));
  EXPECT_TRUE(out.empty());
}

TEST(BoundedQueueTest, CloseDrainsThenReturnsFalse) {
  BoundedQueue<int> q(4);
  q.push(1);
  q.push(2);
  q.close();
  EXPECT_FALSE(q.push(3));  // closed: refused and counted
  EXPECT_EQ(q.dropped(), 1u);
  std::vector<int> out;
  EXPECT_TRUE(q.pop_batch(out, 1, milliseconds(0)));
  EXPECT_TRUE(q.pop_batch(out, 1, milliseconds(0)));
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  EXPECT_FALSE(q.pop_batch(out, 1, milliseconds(1000)));  // returns at once: no wait when closed
  EXPECT_EQ(out.size(), 2u);
}

TEST(BoundedQueueTest, CloseWakesAWaitingConsumer) {
  BoundedQueue<int> q(4);
  std::vector<int> out;
  bool result = true;
  auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] { result = q.pop_batch(out, 4, milliseconds(5000)); });
  std::this_thread::sleep_for(milliseconds(20));
  q.close();
  consumer.join();
  EXPECT_FALSE(result);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

TEST(BoundedQueueTest, PushWakesAWaitingConsumer) {
  BoundedQueue<int> q(4);
  std::vector<int> out;
  auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] { q.pop_batch(out, 4, milliseconds(5000)); });
  std::this_thread::sleep_for(milliseconds(20));
  q.push(42);
  consumer.join();
  EXPECT_EQ(out, (std::vector<int>{42}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

// A poll's records go in together: in order, what does not fit dropped and counted, the
// producer's batch left empty for the next poll, and a waiting consumer woken.
TEST(BoundedQueueTest, PushAllKeepsOrderDropsTheOverflowAndWakes) {
  BoundedQueue<int> q(3);
  ASSERT_TRUE(q.push(1));
  std::vector<int> batch{2, 3, 4, 5};
  EXPECT_EQ(q.push_all(batch), 2u);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(q.dropped(), 2u);
  std::vector<int> out;
  ASSERT_TRUE(q.pop_batch(out, 10, milliseconds(0)));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));

  out.clear();
  std::thread consumer([&] { q.pop_batch(out, 10, milliseconds(5000)); });
  std::this_thread::sleep_for(milliseconds(20));
  batch = {6, 7};
  EXPECT_EQ(q.push_all(batch), 0u);
  consumer.join();
  EXPECT_FALSE(out.empty());
  EXPECT_EQ(out.front(), 6);
  q.close();
  batch = {8};
  EXPECT_EQ(q.push_all(batch), 1u);  // closed: dropped
}

TEST(BoundedQueueTest, ManyProducersNothingLostOrDuplicated) {
  constexpr int kProducers = 4, kEach = 2000;
  BoundedQueue<int> q(kProducers * kEach);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kEach; ++i) q.push(p * kEach + i);
    });
  for (auto& t : producers) t.join();
  std::vector<int> out;
  q.close();
  while (q.pop_batch(out, 512, milliseconds(0))) {
  }
  ASSERT_EQ(out.size(), static_cast<size_t>(kProducers * kEach));
  EXPECT_EQ(q.dropped(), 0u);
  std::vector<bool> seen(out.size(), false);
  for (int v : out) {
    ASSERT_FALSE(seen[v]) << v;
    seen[v] = true;
  }
}

TEST(BoundedQueueTest, MoveOnlyItems) {
  BoundedQueue<std::unique_ptr<int>> q(2);
  EXPECT_TRUE(q.push(std::make_unique<int>(7)));
  std::vector<std::unique_ptr<int>> out;
  ASSERT_TRUE(q.pop_batch(out, 1, milliseconds(0)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0], 7);
}

}  // namespace
}  // namespace clawfence::sensor
