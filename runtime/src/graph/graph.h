// A computation graph: values (weights, per-call inputs, persistent state such as the KV
// cache, and intermediates) and the op nodes that produce them, in execution order.
// Architectures only build graphs; the executor plans memory and runs them on a device.
#pragma once

#include <isomer/ops/op.h>

#include <cstdint>
#include <string>
#include <vector>

namespace isomer {

using ValueId = int32_t;

enum class ValueKind { Weight, Input, State, Intermediate };

struct Value {
  std::string name;
  TensorDesc desc;
  ValueKind kind = ValueKind::Intermediate;
  int producer = -1;  // node index for intermediates
  bool operator==(const Value&) const = default;
};

struct Node {
  std::string name;
  Op op;
  std::vector<ValueId> inputs;
  ValueId output = -1;
  bool operator==(const Node&) const = default;
};

class Graph {
 public:
  ValueId add_value(std::string name, TensorDesc desc, ValueKind kind);
  // Appends a node; its output's shape comes from the op's shape rule (an isomer::Error
  // naming the node when the inputs do not fit). In-place ops return their state input.
  ValueId add_node(std::string name, Op op, std::vector<ValueId> inputs);
  void set_output(ValueId v) { output_ = v; }
  // Replaces node i's op by another of the same kind whose shape rule gives the same output
  // (a decode step's position moved on); isomer::Error naming the node otherwise.
  void set_op(size_t i, Op op);

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const Value& value(ValueId id) const { return values_.at(static_cast<size_t>(id)); }
  ValueId output() const { return output_; }

 private:
  // The op's output for these inputs, by its shape rule; an error names the node.
  TensorDesc infer(const std::string& name, const Op& op, const std::vector<ValueId>& inputs) const;

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  ValueId output_ = -1;
};

}  // namespace isomer
