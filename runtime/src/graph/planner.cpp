#include "graph/planner.h"

#include <algorithm>
#include <numeric>

namespace isomer {

MemoryPlan plan_memory(const Graph& graph, const std::function<bool(ValueId)>& include,
                       size_t alignment, const std::function<bool(ValueId)>& keep_alive) {
  const auto& values = graph.values();
  const int n_nodes = static_cast<int>(graph.nodes().size());
  struct Interval {
    int first = 0, last = -1;  // node indices during which the value must stay intact
    size_t bytes = 0;
  };
  std::vector<Interval> live(values.size());
  std::vector<size_t> planned;
  for (size_t v = 0; v < values.size(); ++v) {
    const auto kind = values[v].kind;
    if (kind != ValueKind::Input && kind != ValueKind::Intermediate) continue;
    if (include && !include(static_cast<ValueId>(v))) continue;
    live[v].first = kind == ValueKind::Input ? 0 : values[v].producer;
    live[v].last = live[v].first;
    live[v].bytes = (values[v].desc.bytes() + alignment - 1) / alignment * alignment;
    planned.push_back(v);
  }
  for (int i = 0; i < n_nodes; ++i)
    for (ValueId in : graph.nodes()[static_cast<size_t>(i)].inputs)
      live[static_cast<size_t>(in)].last = std::max(live[static_cast<size_t>(in)].last, i);
  if (graph.output() >= 0) live[static_cast<size_t>(graph.output())].last = n_nodes;
  if (keep_alive)
    for (size_t v : planned)
      if (keep_alive(static_cast<ValueId>(v))) live[v].last = n_nodes;

  // Largest first, each at the lowest offset clear of every placed value alive at the same
  // time: the classic greedy-by-size heuristic, near optimal for transformer graphs.
  std::stable_sort(planned.begin(), planned.end(),
                   [&](size_t a, size_t b) { return live[a].bytes > live[b].bytes; });
  MemoryPlan plan;
  plan.offsets.assign(values.size(), -1);
  std::vector<size_t> placed;
  for (size_t v : planned) {
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) byte ranges in conflict
    for (size_t u : placed)
      if (live[u].first <= live[v].last && live[v].first <= live[u].last)
        busy.emplace_back(static_cast<size_t>(plan.offsets[u]),
                          static_cast<size_t>(plan.offsets[u]) + live[u].bytes);
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + live[v].bytes <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[v] = static_cast<int64_t>(offset);
    plan.arena_bytes = std::max(plan.arena_bytes, offset + live[v].bytes);
    plan.unshared_bytes += live[v].bytes;
    placed.push_back(v);
  }
  return plan;
}

}  // namespace isomer
