#include "graph/graph.h"

#include <isomer/error.h>

#include <array>
#include <span>

namespace isomer {

ValueId Graph::add_value(std::string name, TensorDesc desc, ValueKind kind) {
  values_.push_back({std::move(name), std::move(desc), kind, -1});
  return static_cast<ValueId>(values_.size() - 1);
}

TensorDesc Graph::infer(const std::string& name, const Op& op, const std::vector<ValueId>& inputs) const {
  // The inputs' descriptors on the stack where they fit: decode checks its positioned nodes
  // again every token (set_op).
  std::array<TensorDesc, 4> few;
  std::vector<TensorDesc> many(inputs.size() > few.size() ? inputs.size() : 0);
  const std::span<TensorDesc> descs = many.empty() ? std::span(few).first(inputs.size()) : std::span(many);
  for (size_t i = 0; i < inputs.size(); ++i) descs[i] = value(inputs[i]).desc;
  try {
    return op.infer(descs);
  } catch (const Error& e) {
    fail("graph node {}: {}", name, e.what());
  }
}

ValueId Graph::add_node(std::string name, Op op, std::vector<ValueId> inputs) {
  TensorDesc out = infer(name, op, inputs);
  ValueId output;
  if (const int alias = op.inplace_input(); alias >= 0) {
    output = inputs[static_cast<size_t>(alias)];
  } else {
    output = add_value(name, std::move(out), ValueKind::Intermediate);
    values_.back().producer = static_cast<int>(nodes_.size());
  }
  nodes_.push_back({std::move(name), std::move(op), std::move(inputs), output});
  return output;
}

void Graph::set_op(size_t i, Op op) {
  Node& node = nodes_.at(i);
  const TensorDesc out = infer(node.name, op, node.inputs);
  if (op.kind() != node.op.kind() || out != value(node.output).desc)
    fail("graph node {}: {} cannot replace its {} (output {})", node.name, op.name(), node.op.name(),
         value(node.output).desc.to_string());
  node.op = std::move(op);
}

}  // namespace isomer
