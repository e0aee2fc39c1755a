// ehr record amend ID --reason R: a corrected new version of a record.
#include "commands.h"
#include "ehr/builders.h"
#include "ehr/records.h"
#include "json_input.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct RecordAmendOptions {
  std::string ref;
  std::string reason;
  std::string json;
  std::string status;
  std::string value;
  std::string note;
};

int run_record_amend(Context& ctx, const RecordAmendOptions& o) {
  if (o.json.empty() && o.status.empty() && o.value.empty() && o.note.empty())
    return ctx.fail(Error::invalid_argument("nothing to amend: give --json, --status, --value or --note"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto key = resolve_record_ref(*session, o.ref);
  if (!key.ok()) return ctx.fail(key.error());
  auto current = read_resource(*session, key->first, key->second);
  if (!current.ok()) return ctx.fail(current.error());
  Json next = current->resource;
  if (!o.json.empty()) {
    auto j = read_json_input(ctx, o.json);
    if (!j.ok()) return ctx.fail(j.error());
    next = std::move(*j);
    next.set("id", Json::string(key->second));
  }
  if (!o.status.empty()) {
    Status st = set_record_status(next, o.status);
    if (!st.ok()) return ctx.fail(st.error());
  }
  if (!o.value.empty()) {
    Json* q = next.find("valueQuantity");
    auto number = Json::number_from_text(o.value);
    if (q != nullptr && q->is_object() && !number.ok())
      return ctx.fail(Error::invalid_data(
          "--value must be a number for a record with a quantity value, written with a decimal point (72.5)"));
    if (q != nullptr && q->is_object()) q->set("value", *number);
    else if (next.find("valueString") != nullptr) next.set("valueString", Json::string(o.value));
    else return ctx.fail(Error::invalid_argument("--value applies to records with a quantity or text value"));
  }
  if (!o.note.empty()) {
    Json n = Json::object();
    n.set("authorString", Json::string(session->user()));
    n.set("time", Json::string(session->now()));
    n.set("text", Json::string(o.note));
    Status st = add_record_note(next, std::move(n));
    if (!st.ok()) return ctx.fail(st.error());
  }
  // A patient amended here is held to what patient update holds it to: no
  // other stored patient's MRN.
  auto stored = key->first == "Patient"
                    ? update_patient(*session, std::move(next), ctx.config().get("mrn_system"), o.reason)
                    : update_resource(*session, std::move(next), o.reason);
  if (!stored.ok()) return ctx.fail(stored.error());
  print_validation_warnings(ctx, stored->resource);
  ctx.info(stored->type + "/" + stored->id + " is now version " + std::to_string(stored->version));
  ctx.out() << stored->type << '/' << stored->id << '\n' << std::flush;
  return 0;
}

}  // namespace

void setup_record_amend(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<RecordAmendOptions>();
  cmd.add_option("RECORD", o->ref, "Type/id, or an id")->required();
  cmd.add_option("--reason", o->reason, "why it is amended (required; kept in its history)")
      ->required()->type_name("TEXT");
  cmd.add_option("--json", o->json, "the whole corrected resource in FILE, or - for stdin")->type_name("FILE");
  cmd.add_option("--status", o->status, "a new status")->type_name("STATUS");
  cmd.add_option("--value", o->value, "a corrected value")->type_name("VALUE");
  cmd.add_option("--note", o->note, "append a note")->type_name("TEXT");
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "The earlier version stays readable in ehr record history.\n"
      "--status sets a Condition's or allergy's clinicalStatus, else the record's status;\n"
      "--note appends to the record's notes. A record without such an element is a usage\n"
      "error (exit 64): amend it with --json. A Patient may not take another stored\n"
      "patient's MRN (exit 73).\n\n"
      "Examples:\n"
      "  ehr record amend Observation/3c1d... --value 72.1 --reason 'scale recalibrated'\n"
      "  ehr record amend Condition/9f2e... --json fixed.json --reason 'coded more precisely'");
  run = [o](Context& ctx) { return run_record_amend(ctx, *o); };
}

}  // namespace ehr::cli
