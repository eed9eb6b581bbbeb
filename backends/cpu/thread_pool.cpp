#include "thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace isomer::cpu {
namespace {

void pause() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

constexpr int kSpinIterations = 20000;
// Cache lines a waiting thread fetches between checks for work.
constexpr int kFetchLines = 4;

// Chunks per thread's share. The owner streams its share in order whatever the chunk size
// (a matrix product's tiles fetch the rows after them, which the same thread reads next), so
// chunks can be small, and the last one, which the team waits for, short: decode of TinyLlama
// Q4_0 at 2 threads spent 9-13 % of its samples waiting with 4 chunks per thread taken in turn.
constexpr int64_t kChunksPerThread = 16;

uint64_t pack(uint64_t front, uint64_t back) { return front | back << 32; }

void fetch_line(const uint8_t* p) {
#if defined(__x86_64__)
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

}  // namespace

bool ThreadPool::Fetcher::step(const Share& share) {
  // A range set while these loads run may pair one bound with the last range's: prefetches
  // cannot fault, and the next step sees the new version and starts over.
  if (const uint64_t v = share.fetch_version.load(std::memory_order_acquire); v != version) {
    version = v;
    at = share.fetch_begin.load(std::memory_order_relaxed);
    end = share.fetch_end.load(std::memory_order_relaxed);
  }
  if (at >= end) return false;
  for (int i = 0; i < kFetchLines && at < end; ++i, at += 64) fetch_line(at);
  return true;
}

void ThreadPool::fetch_while_idle(int t, const void* begin, size_t bytes) {
  Share& share = shares_[t];
  const auto* b = static_cast<const uint8_t*>(begin);
  share.fetch_begin.store(b, std::memory_order_relaxed);
  share.fetch_end.store(b + bytes, std::memory_order_relaxed);
  share.fetch_version.fetch_add(1, std::memory_order_release);
}

int64_t ThreadPool::chunk_size(int64_t n, int64_t grain) const {
  return std::max(grain, (n + kChunksPerThread * size() - 1) / (kChunksPerThread * size()));
}

int64_t ThreadPool::first_chunk(int64_t chunks, int t) const { return chunks * t / size(); }

int64_t ThreadPool::share_begin(int64_t n, int64_t grain, int t) const {
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain) return t == 0 ? 0 : n;  // the caller runs it all
  const int64_t chunk = chunk_size(n, grain);
  return std::min(n, first_chunk((n + chunk - 1) / chunk, t) * chunk);
}

ThreadPool::ThreadPool(int threads) : shares_(std::make_unique<Share[]>(std::max(1, threads))) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

// Claims one chunk of `share` (its front for the owner, its back for a helper) and runs it;
// false when the share has none left.
bool ThreadPool::run_chunk(Share& share, bool own) {
  uint64_t range = share.range.load(std::memory_order_relaxed);
  uint64_t front, back, chunk;
  do {
    front = range & 0xffffffff;
    back = range >> 32;
    if (front >= back) return false;
    chunk = own ? front : back - 1;
  } while (!share.range.compare_exchange_weak(range, own ? pack(front + 1, back) : pack(front, back - 1),
                                              std::memory_order_relaxed));
  const int64_t begin = static_cast<int64_t>(chunk) * chunk_;
  try {
    (*fn_)(begin, std::min(n_, begin + chunk_));
  } catch (...) {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }
  return true;
}

void ThreadPool::run_chunks(int index) {
  while (run_chunk(shares_[index], true)) {
  }
  for (int i = 1; i < size(); ++i)
    while (run_chunk(shares_[(index + i) % size()], false)) {
    }
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  Fetcher fetcher;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins++ < kSpinIterations)
      if (!fetcher.step(shares_[index])) pause();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    run_chunks(index);
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, LoopBody fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain) {
    fn(0, n);
    return;
  }
  fn_ = &fn;
  n_ = n;
  chunk_ = chunk_size(n, grain);
  const int64_t chunks = (n + chunk_ - 1) / chunk_;
  for (int t = 0; t < size(); ++t)
    shares_[t].range.store(pack(first_chunk(chunks, t), first_chunk(chunks, t + 1)), std::memory_order_relaxed);
  error_ = nullptr;
  busy_.store(static_cast<int>(workers_.size()), std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  run_chunks(0);
  // Spin briefly (the workers usually finish together), then yield: on an oversubscribed
  // machine a descheduled worker would otherwise cost a whole time slice of spinning.
  for (int spins = 0; busy_.load(std::memory_order_acquire) != 0;)
    if (spins++ < kSpinIterations) {
      if (!caller_fetcher_.step(shares_[0])) pause();
    } else {
      std::this_thread::yield();
    }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace isomer::cpu
