#pragma once

namespace isomer {
const char* version();
}
