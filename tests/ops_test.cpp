// Conformance: every op of the catalogue, for every weight type and a spread of shapes (decode
// batch 1, prefill batches, sizes that are not multiples of a block or a thread chunk, GQA
// ratios, head sizes 64 and 128), on every available backend, against the ops/ reference.
// Written once; each backend is one more instantiation.
#include <gtest/gtest.h>
#include <isomer/backend.h>
#include <isomer/error.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "test_backends.h"

namespace isomer {
namespace {

struct Case {
  std::string name;
  Op op;
  std::vector<TensorDesc> inputs;
  int64_t id_limit = 0;  // I32 inputs are drawn from [0, id_limit) (ids) or are positions
  double nmse_bound = 1e-9;
  bool cpu_exact = false;  // the CPU backend computes it as the reference does, in another order of rows: to the bit
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Known gaps per backend, each with its reason; a listed case that passes is reported.
struct ExpectedFailure {
  std::string_view backend, case_prefix, reason;
};
// Empty: every backend in this build implements every case.
constexpr std::array<ExpectedFailure, 0> kExpectedFailures{};

const ExpectedFailure* expected_failure(std::string_view backend, const std::string& name) {
  for (const auto& e : kExpectedFailures)
    if (e.backend == backend && name.rfind(e.case_prefix, 0) == 0) return &e;
  return nullptr;
}

TensorDesc f32(Shape s) { return {DType::F32, std::move(s)}; }
TensorDesc i32(int64_t n) { return {DType::I32, {n}}; }

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                              DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Backends may compute a matrix product as llama.cpp's CPU backend does (isomer's CPU backend
// does, to carry the same rounding): activations rounded to F16 / BF16 for those weights, and
// quantised to 8 bits per block (Q8_0, Q8_1, Q8_K) for the block types. On these normal data that
// costs an NMSE of ~3e-5 per product, up to ~7e-4 where a case has a single output; the bounds
// leave headroom over the measured worst case per type. The exactness of the kernels themselves
// is tested in vec_dot_test.
double mul_mat_nmse_bound(DType weight) {
  switch (weight) {
    case DType::F32: return 1e-9;
    case DType::F16: return 1e-5;   // measured <= 9e-7
    case DType::BF16: return 1e-4;  // measured <= 1.3e-5
    default: return 2e-3;           // measured <= 6.7e-4 (Q5_1, 1x96x1)
  }
}

// Likewise attention as llama.cpp's CPU flash attention: the query rounded to the cache type for
// the key dot products, and for an F16 cache the weighted values summed in F16.
double attention_nmse_bound(DType cache) {
  switch (cache) {
    case DType::F32: return 1e-9;
    default: return 3e-5;  // measured <= 1.1e-6 (F16), 3.6e-6 (BF16)
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (DType t : kWeightTypes) {
    const int64_t block = traits(t).block_elems;
    for (int64_t rows : {1, 2, 3, 17, 40})
      for (int64_t m : {1, 7, 33}) {
        const int64_t k = block == 256 ? 512 : 96;  // several blocks, odd block counts for 32
        cases.push_back({fmt::format("mul_mat_{}_{}x{}x{}", dtype_name(t), rows, k, m),
                         Op{MatMulParams{}}, {f32({rows, k}), {t, {m, k}}}, 0, mul_mat_nmse_bound(t)});
      }
    // Long rows (many blocks per invocation of a GPU's split of k), and for the float types a
    // length that is not a multiple of 4 (a partial last vector).
    std::vector<std::array<int64_t, 3>> shapes{{1, 2048, 5}, {9, 2048, 5}};
    if (block == 1) shapes.insert(shapes.end(), {{1, 37, 3}, {5, 37, 3}});
    for (const auto& [rows, k, m] : shapes)
      cases.push_back({fmt::format("mul_mat_{}_{}x{}x{}", dtype_name(t), rows, k, m),
                       Op{MatMulParams{}}, {f32({rows, k}), {t, {m, k}}}, 0, mul_mat_nmse_bound(t)});
    cases.push_back({fmt::format("copy_{}", dtype_name(t)), Op{CopyParams{}},
                     {{t, {3, block == 256 ? 512 : 96}}}});
    cases.push_back({fmt::format("get_rows_{}", dtype_name(t)), Op{GetRowsParams{}},
                     {{t, {11, block == 256 ? 256 : 64}}, i32(5)}, 11});
  }
  for (int64_t rows : {1, 5, 33})
    for (int64_t cols : {64, 100, 896}) {
      cases.push_back({fmt::format("rms_norm_{}x{}", rows, cols), Op{RmsNormParams{1e-6f}},
                       {f32({rows, cols}), f32({cols})}, 0, 1e-9, true});
      cases.push_back({fmt::format("add_{}x{}", rows, cols), Op{AddParams{}},
                       {f32({rows, cols}), f32({rows, cols})}});
      cases.push_back({fmt::format("add_bias_{}x{}", rows, cols), Op{AddParams{}},
                       {f32({rows, cols}), f32({cols})}});
      cases.push_back({fmt::format("swiglu_{}x{}", rows, cols), Op{SwiGluParams{}},
                       {f32({rows, cols}), f32({rows, cols})}});
    }
  cases.push_back({"rms_norm_per_head_7x4x128", Op{RmsNormParams{1e-6f}},
                   {f32({7, 512}), f32({128})}, 0, 1e-9, true});
  for (RopeMode mode : {RopeMode::Adjacent, RopeMode::HalfSplit})
    for (int head_dim : {64, 128})
      for (int n_rot : {head_dim, head_dim / 2})
        for (bool yarn : {false, true}) {
          RopeParams p{.head_dim = head_dim, .n_rot = n_rot, .mode = mode,
                       .freq_base = yarn ? 1e6f : 1e4f};
          if (yarn) p = {p.head_dim, p.n_rot, p.mode, p.freq_base, 0.25f, 1.0f, 1.0f, 32, 1, 4096};
          const std::string name = fmt::format("rope_{}_d{}_rot{}{}",
                                               mode == RopeMode::Adjacent ? "adjacent" : "halfsplit",
                                               head_dim, n_rot, yarn ? "_yarn" : "");
          cases.push_back({name, Op{p}, {f32({9, 3 * head_dim}), i32(9)}});
          if (!yarn)
            cases.push_back({name + "_factors", Op{p}, {f32({2, 3 * head_dim}), i32(2), f32({n_rot / 2})}});
        }
  for (DType cache : {DType::F16, DType::F32, DType::BF16}) {
    cases.push_back({fmt::format("store_kv_{}", dtype_name(cache)), Op{StoreKVParams{5}},
                     {f32({3, 128}), {cache, {16, 128}}}});
    for (int head_dim : {64, 128})
      for (auto [heads, kv_heads] : {std::pair{4, 4}, {4, 2}, {8, 2}, {14, 2}, {7, 1}})
        // 20 rows: a prompt, whose scores come from the keys transposed (CPU).
        for (auto [rows, n_past] : {std::pair{1, 0}, {1, 37}, {9, 0}, {6, 21}, {20, 9}}) {
          const int64_t n_ctx = 64;
          cases.push_back(
              {fmt::format("attention_{}_d{}_h{}_kv{}_rows{}_past{}", dtype_name(cache), head_dim,
                           heads, kv_heads, rows, n_past),
               Op{AttentionParams{heads, kv_heads, head_dim, n_past,
                                  1.0f / std::sqrt(static_cast<float>(head_dim))}},
               {f32({rows, int64_t{heads} * head_dim}), {cache, {n_ctx, int64_t{kv_heads} * head_dim}},
                {cache, {n_ctx, int64_t{kv_heads} * head_dim}}},
               0, attention_nmse_bound(cache)});
        }
  }
  return cases;
}

// Random contents for an input: normal values (quantized for block types), ids or positions.
std::vector<uint8_t> make_input(const TensorDesc& d, int64_t id_limit, std::mt19937& rng) {
  std::vector<uint8_t> bytes(d.bytes());
  if (d.type == DType::I32) {
    auto* p = reinterpret_cast<int32_t*>(bytes.data());
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(std::max<int64_t>(1, id_limit) - 1));
    for (int64_t i = 0; i < d.elements(); ++i) p[i] = id_limit ? id(rng) : static_cast<int32_t>(3 * i + 100);
    return bytes;
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(d.cols()));
  const size_t stride = row_bytes(d.type, d.cols());
  for (int64_t r = 0; r < d.rows(); ++r) {
    for (float& v : values) v = normal(rng);
    quantize_row(d.type, values.data(), bytes.data() + r * stride, d.cols());
  }
  return bytes;
}

double nmse(const TensorDesc& d, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want,
            bool* finite) {
  std::vector<float> g(static_cast<size_t>(d.elements())), w(g.size());
  const size_t stride = row_bytes(d.type, d.cols());
  for (int64_t r = 0; r < d.rows(); ++r) {
    dequantize_row(d.type, got.data() + r * stride, g.data() + r * d.cols(), d.cols());
    dequantize_row(d.type, want.data() + r * stride, w.data() + r * d.cols(), d.cols());
  }
  double err = 0, norm = 0;
  *finite = true;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(g[i])) *finite = false;
    err += (double{g[i]} - w[i]) * (double{g[i]} - w[i]);
    norm += double{w[i]} * w[i];
  }
  return norm > 0 ? err / norm : err;
}

using Param = std::tuple<std::string, Case>;
class Conformance : public testing::TestWithParam<Param> {};

// "<backend>_baseline" runs the backend with DeviceOptions::baseline (its fallback paths);
// "<backend>_vendor" with its vendor kernels (test_backends.h).
constexpr std::string_view kBaseline = "_baseline";

TEST_P(Conformance, MatchesReference) {
  auto [param, c] = GetParam();
  DeviceOptions options;
  if (param.ends_with(kBaseline)) {
    param.resize(param.size() - kBaseline.size());
    options.baseline = true;
  }
  const auto [backend_name, kernels] = test::backend_and_kernels(param);
  options.kernels = kernels;
  auto device = backend(backend_name).open(0, options);
  std::mt19937 rng(1234);

  std::vector<std::vector<uint8_t>> host;
  std::vector<TensorView> views;
  for (const auto& d : c.inputs) host.push_back(make_input(d, c.id_limit, rng));
  const TensorDesc out_desc = c.op.infer(c.inputs);
  const int inplace = c.op.inplace_input();
  std::vector<uint8_t> want = inplace >= 0 ? host[static_cast<size_t>(inplace)]
                                           : std::vector<uint8_t>(out_desc.bytes());
  for (size_t i = 0; i < host.size(); ++i)
    views.push_back({c.inputs[i], static_cast<int>(i) == inplace ? want.data() : host[i].data()});
  reference(c.op, views, {out_desc, want.data()});

  const Support support = device->supports(c.op, c.inputs, out_desc);
  const ExpectedFailure* xfail = expected_failure(backend_name, c.name);
  if (!support) {
    ASSERT_NE(xfail, nullptr) << backend_name << " does not run " << c.name << ": " << support.reason;
    GTEST_SKIP() << "expected gap on " << backend_name << ": " << xfail->reason;
  }

  std::vector<std::unique_ptr<Buffer>> buffers;
  Step step{&c.op, {}, {}, c.name};
  for (size_t i = 0; i < host.size(); ++i) {
    buffers.push_back(device->allocate(host[i].size()));
    buffers.back()->write(0, host[i].data(), host[i].size());
    step.inputs.push_back({c.inputs[i], buffers.back().get(), 0});
  }
  if (inplace >= 0) {
    step.output = step.inputs[static_cast<size_t>(inplace)];
  } else {
    buffers.push_back(device->allocate(out_desc.bytes()));
    step.output = {out_desc, buffers.back().get(), 0};
  }
  device->run({&step, 1});
  device->synchronize();
  std::vector<uint8_t> got(out_desc.bytes());
  step.output.buffer->read(0, got.data(), got.size());

  bool finite = false;
  const double e = nmse(out_desc, got, want, &finite);
  const bool pass = finite && e <= c.nmse_bound;
  if (xfail) {
    EXPECT_FALSE(pass) << c.name << " is listed as an expected failure on " << backend_name
                       << " (" << xfail->reason << ") but passes: remove it from the list";
    return;
  }
  EXPECT_TRUE(finite) << "NaN or Inf in the output";
  EXPECT_LE(e, c.nmse_bound) << c.name << " on " << backend_name;
  if (c.cpu_exact && backend_name == "cpu") {
    EXPECT_TRUE(got == want) << c.name << ": not the reference's bits";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, Conformance,
                         testing::Combine(testing::ValuesIn(test::available_backends()),
                                          testing::ValuesIn(all_cases())),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
                         });

// The Vulkan backend's fallbacks for devices without subgroup arithmetic, on every device: the
// cases of the ops that have such a path.
std::vector<std::string> baseline_backends() {
  std::vector<std::string> names;
  for (const std::string& b : test::available_backends())
    if (b == "vulkan") names.push_back(b + std::string(kBaseline));
  return names;
}
std::vector<Case> mul_mat_cases() {
  std::vector<Case> cases;
  for (Case& c : all_cases())
    if (c.op.kind() == OpKind::MatMul) cases.push_back(std::move(c));
  return cases;
}
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Conformance);
INSTANTIATE_TEST_SUITE_P(Baseline, Conformance,
                         testing::Combine(testing::ValuesIn(baseline_backends()),
                                          testing::ValuesIn(mul_mat_cases())),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
                         });
// Vendor kernels (CPU: oneDNN) take only matrix products, and only those of several rows and
// float weights; the other cases check that the rest still goes to the backend's own kernels.
// The bounds are the same: oneDNN's f32 sums differ from the reference's only in order, and
// for F16 / BF16 weights it skips the activations' rounding, which the bounds allow for.
INSTANTIATE_TEST_SUITE_P(Vendor, Conformance,
                         testing::Combine(testing::ValuesIn(test::vendor_backends()),
                                          testing::ValuesIn(mul_mat_cases())),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
                         });

TEST(OpShapes, MismatchedInputsAreNamedErrors) {
  const Op mm{MatMulParams{}};
  const std::vector<TensorDesc> bad{f32({2, 64}), {DType::F16, {8, 32}}};
  try {
    mm.infer(bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mul_mat"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("inner dimensions"), std::string::npos) << e.what();
  }
  const Op attn{AttentionParams{4, 3, 64, 0, 1.0f}};
  EXPECT_THROW(attn.infer(std::vector<TensorDesc>{f32({1, 256}), {DType::F16, {8, 192}},
                                                  {DType::F16, {8, 192}}}),
               Error);
  const Op rope{RopeParams{.head_dim = 64, .n_rot = 65}};
  EXPECT_THROW(rope.infer(std::vector<TensorDesc>{f32({1, 64}), i32(1)}), Error);
}

TEST(OpShapes, HoldUpToFourDimensionsInline) {
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.back(), 5);
  EXPECT_EQ((TensorDesc{DType::F32, s}.elements()), 120);
  const std::vector<int64_t> dims{5, 4, 3, 2};
  EXPECT_EQ(Shape(dims.rbegin(), dims.rend()), s);
  EXPECT_NE((Shape{2, 3, 4}), s);
  EXPECT_NE((Shape{2, 3, 4, 6}), s);
  Shape five = s;
  try {
    five.push_back(6);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 4 dimensions"), std::string::npos) << e.what();
  }
}

// A build without oneDNN: the CPU's --kernels vendor is an error that says so (the portable
// kernels are unaffected, as every other case shows).
TEST(CpuVendorKernels, WithoutOneDnnAreAnErrorNamingIt) {
  if (std::ranges::count(test::no_vendor_backends(), "cpu") == 0)
    GTEST_SKIP() << "this build has oneDNN: the cpu_vendor cases run it";
  try {
    backend("cpu").open(0, {.kernels = KernelChoice::Vendor});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kernels vendor is unavailable: oneDNN was not built in"),
              std::string::npos) << e.what();
  }
}

// Products of one activation run as one loop on the CPU (a layer's Q, K and V, its FFN gate
// and up): each result is what the product gives alone, to the bit, for weights of different
// layouts (Q4_K and Q6_K share Q8_K activations but not dot_rows' extras), row counts that
// are no multiple of the row blocks, and a product of other activations in the same run.
TEST(CpuMatMul, ProductsOfOneActivationRunTogetherAsAlone) {
  auto device = backend("cpu").open(0, {.threads = 2});
  std::mt19937 rng(99);
  const int64_t k = 512, rows = 3;
  const TensorDesc x_desc{DType::F32, {rows, k}};
  const std::vector<std::pair<DType, int64_t>> weights = {
      {DType::Q4_K, 40}, {DType::Q6_K, 24}, {DType::Q8_0, 17}, {DType::F32, 9}, {DType::Q4_K, 33}};
  const Op op{MatMulParams{}};
  std::vector<std::unique_ptr<Buffer>> buffers;
  auto upload = [&](const TensorDesc& d) {
    const std::vector<uint8_t> bytes = make_input(d, 0, rng);
    buffers.push_back(device->allocate(bytes.size()));
    buffers.back()->write(0, bytes.data(), bytes.size());
    return TensorBinding{d, buffers.back().get(), 0};
  };
  const TensorBinding x = upload(x_desc), other = upload(x_desc);
  std::vector<Step> steps;
  for (size_t i = 0; i < weights.size(); ++i) {
    const TensorDesc w{weights[i].first, {weights[i].second, k}}, out{DType::F32, {rows, weights[i].second}};
    const TensorBinding weight = upload(w);
    buffers.push_back(device->allocate(out.bytes()));
    // The fourth product reads other activations: it ends the first run of shared products.
    steps.push_back(Step{&op, {i == 3 ? other : x, weight}, {out, buffers.back().get(), 0}, "mul_mat"});
  }
  auto results = [&] {
    std::vector<std::vector<uint8_t>> r;
    for (const Step& s : steps) {
      r.emplace_back(s.output.desc.bytes());
      s.output.buffer->read(0, r.back().data(), r.back().size());
    }
    return r;
  };
  for (const Step& s : steps) device->run({&s, 1});
  const auto alone = results();
  for (const Step& s : steps) {
    const std::vector<uint8_t> zeros(s.output.desc.bytes());
    s.output.buffer->write(0, zeros.data(), zeros.size());
  }
  device->run(steps);
  const auto together = results();
  for (size_t i = 0; i < steps.size(); ++i)
    EXPECT_EQ(alone[i], together[i]) << "product " << i << " (" << dtype_name(weights[i].first) << ")";
}

ISOMER_INSTANTIATE_UNAVAILABLE_BACKENDS();
ISOMER_INSTANTIATE_NO_VENDOR_KERNELS();

}  // namespace
}  // namespace isomer
