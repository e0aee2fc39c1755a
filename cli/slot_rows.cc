// Key slot rows (slot_rows.h).
#include "slot_rows.h"

namespace ehr::cli {

Json slot_rows(const std::vector<SlotInfo>& slots) {
  Json rows = Json::array();
  for (const auto& s : slots) {
    Json r = Json::object();
    r.set("slot", Json::number(int64_t{s.index}));
    r.set("user", Json::string(s.user));
    r.set("type", Json::string(std::string(slot_type_name(s.type))));
    r.set("label", Json::string(s.label));
    bool pw = s.type == SlotType::kPassphrase;
    r.set("kdf", Json::string(pw ? "argon2id" : "none"));
    r.set("opslimit", pw ? Json::number(static_cast<int64_t>(s.kdf.opslimit)) : Json());
    r.set("memlimit_mib", pw ? Json::number(static_cast<int64_t>(s.kdf.memlimit >> 20)) : Json());
    r.set("current", Json::boolean(s.opened_this_store));
    rows.push_back(std::move(r));
  }
  return rows;
}

const std::vector<std::string>& slot_columns() {
  static const std::vector<std::string> cols = {"slot", "user", "type", "label", "kdf",
                                                "opslimit", "memlimit_mib", "current"};
  return cols;
}

}  // namespace ehr::cli
