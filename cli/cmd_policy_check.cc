// ehr policy check: explain one access decision.
#include <fmt/format.h>

#include "commands.h"
#include <algorithm>

#include "ehr/access.h"
#include "ehr/validate.h"
#include "exit_codes.h"
#include "output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PolicyCheckOptions {
  std::string user;
  std::string action;
  std::string type;
  std::string patient;
  std::vector<std::string> labels;
  std::string code;
  bool emergency = false;
};

Json strings(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(Json::string(s));
  return a;
}

int run_policy_check(Context& ctx, const PolicyCheckOptions& o) {
  auto action = parse_action(o.action);
  if (!action)
    return ctx.fail(Error::invalid_argument(fmt::format("--action {}: not one of {}", o.action, action_names(", "))));
  static const char* kObjects[] = {"User", "Key", "Policy", "CareTeam", "AuditEvent", "Database"};
  bool object = std::find_if(std::begin(kObjects), std::end(kObjects),
                             [&](const char* x) { return o.type == x; }) != std::end(kObjects);
  if (!object && !is_r4_resource_type(o.type))
    return ctx.fail(Error::invalid_argument(fmt::format(
        "--type {}: not a FHIR R4 resource type nor one of User, Key, Policy, CareTeam, AuditEvent, "
        "Database", o.type)));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  AccessQuestion q;
  q.user = o.user.empty() ? session->user() : o.user;
  q.action = *action;
  q.type = o.type;
  q.labels = o.labels;
  q.code = o.code;
  q.emergency = o.emergency;
  q.patient = o.patient;
  auto e = explain_access(*session, q);
  if (!e.ok()) return ctx.fail(e.error());
  Json doc = Json::object();
  doc.set("decision", Json::string(e->decision.allowed ? "allow" : "deny"));
  doc.set("rule", Json::string(e->decision.rule));
  doc.set("reason", Json::string(e->decision.reason));
  doc.set("user", Json::string(q.user));
  doc.set("roles", strings(e->facts.roles));
  doc.set("action", Json::string(o.action));
  doc.set("type", Json::string(o.type));
  doc.set("patient", text_or_null(e->patient));
  doc.set("on_care_team", e->patient.empty() ? Json() : Json::boolean(e->facts.on_care_team));
  doc.set("emergency", Json::boolean(e->decision.emergency));
  doc.set("labels", strings(o.labels));
  doc.set("fields", strings(e->decision.fields));
  doc.set("policy_version", Json::number(session->policy_version()));
  ctx.print_document(doc);
  return e->decision.allowed ? kExitOk : kExitNoMatch;
}

}  // namespace

void setup_policy_check(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<PolicyCheckOptions>();
  cmd.add_option("--for", o->user, "the user asked about (default: yourself, --user)")->type_name("USER");
  cmd.add_option("--action", o->action, action_names(", ", " or "))
      ->required()
      ->type_name("ACTION");
  cmd.add_option("--type", o->type, "resource type (or User, Key, Policy, CareTeam, AuditEvent, Database)")
      ->required()
      ->type_name("TYPE");
  cmd.add_option("--patient", o->patient, "the patient (id, or an identifier such as the MRN) the record belongs to")
      ->type_name("PATIENT");
  cmd.add_option("--label", o->labels, "a security label code the record carries (repeatable), e.g. R")
      ->type_name("CODE");
  cmd.add_option("--code", o->code, "the record's main code as SYSTEM|CODE")->type_name("CODE");
  cmd.add_flag("--emergency", o->emergency, "as if breaking the glass");
  cmd.footer(
      "Prints the decision, the rule that made it (role, allow or deny, number, line of the\n"
      "policy) and why. Exit status 0 when allowed, 1 when denied (like grep; also 1, with nothing\n"
      "on stdout, for an unknown user or patient). Asking about another user (--for) needs\n"
      "audit-read or the admin permission on Policy; without one, a patient you may not read is\n"
      "answered as an unknown one. Every check is audited (policy-check, naming the patient).\n\n"
      "Examples:\n"
      "  ehr policy check --action read --type Observation --patient A1001\n"
      "  ehr --user admin policy check --for bob --action read --type Condition --patient A1001 --label PSYTHPN");
  run = [o](Context& ctx) { return run_policy_check(ctx, *o); };
}

}  // namespace ehr::cli
