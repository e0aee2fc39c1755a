// ehr audit export: the audit trail as FHIR R4 AuditEvent NDJSON.
#include <fmt/format.h>

#include "audit_flags.h"
#include "commands.h"
#include "ehr/audit.h"
#include "ehr/files.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct AuditExportOptions {
  AuditFilter filter;
  std::string output;
};

int run_audit_export(Context& ctx, const AuditExportOptions& o) {
  // Refused before anything is read (and audited): write_new_file checks again.
  if (!o.output.empty() && path_exists(o.output))
    return ctx.fail(Error::already_exists(fmt::format("{} already exists", o.output)));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto entries = list_audit(*session, o.filter);
  if (!entries.ok()) return ctx.fail(entries.error());
  std::string trail = audit_trail_id(*session);
  std::string text;
  for (const auto& e : *entries) {
    text += audit_event_json(e, trail);
    text += '\n';
  }
  if (o.output.empty()) {
    ctx.out() << text << std::flush;
    return 0;
  }
  Status written = write_new_file(o.output, text, 0600);
  if (!written.ok()) return ctx.fail(written.error());
  ctx.info(fmt::format("wrote {} audit event{} to {}", entries->size(), entries->size() == 1 ? "" : "s",
                       o.output));
  return 0;
}

}  // namespace

void setup_audit_export(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<AuditExportOptions>();
  add_audit_filter_flags(cmd, o->filter);
  cmd.add_option("-o,--output", o->output, "write to FILE (created 0600, must not exist) instead of stdout")
      ->type_name("FILE");
  cmd.footer(
      "One FHIR R4 AuditEvent per line, oldest first, whatever --format says; ids are\n"
      "<trail id>-<seq>. Needs audit-read on AuditEvent; the export is itself audited.\n\n"
      "Examples:\n"
      "  ehr audit export --since 2026-11-01 -o audit-2026-11.ndjson\n"
      "  ehr audit export --patient A1001 | jq -c '{recorded, action, outcome}'");
  run = [o](Context& ctx) { return run_audit_export(ctx, *o); };
}

}  // namespace ehr::cli
