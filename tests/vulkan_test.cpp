// The Vulkan backend's own facts: device enumeration, buffers and their errors, `isomer
// devices`. Tests that need a device skip by name when there is none (no loader, no driver, or
// a build without the backend); its ops are covered by the conformance suite (ops_test).
#include <gtest/gtest.h>
#include <isomer/backend.h>
#include <isomer/error.h>
#include <isomer/model.h>

#include <cmath>
#include <numeric>

#include "test_data.h"
#if ISOMER_HAS_VULKAN
#include "vulkan/api.h"
#include "vulkan/shaders.h"
#endif

namespace isomer {
namespace {

using test::ScopedEnv;

Backend* vulkan_backend() {
  for (Backend* b : backends())
    if (b->name() == "vulkan") return b;
  return nullptr;
}

// The reason there is no Vulkan device here, or "" when there is one.
std::string no_device_reason() {
  Backend* b = vulkan_backend();
  if (!b) return "this build has no Vulkan backend (ISOMER_VULKAN=OFF)";
  return b->devices().empty() ? b->unavailable_reason() : "";
}

#define REQUIRE_VULKAN_DEVICE()                                          \
  if (const std::string why = no_device_reason(); !why.empty())          \
  GTEST_SKIP() << "no Vulkan device: " << why

bool has_key(const DeviceProperties& d, std::string_view key) {
  for (const auto& [k, v] : d.extra)
    if (k == key) return true;
  return false;
}

TEST(Vulkan, UnavailableHasAReasonAvailableHasNone) {
  Backend* b = vulkan_backend();
  if (!b) GTEST_SKIP() << "no Vulkan device: " << no_device_reason();
  if (b->devices().empty()) {
    EXPECT_FALSE(b->unavailable_reason().empty());
    EXPECT_THROW(b->open(0, {}), Error);
  } else {
    EXPECT_EQ(b->unavailable_reason(), "");
  }
}

TEST(Vulkan, DevicesAreDescribed) {
  REQUIRE_VULKAN_DEVICE();
  const auto devices = vulkan_backend()->devices();
  for (size_t i = 0; i < devices.size(); ++i) {
    const DeviceProperties& d = devices[i];
    EXPECT_EQ(d.id, "vulkan:" + std::to_string(i));
    EXPECT_FALSE(d.name.empty());
    EXPECT_FALSE(d.vendor.empty());
    EXPECT_FALSE(d.driver.empty());
    EXPECT_GT(d.memory_bytes, 0u);
    for (const char* key : {"type", "subgroup size", "fp16", "int8"}) EXPECT_TRUE(has_key(d, key)) << key;
  }
}

TEST(Vulkan, OpenOutOfRangeIsAnError) {
  REQUIRE_VULKAN_DEVICE();
  try {
    vulkan_backend()->open(99, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no device 99"), std::string::npos) << e.what();
  }
}

TEST(Vulkan, BufferRoundTrip) {
  REQUIRE_VULKAN_DEVICE();
  auto device = vulkan_backend()->open(0, {});
  auto buf = device->allocate(1001);  // not a whole number of words
  ASSERT_EQ(buf->size(), 1001u);
  std::vector<uint8_t> data(1001), back(1001);
  std::iota(data.begin(), data.end(), uint8_t{7});
  buf->write(0, data.data(), data.size());
  buf->read(0, back.data(), back.size());
  EXPECT_EQ(back, data);
  const uint8_t patch[3] = {1, 2, 3};
  buf->write(998, patch, 3);
  uint8_t tail[3] = {};
  buf->read(998, tail, 3);
  EXPECT_EQ(std::vector<uint8_t>(tail, tail + 3), std::vector<uint8_t>(patch, patch + 3));
  // A device-to-device copy.
  auto other = device->allocate(1001);
  device->copy(*buf, 0, *other, 0, 1001);
  other->read(0, back.data(), back.size());
  EXPECT_EQ(back[5], data[5]);
}

TEST(Vulkan, OutOfRangeAccessIsAnError) {
  REQUIRE_VULKAN_DEVICE();
  auto device = vulkan_backend()->open(0, {});
  auto buf = device->allocate(64);
  const uint8_t bytes[8] = {};
  uint8_t out[8];
  try {
    buf->write(60, bytes, 8);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside a buffer of 64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(buf->read(65, out, 0), Error);
}

TEST(Vulkan, HugeAllocationIsAClearError) {
  REQUIRE_VULKAN_DEVICE();
  auto device = vulkan_backend()->open(0, {});
  try {
    device->allocate(size_t{1} << 50);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("out of device memory"), std::string::npos) << what;
    EXPECT_NE(what.find("vulkan:0"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(size_t{1} << 50)), std::string::npos) << what;
  }
  auto still_works = device->allocate(16);  // the device is usable afterwards
  EXPECT_EQ(still_works->size(), 16u);
}

TEST(Vulkan, MemoryIsAccountedAcrossBuffers) {
  REQUIRE_VULKAN_DEVICE();
  auto device = vulkan_backend()->open(0, {});
  // Two buffers of 60% of the device each: the second exhausts the device even where the
  // driver would over-commit (lavapipe).
  const size_t part = device->properties().memory_bytes / 10 * 6;
  auto first = device->allocate(part);
  try {
    device->allocate(part);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of device memory"), std::string::npos) << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(device->allocate(part));  // freed memory is available again
}

// A context whose KV cache the device cannot hold: under --strict an error at creation naming
// the device and why (its memory, or the range one shader binding can address, whichever is
// hit first); the model stays usable with a context that fits.
TEST(Vulkan, ContextThatCannotFitIsAClearError) {
  REQUIRE_VULKAN_DEVICE();
  const auto model = Model::load(test::model_path("stories260K.gguf"), {.backend = "vulkan"});
  const uint64_t device_bytes = model->device().properties().memory_bytes;
  // stories260K: 5 layers x (K + V) x 64 bytes per F16 position: each cache buffer is a
  // quarter of the device's memory, all ten are 2.5 times it.
  const int64_t n_ctx = static_cast<int64_t>(device_bytes / 64 / 4);
  try {
    Context ctx(*model, {.n_ctx = n_ctx, .strict = true});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("vulkan:0"), std::string::npos) << what;
    const bool out_of_memory = what.find("KV cache of " + std::to_string(n_ctx) + " positions") != std::string::npos &&
                               what.find("out of device memory") != std::string::npos;
    const bool beyond_binding = what.find("--strict") != std::string::npos &&
                                what.find("exceeds the device's storage buffer range") != std::string::npos;
    EXPECT_TRUE(out_of_memory || beyond_binding) << what;
  }
  Context ctx(*model, {.n_ctx = 64, .strict = true});
  const int32_t bos = 1;
  EXPECT_EQ(ctx.eval({&bos, 1}).size(), static_cast<size_t>(model->config().n_vocab));
}

int64_t counter(const Device& device, std::string_view name) {
  for (const auto& [k, v] : device.counters())
    if (k == name) return v;
  ADD_FAILURE() << device.properties().id << " has no counter '" << name << "'";
  return -1;
}

// Creating a context builds the pipelines of its model's decode steps and prompt batches, so
// that the first prompt and token do not pay for them: evaluations then build none, whatever
// the prompt's length (F32, Q4_0 and K-quant products pick their shaders differently).
TEST(Vulkan, ContextBuildsItsPipelinesWhenCreated) {
  REQUIRE_VULKAN_DEVICE();
  for (const char* file : {"stories260K.gguf", "llama-syn-q4_0.gguf", "qwen2-syn-q4_k_m.gguf"}) {
    SCOPED_TRACE(file);
    const auto model = Model::load(test::model_path(file), {.backend = "vulkan"});
    EXPECT_EQ(counter(model->device(), "pipelines built in prepare"), 0);
    Context ctx(*model, {.n_ctx = 256, .strict = true});
    EXPECT_GT(counter(model->device(), "pipelines built in prepare"), 5);
    for (const size_t n : {3, 1, 1, 40, 2}) {
      const std::vector<int32_t> tokens(n, 7);
      ctx.eval(tokens);
    }
    EXPECT_EQ(counter(model->device(), "pipelines built in runs"), 0);
  }
}

TEST(Vulkan, UnsupportedCasesSayWhy) {
  REQUIRE_VULKAN_DEVICE();
  auto device = vulkan_backend()->open(0, {});
  const Op store{StoreKVParams{1}};
  const std::vector<TensorDesc> in{{DType::F32, {1, 3}}, {DType::F16, {4, 3}}};
  const Support s = device->supports(store, in, in[1]);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("no Vulkan shader yet"), std::string::npos) << s.reason;

  // An embedding larger than one binding can address on any device (4 GiB+), through either
  // read path.
  const Op rows{GetRowsParams{}};
  const std::vector<TensorDesc> big{{DType::F32, {int64_t{1} << 20, 1024}}, {DType::I32, {2}}};
  for (const char* reads : {"storage", "texel"}) {
    const ScopedEnv env("ISOMER_VULKAN_READS", reads);
    const Support too_big = vulkan_backend()->open(0, {})->supports(rows, big, {DType::F32, {2, 1024}});
    EXPECT_FALSE(too_big.ok);
    EXPECT_NE(too_big.reason.find(std::string("the device's ") + (reads[0] == 's' ? "storage" : "texel") +
                                  " buffer range"),
              std::string::npos) << too_big.reason;
  }
}

// Weights larger than one storage-buffer binding (lavapipe: 128 MiB, a 151,936-token embedding
// of 896 at Q8_0 is 138 MiB) run on the device when read through texel buffers, which address
// more; through storage buffers the device declines them with the reason.
TEST(Vulkan, WeightsBeyondAStorageBindingRunThroughTexelReads) {
  REQUIRE_VULKAN_DEVICE();
  const auto& limits = vulkan::instance().devices[0].limits;
  const int64_t k = 4096, row = static_cast<int64_t>(row_bytes(DType::Q8_0, k));
  const int64_t m = (static_cast<int64_t>(limits.maxStorageBufferRange) + (int64_t{1} << 20)) / row;
  if (static_cast<uint64_t>(m * row) + 4096 > uint64_t{limits.maxTexelBufferElements} * 4)
    GTEST_SKIP() << "vulkan:0's texel buffers address no more than its storage buffers";
  const TensorDesc w{DType::Q8_0, {m, k}}, x{DType::F32, {1, k}}, ids{DType::I32, {3}};
  const Op product{MatMulParams{}}, lookup{GetRowsParams{}};
  const std::vector<TensorDesc> product_in{x, w}, lookup_in{w, ids};
  const TensorDesc product_out = product.infer(product_in), lookup_out = lookup.infer(lookup_in);
  {
    const ScopedEnv env("ISOMER_VULKAN_READS", "storage");
    const Support s = vulkan_backend()->open(0, {})->supports(product, product_in, product_out);
    EXPECT_FALSE(s.ok);
    EXPECT_NE(s.reason.find("storage buffer range"), std::string::npos) << s.reason;
  }
  const ScopedEnv env("ISOMER_VULKAN_READS", "texel");
  auto device = vulkan_backend()->open(0, {});
  ASSERT_TRUE(device->supports(product, product_in, product_out).ok);
  ASSERT_TRUE(device->supports(lookup, lookup_in, lookup_out).ok);

  // Weight rows of distinct values, so that a row read from the wrong place shows.
  std::vector<uint8_t> weights(static_cast<size_t>(m * row));
  std::vector<float> values(static_cast<size_t>(k));
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t e = 0; e < k; ++e) values[static_cast<size_t>(e)] = static_cast<float>((r * 7 + e * 13) % 61 - 30) / 16.0f;
    quantize_row(DType::Q8_0, values.data(), weights.data() + r * row, k);
  }
  std::vector<float> xs(static_cast<size_t>(k));
  for (int64_t e = 0; e < k; ++e) xs[static_cast<size_t>(e)] = std::sin(0.01f * static_cast<float>(e));
  std::vector<int32_t> id_values{0, static_cast<int32_t>(m / 2), static_cast<int32_t>(m - 1)};

  auto upload = [&](const void* data, size_t bytes) {
    auto b = device->allocate(bytes);
    b->write(0, data, bytes);
    return b;
  };
  const auto wb = upload(weights.data(), weights.size()), xb = upload(xs.data(), xs.size() * 4),
             ib = upload(id_values.data(), id_values.size() * 4);
  const auto yb = device->allocate(product_out.bytes()), rb = device->allocate(lookup_out.bytes());
  const Step steps[] = {{&product, {{x, xb.get(), 0}, {w, wb.get(), 0}}, {product_out, yb.get(), 0}, "product"},
                        {&lookup, {{w, wb.get(), 0}, {ids, ib.get(), 0}}, {lookup_out, rb.get(), 0}, "lookup"}};
  device->run(steps);
  device->synchronize();

  std::vector<float> y(static_cast<size_t>(m)), want_y(y.size());
  std::vector<float> r(static_cast<size_t>(3 * k)), want_r(r.size());
  yb->read(0, y.data(), y.size() * 4);
  rb->read(0, r.data(), r.size() * 4);
  reference(product, std::vector<TensorView>{{x, xs.data()}, {w, weights.data()}}, {product_out, want_y.data()});
  reference(lookup, std::vector<TensorView>{{w, weights.data()}, {ids, id_values.data()}}, {lookup_out, want_r.data()});
  EXPECT_EQ(r, want_r);  // dequantisation is exact
  double err = 0, norm = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    err += (y[i] - want_y[i]) * (y[i] - want_y[i]);
    norm += want_y[i] * want_y[i];
  }
  EXPECT_LE(err / norm, 1e-5) << "NMSE of the product's " << m << " outputs";  // Q8_0 activations
}

// Every embedded module is well-formed SPIR-V; a corrupt or too-new one is an error naming the
// shader before any driver sees it (drivers do not validate SPIR-V: giving them a bad module
// would be undefined behaviour, not a testable error).
TEST(Vulkan, ShaderThatCannotBuildIsAClearError) {
#if !ISOMER_HAS_VULKAN
  GTEST_SKIP() << "no Vulkan device: " << no_device_reason();
#else
  ASSERT_FALSE(vulkan::shaders().empty());
  for (const vulkan::Shader& s : vulkan::shaders()) EXPECT_NO_THROW(vulkan::check_spirv(s)) << s.name;
  const uint32_t text[] = {0x736c2023, 0x6f697372, 0x3430206e, 0x000a3035, 0};  // "#version 450"
  const uint32_t future[] = {0x07230203, 0x00010600, 0, 16, 0};
  const auto message = [](const vulkan::Shader& s) {
    try {
      vulkan::check_spirv(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"broken", text}).find("the shader 'broken' is not a SPIR-V module"), std::string::npos)
      << message({"broken", text});
  EXPECT_NE(message({"next", future}).find("SPIR-V 1.6, newer than"), std::string::npos) << message({"next", future});
  EXPECT_NE(message({"empty", {}}).find("not a SPIR-V module (0 words)"), std::string::npos);
#endif
}

// `isomer devices` with `env` before it: its output; fails the test on a non-zero exit.
std::string devices_output(const std::string& env) {
  const std::string command = env + " " + test::cli_path().string() + " devices 2>&1";
  const auto [status, out] = test::run_command(command);
  EXPECT_EQ(status, 0) << out;
  return out;
}

TEST(Vulkan, DevicesCommandExplainsAMissingDriver) {
  if (!vulkan_backend()) GTEST_SKIP() << "no Vulkan device: " << no_device_reason();
  // The loader finds no driver when pointed at none.
  const std::string out =
      devices_output("VK_DRIVER_FILES=/nonexistent.json VK_ICD_FILENAMES=/nonexistent.json");
  EXPECT_NE(out.find("cpu:0"), std::string::npos) << out;
  EXPECT_NE(out.find("vulkan: unavailable: "), std::string::npos) << out;
}

TEST(Vulkan, DevicesCommandListsOrExplains) {
  const std::string out = devices_output("");
  if (!vulkan_backend()) GTEST_SKIP() << "no Vulkan device: " << no_device_reason();
  if (no_device_reason().empty()) {
    EXPECT_NE(out.find("vulkan:0  "), std::string::npos) << out;
    EXPECT_NE(out.find("subgroup size: "), std::string::npos) << out;
    EXPECT_NE(out.find("fp16: "), std::string::npos) << out;
  } else {
    EXPECT_NE(out.find("vulkan: unavailable: "), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace isomer
