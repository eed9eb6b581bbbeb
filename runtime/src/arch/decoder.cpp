#include "arch/decoder.h"

#include <isomer/error.h>

#include <cmath>

namespace isomer {

void build_decoder(GraphBuilder& b, const DecoderSpec& spec) {
  const ModelConfig& c = b.config();
  const Batch& batch = b.batch();
  const int64_t n = batch.n_tokens, hd = c.head_dim;
  const int64_t q_width = c.n_head * hd, kv_width = c.n_head_kv * hd;

  const ValueId tokens = b.input("tokens", n);
  const ValueId positions = b.input("positions", n);
  const ValueId embd = b.weight("token_embd.weight", {c.n_vocab, c.n_embd});
  const ValueId freq_factors = b.optional_weight("rope_freqs.weight", {c.n_rot / 2});
  ValueId x = b.op("token_embd", GetRowsParams{}, {embd, tokens});

  const RopeParams rope{
      .head_dim = c.head_dim,
      .n_rot = c.n_rot,
      .mode = spec.rope_mode,
      .freq_base = c.rope_freq_base,
      .freq_scale = c.rope_freq_scale,
      .ext_factor = c.rope_scaling == RopeScaling::Yarn ? 1.0f : 0.0f,
      .attn_factor = 1.0f,
      .beta_fast = c.yarn_beta_fast,
      .beta_slow = c.yarn_beta_slow,
      .n_ctx_orig = static_cast<int>(c.rope_n_ctx_orig),
  };
  const RmsNormParams norm{c.norm_eps};
  auto rope_of = [&](const std::string& name, ValueId v) {
    std::vector<ValueId> in{v, positions};
    if (freq_factors >= 0) in.push_back(freq_factors);
    return b.op(name, rope, std::move(in));
  };

  for (int il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    auto w = [&](const std::string& name, const Shape& shape) { return b.weight(p + name, shape); };
    auto project = [&](const char* name, ValueId in, int64_t out_width, int64_t in_width) {
      return b.op(p + name, MatMulParams{}, {in, w(std::string(name) + ".weight", {out_width, in_width})});
    };
    auto add_bias = [&](const char* name, ValueId y, int64_t width) {
      return b.op(p + name + "_bias", AddParams{}, {y, w(std::string(name) + ".bias", {width})});
    };

    // Attention block. The three products come first, then their biases (Qwen2): a backend
    // can then run products of one input together (the CPU backend does).
    ValueId h = b.op(p + "attn_norm", norm, {x, w("attn_norm.weight", {c.n_embd})});
    ValueId q = project("attn_q", h, q_width, c.n_embd);
    ValueId k = project("attn_k", h, kv_width, c.n_embd);
    ValueId v = project("attn_v", h, kv_width, c.n_embd);
    if (spec.qkv_bias) {
      q = add_bias("attn_q", q, q_width);
      k = add_bias("attn_k", k, kv_width);
      v = add_bias("attn_v", v, kv_width);
    }
    if (spec.qk_norm) {
      q = b.op(p + "attn_q_norm", norm, {q, w("attn_q_norm.weight", {hd})});
      k = b.op(p + "attn_k_norm", norm, {k, w("attn_k_norm.weight", {hd})});
    }
    q = rope_of(p + "rope_q", q);
    k = rope_of(p + "rope_k", k);
    const ValueId k_cache = b.op(p + "store_k", StoreKVParams{batch.n_past},
                                 {k, b.kv_cache(il, false, kv_width)});
    const ValueId v_cache = b.op(p + "store_v", StoreKVParams{batch.n_past},
                                 {v, b.kv_cache(il, true, kv_width)});
    const AttentionParams attn{.heads = c.n_head,
                               .kv_heads = c.n_head_kv,
                               .head_dim = c.head_dim,
                               .n_past = batch.n_past,
                               .scale = 1.0f / std::sqrt(static_cast<float>(hd))};
    ValueId a = b.op(p + "attention", attn, {q, k_cache, v_cache});
    a = project("attn_output", a, c.n_embd, q_width);
    if (il == c.n_layer - 1 && !batch.all_logits) {
      // Only the last position's logits are wanted: drop the other rows before the last
      // feed-forward block, as llama.cpp does.
      const ValueId rows = b.input("out_rows", 1);
      a = b.op(p + "select_attn", GetRowsParams{}, {a, rows});
      x = b.op(p + "select_resid", GetRowsParams{}, {x, rows});
    }
    x = b.op(p + "attn_resid", AddParams{}, {x, a});

    // Feed-forward block.
    h = b.op(p + "ffn_norm", norm, {x, w("ffn_norm.weight", {c.n_embd})});
    const ValueId gate = project("ffn_gate", h, c.n_ff, c.n_embd);
    const ValueId up = project("ffn_up", h, c.n_ff, c.n_embd);
    h = b.op(p + "ffn_swiglu", SwiGluParams{}, {gate, up});
    h = project("ffn_down", h, c.n_embd, c.n_ff);
    x = b.op(p + "ffn_resid", AddParams{}, {x, h});
  }

  x = b.op("output_norm", norm, {x, b.weight("output_norm.weight", {c.n_embd})});
  ValueId out = b.optional_weight("output.weight", {c.n_vocab, c.n_embd});
  if (out < 0) out = embd;  // tied embeddings
  b.graph().set_output(b.op("output", MatMulParams{}, {x, out}));
}

}  // namespace isomer
