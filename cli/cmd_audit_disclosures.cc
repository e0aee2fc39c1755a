// ehr audit disclosures: the accounting of disclosures of one patient.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/audit.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct AuditDisclosuresOptions {
  std::string patient;
  std::string since;
};

int run_audit_disclosures(Context& ctx, const AuditDisclosuresOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto all = list_disclosures(*session, o.patient, o.since);
  if (!all.ok()) return ctx.fail(all.error());
  Json rows = Json::array();
  std::int64_t excluded = 0;
  for (const auto& d : *all) {
    Json r = Json::object();
    r.set("date", Json::string(d.time));
    r.set("recipient", Json::string(d.recipient));
    r.set("what", Json::string(d.what));
    r.set("purpose", Json::string(d.purpose));
    r.set("excluded", Json::boolean(d.excluded));
    r.set("user", Json::string(d.user));
    r.set("seq", Json::number(d.seq));
    rows.push_back(std::move(r));
    if (d.excluded) ++excluded;
  }
  ctx.print_rows(rows, {"date", "recipient", "what", "purpose", "excluded", "user"});
  if (excluded > 0)
    ctx.info(fmt::format(
        "{} disclosure{} for treatment, payment, operations or at the patient's request {} listed but "
        "excluded from the accounting (45 CFR 164.528)",
        excluded, excluded == 1 ? "" : "s", excluded == 1 ? "is" : "are"));
  return 0;
}

}  // namespace

void setup_audit_disclosures(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<AuditDisclosuresOptions>();
  cmd.add_option("--patient", o->patient, "the patient (id or MRN)")
      ->required()
      ->type_name("PATIENT");
  cmd.add_option("--since", o->since, "from T (YYYY, YYYY-MM, YYYY-MM-DD or an instant; default: six years ago)")
      ->type_name("T");
  cmd.footer(
      "Lists what was read for a recipient outside the organisation (--recipient). Disclosures\n"
      "for treatment, payment, operations or at the patient's request are listed with excluded\n"
      "true: 45 CFR 164.528 leaves them out of the accounting a patient may ask for.\n"
      "Needs audit-read on AuditEvent; the listing is itself audited.\n\n"
      "Examples:\n"
      "  ehr audit disclosures --patient A1001\n"
      "  ehr audit disclosures --patient A1001 --since 2024 --format csv");
  run = [o](Context& ctx) { return run_audit_disclosures(ctx, *o); };
}

}  // namespace ehr::cli
