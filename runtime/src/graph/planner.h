// Memory planning: every per-call input and intermediate value gets an offset in one arena;
// values whose lifetimes do not overlap share bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "graph/graph.h"

namespace isomer {

struct MemoryPlan {
  std::vector<int64_t> offsets;  // per value; -1 for weights and state (not in the arena)
  size_t arena_bytes = 0;
  size_t unshared_bytes = 0;  // what the same values would take without reuse
};

// Plans the values `include` accepts (all per-call inputs and intermediates by default: one
// arena per device plans the values that live on that device).
// Values `keep_alive` accepts stay intact to the end of the graph, like its output.
MemoryPlan plan_memory(const Graph& graph, const std::function<bool(ValueId)>& include = {},
                       size_t alignment = 64,
                       const std::function<bool(ValueId)>& keep_alive = {});

}  // namespace isomer
