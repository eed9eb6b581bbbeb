// The agreement thresholds of isomer compare, calibrated by the precision of a model's weights
// (the figures behind them: docs/FIDELITY.md, "Agreement thresholds").
#include <isomer/compare.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>
#include <vector>

namespace isomer::compare {

Calibration calibrated_thresholds(const gguf::File& model) {
  // The least precise matrices decide: quantized, then F16 / BF16, then F32.
  enum Class { Quantized, Half, Full } least = Full;
  std::vector<std::string_view> types;  // the matrix types of that class, in file order
  for (const auto& t : model.tensors()) {
    if (t.dims.size() < 2) continue;  // norms and biases stay F32 in every file type
    const Class c = traits(t.type).quantized                          ? Quantized
                    : t.type == DType::F16 || t.type == DType::BF16 ? Half
                                                                      : Full;
    if (c < least) {
      least = c;
      types.clear();
    }
    if (c == least && std::find(types.begin(), types.end(), dtype_name(t.type)) == types.end())
      types.push_back(dtype_name(t.type));
  }
  switch (least) {
    case Quantized:
      return {2.5e-3, 0.88, 0.35, 5e-3, fmt::format("quantized weights ({})", fmt::join(types, ", "))};
    case Half: return {3e-4, 0.96, 0.15, 1e-4, fmt::format("16-bit weights ({})", fmt::join(types, ", "))};
    case Full: break;
  }
  return {1e-5, 1.0, 0.03, 1e-6, "F32 weights"};
}

}  // namespace isomer::compare
