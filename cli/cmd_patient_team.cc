// ehr patient team add|remove|list PATIENT [USER]: a patient's care team.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientTeamOptions {
  std::string op;
  std::string patient;
  std::string user;
  std::string role;
};

int run_patient_team(Context& ctx, const PatientTeamOptions& o) {
  if (o.op == "list" && !o.user.empty())
    return ctx.fail(Error::invalid_argument("team list takes a patient only"));
  if (o.op != "list" && o.user.empty())
    return ctx.fail(Error::invalid_argument(fmt::format("team {} needs PATIENT USER", o.op)));
  if (o.op != "add" && !o.role.empty())
    return ctx.fail(Error::invalid_argument("--role goes with team add"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  // The patient by id or MRN, resolved without reading it: an admin who
  // may not read records still assigns care teams.
  const std::string& patient = o.patient;
  if (o.op == "add") {
    Status s = add_team_member(*session, patient, o.user, o.role.empty() ? "member" : o.role);
    if (!s.ok()) return ctx.fail(s.error());
    ctx.info(fmt::format("{} joined the care team of patient {}", o.user, patient));
    return 0;
  }
  if (o.op == "remove") {
    Status s = remove_team_member(*session, patient, o.user);
    if (!s.ok()) return ctx.fail(s.error());
    ctx.info(fmt::format("{} left the care team of patient {}", o.user, patient));
    return 0;
  }
  auto team = care_team(*session, patient);
  if (!team.ok()) return ctx.fail(team.error());
  Json rows = Json::array();
  for (const auto& m : *team) {
    Json r = Json::object();
    r.set("user", Json::string(m.user));
    r.set("role", Json::string(m.role));
    r.set("added", Json::string(m.added));
    r.set("added_by", Json::string(m.added_by));
    rows.push_back(std::move(r));
  }
  ctx.print_rows(rows, {"user", "role", "added", "added_by"});
  return 0;
}

}  // namespace

void setup_patient_team(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<PatientTeamOptions>();
  cmd.add_option("OPERATION", o->op, "add, remove or list")
      ->required()
      ->check(CLI::IsMember({"add", "remove", "list"}));
  cmd.add_option("PATIENT", o->patient, "patient id or MRN")->required();
  cmd.add_option("USER", o->user, "the ehr user joining or leaving (add, remove)");
  cmd.add_option("--role", o->role, "their part in the team (add; default member), e.g. attending")
      ->type_name("ROLE");
  cmd.footer(
      "Clinical roles see the records of the patients whose care team they are on. Changing a\n"
      "team needs update on CareTeam (registrars and admins for any patient, physicians for\n"
      "their own patients); listing it needs read on the patient. A clinician who registers a\n"
      "patient joins its team as creator.\n\n"
      "Examples:\n"
      "  ehr patient team add A1001 bob --role attending\n"
      "  ehr patient team list A1001 --format csv\n"
      "  ehr patient team remove A1001 bob");
  run = [o](Context& ctx) { return run_patient_team(ctx, *o); };
}

}  // namespace ehr::cli
