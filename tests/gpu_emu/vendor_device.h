// A third "vendor" for the shared GPU kernels: the CPU. kernels.cu compiled as plain C++ with
// this header runs each block's threads as fibers that switch at __syncthreads (shuffles go
// through a block-wide exchange), so the kernels' indexing, reductions and tiling can
// be tested against the reference on a machine without a GPU. The warp is 64 wide here (as on
// CDNA) so that nothing in the kernels silently assumes 32; the matrix-core tile is the plain
// arithmetic one. Blocks run one after another; graph capture records launches and replays them.
#pragma once

#include <isomer/ops/dtype.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

#ifndef GPU_WARP
#define GPU_WARP 64
#endif

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {
// The threads of a block are fibers (ucontext) on the calling thread: each runs until its next
// __syncthreads (or its end), then the next one runs; a barrier phase ends when every thread
// still running has reached it (as on a GPU, exited threads do not hold the others).
struct Thread {
  dim3 thread, block, block_dim, grid_dim;
  unsigned tid = 0;
  float* exchange = nullptr;
};
struct Block {
  ucontext_t scheduler;
  std::vector<ucontext_t> fibers;
  std::vector<Thread> threads;
  std::vector<bool> done;
  std::vector<std::vector<char>> stacks;
  const std::function<void()>* body = nullptr;
  unsigned current = 0;
};
inline Block& block_state() {
  static Block b;
  return b;
}
inline Thread* current_thread = nullptr;


inline void fiber_main() {
  Block& b = block_state();
  (*b.body)();
  b.done[b.current] = true;
  // Returning ends the fiber: uc_link resumes the scheduler.
}

inline void yield_to_scheduler() {
  Block& b = block_state();
  swapcontext(&b.fibers[b.current], &b.scheduler);
}

// Launches are run at once, or recorded while a stream is being captured.
struct Capture {
  bool on = false;
  std::vector<std::function<void()>> ops;
};
inline Capture& capture() {
  static Capture c;
  return c;
}
inline void run_or_record(std::function<void()> f) {
  if (capture().on) capture().ops.push_back(std::move(f));
  else f();
}

inline void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  constexpr size_t kStack = 64 * 1024;
  const unsigned n = block.x * block.y * block.z;
  Block& b = block_state();
  b.fibers.resize(n);
  b.threads.resize(n);
  b.stacks.resize(n);
  b.body = &body;
  std::vector<float> exchange(n);
  for (auto& st : b.stacks) st.resize(kStack);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        b.done.assign(n, false);
        for (unsigned t = 0; t < n; ++t) {
          b.threads[t] = {dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y)), dim3(bx, by, bz),
                          block, grid, t, exchange.data()};
          getcontext(&b.fibers[t]);
          b.fibers[t].uc_stack.ss_sp = b.stacks[t].data();
          b.fibers[t].uc_stack.ss_size = kStack;
          b.fibers[t].uc_link = &b.scheduler;
          makecontext(&b.fibers[t], fiber_main, 0);
        }
        for (bool any = true; any;) {
          any = false;
          for (unsigned t = 0; t < n; ++t) {
            if (b.done[t]) continue;
            b.current = t;
            current_thread = &b.threads[t];
            swapcontext(&b.scheduler, &b.fibers[t]);
            any = any || !b.done[t];
          }
        }
      }
}

template <class F>
void launch(dim3 grid, dim3 block, F f) {
  run_or_record([=] { run_grid(grid, block, std::function<void()>(f)); });
}
}  // namespace emu

#define threadIdx (::emu::current_thread->thread)
#define blockIdx (::emu::current_thread->block)
#define blockDim (::emu::current_thread->block_dim)
#define gridDim (::emu::current_thread->grid_dim)

inline void __syncthreads() { emu::yield_to_scheduler(); }

template <class T>
inline T min(T a, T b) { return b < a ? b : a; }
template <class T>
inline T max(T a, T b) { return a < b ? b : a; }

inline uint32_t __float_as_uint(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }

// Every thread of the block must call it (as every use in the kernels does).
inline float gpu_shfl_xor(float v, int mask) {
  ::emu::current_thread->exchange[::emu::current_thread->tid] = v;
  __syncthreads();
  const float r = ::emu::current_thread->exchange[::emu::current_thread->tid ^ static_cast<unsigned>(mask)];
  __syncthreads();
  return r;
}
inline float gpu_half_to_float(uint16_t h) { return isomer::fp16_to_f32(h); }
inline uint16_t gpu_float_to_half(float f) { return isomer::f32_to_fp16(f); }

#define GPU_LAUNCH(kernel, grid, block, stream, ...) \
  ::emu::launch((grid), (block), [=] { kernel(__VA_ARGS__); })

#define GPU_MMA_NATIVE 0
struct gpu_half {
  uint16_t bits;
};
inline gpu_half gpu_half_from(float f) { return {isomer::f32_to_fp16(f)}; }
struct GpuMmaAcc {
  float v[256 / GPU_WARP];
};
inline void gpu_mma_zero(GpuMmaAcc& c) {
  for (float& x : c.v) x = 0.0f;
}
inline void gpu_mma(GpuMmaAcc& c, const gpu_half* a, int lda, const gpu_half* b, int ldb) {
  const int lane = static_cast<int>(threadIdx.x) % GPU_WARP;
  for (int i = 0; i < 256 / GPU_WARP; ++i) {
    const int idx = lane + i * GPU_WARP, r = idx / 16, n = idx % 16;
    float s = c.v[i];
    for (int k = 0; k < 16; ++k) s += gpu_half_to_float(a[r * lda + k].bits) * gpu_half_to_float(b[n * ldb + k].bits);
    c.v[i] = s;
  }
}
inline void gpu_mma_store(float* c, int ldc, const GpuMmaAcc& acc) {
  const int lane = static_cast<int>(threadIdx.x) % GPU_WARP;
  for (int i = 0; i < 256 / GPU_WARP; ++i) {
    const int idx = lane + i * GPU_WARP;
    c[(idx / 16) * ldc + idx % 16] = acc.v[i];
  }
}
