#pragma once

#include <isomer/gguf.h>
#include <isomer/model.h>

namespace isomer {

// Reads and validates the hyper-parameters of architecture `arch` from `file`.
ModelConfig read_config(const gguf::File& file, const std::string& arch);

}  // namespace isomer
