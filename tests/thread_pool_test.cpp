// The CPU backend's thread team (backends/cpu/thread_pool.h): every loop index runs exactly
// once, in chunks of at least the grain, whatever the team size and however unevenly the
// chunks take time; errors reach the caller and leave the team usable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/thread_pool.h"

namespace isomer {
namespace {

using cpu::ThreadPool;

struct Coverage {
  std::vector<std::atomic<int>> runs;
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  explicit Coverage(int64_t n) : runs(static_cast<size_t>(n)) {}
  void record(int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) runs[static_cast<size_t>(i)].fetch_add(1);
    std::lock_guard lock(mutex);
    chunks.emplace_back(begin, end);
  }
};

void expect_covered_once(Coverage& c, int64_t n, int64_t grain) {
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(c.runs[static_cast<size_t>(i)].load(), 1) << "index " << i << " of " << n;
  for (const auto& [begin, end] : c.chunks) {
    EXPECT_LT(begin, end);
    if (end != n) {
      EXPECT_GE(end - begin, grain) << "chunk [" << begin << ", " << end << ") of " << n;
    }
  }
}

TEST(ThreadPool, RunsEveryIndexOnceInChunksOfAtLeastTheGrain) {
  for (const int threads : {1, 2, 3, 8})
    for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{100}, int64_t{1000}, int64_t{100003}})
      for (const int64_t grain : {int64_t{1}, int64_t{3}, int64_t{64}}) {
        SCOPED_TRACE(testing::Message() << threads << " threads, n " << n << ", grain " << grain);
        ThreadPool pool(threads);
        Coverage c(n);
        pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) { c.record(begin, end); });
        expect_covered_once(c, n, grain);
      }
}

TEST(ThreadPool, EmptyLoopCallsNothing) {
  ThreadPool pool(2);
  int calls = 0;
  pool.parallel_for(0, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

// One thread's share much slower than the rest: the others take over its chunks, and the
// loop still covers everything once.
TEST(ThreadPool, UnevenChunksAreSharedOut) {
  ThreadPool pool(4);
  const int64_t n = 256;
  Coverage c(n);
  const auto caller = std::this_thread::get_id();
  std::atomic<int64_t> by_others{0};
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    if (std::this_thread::get_id() == caller)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    else
      by_others.fetch_add(end - begin);
    c.record(begin, end);
  });
  expect_covered_once(c, n, 1);
  // The caller's own share is a quarter; a caller sleeping 20 ms per chunk finishes few chunks
  // while three threads run through the rest.
  EXPECT_GT(by_others.load(), n * 3 / 4);
}

TEST(ThreadPool, RethrowsTheFirstErrorAndStaysUsable) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(1000, 1,
                                 [&](int64_t begin, int64_t end) {
                                   if (begin <= 500 && 500 < end) throw std::runtime_error("chunk with 500");
                                 }),
               std::runtime_error);
  for (int round = 0; round < 200; ++round) {
    Coverage c(333);
    pool.parallel_for(333, 2, [&](int64_t begin, int64_t end) { c.record(begin, end); });
    expect_covered_once(c, 333, 2);
  }
}

// Several teams driven from several threads at once (sessions on different contexts).
TEST(ThreadPool, TeamsOnSeveralThreadsAtOnce) {
  std::vector<std::thread> drivers;
  std::atomic<int> failures{0};
  for (int d = 0; d < 4; ++d)
    drivers.emplace_back([&] {
      ThreadPool pool(3);
      for (int round = 0; round < 100; ++round) {
        std::vector<std::atomic<int>> runs(517);
        pool.parallel_for(517, 1, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) runs[static_cast<size_t>(i)].fetch_add(1);
        });
        for (auto& r : runs)
          if (r.load() != 1) failures.fetch_add(1);
      }
    });
  for (auto& t : drivers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace isomer
