// The version of ehr.

#ifndef EHR_VERSION_H_
#define EHR_VERSION_H_

#include <string_view>

namespace ehr {

// The ehr release, "MAJOR.MINOR.PATCH" (from CMakeLists.txt's project()).
std::string_view version();

}  // namespace ehr

#endif  // EHR_VERSION_H_
