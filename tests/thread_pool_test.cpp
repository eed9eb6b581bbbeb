// The CPU backend's thread team (backends/cpu/thread_pool.h): every loop index runs exactly
// once, in chunks of at least the grain, whatever the team size and however unevenly the
// chunks take time; errors reach the caller and leave the team usable; each thread starts where
// share_begin says, and fetch hints change nothing a loop computes. Also where mat_mul's
// threads start reading weights (backends/cpu/kernels.h), which they fetch while waiting.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/kernels.h"
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

// Every thread runs the front of its own share first (the others take chunks from the back of
// a share only once theirs is done, here after 12 or more chunks of 2 ms): the first chunk each thread
// runs begins at its share_begin.
TEST(ThreadPool, EachThreadStartsWhereShareBeginSays) {
  for (const int threads : {2, 3, 4}) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    ThreadPool pool(threads);
    const int64_t n = 100;
    std::mutex mutex;
    std::map<std::thread::id, int64_t> first;
    pool.parallel_for(n, 1, [&](int64_t begin, int64_t) {
      {
        std::lock_guard lock(mutex);
        first.try_emplace(std::this_thread::get_id(), begin);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    std::set<int64_t> starts, expected;
    for (const auto& [id, begin] : first) starts.insert(begin);
    for (int t = 0; t < threads; ++t) expected.insert(pool.share_begin(n, 1, t));
    EXPECT_EQ(starts, expected);
    EXPECT_EQ(first.at(std::this_thread::get_id()), 0);  // the caller's share is the first
    EXPECT_EQ(pool.share_begin(n, 1, threads), n);
  }
  ThreadPool pool(2);
  EXPECT_EQ(pool.share_begin(5, 8, 0), 0);  // one chunk: the caller runs it all
  EXPECT_EQ(pool.share_begin(5, 8, 1), 5);
}

// Fetch hints, however stale or empty, leave every loop's work as it was.
TEST(ThreadPool, FetchHintsChangeNoResult) {
  ThreadPool pool(3);
  std::vector<uint8_t> weights(1 << 20);
  for (int round = 0; round < 200; ++round) {
    for (int t = 0; t < pool.size(); ++t) {
      const size_t at = static_cast<size_t>((round * 7919 + t * 104729) % (1 << 19));
      if (round % 3 == 0)
        pool.fetch_while_idle(t, nullptr, 0);
      else
        pool.fetch_while_idle(t, weights.data() + at, weights.size() - at);
    }
    Coverage c(1000);
    pool.parallel_for(1000, 3, [&](int64_t begin, int64_t end) { c.record(begin, end); });
    expect_covered_once(c, 1000, 3);
  }
}

// mat_mul shares the rows of all its products, in blocks of 16, out in contiguous parts: the
// first weights of each thread's part, up to its end or its product's end.
TEST(MatMul, FirstWeightsAreTheFrontOfEachThreadsShare) {
  const int64_t k = 64;
  const size_t row = k * sizeof(float);
  std::vector<float> a(48 * k), b(40 * k), c(100 * k), out(100);
  const auto product = [&](std::vector<float>& w, int64_t rows) {
    return cpu::Product{{TensorDesc{DType::F32, {rows, k}}, w.data()}, {TensorDesc{DType::F32, {1, rows}}, out.data()}};
  };
  const auto bytes_from = [](const std::vector<float>& w, int64_t first_row) {
    return reinterpret_cast<const uint8_t*>(w.data()) + first_row * k * sizeof(float);
  };
  {  // 48 + 40 rows, 3 + 3 blocks: thread 1's half starts with the second product
    ThreadPool pool(2);
    const std::vector<cpu::Product> qk = {product(a, 48), product(b, 40)};
    const auto t0 = cpu::first_weights(pool, qk, 0), t1 = cpu::first_weights(pool, qk, 1);
    EXPECT_EQ(t0.data(), bytes_from(a, 0));
    EXPECT_EQ(t0.size(), 48 * row);
    EXPECT_EQ(t1.data(), bytes_from(b, 0));
    EXPECT_EQ(t1.size(), 40 * row);
  }
  {  // 100 rows, 7 blocks over 3 threads: blocks 0-1, 2-3, 4-6
    ThreadPool pool(3);
    const std::vector<cpu::Product> one = {product(c, 100)};
    const int64_t first[] = {0, 32, 64}, last[] = {32, 64, 100};
    for (int t = 0; t < 3; ++t) {
      const auto w = cpu::first_weights(pool, one, t);
      EXPECT_EQ(w.data(), bytes_from(c, first[t])) << "thread " << t;
      EXPECT_EQ(w.size(), static_cast<size_t>(last[t] - first[t]) * row) << "thread " << t;
    }
  }
  {  // one thread: all of the first product
    ThreadPool pool(1);
    const std::vector<cpu::Product> qk = {product(a, 48), product(b, 40)};
    EXPECT_EQ(cpu::first_weights(pool, qk, 0).size(), 48 * row);
  }
}

}  // namespace
}  // namespace isomer
