// Audit entries that could not be written when they happened: a denial (or
// a lookup that found nothing) while another process holds the write lock
// for longer than the busy timeout (a night's import), or while the -wal
// cannot be written. The operation was refused all the same; its entry must
// not be lost. It is sealed (XChaCha20-Poly1305 under a subkey of the
// trail's chain key, bound to the trail id) and appended as one line to
// DB.deferred-audit beside the database, then moved into the trail, in the
// order kept and with its own time, user and roles, by the next open that
// can write. The journal holds no plaintext: ids and times are sealed too.
// Deleting the journal loses its entries undetected, as deleting
// DB.failed-opens does; it is a file beside the database, not part of it.

#ifndef EHR_CORE_DEFERRED_AUDIT_H_
#define EHR_CORE_DEFERRED_AUDIT_H_

#include <string>

#include "ehr/audit.h"
#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

// "DB.deferred-audit".
std::string deferred_audit_path(const std::string& db_path);

// Seals `e` and appends it to the journal of `s`'s database (mode 0600,
// fsynced). Errors: kInternal "the audit chain is not loaded"; those of
// append_line (kCantCreate, kIoError).
Status defer_audit_entry(SessionImpl& s, const AuditEntry& e);

// Moves the journal's entries into the trail, in one write transaction; a
// line that does not open (torn by a crash, another database's) is left
// out and counted in one entry of its own (action "audit-deferred",
// outcome "error"). Nothing to do without a journal. Errors: those of the
// transaction; the journal then stays as it was (kBusy: for a later open).
Status import_deferred_audit(SessionImpl& s);

}  // namespace ehr

#endif  // EHR_CORE_DEFERRED_AUDIT_H_
