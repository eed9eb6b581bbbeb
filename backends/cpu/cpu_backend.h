#pragma once

#include <isomer/backend.h>

namespace isomer::cpu {

Backend& backend();

}  // namespace isomer::cpu
