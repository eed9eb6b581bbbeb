// The scheduler's CPU fallback, with a test double: a backend that computes with the CPU
// kernels but keeps its memory to itself (no host pointers, so every crossing is a real copy)
// and declines the ops it is told to, as a GPU backend without a kernel would.
#include <gtest/gtest.h>
#include <isomer/backend.h>
#include <isomer/error.h>
#include <isomer/model.h>

#include <set>

#include "test_data.h"

namespace isomer {
namespace {

class OpaqueBuffer final : public Buffer {
 public:
  explicit OpaqueBuffer(std::unique_ptr<Buffer> inner) : inner_(std::move(inner)) {}
  size_t size() const override { return inner_->size(); }
  void write(size_t offset, const void* src, size_t bytes) override { inner_->write(offset, src, bytes); }
  void read(size_t offset, void* dst, size_t bytes) const override { inner_->read(offset, dst, bytes); }
  Buffer& inner() { return *inner_; }

 private:
  std::unique_ptr<Buffer> inner_;
};

struct Declined {
  std::set<OpKind> ops;
  bool quantized_mat_mul = false;
};

class PartialDevice final : public Device {
 public:
  PartialDevice(std::unique_ptr<Device> cpu, const Declined& declined)
      : cpu_(std::move(cpu)), declined_(declined) {
    props_ = cpu_->properties();
    props_.id = "partial:0";
  }
  const DeviceProperties& properties() const override { return props_; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<OpaqueBuffer>(cpu_->allocate(bytes));
  }
  Support supports(const Op& op, std::span<const TensorDesc> inputs, const TensorDesc&) const override {
    if (declined_.ops.count(op.kind())) return Support::no("declined by the test backend");
    if (declined_.quantized_mat_mul && op.kind() == OpKind::MatMul && traits(inputs[1].type).quantized)
      return Support::no("no quantized mat_mul in the test backend");
    return Support::yes();
  }
  void run(std::span<const Step> steps) override {
    std::vector<Step> inner(steps.begin(), steps.end());
    for (Step& s : inner) {
      for (auto& b : s.inputs) b.buffer = &unwrap(b.buffer);
      s.output.buffer = &unwrap(s.output.buffer);
    }
    cpu_->run(inner);
  }
  void synchronize() override { cpu_->synchronize(); }

 private:
  static Buffer& unwrap(Buffer* b) {
    auto* opaque = dynamic_cast<OpaqueBuffer*>(b);
    if (!opaque) throw Error("partial:0 was given a buffer of another device");
    return opaque->inner();
  }
  std::unique_ptr<Device> cpu_;
  Declined declined_;
  DeviceProperties props_;
};

class PartialBackend final : public Backend {
 public:
  Declined declined;
  std::string_view name() const override { return "partial"; }
  std::vector<DeviceProperties> devices() override { return {}; }  // kept out of other suites
  std::unique_ptr<Device> open(int, const DeviceOptions& options) override {
    return std::make_unique<PartialDevice>(backend("cpu").open(0, options), declined);
  }
};

PartialBackend& partial() {
  static PartialBackend* b = [] {
    auto* p = new PartialBackend;
    add_backend(*p);
    return p;
  }();
  return *b;
}

const std::vector<int32_t> kTokens{1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

std::vector<float> logits(const std::string& model, const std::string& backend_name,
                          std::vector<std::string>* fallbacks = nullptr, int* splits = nullptr) {
  const auto m = Model::load(test::model_path(model), {.backend = backend_name});
  Context ctx(*m);
  auto prefill = ctx.eval(std::span(kTokens).first(6), true);
  std::vector<float> out(prefill.begin(), prefill.end());
  for (size_t i = 6; i < kTokens.size(); ++i) {
    const auto row = ctx.eval(std::span(kTokens).subspan(i, 1));
    out.insert(out.end(), row.begin(), row.end());
  }
  if (fallbacks) *fallbacks = ctx.fallbacks();
  if (splits) *splits = ctx.splits();
  return out;
}

TEST(Scheduler, FullySupportedModelRunsAsOneSplit) {
  partial().declined = {};
  std::vector<std::string> fallbacks;
  int splits = 0;
  const auto got = logits("stories260K.gguf", "partial", &fallbacks, &splits);
  EXPECT_TRUE(fallbacks.empty());
  EXPECT_EQ(splits, 1);
  EXPECT_EQ(got, logits("stories260K.gguf", "cpu"));
}

TEST(Scheduler, UnsupportedOpsFallBackToTheCpuWithTheirReasons) {
  partial().declined = {.ops = {OpKind::Attention}, .quantized_mat_mul = true};
  std::vector<std::string> fallbacks;
  int splits = 0;
  const auto got = logits("stories260K-q8_0.gguf", "partial", &fallbacks, &splits);
  // The same kernels run either way, so the answer is the same bit for bit.
  EXPECT_EQ(got, logits("stories260K-q8_0.gguf", "cpu"));
  ASSERT_FALSE(fallbacks.empty());
  bool mat_mul = false;
  for (const auto& f : fallbacks) mat_mul |= f.find("no quantized mat_mul") != std::string::npos;
  EXPECT_TRUE(mat_mul);
  EXPECT_GT(splits, 1);
}

TEST(Scheduler, StrictTurnsAFallbackIntoAnError) {
  partial().declined = {.ops = {OpKind::SwiGlu}};
  const auto m = Model::load(test::model_path("stories260K.gguf"), {.backend = "partial"});
  Context ctx(*m, {.strict = true});
  try {
    ctx.eval(kTokens);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--strict"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("swiglu"), std::string::npos) << e.what();
  }
  partial().declined = {.ops = {OpKind::Attention}};  // the KV cache would have to move
  const auto m2 = Model::load(test::model_path("stories260K.gguf"), {.backend = "partial"});
  EXPECT_THROW(Context(*m2, {.strict = true}), Error);
}

}  // namespace
}  // namespace isomer
