#include <isomer/backend.h>
#include <isomer/ops/rope.h>

#include <vector>

namespace isomer {

void rope_table(const Step& s, float* table) {
  const auto& p = std::get<RopeParams>(s.op->params);
  const int64_t rows = s.inputs[0].desc.rows();
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  s.inputs[1].buffer->read(s.inputs[1].offset, positions.data(), positions.size() * 4);
  std::vector<float> factors;
  if (s.inputs.size() == 3) {
    factors.resize(static_cast<size_t>(s.inputs[2].desc.elements()));
    s.inputs[2].buffer->read(s.inputs[2].offset, factors.data(), factors.size() * 4);
  }
  for (int64_t r = 0; r < rows; ++r)
    rope_angles(p, positions[static_cast<size_t>(r)], factors.empty() ? nullptr : factors.data(),
                table + r * p.n_rot);
}

}  // namespace isomer
