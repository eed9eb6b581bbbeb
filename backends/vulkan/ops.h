// The ops as compute dispatches: which op/type combinations have a shader, and recording one
// step.
#pragma once

#include "recorder.h"

namespace isomer::vulkan {

Support supports_op(const Op& op, std::span<const TensorDesc> inputs, const TensorDesc& output,
                    const Context& ctx);
void record_step(Recorder& rec, const Step& step);

}  // namespace isomer::vulkan
