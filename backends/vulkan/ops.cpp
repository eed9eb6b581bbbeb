#include "ops.h"

#include <isomer/error.h>
#include <isomer/ops/rope.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace isomer::vulkan {
namespace {

std::string variant(std::string_view shader, DType type) {
  return fmt::format("{}_{}", shader, dtype_name(type));
}

bool is_cache_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

const DeviceBuffer& device_buffer(const TensorBinding& b) {
  const auto* buf = dynamic_cast<const DeviceBuffer*>(b.buffer);
  if (!buf) fail("an operand is not in a buffer of this Vulkan device");
  return *buf;
}

Operand operand(uint32_t binding, const TensorBinding& b, bool written = false) {
  // Shaders read f32 / i32 operands as whole words; weights are addressed by byte.
  if ((b.desc.type == DType::F32 || b.desc.type == DType::I32) && b.offset % 4 != 0)
    fail("a {} operand at byte offset {} is not 4-byte aligned", dtype_name(b.desc.type), b.offset);
  return {binding, &device_buffer(b), b.offset, b.desc.bytes(), written};
}

uint32_t u32(int64_t v) {
  if (v < 0 || v > int64_t{UINT32_MAX}) fail("size {} does not fit the shaders' 32-bit indices", v);
  return static_cast<uint32_t>(v);
}

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

constexpr uint32_t kElementwiseGroup = 256;  // local_size_x of the element-wise shaders
constexpr uint32_t kReduceGroup = 32;        // workgroup size of shared-memory reductions
// Products of at most this many activation rows run as matrix-vector products (mul_mv, one
// dispatch row each); larger ones as tiled matrix products (mul_mm), except with F32 weights:
// their bar (KL 1e-5) is within what the order of the float sums alone moves (stories260K:
// 3.8e-7 in mul_mv's order, 1.7e-5 in mul_mm's), and only mul_mv's order was measured inside it.
constexpr int64_t kMatVecRows = 4;
// Weight rows per mul_mv workgroup (mul_mv.comp's MV_ROWS), by the way it reads weights.
uint64_t matvec_weight_rows(const Context& ctx) { return ctx.texel_reads ? 16 : 4; }
constexpr int64_t kBatchRows = 8;  // activation rows per workgroup of mul_mv's _b8 flavour
constexpr uint32_t kTile = 32;  // mul_mm's tile: weight rows (BM) and activation rows (BN)
uint64_t groups_for(int64_t n) { return (static_cast<uint64_t>(n) + kElementwiseGroup - 1) / kElementwiseGroup; }

// The cos/sin table of a RoPE step, computed on the host (see isomer::rope_table).
DeviceBuffer& rope_table(Recorder& rec, const Step& s, const RopeParams& p) {
  std::vector<float> table(static_cast<size_t>(s.inputs[0].desc.rows() * p.n_rot));
  isomer::rope_table(s, table.data());
  DeviceBuffer& buf = rec.scratch(table.size() * 4);
  buf.write(0, table.data(), table.size() * 4);
  return buf;
}

}  // namespace

// The weights operand of an op: read through a texel buffer where the device does that.
int weights_input(const Op& op) {
  return op.kind() == OpKind::MatMul ? 1 : op.kind() == OpKind::GetRows ? 0 : -1;
}

// Shaders see an operand through one binding, which the device caps (lavapipe: 128 MiB of
// storage buffer, 128 Mi texels); larger operands (a big vocabulary's embedding) run where
// nothing caps them.
Support fits_bindings(const Op& op, std::span<const TensorDesc> in, const TensorDesc& out, const Context& ctx) {
  const auto& limits = ctx.phys.limits;
  const uint64_t slack = std::max<uint64_t>(limits.minStorageBufferOffsetAlignment, limits.minTexelBufferOffsetAlignment) + 16;
  uint64_t largest = out.bytes();
  for (size_t i = 0; i < in.size(); ++i) {
    if (ctx.texel_reads && static_cast<int>(i) == weights_input(op)) {
      const uint64_t max = uint64_t{limits.maxTexelBufferElements} * 4;
      if (in[i].bytes() + slack > max)
        return Support::no(fmt::format("the weights' {} bytes exceed the device's texel buffer range ({} bytes)",
                                       in[i].bytes(), max));
      continue;
    }
    largest = std::max<uint64_t>(largest, in[i].bytes());
  }
  if (op.kind() == OpKind::Attention) {  // its score scratch: rows x heads x positions floats
    const auto& p = std::get<AttentionParams>(op.params);
    const uint64_t rows = static_cast<uint64_t>(in[0].rows());
    largest = std::max<uint64_t>(largest, rows * static_cast<uint64_t>(p.heads) *
                                              static_cast<uint64_t>(p.n_past + in[0].rows()) * 4);
  }
  if (largest + slack > limits.maxStorageBufferRange)
    return Support::no(fmt::format("an operand of {} bytes exceeds the device's storage buffer range ({} bytes)",
                                   largest, limits.maxStorageBufferRange));
  return Support::yes();
}

Support supports_op(const Op& op, std::span<const TensorDesc> in, const TensorDesc& out, const Context& ctx) {
  if (Support fits = fits_bindings(op, in, out, ctx); !fits) return fits;
  switch (op.kind()) {
    case OpKind::MatMul:
    case OpKind::GetRows: {
      const DType t = op.kind() == OpKind::MatMul ? in[1].type : in[0].type;
      const std::string_view shader = op.kind() == OpKind::MatMul ? "mul_mv" : "get_rows";  // mul_mv takes every type
      if (!Pipelines::has(variant(shader, t)))
        return Support::no(fmt::format("{} with {} weights: no Vulkan shader yet", op.name(), dtype_name(t)));
      return Support::yes();
    }
    case OpKind::StoreKV: {
      if (!is_cache_type(out.type))
        return Support::no(fmt::format("store_kv to a {} cache: no Vulkan shader yet", dtype_name(out.type)));
      const int64_t first = std::get<StoreKVParams>(op.params).first_row * out.cols();
      if (out.type != DType::F32 && (first % 2 != 0 || in[0].elements() % 2 != 0))
        return Support::no("store_kv of an odd number of 16-bit values: no Vulkan shader yet");
      return Support::yes();
    }
    case OpKind::Attention:
      if (!is_cache_type(in[1].type) || in[2].type != in[1].type)
        return Support::no(fmt::format("attention over {} / {} caches: no Vulkan shader yet",
                                       dtype_name(in[1].type), dtype_name(in[2].type)));
      return Support::yes();
    default: return Support::yes();  // element-wise f32 ops and copies
  }
}

void record_step(Recorder& rec, const Step& s) {
  const auto& in = s.inputs;
  const auto out = [&](uint32_t binding) { return operand(binding, s.output, true); };
  switch (s.op->kind()) {
    case OpKind::MatMul: {
      const int64_t rows = in[0].desc.rows(), k = in[0].desc.cols(), m = in[1].desc.shape[0];
      const Context& ctx = rec.context();
      // mul_mv's workgroups: one subgroup where subgroupAdd is there (several subgroups on wide
      // ones), else kReduceGroup invocations.
      const uint32_t wg = ctx.subgroups ? std::clamp(ctx.phys.subgroup_size, 8u, 128u) : kReduceGroup;
      // On CPU devices (texel reads) products of several rows also run as mul_mv, kBatchRows
      // activation rows per workgroup: weights gathered once for them beat mul_mm's staging
      // through shared memory, which lavapipe loads invocation by invocation (prefill 1.3-2.8x
      // on the shared models, ~7x on qwen2.5-0.5b Q8_0). Not with K-quant weights: mul_mm sums
      // their levels in int as the CPU backend does, which keeps Vulkan closer to llama.cpp.
      const bool batched = ctx.texel_reads && wg <= kReduceGroup && rows > 1 &&
                           traits(in[1].desc.type).block_elems != 256;
      const bool matvec = rows <= kMatVecRows || in[1].desc.type == DType::F32 || batched;
      Operand x = operand(0, in[0]);
      if (traits(in[1].desc.type).block_elems == 256) {
        // K-quant weights: activations rounded to Q8_K first, as the CPU backend does; mul_mm
        // takes the levels and scales (to sum in int), mul_mv the rounded values.
        DeviceBuffer& q = rec.scratch(in[0].desc.bytes());
        const int64_t blocks = in[0].desc.elements() / 256;
        rec.dispatch_groups("quantize_q8k", {x, {2, &q, 0, q.size(), true}}, {u32(blocks), matvec ? 0u : 1u},
                            static_cast<uint64_t>(blocks));
        x = {0, &q, 0, q.size(), false};
      }
      const uint32_t x_vec4 = x.offset % 16 == 0 && k % 4 == 0 ? 1u : 0u;
      Operand w = operand(1, in[1]);
      if (ctx.texel_reads) w.binding = kWordTexels;
      const std::string_view tx = ctx.texel_reads ? "_tx" : "";
      if (matvec) {
        if (ctx.texel_reads && x_vec4) x.binding = kVec4Texels;
        const int64_t act_rows = batched ? kBatchRows : 1;  // per workgroup
        rec.dispatch_groups(variant(fmt::format("mul_mv{}{}{}", ctx.subgroups ? "_sg" : "", tx, batched ? "_b8" : ""),
                                    in[1].desc.type),
                            {x, w, out(2)},
                            {u32(rows), u32(k), u32(m), u32(row_bytes(in[1].desc.type, k)), x_vec4},
                            (static_cast<uint64_t>(m) + matvec_weight_rows(ctx) - 1) / matvec_weight_rows(ctx),
                            u32((rows + act_rows - 1) / act_rows), {wg});
      } else {
        rec.dispatch_groups(variant(fmt::format("mul_mm{}", tx), in[1].desc.type), {x, w, out(2)},
                            {u32(rows), u32(k), u32(m), u32(row_bytes(in[1].desc.type, k)), x_vec4},
                            (static_cast<uint64_t>(m) + kTile - 1) / kTile, u32((rows + kTile - 1) / kTile));
      }
      return;
    }
    case OpKind::GetRows: {
      const int64_t n = s.output.desc.elements(), cols = in[0].desc.cols();
      Operand table = operand(0, in[0]);
      if (rec.context().texel_reads) table.binding = kWordTexels;
      rec.dispatch_groups(variant(rec.context().texel_reads ? "get_rows_tx" : "get_rows", in[0].desc.type),
                          {table, operand(1, in[1]), out(2)},
                          {u32(n), u32(cols), u32(row_bytes(in[0].desc.type, cols)), u32(in[0].desc.shape[0])},
                          groups_for(n));
      return;
    }
    case OpKind::RmsNorm: {
      const int64_t g = in[1].desc.elements(), groups = in[0].desc.elements() / g;
      rec.dispatch_groups("rms_norm", {operand(0, in[0]), operand(1, in[1]), out(2)},
                          {u32(groups), u32(g), f32_bits(std::get<RmsNormParams>(s.op->params).eps)},
                          static_cast<uint64_t>(groups));
      return;
    }
    case OpKind::Add: {
      const int64_t n = s.output.desc.elements();
      rec.dispatch_groups("add", {operand(0, in[0]), operand(1, in[1]), out(2)},
                          {u32(n), u32(in[1].desc.elements())}, groups_for(n));
      return;
    }
    case OpKind::SwiGlu: {
      const int64_t n = s.output.desc.elements();
      rec.dispatch_groups("swiglu", {operand(0, in[0]), operand(1, in[1]), out(2)}, {u32(n)}, groups_for(n));
      return;
    }
    case OpKind::Rope: {
      const auto& p = std::get<RopeParams>(s.op->params);
      const DeviceBuffer& table = rope_table(rec, s, p);
      const int64_t n = s.output.desc.elements();
      rec.dispatch_groups("rope", {operand(0, in[0]), {1, &table, 0, table.size(), false}, out(2)},
                          {u32(n), u32(in[0].desc.cols()), u32(p.head_dim), u32(p.n_rot),
                           p.mode == RopeMode::HalfSplit ? 1u : 0u},
                          groups_for(n));
      return;
    }
    case OpKind::StoreKV: {
      const int64_t n = in[0].desc.elements();
      const int64_t first = std::get<StoreKVParams>(s.op->params).first_row * s.output.desc.cols();
      const uint64_t threads = s.output.desc.type == DType::F32 ? n : n / 2;
      if (s.output.offset % 4 != 0) fail("a KV cache at byte offset {} is not 4-byte aligned", s.output.offset);
      rec.dispatch_groups(variant("store_kv", s.output.desc.type), {operand(0, in[0]), out(2)},
                          {u32(n), u32(first)}, groups_for(static_cast<int64_t>(threads)));
      return;
    }
    case OpKind::Copy:
      rec.copy(operand(0, in[0]), out(1));
      return;
    case OpKind::Attention: {
      const auto& p = std::get<AttentionParams>(s.op->params);
      const int64_t rows = in[0].desc.rows(), n_kv = p.n_past + rows;
      DeviceBuffer& scores = rec.scratch(static_cast<size_t>(rows * p.heads * n_kv) * 4);
      rec.dispatch_groups(variant("attention", in[1].desc.type),
                          {operand(0, in[0]), operand(1, in[1]), operand(2, in[2]), out(3),
                           {4, &scores, 0, scores.size(), true}},
                          {u32(rows), u32(p.heads), u32(p.kv_heads), u32(p.head_dim), u32(p.n_past),
                           u32(in[1].desc.cols()), u32(n_kv), f32_bits(p.scale)},
                          static_cast<uint64_t>(rows * p.heads));
      return;
    }
  }
}

}  // namespace isomer::vulkan
