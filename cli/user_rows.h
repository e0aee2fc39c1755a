// Rows of `ehr user list|show` (one place, so both print the same fields).

#ifndef EHR_CLI_USER_ROWS_H_
#define EHR_CLI_USER_ROWS_H_

#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/users.h"

namespace ehr::cli {

// {user, roles, status, slots, created, created_by, changed}; roles and
// slots space-separated, status "enabled" or "disabled".
Json user_row(const UserInfo& u);
const std::vector<std::string>& user_columns();

}  // namespace ehr::cli

#endif  // EHR_CLI_USER_ROWS_H_
