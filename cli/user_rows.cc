// User rows (user_rows.h).
#include "user_rows.h"

namespace ehr::cli {

Json user_row(const UserInfo& u) {
  std::string roles, slots;
  for (const auto& r : u.roles) roles += (roles.empty() ? "" : " ") + r;
  for (int s : u.slots) slots += (slots.empty() ? "" : " ") + std::to_string(s);
  Json row = Json::object();
  row.set("user", Json::string(u.name));
  row.set("roles", Json::string(roles));
  row.set("status", Json::string(u.disabled ? "disabled" : "enabled"));
  row.set("slots", Json::string(slots));
  row.set("created", Json::string(u.created));
  row.set("created_by", Json::string(u.created_by));
  row.set("changed", Json::string(u.changed));
  return row;
}

const std::vector<std::string>& user_columns() {
  static const std::vector<std::string> cols = {"user", "roles", "status", "slots", "created", "created_by"};
  return cols;
}

}  // namespace ehr::cli
