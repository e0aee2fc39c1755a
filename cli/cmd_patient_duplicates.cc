// ehr patient duplicates: the review queue of pairs imports found alike and
// a blocked scan of every stored patient, scored by the matching engine;
// exit 3 when any pair is listed.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/patient_merge.h"
#include "exit_codes.h"
#include "matching_flags.h"
#include "output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientDuplicatesOptions {
  std::optional<double> min_score;
  std::string patient;
  bool queue = false;
  int limit = 0;
};

std::string words(const std::vector<std::string>& w) {
  std::string out;
  for (const auto& x : w) out += (out.empty() ? "" : " ") + x;
  return out;
}

int run_patient_duplicates(Context& ctx, const PatientDuplicatesOptions& o) {
  auto config = load_matching(ctx);
  if (!config.ok()) return ctx.fail(config.error());
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  DuplicateQuery q;
  q.min_score = o.min_score;
  q.patient = o.patient;
  q.queue_only = o.queue;
  q.limit = o.limit;
  auto report = find_duplicates(*session, *config, q);
  if (!report.ok()) return ctx.fail(report.error());
  Json rows = Json::array();
  for (const auto& d : report->pairs) {
    Json row = Json::object();
    row.set("a", Json::string(d.a.id));
    row.set("a_name", Json::string(d.a.name));
    row.set("a_birth_date", text_or_null(d.a.birth_date));
    row.set("b", Json::string(d.b.id));
    row.set("b_name", Json::string(d.b.name));
    row.set("b_birth_date", text_or_null(d.b.birth_date));
    row.set("score", Json::number(d.score.score));
    row.set("result", Json::string(std::string(match_result_name(d.score.result))));
    row.set("agreed", Json::string(words(d.score.agreed)));
    row.set("disagreed", Json::string(words(d.score.disagreed)));
    row.set("found_by", Json::string(d.found_by));
    row.set("queued", text_or_null(d.queued));
    rows.push_back(std::move(row));
  }
  // The table stays narrow; csv carries every field of the json rows.
  std::vector<std::string> columns = {"a", "a_name", "a_birth_date", "b", "b_name", "b_birth_date", "score", "result"};
  if (ctx.format() == Format::kCsv) columns.insert(columns.end(), {"agreed", "disagreed"});
  columns.push_back("found_by");
  if (ctx.format() == Format::kCsv) columns.push_back("queued");
  ctx.print_rows(rows, columns);
  std::string scanned =
      o.queue ? std::string("the review queue")
              : fmt::format("{} patient{}, {} pair{} compared", report->patients, report->patients == 1 ? "" : "s",
                            report->compared, report->compared == 1 ? "" : "s");
  ctx.info(fmt::format("{} pair{} at score {} or more ({}{}{})", report->pairs.size(),
                       report->pairs.size() == 1 ? "" : "s", q.min_score.value_or(config->possible_threshold), scanned,
                       report->common_keys ? fmt::format("; {} keys too common to block on", report->common_keys) : "",
                       report->withheld ? fmt::format("; {} withheld by the policy", report->withheld) : ""));
  return report->pairs.empty() ? kExitOk : kExitFindings;
}

}  // namespace

void setup_patient_duplicates(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<PatientDuplicatesOptions>();
  cmd.add_option("--min-score", o->min_score,
                 "list pairs scoring at least S [default: the possible-match threshold of matching.yaml]")
      ->type_name("S");
  cmd.add_option("--patient", o->patient, "only the pairs of patient P (id or MRN)")->type_name("P");
  cmd.add_flag("--queue", o->queue, "only the review queue (pairs imports found alike); no scan");
  cmd.add_option("--limit", o->limit, "at most N pairs, highest score first [default: 0, all]")
      ->type_name("N")
      ->check(limit_count());
  add_config_flag(cmd, flags, "matching");
  cmd.footer(
      "Pairs of stored patients that may be one person: those an import queued for review\n"
      "(found_by import; ehr import --match review; found_by identifier for a patient holding\n"
      "a stored patient's identifier but not their demographics, listed whatever its score)\n"
      "and those a scan of every patient finds (found_by scan). Patients are compared only\n"
      "when they share a blocking key (an identifier, a name sound with the birth date, a\n"
      "phone), then scored field by field with the weights of matching.yaml (see\n"
      "ehr-patient(1)). result is match or possible-match (or no-match for found_by\n"
      "identifier); agreed and disagreed (in json, csv and yaml) name the fields, each\n"
      "as field:how (family:exact), separated by spaces; queued is when an import queued\n"
      "the pair.\n"
      "Merged patients and pairs decided with `ehr patient not-duplicate` are left out.\n"
      "Needs the merge permission on Patient (registrars in the default policy).\n"
      "Exit 3 when any pair is listed, 0 when none.\n\n"
      "Examples:\n"
      "  ehr patient duplicates\n"
      "  ehr patient duplicates --min-score 20 --format csv >pairs.csv\n"
      "  ehr patient duplicates --patient A1001 --format json");
  run = [o](Context& ctx) { return run_patient_duplicates(ctx, *o); };
}

}  // namespace ehr::cli
