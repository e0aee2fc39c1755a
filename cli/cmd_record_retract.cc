// ehr record retract ID --reason R: mark a record entered-in-error.
#include "commands.h"
#include "ehr/records.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_record_retract(Context& ctx, const std::string& ref, const std::string& reason) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto key = resolve_record_ref(*session, ref);
  if (!key.ok()) return ctx.fail(key.error());
  auto r = retract_resource(*session, key->first, key->second, reason);
  if (!r.ok()) return ctx.fail(r.error());
  ctx.info(r->type + "/" + r->id + " is retracted (entered-in-error, version " +
           std::to_string(r->version) + "); record show --all still lists it");
  return 0;
}

}  // namespace

void setup_record_retract(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto ref = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  cmd.add_option("RECORD", *ref, "Type/id, or an id")->required();
  cmd.add_option("--reason", *reason, "why (required; kept in its history)")->required()->type_name("TEXT");
  cmd.footer(
      "A retracted record is hidden from default views but kept, with every version.\n\n"
      "Examples:\n"
      "  ehr record retract Observation/3c1d... --reason 'recorded on the wrong patient'");
  run = [ref, reason](Context& ctx) { return run_record_retract(ctx, *ref, *reason); };
}

}  // namespace ehr::cli
