// A fixed team of worker threads for data-parallel loops. Workers spin briefly before
// sleeping, because decode runs hundreds of small ops per token and a sleeping team would
// spend more time waking up than computing.
#pragma once

#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace isomer::cpu {

// The body of a parallel loop, fn(begin, end), held by reference: std::function copied a
// lambda of more than two pointers' captures to the heap, once per loop, and decode runs
// hundreds of loops a token on the thread the team waits for.
class LoopBody {
 public:
  template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, LoopBody>)
  LoopBody(const F& fn)  // NOLINT: converts like std::function; fn must outlive the loop
      : fn_(&fn), call_([](const void* f, int64_t begin, int64_t end) { (*static_cast<const F*>(f))(begin, end); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(fn_, begin, end); }

 private:
  const void* fn_;
  void (*call_)(const void*, int64_t, int64_t);
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads includes the calling thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(begin, end) on disjoint chunks covering [0, n), at least `grain` items each
  // (but the last), spread over the team (the caller works too); returns when all are done.
  // Each thread takes the chunks of its own contiguous share in order, then helps the others
  // from the far end of theirs. The first exception thrown by fn is rethrown here.
  void parallel_for(int64_t n, int64_t grain, LoopBody fn);
  // The first item of thread t's share of parallel_for(n, grain, ...): what it runs first.
  int64_t share_begin(int64_t n, int64_t grain, int t) const;
  // Bytes thread t reads first in a coming loop, which it fetches into its L2 cache whenever it
  // waits (for the team to finish a loop, or for the next loop while the caller works alone),
  // so that memory keeps streaming while it would idle; empty: none. The range is only a hint
  // (no byte of it is read as data, and a stale one costs bandwidth, not correctness).
  void fetch_while_idle(int t, const void* begin, size_t bytes);

 private:
  // One thread's share of the current loop, in chunks: [front, back) packed in one word, so
  // the owner (taking the front) and a helper (taking the back) claim chunks with one CAS.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
    // fetch_while_idle's range, and how many times one was set (a new one, even of the same
    // bytes, is fetched again: they may have left the cache since).
    std::atomic<const uint8_t*> fetch_begin{nullptr}, fetch_end{nullptr};
    std::atomic<uint64_t> fetch_version{0};
  };
  // A waiting thread's progress through its share's fetch range.
  struct Fetcher {
    uint64_t version = 0;
    const uint8_t *at = nullptr, *end = nullptr;
    // Fetches the next few lines; false when there are none left to fetch.
    bool step(const Share& share);
  };

  int64_t chunk_size(int64_t n, int64_t grain) const;
  // The first of `chunks` chunks in thread t's share (t = size(): the end of the last).
  int64_t first_chunk(int64_t chunks, int t) const;
  void work(int index);

  void run_chunks(int index);
  bool run_chunk(Share& share, bool own);

  std::vector<std::thread> workers_;
  std::unique_ptr<Share[]> shares_;  // one per thread; the caller's is 0
  Fetcher caller_fetcher_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> busy_{0};
  std::atomic<bool> stop_{false};

  // The current loop.
  const LoopBody* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

}  // namespace isomer::cpu
