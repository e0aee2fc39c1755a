// Key slots as output rows, shared by `ehr db info` and `ehr key list`.
#ifndef EHR_CLI_SLOT_ROWS_H_
#define EHR_CLI_SLOT_ROWS_H_

#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/store.h"

namespace ehr::cli {

// Fields: slot, user, type, label, kdf ("argon2id" or "none"), opslimit,
// memlimit_mib (null unless a passphrase slot), current (opened this run).
Json slot_rows(const std::vector<SlotInfo>& slots);
const std::vector<std::string>& slot_columns();

}  // namespace ehr::cli

#endif  // EHR_CLI_SLOT_ROWS_H_
