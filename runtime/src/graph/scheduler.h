// Scheduling: each node runs on the model's device when that device supports it, and on the
// CPU otherwise (every fallback is recorded with the device's reason). Where a value is used
// on another device than the one that holds it, a copy node moves it; a graph the device runs
// whole has no copies and runs as one split.
#pragma once

#include <isomer/backend.h>

#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace isomer {

struct Schedule {
  Graph graph;                       // the input graph plus its copy nodes
  std::vector<Device*> node_device;  // per node of `graph`; a copy runs on its destination
  std::vector<Device*> value_device; // per value of `graph`
  std::vector<std::string> fallbacks;  // "op at node: reason", one per node on the fallback
};

// `state_device` says where each state value (KV cache) lives; nodes that use a state value
// run there.
Schedule schedule(const Graph& graph, Device& device, Device& fallback,
                  const std::function<Device*(const std::string& state)>& state_device);

// Whether `device` runs `node` of `graph`, and if not, why.
Support node_support(const Graph& graph, const Node& node, const Device& device);

}  // namespace isomer
