#pragma once

#include <isomer/backend.h>

namespace isomer::vulkan {

Backend& backend();

}  // namespace isomer::vulkan
