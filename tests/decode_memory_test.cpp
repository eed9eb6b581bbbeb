// Decode on the CPU backend allocates next to nothing per token: each allocation there runs on
// the thread the others wait for (qwen2.5-0.5b once made 4,300 a token: tensor descriptors'
// shapes, parallel loops' bodies, per-call plans). Counted through this executable's operator
// new, which the library's allocations resolve to as well.
#include <gtest/gtest.h>
#include <isomer/model.h>
#include <isomer/sampler.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "test_data.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t bytes) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace isomer {
namespace {

class DecodeMemory : public testing::TestWithParam<const char*> {};

TEST_P(DecodeMemory, AllocatesLittlePerToken) {
  const auto model = Model::load(test::model_path(GetParam()), {.backend = "cpu", .threads = 2});
  Context ctx(*model, {.n_ctx = 64});
  const std::vector<int32_t> prompt{1, 2, 3, 4, 5};
  int32_t next = argmax(ctx.eval(prompt));
  // The first steps build the reused decode plan and grow the work memory.
  for (int i = 0; i < 4; ++i) next = argmax(ctx.eval({&next, 1}));
  const long before = g_allocations.load();
  constexpr int kTokens = 16;
  for (int i = 0; i < kTokens; ++i) next = argmax(ctx.eval({&next, 1}));
  const double per_token = static_cast<double>(g_allocations.load() - before) / kTokens;
  // What is left is a few per-call inputs and the run ledger's entries, none per layer (19.4 a
  // token for stories260K's 5 layers, 19.2 for the synthetic qwen2's 3, when this was written).
  const int layers = model->config().n_layer;
  EXPECT_GT(per_token, 0.0) << "the counter sees the library's allocations";
  EXPECT_LE(per_token, 24.0) << GetParam() << ", " << layers << " layers";
}

INSTANTIATE_TEST_SUITE_P(Models, DecodeMemory, testing::Values("stories260K.gguf", "qwen2-syn-q4_k_m.gguf"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           return name.substr(0, name.find('.')) == "stories260K" ? std::string("stories260K")
                                                                                  : std::string("qwen2_syn");
                         });

}  // namespace
}  // namespace isomer
