// A backend module for backend_module_test, built three ways: a good one ("fake", one device
// in host memory), one built for another API version ("fakeold"), and one without the entry
// point ("noentry").
#include <isomer/backend_module.h>
#include <isomer/backend.h>
#include <isomer/error.h>

#include <cstring>
#include <vector>

namespace {

class HostBuffer final : public isomer::Buffer {
 public:
  explicit HostBuffer(size_t n) : bytes_(n) {}
  size_t size() const override { return bytes_.size(); }
  void write(size_t offset, const void* src, size_t n) override { std::memcpy(bytes_.data() + offset, src, n); }
  void read(size_t offset, void* dst, size_t n) const override { std::memcpy(dst, bytes_.data() + offset, n); }

 private:
  std::vector<uint8_t> bytes_;
};

class FakeDevice final : public isomer::Device {
 public:
  FakeDevice() { props_ = {FAKE_NAME ":0", "fake device", "isomer tests", "none", 1 << 20, 1, {}}; }
  const isomer::DeviceProperties& properties() const override { return props_; }
  std::unique_ptr<isomer::Buffer> allocate(size_t bytes) override { return std::make_unique<HostBuffer>(bytes); }
  isomer::Support supports(const isomer::Op&, std::span<const isomer::TensorDesc>,
                           const isomer::TensorDesc&) const override {
    return isomer::Support::no("the fake backend runs nothing");
  }
  void run(std::span<const isomer::Step>) override { isomer::fail("the fake backend runs nothing"); }
  void synchronize() override {}

 private:
  isomer::DeviceProperties props_;
};

class FakeBackend final : public isomer::Backend {
 public:
  std::string_view name() const override { return FAKE_NAME; }
  std::vector<isomer::DeviceProperties> devices() override { return {FakeDevice().properties()}; }
  std::unique_ptr<isomer::Device> open(int index, const isomer::DeviceOptions&) override {
    if (index != 0) isomer::fail("backend {}: no device {}", FAKE_NAME, index);
    return std::make_unique<FakeDevice>();
  }
};

[[maybe_unused]] isomer::Backend* fake_backend() {
  static FakeBackend b;
  return &b;
}

}  // namespace

#ifndef FAKE_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const IsomerBackendModule* isomer_backend_module() {
  static const IsomerBackendModule m{FAKE_API_VERSION, FAKE_NAME, "0.0-test", &fake_backend};
  return &m;
}
#endif
