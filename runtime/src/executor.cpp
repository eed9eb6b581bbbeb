// The executor: for each batch of tokens, build the architecture's graph, plan its memory,
// bind every value to device memory (weights, KV cache, the arena) and run it. Decode steps
// reuse one graph with its position moved on (Context::decode_plan).
#include <isomer/error.h>
#include <isomer/model.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <variant>

#include "arch/architecture.h"
#include "graph/planner.h"
#include "graph/scheduler.h"

namespace isomer {
namespace {

// Tokens evaluated per graph: bounds the arena for long prompts (llama.cpp's micro-batch).
constexpr int64_t kMaxBatch = 512;
constexpr int64_t kDefaultMaxContext = 4096;
// The prompt batch a context prepares its devices for: backends pick kernels by the number of
// rows, one or many, and any batch of many picks as the longest do.
constexpr int64_t kPrepareBatch = 16;

// Whether node i of the schedule is a copy from another device, which the executor makes
// through the host between splits.
bool crosses_devices(const Schedule& s, size_t i) {
  const Node& node = s.graph.nodes()[i];
  return node.op.kind() == OpKind::Copy && s.value_device[static_cast<size_t>(node.inputs[0])] != s.node_device[i];
}

// The op with the sequence position it holds (a KV store's first row, attention's n_past) set
// to n_past; the op itself where it holds none.
Op at_position(const Op& op, int64_t n_past) {
  Op moved = op;
  if (auto* p = std::get_if<StoreKVParams>(&moved.params)) p->first_row = n_past;
  if (auto* p = std::get_if<AttentionParams>(&moved.params)) p->n_past = n_past;
  return moved;
}

// The nodes whose ops hold the position, if schedule `next`, built one position after `s`
// (at n_past + 1), is `s` with those positions moved on and nothing else changed; nullopt
// where anything else differs (a graph whose shape or placement depends on the position).
std::optional<std::vector<size_t>> positioned_nodes(const Schedule& s, const Schedule& next, int64_t n_past) {
  const auto &a = s.graph.nodes(), &b = next.graph.nodes();
  if (a.size() != b.size() || s.graph.values() != next.graph.values() || s.graph.output() != next.graph.output() ||
      s.node_device != next.node_device || s.value_device != next.value_device || s.fallbacks != next.fallbacks)
    return std::nullopt;
  std::vector<size_t> positioned;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    Node moved = a[i];
    moved.op = at_position(a[i].op, n_past + 1);
    if (moved != b[i]) return std::nullopt;
    positioned.push_back(i);
  }
  return positioned;
}

}  // namespace

// A schedule bound to memory, as run() executes it.
struct Context::Plan {
  Schedule schedule;
  std::vector<bool> kept_value;  // F32 intermediates kept for kept()
  std::vector<Device*> devices;  // those the schedule's values live on
  // In order: runs of consecutive steps on one device, and copies between devices through the
  // host (copy >= 0: that node of the schedule).
  struct Split {
    Device* device = nullptr;
    std::vector<Step> steps;
    int64_t copy = -1;
  };
  std::vector<Split> splits;
  std::map<std::string, std::map<std::string, int>> ops;  // the ledger's count per run
  // Decode plans: the position the ops hold, and the nodes that hold it.
  int64_t n_past = 0;
  bool all_logits = false;
  std::vector<size_t> positioned;
};

Context::Context(const Model& model, const ContextOptions& options)
    : model_(model), kv_type_(options.kv_type), strict_(options.strict), keep_(options.keep) {
  const ModelConfig& c = model.config();
  if (options.n_ctx < 0) fail("context size {} is negative", options.n_ctx);
  // Positions are I32 tensors.
  if (options.n_ctx > std::numeric_limits<int32_t>::max())
    fail("context size {} exceeds the largest supported, {}", options.n_ctx,
         std::numeric_limits<int32_t>::max());
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(c.n_ctx_train, kDefaultMaxContext);
  if (kv_type_ != DType::F16 && kv_type_ != DType::F32 && kv_type_ != DType::BF16)
    fail("KV cache type {} is not supported (F16, BF16 or F32)", dtype_name(kv_type_));

  // Each cache lives on the model's device if that runs every op that uses it, else on the CPU.
  GraphBuilder builder(model, Batch{.n_tokens = 1, .n_past = 0, .n_ctx = n_ctx_, .kv_type = kv_type_});
  find_architecture(c.arch)->build(builder);
  const Graph& graph = builder.graph();
  for (const Value& v : graph.values())
    if (v.kind == ValueKind::State) kv_.push_back({v.name, &model.device(), nullptr});
  if (kv_.empty()) fail("the {} graph has no KV cache", c.arch);
  for (const Node& node : graph.nodes())
    for (ValueId in : node.inputs) {
      if (graph.value(in).kind != ValueKind::State) continue;
      KvBuffer& kv = kv_buffer(graph.value(in).name);
      if (const Support ok = node_support(graph, node, *kv.device); !ok) {
        if (strict_)
          fail("--strict: {} cannot run {} at {}: {}", kv.device->properties().id,
               node.op.name(), node.name, ok.reason);
        kv.device = &model.fallback_device();
      }
    }
  {
    std::lock_guard lock(model.device_mutex());
    for (KvBuffer& kv : kv_) {
      const size_t bytes = graph.value(graph_value(graph, kv.name)).desc.bytes();
      try {
        kv.buffer = kv.device->allocate(bytes);
      } catch (const Error& e) {
        fail_with<DeviceError>("KV cache of {} positions ({} MiB per layer) does not fit on {}: {}", n_ctx_,
                               bytes >> 20, kv.device->properties().id, e.what());
      }
    }
  }
  prepare();
}

// Readies each device for a decode step and a prompt batch (Vulkan builds the pipelines they
// use), so that the first prompt and the first token do not pay for that.
void Context::prepare() {
  for (const int64_t n_tokens : {int64_t{1}, kPrepareBatch}) {
    if (n_tokens > n_ctx_) break;
    const Schedule s = plan(n_tokens, n_past_, false);
    std::lock_guard lock(model_.device_mutex());
    bind(s, std::vector<bool>(s.graph.values().size(), false));
    std::map<Device*, std::vector<Step>> steps;
    for (size_t i = 0; i < s.graph.nodes().size(); ++i)
      if (!crosses_devices(s, i)) steps[s.node_device[i]].push_back(step(s.graph.nodes()[i]));
    for (const auto& [device, list] : steps) device->prepare(list);
  }
}

Schedule Context::plan(int64_t n_tokens, int64_t n_past, bool all_logits) {
  GraphBuilder builder(model_, Batch{.n_tokens = n_tokens, .n_past = n_past, .n_ctx = n_ctx_,
                                     .all_logits = all_logits, .kv_type = kv_type_});
  find_architecture(model_.config().arch)->build(builder);
  return schedule(builder.graph(), model_.device(), model_.fallback_device(),
                  [&](const std::string& name) { return kv_buffer(name).device; });
}

Context::~Context() {
  std::lock_guard lock(model_.device_mutex());  // buffers are released while no run uses the device
  kv_.clear();
  arenas_.clear();
}

void Context::truncate(int64_t n_keep) {
  if (n_keep < 0 || n_keep > n_past_)
    fail("truncate: cannot keep {} positions of a sequence of {}", n_keep, n_past_);
  n_logits_ = 0;
  n_past_ = n_keep;  // positions past n_past are never read, and are overwritten as it grows
}

ContextStats Context::stats() const {
  ContextStats s = stats_;
  for (const KvBuffer& kv : kv_) s.memory_bytes += kv.buffer ? kv.buffer->size() : 0;
  for (const auto& [device, arena] : arenas_) s.memory_bytes += arena ? arena->size() : 0;
  return s;
}

ValueId Context::graph_value(const Graph& graph, const std::string& name) {
  for (size_t v = 0; v < graph.values().size(); ++v)
    if (graph.values()[v].name == name) return static_cast<ValueId>(v);
  fail("graph has no value '{}'", name);
}

Context::KvBuffer& Context::kv_buffer(const std::string& name) {
  for (KvBuffer& kv : kv_)
    if (kv.name == name) return kv;
  fail("graph state '{}' has no buffer in this context", name);
}

std::span<const float> Context::eval(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = model_.config();
  if (tokens.empty()) fail("eval: no tokens to evaluate");
  if (n_past_ + static_cast<int64_t>(tokens.size()) > n_ctx_)
    fail_with<ContextFull>("the sequence needs {} positions but the context holds {} (raise it with --ctx, at "
         "most the model's {})",
         n_past_ + static_cast<int64_t>(tokens.size()), n_ctx_, c.n_ctx_train);
  for (int32_t t : tokens)
    if (t < 0 || t >= c.n_vocab) fail_with<InvalidToken>("token id {} is outside the vocabulary of {}", t, c.n_vocab);

  const auto start_time = std::chrono::steady_clock::now();
  n_logits_ = 0;
  ledger_ = {};
  for (size_t start = 0; start < tokens.size(); start += kMaxBatch) {
    const auto chunk = tokens.subspan(start, std::min<size_t>(kMaxBatch, tokens.size() - start));
    const bool last_chunk = start + chunk.size() == tokens.size();
    std::unique_ptr<Plan> built;
    Plan* p = chunk.size() == 1 ? decode_plan(all_logits) : nullptr;
    if (!p) {
      built = std::make_unique<Plan>();
      built->schedule = plan(static_cast<int64_t>(chunk.size()), n_past_, all_logits);
      ++ledger_.graphs_built;
      p = built.get();
    }
    const Schedule& s = p->schedule;
    if (strict_ && !s.fallbacks.empty())
      fail("--strict: {} cannot run {} node(s), first {}", model_.device().properties().id,
           s.fallbacks.size(), s.fallbacks.front());
    fallbacks_ = s.fallbacks;
    std::lock_guard lock(model_.device_mutex());
    run(*p, chunk);
    n_past_ += static_cast<int64_t>(chunk.size());
    if (all_logits || last_chunk) {
      const TensorBinding& out = bind_[static_cast<size_t>(s.graph.output())];
      const size_t end = n_logits_ + static_cast<size_t>(out.desc.elements());
      if (logits_.size() < end) logits_.resize(end);
      out.buffer->read(out.offset, logits_.data() + n_logits_, out.desc.bytes());
      n_logits_ = end;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  if (tokens.size() > 1) {
    stats_.prompt_tokens += static_cast<int64_t>(tokens.size());
    stats_.prompt_seconds += seconds;
  } else {
    stats_.decode_tokens += 1;
    stats_.decode_seconds += seconds;
  }
  return logits();
}

// The plan of a decode step at n_past_: the last decode step's, with the positions its ops
// hold moved on. A decode step's graph differs from the next one's only there (where the KV
// store writes and how far attention looks back), so reusing it saves building, scheduling and
// binding a graph and cutting it into steps per token: 1.4 ms of host work in a 14 ms token of
// qwen2.5-0.5b Q4_K_M on 2 CPU threads, while the other thread waits (time a GPU would wait
// too). The first decode step builds the next position's graph as well and compares: on any
// other difference, every step builds its own. nullptr: build this one.
Context::Plan* Context::decode_plan(bool all_logits) {
  if (decode_ && decode_->all_logits == all_logits) {
    if (decode_->n_past != n_past_) {
      Graph& graph = decode_->schedule.graph;
      for (size_t i : decode_->positioned) graph.set_op(i, at_position(graph.nodes()[i].op, n_past_));
      decode_->n_past = n_past_;
    }
    return decode_.get();
  }
  if (!decode_reusable_ || n_past_ + 2 > n_ctx_) return nullptr;
  auto p = std::make_unique<Plan>();
  p->schedule = plan(1, n_past_, all_logits);
  const Schedule next = plan(1, n_past_ + 1, all_logits);
  ledger_.graphs_built += 2;
  std::optional<std::vector<size_t>> positioned = positioned_nodes(p->schedule, next, n_past_);
  if (!positioned) {
    decode_reusable_ = false;
    return nullptr;
  }
  p->n_past = n_past_;
  p->all_logits = all_logits;
  p->positioned = std::move(*positioned);
  decode_ = std::move(p);
  decode_bound_ = false;
  return decode_.get();
}

// Binds every value of the schedule to memory: weights, KV caches, and an arena per device
// planned over the values that live there (kept values get their own place in it). Returns
// those devices.
std::vector<Device*> Context::bind(const Schedule& s, const std::vector<bool>& kept_value) {
  const Graph& graph = s.graph;
  const size_t n_values = graph.values().size();
  std::vector<Device*> devices;
  for (Device* d : s.value_device)
    if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
  decode_bound_ = false;  // bind_ no longer holds the decode plan's memory (bind(Plan&) says when it does)
  bind_.assign(n_values, {});
  for (Device* d : devices) {
    const MemoryPlan plan = plan_memory(
        graph, [&](ValueId v) { return s.value_device[static_cast<size_t>(v)] == d; }, 64,
        [&](ValueId v) { return kept_value[static_cast<size_t>(v)]; });
    auto& arena = arenas_[d];
    if (!arena || arena->size() < plan.arena_bytes) {
      arena.reset();
      arena = d->allocate(std::max<size_t>(plan.arena_bytes, 1));
    }
    for (size_t v = 0; v < n_values; ++v)
      if (plan.offsets[v] >= 0) bind_[v] = {graph.values()[v].desc, arena.get(), static_cast<size_t>(plan.offsets[v])};
  }
  for (size_t v = 0; v < n_values; ++v) {
    const Value& value = graph.values()[v];
    if (value.kind == ValueKind::Weight) bind_[v] = *model_.weight(value.name, *s.value_device[v]);
    if (value.kind == ValueKind::State) bind_[v] = {value.desc, kv_buffer(value.name).buffer.get(), 0};
  }
  return devices;
}

Step Context::step(const Node& node) const {
  Step step{&node.op, {}, bind_[static_cast<size_t>(node.output)], node.name};
  for (ValueId in : node.inputs) step.inputs.push_back(bind_[static_cast<size_t>(in)]);
  return step;
}

// Binds the plan's schedule to memory and cuts it into device runs and copies.
void Context::bind(Plan& p) {
  const Schedule& s = p.schedule;
  const Graph& graph = s.graph;
  // Values kept for kept(): F32 intermediates produced by the nodes keep_ names.
  p.kept_value.assign(graph.values().size(), false);
  if (keep_)
    for (const Node& node : graph.nodes()) {
      const Value& out = graph.value(node.output);
      if (out.kind == ValueKind::Intermediate && out.desc.type == DType::F32 &&
          node.op.kind() != OpKind::Copy && keep_(node.name))
        p.kept_value[static_cast<size_t>(node.output)] = true;
    }
  p.devices = bind(s, p.kept_value);
  // Consecutive nodes of one device run as one split; a copy between devices goes through the
  // host once the split that produced its input has finished.
  p.splits.clear();
  p.ops.clear();
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    Device* d = s.node_device[i];
    if (crosses_devices(s, i)) {
      p.splits.push_back({d, {}, static_cast<int64_t>(i)});
      p.ops["copy"][d->properties().id]++;
      continue;
    }
    if (p.splits.empty() || p.splits.back().copy >= 0 || p.splits.back().device != d) p.splits.push_back({d, {}, -1});
    p.ops[std::string(node.op.name())][d->properties().id]++;
    p.splits.back().steps.push_back(step(node));
  }
  decode_bound_ = &p == decode_.get();
}

void Context::run(Plan& p, std::span<const int32_t> tokens) {
  const Schedule& s = p.schedule;
  const Graph& graph = s.graph;
  const size_t n_values = graph.values().size();
  if (&p != decode_.get() || !decode_bound_) bind(p);

  // Per-call inputs.
  for (size_t v = 0; v < n_values; ++v) {
    const Value& value = graph.values()[v];
    if (value.kind != ValueKind::Input) continue;
    std::vector<int32_t> data;
    if (value.name == "tokens") {
      data.assign(tokens.begin(), tokens.end());
    } else if (value.name == "positions") {
      data.resize(tokens.size());
      std::iota(data.begin(), data.end(), static_cast<int32_t>(n_past_));
    } else if (value.name == "out_rows") {
      data.push_back(static_cast<int32_t>(tokens.size() - 1));
    } else {
      fail("graph input '{}' has no data source", value.name);
    }
    bind_[v].buffer->write(bind_[v].offset, data.data(), data.size() * sizeof(int32_t));
  }

  Device* current = nullptr;  // the device of the last run
  splits_ = 0;
  for (Plan::Split& split : p.splits) {
    if (split.copy < 0) {
      split.device->run(split.steps);
      current = split.device;
      ++splits_;
      continue;
    }
    const Node& node = graph.nodes()[static_cast<size_t>(split.copy)];
    const TensorBinding& out = bind_[static_cast<size_t>(node.output)];
    const size_t in_value = static_cast<size_t>(node.inputs[0]);
    s.value_device[in_value]->synchronize();
    const TensorBinding& in = bind_[in_value];
    std::vector<uint8_t> staging(in.desc.bytes());
    in.buffer->read(in.offset, staging.data(), staging.size());
    if (current) current->synchronize();
    out.buffer->write(out.offset, staging.data(), staging.size());
    ledger_.copies++;
    ledger_.copied_bytes += staging.size();
  }
  for (Device* d : p.devices) d->synchronize();
  for (const auto& [op, per_device] : p.ops)
    for (const auto& [device, n] : per_device) ledger_.ops[op][device] += n;
  ledger_.splits += splits_;
  kept_.clear();
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    if (!p.kept_value[static_cast<size_t>(node.output)]) continue;
    const TensorBinding& b = bind_[static_cast<size_t>(node.output)];
    std::vector<float> data(static_cast<size_t>(b.desc.elements()));
    b.buffer->read(b.offset, data.data(), b.desc.bytes());
    kept_.emplace_back(node.name, std::move(data));
  }
}

}  // namespace isomer
