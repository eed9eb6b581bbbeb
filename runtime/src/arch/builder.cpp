#include <isomer/error.h>

#include <fmt/ranges.h>

#include "arch/architecture.h"

namespace isomer {

std::string kv_cache_name(int layer, bool v) {
  return fmt::format("cache_{}.{}", v ? 'v' : 'k', layer);
}

ValueId GraphBuilder::optional_weight(const std::string& name, const Shape& shape) {
  const TensorBinding* t = model_.weight(name);
  if (!t) return -1;
  if (t->desc.shape != shape)
    fail("{}: tensor '{}' has shape [{}], the {} architecture expects [{}]",
         model_.file().path(), name, fmt::join(t->desc.shape, ", "), config().arch,
         fmt::join(shape, ", "));
  return graph_.add_value(name, t->desc, ValueKind::Weight);
}

ValueId GraphBuilder::weight(const std::string& name, const Shape& shape) {
  const ValueId v = optional_weight(name, shape);
  if (v < 0)
    fail("{}: tensor '{}' is missing (required by the {} architecture)", model_.file().path(),
         name, config().arch);
  return v;
}

ValueId GraphBuilder::input(const std::string& name, int64_t n) {
  return graph_.add_value(name, {DType::I32, {n}}, ValueKind::Input);
}

ValueId GraphBuilder::kv_cache(int layer, bool v, int64_t width) {
  return graph_.add_value(kv_cache_name(layer, v), {batch_.kv_type, {batch_.n_ctx, width}},
                          ValueKind::State);
}

}  // namespace isomer
