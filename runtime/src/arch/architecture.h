// What an architecture is to isomer: a name and a function that builds the graph for one
// batch out of the catalogue's ops. Architectures compute nothing themselves.
#pragma once

#include <isomer/model.h>

#include <string>
#include <string_view>

#include "graph/graph.h"

namespace isomer {

struct Batch {
  int64_t n_tokens = 0;
  int64_t n_past = 0;
  int64_t n_ctx = 0;
  bool all_logits = false;
  DType kv_type = DType::F16;
};

// Graph-building helpers shared by the architectures: weights are checked against the shape
// the architecture expects, and every node is named for error messages.
class GraphBuilder {
 public:
  GraphBuilder(const Model& model, const Batch& batch) : model_(model), batch_(batch) {}

  const ModelConfig& config() const { return model_.config(); }
  const Batch& batch() const { return batch_; }
  Graph& graph() { return graph_; }

  // A weight of the given shape (outermost first); isomer::Error naming the tensor and the
  // file when it is missing or shaped differently.
  ValueId weight(const std::string& name, const Shape& shape);
  // Same, but -1 when the file has no such tensor.
  ValueId optional_weight(const std::string& name, const Shape& shape);
  // Per-call inputs the executor fills: "tokens", "positions" (I32 [n_tokens]) and
  // "out_rows" (I32 [rows whose logits are wanted]).
  ValueId input(const std::string& name, int64_t n);
  // Layer `layer`'s K (v = false) or V cache, [n_ctx, width].
  ValueId kv_cache(int layer, bool v, int64_t width);
  ValueId op(std::string name, OpParams params, std::vector<ValueId> inputs) {
    return graph_.add_node(std::move(name), Op{std::move(params)}, std::move(inputs));
  }

 private:
  const Model& model_;
  Batch batch_;
  Graph graph_;
};

struct Architecture {
  std::string_view name;
  void (*build)(GraphBuilder& builder);
};

// The architecture called `name`, or null.
const Architecture* find_architecture(std::string_view name);

// Cache value names, shared by the builder and the executor.
std::string kv_cache_name(int layer, bool v);

}  // namespace isomer
