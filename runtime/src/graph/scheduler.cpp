#include "graph/scheduler.h"

#include <fmt/format.h>

#include <map>

namespace isomer {

Support node_support(const Graph& graph, const Node& node, const Device& device) {
  std::vector<TensorDesc> inputs;
  for (ValueId v : node.inputs) inputs.push_back(graph.value(v).desc);
  return device.supports(node.op, inputs, graph.value(node.output).desc);
}

Schedule schedule(const Graph& graph, Device& device, Device& fallback,
                  const std::function<Device*(const std::string& state)>& state_device) {
  Schedule s;
  // Where each original value is available: (value, device) -> value of s.graph.
  std::map<std::pair<ValueId, Device*>, ValueId> at;
  std::vector<Device*> home(graph.values().size(), nullptr);

  auto add_value = [&](const Value& v, Device* d) {
    const ValueId id = s.graph.add_value(v.name, v.desc, v.kind);
    s.value_device.push_back(d);
    return id;
  };
  // The value `v` on device `d`, copied there from where it lives when needed.
  auto on = [&](ValueId v, Device* d) -> ValueId {
    if (const auto it = at.find({v, d}); it != at.end()) return it->second;
    const Value& value = graph.value(v);
    ValueId id;
    if (value.kind == ValueKind::Weight) {
      id = add_value(value, d);  // the model holds the weights on both devices
    } else {
      if (!home[static_cast<size_t>(v)]) {  // inputs live where they are first used
        home[static_cast<size_t>(v)] = value.kind == ValueKind::State ? state_device(value.name) : d;
        at[{v, home[static_cast<size_t>(v)]}] = add_value(value, home[static_cast<size_t>(v)]);
        if (home[static_cast<size_t>(v)] == d) return at[{v, d}];
      }
      const ValueId src = at.at({v, home[static_cast<size_t>(v)]});
      id = s.graph.add_node(fmt::format("{}@{}", value.name, d->properties().id), Op{CopyParams{}},
                            {src});
      s.node_device.push_back(d);
      s.value_device.push_back(d);
    }
    at[{v, d}] = id;
    return id;
  };

  for (const Node& node : graph.nodes()) {
    Device* d = &device;
    for (ValueId in : node.inputs)
      if (graph.value(in).kind == ValueKind::State) d = state_device(graph.value(in).name);
    if (d == &device && d != &fallback) {
      if (const Support ok = node_support(graph, node, device); !ok) {
        s.fallbacks.push_back(fmt::format("{} at {}: {}", node.op.name(), node.name, ok.reason));
        d = &fallback;
      }
    }
    std::vector<ValueId> inputs;
    for (ValueId in : node.inputs) inputs.push_back(on(in, d));
    const size_t values_before = s.graph.values().size();
    const ValueId out = s.graph.add_node(node.name, node.op, std::move(inputs));
    s.node_device.push_back(d);
    if (s.graph.values().size() > values_before) s.value_device.push_back(d);
    if (node.op.inplace_input() < 0) {
      home[static_cast<size_t>(node.output)] = d;
      at[{node.output, d}] = out;
    }
  }
  const ValueId out = graph.output();
  s.graph.set_output(at.at({out, home[static_cast<size_t>(out)]}));
  return s;
}

}  // namespace isomer
