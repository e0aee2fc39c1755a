// The version string, injected by CMake as EHR_VERSION.
#include "ehr/version.h"

namespace ehr {

std::string_view version() { return EHR_VERSION; }

}  // namespace ehr
