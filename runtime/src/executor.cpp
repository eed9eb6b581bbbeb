// The executor: for each batch of tokens, build the architecture's graph, plan its memory,
// bind every value to device memory (weights, KV cache, the arena) and run it.
#include <isomer/error.h>
#include <isomer/model.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "arch/architecture.h"
#include "graph/planner.h"

namespace isomer {
namespace {

// Tokens evaluated per graph: bounds the arena for long prompts (llama.cpp's micro-batch).
constexpr int64_t kMaxBatch = 512;
constexpr int64_t kDefaultMaxContext = 4096;

}  // namespace

Context::Context(const Model& model, const ContextOptions& options)
    : model_(model), kv_type_(options.kv_type) {
  const ModelConfig& c = model.config();
  if (options.n_ctx < 0) fail("context size {} is negative", options.n_ctx);
  // Positions are I32 tensors.
  if (options.n_ctx > std::numeric_limits<int32_t>::max())
    fail("context size {} exceeds the largest supported, {}", options.n_ctx,
         std::numeric_limits<int32_t>::max());
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(c.n_ctx_train, kDefaultMaxContext);
  if (kv_type_ != DType::F16 && kv_type_ != DType::F32 && kv_type_ != DType::BF16)
    fail("KV cache type {} is not supported (F16, BF16 or F32)", dtype_name(kv_type_));
  const size_t bytes = row_bytes(kv_type_, int64_t{c.n_head_kv} * c.head_dim) * n_ctx_;
  Device& device = model.device();
  for (int il = 0; il < 2 * c.n_layer; ++il) {
    try {
      kv_.emplace_back(kv_cache_name(il / 2, il % 2 == 1), device.allocate(bytes));
    } catch (const Error& e) {
      fail("KV cache of {} positions ({} MiB) does not fit on {}: {}", n_ctx_,
           2 * c.n_layer * bytes >> 20, device.properties().id, e.what());
    }
  }
}

Context::~Context() = default;

Buffer* Context::state(const std::string& name) const {
  for (const auto& [n, buffer] : kv_)
    if (n == name) return buffer.get();
  fail("graph state '{}' has no buffer in this context", name);
}

std::span<const float> Context::eval(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = model_.config();
  if (tokens.empty()) fail("eval: no tokens to evaluate");
  if (n_past_ + static_cast<int64_t>(tokens.size()) > n_ctx_)
    fail("the sequence needs {} positions but the context holds {} (raise it with --ctx, at "
         "most the model's {})",
         n_past_ + static_cast<int64_t>(tokens.size()), n_ctx_, c.n_ctx_train);
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab) fail("token id {} is outside the vocabulary of {}", t, c.n_vocab);

  Device& device = model_.device();
  const Architecture* arch = find_architecture(c.arch);
  logits_.clear();
  for (size_t start = 0; start < tokens.size(); start += kMaxBatch) {
    const auto chunk = tokens.subspan(start, std::min<size_t>(kMaxBatch, tokens.size() - start));
    const int64_t n = static_cast<int64_t>(chunk.size());
    const bool last_chunk = start + chunk.size() == tokens.size();
    GraphBuilder builder(model_, Batch{.n_tokens = n, .n_past = n_past_, .n_ctx = n_ctx_,
                                       .all_logits = all_logits, .kv_type = kv_type_});
    arch->build(builder);
    const Graph& graph = builder.graph();
    const MemoryPlan plan = plan_memory(graph);
    if (!arena_ || arena_->size() < plan.arena_bytes) {
      arena_.reset();
      arena_ = device.allocate(plan.arena_bytes);
    }

    // Bind every value to memory.
    std::vector<TensorBinding> bind(graph.values().size());
    for (size_t v = 0; v < graph.values().size(); ++v) {
      const Value& value = graph.values()[v];
      bind[v].desc = value.desc;
      switch (value.kind) {
        case ValueKind::Weight: bind[v] = *model_.weight(value.name); break;
        case ValueKind::State: bind[v].buffer = state(value.name); break;
        case ValueKind::Input:
        case ValueKind::Intermediate:
          bind[v].buffer = arena_.get();
          bind[v].offset = static_cast<size_t>(plan.offsets[v]);
          break;
      }
    }
    // Per-call inputs.
    for (size_t v = 0; v < graph.values().size(); ++v) {
      const Value& value = graph.values()[v];
      if (value.kind != ValueKind::Input) continue;
      std::vector<int32_t> data;
      if (value.name == "tokens") data.assign(chunk.begin(), chunk.end());
      else if (value.name == "positions") {
        data.resize(static_cast<size_t>(n));
        std::iota(data.begin(), data.end(), static_cast<int32_t>(n_past_));
      } else if (value.name == "out_rows") data.push_back(static_cast<int32_t>(n - 1));
      else fail("graph input '{}' has no data source", value.name);
      bind[v].buffer->write(bind[v].offset, data.data(), data.size() * sizeof(int32_t));
    }

    std::vector<Step> steps;
    steps.reserve(graph.nodes().size());
    std::vector<TensorDesc> descs;
    for (const Node& node : graph.nodes()) {
      Step s{&node.op, {}, bind[static_cast<size_t>(node.output)], node.name};
      descs.clear();
      for (ValueId in : node.inputs) {
        s.inputs.push_back(bind[static_cast<size_t>(in)]);
        descs.push_back(bind[static_cast<size_t>(in)].desc);
      }
      if (const Support ok = device.supports(node.op, descs, s.output.desc); !ok)
        fail("{} cannot run op {} at {}: {}", device.properties().id, node.op.name(), node.name,
             ok.reason);
      steps.push_back(std::move(s));
    }
    device.run(steps);
    device.synchronize();
    n_past_ += n;

    if (all_logits || last_chunk) {
      const TensorBinding& out = bind[static_cast<size_t>(graph.output())];
      const size_t old = logits_.size();
      logits_.resize(old + static_cast<size_t>(out.desc.elements()));
      out.buffer->read(out.offset, logits_.data() + old, out.desc.bytes());
    }
  }
  return logits_;
}

}  // namespace isomer
