#include "pipelines.h"

#include <isomer/error.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include "shaders.h"

namespace isomer::vulkan {
namespace {

std::string cache_key(const std::string& variant, std::span<const uint32_t> spec) {
  std::string key = variant;
  for (uint32_t v : spec) key += fmt::format("/{}", v);
  return key;
}

const Shader* find_shader(std::string_view name) {
  const auto all = shaders();
  const auto it = std::find_if(all.begin(), all.end(), [&](const Shader& s) { return s.name == name; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace

void check_spirv(const Shader& shader) {
  constexpr uint32_t kMagic = 0x07230203, kMaxVersion = 0x00010500;  // SPIR-V 1.5: Vulkan 1.2
  const auto& code = shader.code;
  if (code.size() < 5 || code[0] != kMagic)
    fail("the shader '{}' is not a SPIR-V module ({} words{})", shader.name, code.size(),
         code.empty() ? "" : fmt::format(", first 0x{:08x}", code[0]));
  if (code[1] > kMaxVersion)
    fail("the shader '{}' is SPIR-V {}.{}, newer than Vulkan 1.2 devices take (1.5)", shader.name,
         (code[1] >> 16) & 0xff, (code[1] >> 8) & 0xff);
}

Pipelines::Pipelines(Context& ctx) : ctx_(ctx) {
  VkDescriptorSetLayoutBinding bindings[kAllBindings];
  for (uint32_t i = 0; i < kAllBindings; ++i)
    bindings[i] = {i, descriptor_type(i), 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  auto set_info = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  set_info.bindingCount = kAllBindings;
  set_info.pBindings = bindings;
  check(ctx.api.vkCreateDescriptorSetLayout(ctx.device, &set_info, nullptr, &set_layout_),
        "vkCreateDescriptorSetLayout");
  const VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
  auto info = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  info.setLayoutCount = 1;
  info.pSetLayouts = &set_layout_;
  info.pushConstantRangeCount = 1;
  info.pPushConstantRanges = &push;
  check(ctx.api.vkCreatePipelineLayout(ctx.device, &info, nullptr, &layout_), "vkCreatePipelineLayout");
}

Pipelines::~Pipelines() {
  for (const auto& [name, p] : cache_) ctx_.api.vkDestroyPipeline(ctx_.device, p, nullptr);
  ctx_.api.vkDestroyPipelineLayout(ctx_.device, layout_, nullptr);
  ctx_.api.vkDestroyDescriptorSetLayout(ctx_.device, set_layout_, nullptr);
}

bool Pipelines::has(const std::string& variant) { return find_shader(variant) != nullptr; }

VkPipeline Pipelines::get(const std::string& variant, std::span<const uint32_t> spec) {
  std::string key = cache_key(variant, spec);
  if (const auto it = cache_.find(key); it != cache_.end()) return it->second;
  return cache_.emplace(std::move(key), create(variant, spec)).first->second;
}

void Pipelines::build(std::span<const PipelineKey> keys) {
  std::vector<std::pair<std::string, const PipelineKey*>> todo;
  for (const PipelineKey& k : keys) {
    std::string key = cache_key(k.variant, k.spec);
    if (!cache_.contains(key) && std::none_of(todo.begin(), todo.end(), [&](const auto& t) { return t.first == key; }))
      todo.emplace_back(std::move(key), &k);
  }
  std::vector<VkPipeline> built(todo.size(), VK_NULL_HANDLE);
  std::vector<std::exception_ptr> errors(todo.size());
  std::atomic<size_t> next = 0;
  auto work = [&] {
    for (size_t i; (i = next++) < todo.size();) {
      try {
        built[i] = create(todo[i].second->variant, todo[i].second->spec);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  {
    std::vector<std::jthread> threads(std::min<size_t>(todo.size(), std::max(1u, std::thread::hardware_concurrency())));
    for (auto& t : threads) t = std::jthread(work);
  }
  for (size_t i = 0; i < todo.size(); ++i)
    if (built[i] != VK_NULL_HANDLE) cache_.emplace(std::move(todo[i].first), built[i]);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

VkPipeline Pipelines::create(const std::string& variant, std::span<const uint32_t> spec) const {
  const Shader* shader = find_shader(variant);
  if (!shader) fail("{}: no shader '{}' in this build", ctx_.id(), variant);
  check_spirv(*shader);
  const auto& api = ctx_.api;
  auto module_info = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  module_info.codeSize = shader->code.size_bytes();
  module_info.pCode = shader->code.data();
  VkShaderModule module;
  check(api.vkCreateShaderModule(ctx_.device, &module_info, nullptr, &module), "vkCreateShaderModule");
  auto info = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  info.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4u, 4u});
  const VkSpecializationInfo spec_info{static_cast<uint32_t>(entries.size()), entries.data(),
                                       spec.size_bytes(), spec.data()};
  if (!spec.empty()) info.stage.pSpecializationInfo = &spec_info;
  info.layout = layout_;
  VkPipeline pipeline;
  const VkResult r = api.vkCreateComputePipelines(ctx_.device, VK_NULL_HANDLE, 1, &info, nullptr, &pipeline);
  api.vkDestroyShaderModule(ctx_.device, module, nullptr);
  if (r != VK_SUCCESS) fail("{}: building the shader '{}' failed: {}", ctx_.id(), variant, result_name(r));
  return pipeline;
}

}  // namespace isomer::vulkan
