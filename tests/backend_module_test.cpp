// Backend modules (isomer/backend_module.h) and the GPU backends' behaviour without a GPU:
// discovery, loading, the API version check, the reasons an unavailable backend gives, and
// `isomer devices`. Runs on any machine; tests that need a CUDA / HIP device skip by name.
#include <gtest/gtest.h>
#include <isomer/backend.h>
#include <isomer/backend_module.h>
#include <isomer/bench.h>
#include <isomer/error.h>
#include <isomer/ops/op.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <unistd.h>

#include "test_data.h"

namespace isomer {
namespace {
namespace fs = std::filesystem;

const std::string kFakeDir = ISOMER_FAKE_MODULES_DIR;
std::string fake(std::string_view name) { return kFakeDir + "/libisomer-backend-" + std::string(name) + ".so"; }

std::string load_error(const std::string& file) {
  try {
    load_backend_module(file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

struct Result {
  int status = -1;
  std::string out;
};

Result run_cli(const std::string& env, const std::string& args) {
  const std::string command = env + " " + test::cli_path().string() + " " + args + " 2>&1";
  const test::CommandResult c = test::run_command(command);
  return {c.status, c.out};
}

using test::ScopedEnv;

TEST(BackendModule, LoadsAModuleAndItsBackendWorks) {
  Backend& b = load_backend_module(fake("fake"));
  EXPECT_EQ(b.name(), "fake");
  ASSERT_EQ(b.devices().size(), 1u);
  EXPECT_EQ(b.devices()[0].id, "fake:0");
  auto dev = b.open(0, {});
  auto buf = dev->allocate(8);
  const uint64_t v = 0x0123456789abcdef;
  buf->write(0, &v, 8);
  uint64_t back = 0;
  buf->read(0, &back, 8);
  EXPECT_EQ(back, v);
  // An isomer::Error thrown in the module is caught here as one: one core in the process.
  EXPECT_THROW(b.open(3, {}), Error);
  // Loading it again gives the same backend (dlopen shares the loaded object).
  EXPECT_EQ(&load_backend_module(fake("fake")), &b);
}

TEST(BackendModule, ApiVersionMismatchIsReportedWithBothVersions) {
  const std::string e = load_error(fake("fakeold"));
  EXPECT_TRUE(contains(e, "backend API version 999")) << e;
  EXPECT_TRUE(contains(e, fmt::format("has API version {}", ISOMER_BACKEND_API_VERSION))) << e;
  EXPECT_TRUE(contains(e, "rebuild the module")) << e;
  EXPECT_TRUE(contains(e, "libisomer-backend-fakeold.so")) << e;
}

TEST(BackendModule, ALibraryWithoutTheEntryPointIsNamed) {
  const std::string e = load_error(fake("noentry"));
  EXPECT_TRUE(contains(e, "not an isomer backend module")) << e;
  EXPECT_TRUE(contains(e, ISOMER_BACKEND_MODULE_ENTRY)) << e;
}

TEST(BackendModule, MissingOrBrokenFilesGiveTheDlerrorText) {
  const std::string missing = load_error(kFakeDir + "/libisomer-backend-nothere.so");
  EXPECT_TRUE(contains(missing, "libisomer-backend-nothere.so")) << missing;
  EXPECT_TRUE(contains(missing, "No such file or directory")) << missing;

  const fs::path dir = fs::temp_directory_path() / fmt::format("isomer-modules-{}", getpid());
  fs::create_directories(dir);
  const fs::path junk = dir / "libisomer-backend-junk.so";
  std::ofstream(junk) << "this is not an ELF file, but long enough to have a header ...........\n";
  const std::string broken = load_error(junk.string());
  fs::remove_all(dir);
  EXPECT_TRUE(contains(broken, "libisomer-backend-junk.so")) << broken;
  EXPECT_TRUE(contains(broken, "ELF") || contains(broken, "too short")) << broken;
}

TEST(BackendModule, SearchPathFromTheEnvironmentReplacesTheDefaults) {
  {
    ScopedEnv env("ISOMER_BACKEND_PATH", nullptr);
    const auto dirs = backend_module_dirs();
    ASSERT_FALSE(dirs.empty());
    // Beside the shared library (the build tree's lib/): where the build puts the modules.
    EXPECT_EQ(fs::path(dirs.front()).filename(), "isomer-backends") << dirs.front();
  }
  ScopedEnv env("ISOMER_BACKEND_PATH", "/nonexistent/a:/nonexistent/b");
  const auto dirs = backend_module_dirs();
  ASSERT_EQ(dirs.size(), 2u);
  EXPECT_EQ(dirs[0], "/nonexistent/a");
  EXPECT_EQ(dirs[1], "/nonexistent/b");
}

TEST(BackendModule, DevicesListsModulesAndWhySomeAreUnavailable) {
  const Result r = run_cli("ISOMER_BACKEND_PATH=" + kFakeDir, "devices");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "fake:0  fake device")) << r.out;
  EXPECT_TRUE(contains(r.out, "fakeold: unavailable: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "backend API version 999")) << r.out;
  EXPECT_TRUE(contains(r.out, "noentry: unavailable: ")) << r.out;
  // The GPU modules are not in that folder: listed with dlopen's reason.
  EXPECT_TRUE(contains(r.out, "cuda: unavailable: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "libisomer-backend-cuda.so: cannot open shared object file")) << r.out;
  EXPECT_TRUE(contains(r.out, "hip: unavailable: ")) << r.out;
}

TEST(BackendModule, AStaticallyLinkedCoreLoadsNoModulesAndSaysWhy) {
  const auto [status, out] = test::run_command(ISOMER_STATIC_PROBE " 2>&1");
  ASSERT_EQ(status, 0) << out;
  EXPECT_TRUE(contains(out, "cpu: available")) << out;
  for (const char* name : {"cuda", "hip"})
    EXPECT_TRUE(contains(out, std::string(name) + ": backend modules need the shared libisomer")) << out;
}

// The GPU backends as this build and machine have them.
void check_gpu_backend(std::string_view name, bool built) {
  Backend* b = nullptr;
  for (Backend* known : backends())
    if (known->name() == name) b = known;
  ASSERT_NE(b, nullptr) << name << " is always listed";
  const std::string why = b->unavailable_reason();
  if (b->devices().empty()) {
    ASSERT_FALSE(why.empty());
    try {
      b->open(0, {});
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), why)) << e.what();
      EXPECT_TRUE(contains(e.what(), name)) << e.what();
    }
    if (!built) {
      EXPECT_TRUE(contains(why, "cannot open shared object file")) << why;
      return;
    }
    // Built: either the module loads and the runtime says why there is no device
    // (cudaGetDeviceCount / hipGetDeviceCount), or the vendor runtime library is missing.
    EXPECT_TRUE(contains(why, std::string(name) + "GetDeviceCount") || contains(why, "cannot open shared object file"))
        << why;
    GTEST_SKIP() << name << " has no device here: " << why;
  }
  EXPECT_EQ(why, "");
  auto dev = b->open(0, {});
  try {
    dev->allocate(size_t{1} << 52);  // 4 PiB
    FAIL() << "expected an out-of-memory error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot allocate")) << e.what();
    EXPECT_TRUE(contains(e.what(), dev->properties().id)) << e.what();
  }
  auto buf = dev->allocate(1001);
  std::vector<uint8_t> data(1001), back(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  buf->write(0, data.data(), data.size());
  buf->read(0, back.data(), back.size());
  EXPECT_EQ(back, data);
  EXPECT_THROW(buf->write(1000, data.data(), 2), Error);
}

TEST(GpuBackends, Cuda) { check_gpu_backend("cuda", ISOMER_CUDA_BUILT); }
TEST(GpuBackends, Hip) { check_gpu_backend("hip", ISOMER_HIP_BUILT); }

TEST(GpuBackends, DevicesCommandNamesEveryGpuBackend) {
  const Result r = run_cli("", "devices");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* name : {"cuda", "hip"})
    EXPECT_TRUE(contains(r.out, std::string(name) + ": unavailable: ") || contains(r.out, std::string(name) + ":0 "))
        << r.out;
}

TEST(GpuBackends, VendorKernelsWithoutADeviceAreAnErrorNotACrash) {
  if (!backend("cuda").devices().empty()) GTEST_SKIP() << "there is a CUDA device here";
  const std::string model = test::model_path("stories260K.gguf").string();
  const Result r = run_cli("", "run -m " + model + " --backend cuda --kernels vendor -n 1 -p hi");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "cuda")) << r.out;
  const Result bad = run_cli("", "run -m " + model + " --kernels fastest -n 1");
  EXPECT_NE(bad.status, 0) << bad.out;
  EXPECT_TRUE(contains(bad.out, "--kernels")) << bad.out;
}

// The GPU backend's host code on the CPU "vendor" (tests/gpu_emu): decode steps whose KV
// position changes every step are captured into a graph on the second step and re-launched
// after, and every step still matches the reference (the positions come from the parameter
// area, not from the captured launches).
TEST(GpuEmu, DecodeStepsReplayedFromAGraphSeeEachNewPosition) {
  Backend& b = load_backend_module(std::string(ISOMER_GPUEMU_DIR) + "/libisomer-backend-gpuemu.so");
  setenv("ISOMER_GPU_TRACE", "1", 1);
  auto dev = b.open(0, {});  // reads the switch when opened
  unsetenv("ISOMER_GPU_TRACE");
  const int heads = 2, kv_heads = 1, d = 64, n_ctx = 6;
  const TensorDesc qd{DType::F32, {1, heads * d}}, kvd{DType::F32, {1, kv_heads * d}},
      cache{DType::F32, {n_ctx, kv_heads * d}}, posd{DType::I32, {1}};
  auto q = dev->allocate(qd.bytes()), qr = dev->allocate(qd.bytes()), k = dev->allocate(kvd.bytes()),
       v = dev->allocate(kvd.bytes()), pos = dev->allocate(4), kc = dev->allocate(cache.bytes()),
       vc = dev->allocate(cache.bytes()), out = dev->allocate(qd.bytes());
  std::vector<float> kc_host(static_cast<size_t>(cache.elements()), 0.0f), vc_host = kc_host;
  kc->write(0, kc_host.data(), cache.bytes());
  vc->write(0, vc_host.data(), cache.bytes());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  testing::internal::CaptureStderr();
  for (int32_t p = 0; p < 4; ++p) {
    std::vector<float> qh(static_cast<size_t>(qd.elements())), kh(static_cast<size_t>(kvd.elements())), vh = kh;
    for (float& x : qh) x = normal(rng);
    for (float& x : kh) x = normal(rng);
    for (float& x : vh) x = normal(rng);
    q->write(0, qh.data(), qd.bytes());
    k->write(0, kh.data(), kvd.bytes());
    v->write(0, vh.data(), kvd.bytes());
    pos->write(0, &p, 4);
    const Op store{StoreKVParams{p}}, rope{RopeParams{.head_dim = d, .n_rot = d}},
        attn{AttentionParams{heads, kv_heads, d, p, 0.125f}};
    const std::vector<Step> steps = {
        {&store, {{kvd, k.get(), 0}, {cache, kc.get(), 0}}, {cache, kc.get(), 0}, "store_k"},
        {&store, {{kvd, v.get(), 0}, {cache, vc.get(), 0}}, {cache, vc.get(), 0}, "store_v"},
        {&rope, {{qd, q.get(), 0}, {posd, pos.get(), 0}}, {qd, qr.get(), 0}, "rope"},
        {&attn, {{qd, qr.get(), 0}, {cache, kc.get(), 0}, {cache, vc.get(), 0}}, {qd, out.get(), 0}, "attn"}};
    dev->run(steps);
    dev->synchronize();
    std::vector<float> got(static_cast<size_t>(qd.elements()));
    out->read(0, got.data(), qd.bytes());

    // The reference, step by step on the host.
    std::vector<float> qrh(qh.size()), want(qh.size());
    reference(store, std::vector<TensorView>{{kvd, kh.data()}, {cache, kc_host.data()}}, {cache, kc_host.data()});
    reference(store, std::vector<TensorView>{{kvd, vh.data()}, {cache, vc_host.data()}}, {cache, vc_host.data()});
    int32_t pp = p;
    reference(rope, std::vector<TensorView>{{qd, qh.data()}, {posd, &pp}}, {qd, qrh.data()});
    reference(attn, std::vector<TensorView>{{qd, qrh.data()}, {cache, kc_host.data()}, {cache, vc_host.data()}},
              {qd, want.data()});
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err += (got[i] - want[i]) * (got[i] - want[i]);
      norm += want[i] * want[i];
    }
    EXPECT_LT(err / norm, 1e-10) << "position " << p;
  }
  const std::string trace = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(trace, "gpuemu:0: captured a graph of 4 steps")) << trace;
  EXPECT_TRUE(contains(trace, "gpuemu:0: re-launched the graph of 4 steps")) << trace;
}

TEST(GpuEmu, OutOfMemoryAndBadBindingsAreErrorsWithContext) {
  Backend& b = load_backend_module(std::string(ISOMER_GPUEMU_DIR) + "/libisomer-backend-gpuemu.so");
  auto dev = b.open(0, {});
  try {
    dev->allocate(size_t{2} << 30);  // the emulated device has 1 GiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "gpuemu:0: cannot allocate 2.00 GiB")) << e.what();
    EXPECT_TRUE(contains(e.what(), "out of memory")) << e.what();
    EXPECT_TRUE(contains(e.what(), "free of")) << e.what();
  }
  // A step whose operand is not in a buffer of this device names the node and the op.
  const TensorDesc x{DType::F32, {1, 64}};
  std::vector<float> host(64);
  struct HostBuffer final : Buffer {
    size_t size() const override { return 256; }
    void write(size_t, const void*, size_t) override {}
    void read(size_t, void*, size_t) const override {}
  } foreign;
  auto y = dev->allocate(x.bytes());
  const Op add{AddParams{}};
  const Step step{&add, {{x, &foreign, 0}, {x, y.get(), 0}}, {x, y.get(), 0}, "blk.0.ffn_add"};
  try {
    dev->run({&step, 1});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "gpuemu:0 at node blk.0.ffn_add (add")) << e.what();
    EXPECT_TRUE(contains(e.what(), "not in a buffer of this device")) << e.what();
  }
  // Vendor kernels without the vendor library: unavailable with the dlerror text.
  try {
    b.open(0, {.kernels = KernelChoice::Vendor});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "--kernels vendor is unavailable: emuBLAS is not available")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cannot open shared object file")) << e.what();
  }
}


// The roofline of a device with its own memory: the device's copy op, timed; buffers that do
// not fit are an error naming the device.
TEST(GpuEmu, DeviceBandwidthIsMeasuredThroughItsCopyOp) {
  Backend& b = load_backend_module(std::string(ISOMER_GPUEMU_DIR) + "/libisomer-backend-gpuemu.so");
  auto dev = b.open(0, {});
  const bench::Bandwidth bw = bench::device_bandwidth(*dev, uint64_t{8} << 20, 0.02);
  EXPECT_EQ(bw.buffer_bytes, uint64_t{8} << 20);
  EXPECT_GT(bw.gb_per_s, 0.0);
  EXPECT_TRUE(std::isfinite(bw.gb_per_s));
  try {
    bench::device_bandwidth(*dev, uint64_t{768} << 20, 0.02);  // two of them exceed its 1 GiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "gpuemu:0: cannot allocate")) << e.what();
  }
}

}  // namespace
}  // namespace isomer
