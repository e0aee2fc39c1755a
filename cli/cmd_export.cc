// ehr export: the database's records as a FHIR Bulk Data output directory
// (ehr/export.h), with progress and a one-line summary.
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "commands.h"
#include "ehr/audit.h"
#include "ehr/export.h"
#include "ehr/type_filter.h"
#include "exit_codes.h"
#include "export_bundle_run.h"
#include "interrupt.h"
#include "json_input.h"
#include "progress.h"
#include "size_option.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct ExportCommandOptions {
  std::string format = "ndjson";
  std::string output;    // -o, bundle only
  std::string base_url;  // bundle only
  std::string out;
  std::vector<std::string> types;
  std::vector<std::string> patients;
  std::string group;  // a cohort file, "-" = stdin
  std::vector<std::string> type_filters;
  bool lenient = false;
  std::string since;
  std::string until;
  std::string job;
  std::string max_file_size;  // "" = 256M
  std::string sign;  // a signing key file (--sign)
  bool plaintext = false;
};

// Which options go with which --format; "" when they fit.
std::string format_misuse(const ExportCommandOptions& o) {
  if (o.format != "ndjson" && o.format != "csv" && o.format != "bundle")
    return fmt::format("--format must be ndjson, csv or bundle; got \"{}\"", o.format);
  if (o.lenient && o.type_filters.empty()) return "--lenient applies only to --type-filter";
  if (o.format == "bundle") {
    if (!o.out.empty()) return "--out is for --format ndjson and csv; a bundle goes to -o FILE (or -o - for stdout)";
    if (!o.group.empty()) return "--group is for --format ndjson and csv; a bundle is one patient's record (--patient)";
    if (!o.max_file_size.empty()) return "--max-file-size applies only to --format ndjson";
    if (!o.job.empty()) return "--job is for --format ndjson and csv; a bundle is one patient's whole record";
    if (!o.sign.empty()) return "--sign is for sealed directories (--format ndjson or csv with --recipient FILE.pub)";
    if (o.output.empty()) return "--format bundle needs -o FILE (or -o - for standard output)";
    if (o.patients.size() != 1) return "--format bundle exports one patient: give exactly one --patient";
    return "";
  }
  if (!o.output.empty()) return "-o/--output is for --format bundle; name the output directory with --out";
  if (!o.base_url.empty()) return "--base-url applies only to --format bundle";
  if (o.format == "csv" && !o.max_file_size.empty()) return "--max-file-size applies only to --format ndjson";
  if (o.out.empty()) return "--out is required (the output directory)";
  return "";
}

// The manifest's "request": the command as asked, without the global
// options (which name the database, user and where secrets come from).
std::string request_of(const ExportCommandOptions& o) {
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  std::string r = std::string("ehr export") + (o.format == "csv" ? " --format csv" : "") + " --out " + o.out;
  if (!o.types.empty()) r += " --type " + join(o.types);
  if (!o.patients.empty()) r += " --patient " + join(o.patients);
  if (!o.group.empty()) r += " --group " + o.group;  // the file's name: never who is in it
  for (const auto& f : o.type_filters) r += " --type-filter '" + f + "'";
  if (o.lenient) r += " --lenient";
  if (!o.since.empty()) r += " --since " + o.since;
  if (!o.until.empty()) r += " --until " + o.until;
  if (!o.job.empty()) r += " --job " + o.job;
  return r;
}

// "ehr --format csv export ...": the global --format (for commands that
// print) would be ignored, and NDJSON written where CSV was meant.
bool global_format_misplaced(Context& ctx) {
  for (const auto& setting : ctx.config().settings())
    if (setting.key == "format" && setting.origin == "flag --format")
      return setting.value == "csv" || setting.value == "ndjson";
  return false;
}

int run_export(Context& ctx, const ExportCommandOptions& o) {
  if (global_format_misplaced(ctx))
    return ctx.fail(Error::invalid_argument(
        fmt::format("give --format after export (ehr export --format {} ...); the --format before the "
                    "command is for commands that print",
                    ctx.config().get("format"))));
  if (std::string misuse = format_misuse(o); !misuse.empty()) return ctx.fail(Error::invalid_argument(misuse));
  std::vector<std::string> warnings;
  auto type_filters = TypeFilterSet::parse(o.type_filters, o.lenient, &warnings);
  if (!type_filters.ok()) {
    std::vector<std::string> ignored;
    if (!o.lenient && TypeFilterSet::parse(o.type_filters, true, &ignored).ok())
      ctx.add_hint("--lenient ignores an unsupported parameter or a malformed value with a warning (as Bulk "
                   "Data's Prefer: handling=lenient); see ehr-export(1) for the supported ones");
    return ctx.fail(type_filters.error());
  }
  for (const auto& w : warnings) ctx.warning(w);
  if (o.format == "bundle") {
    if (ctx.recipient_key())
      return ctx.fail(Error::invalid_argument(
          "a Bundle is written in plaintext; to hand one patient over sealed, export the Bulk layout: "
          "ehr --recipient FILE.pub export --patient P --out DIR"));
    BundleExportOptions bo;
    bo.patient = o.patients.front();
    bo.output = o.output;
    bo.types = o.types;
    bo.since = o.since;
    bo.until = o.until;
    bo.type_filters = std::move(*type_filters);
    bo.base_url = o.base_url;
    bo.plaintext = o.plaintext;
    return run_export_bundle(ctx, bo);
  }
  auto start = std::chrono::steady_clock::now();
  ExportOptions eo;
  eo.format = o.format == "csv" ? ExportFormat::kCsv : ExportFormat::kNdjson;
  eo.out_dir = o.out;
  eo.types = o.types;
  eo.patients = o.patients;
  if (!o.group.empty()) {
    auto text = read_text_input(ctx, o.group);
    if (!text.ok()) return ctx.fail(text.error());
    eo.group = ExportGroup{o.group, std::move(*text)};
  }
  eo.type_filters = std::move(*type_filters);
  eo.since = o.since;
  eo.until = o.until;
  eo.job = o.job;
  auto max = parse_size(o.max_file_size.empty() ? "256M" : o.max_file_size);
  if (!max) return ctx.fail(Error::invalid_argument("--max-file-size must be a size such as 256M, 64K or 1G"));
  eo.max_file_bytes = *max;
  eo.request = request_of(o);
  eo.cancelled = InterruptGuard::cancelled();
  // Encrypted hand-over: --recipient FILE.pub (a global option) seals the output.
  std::optional<Secret> sign_seed;
  if (ctx.recipient_key()) eo.encrypt_to = &*ctx.recipient_key();
  if (!o.sign.empty()) {
    auto seed = secret_from_key_file(o.sign);
    if (!seed.ok()) return ctx.fail(seed.error());
    sign_seed = std::move(*seed);
    eo.sign_with = &*sign_seed;
  }
  eo.plaintext = o.plaintext;

  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());

  auto t0 = std::chrono::steady_clock::now();
  // A bar on a terminal; for cron and logs only the one summary line.
  ProgressReporter progress(ctx.io().err, ctx.io().err_tty && !ctx.quiet() ? ProgressMode::kBar : ProgressMode::kSilent,
                            "export",
                            "records", [t0] {
                              return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                            });
  // SIGINT and SIGTERM stop the export cleanly (its temporary directory is
  // removed) instead of killing it half-written.
  InterruptGuard signals;
  auto report = export_bulk(*session, eo, progress);
  if (!report.ok()) {
    if (report.error().message().rfind("the access policy requires exports to be encrypted", 0) == 0)
      ctx.add_hint("make the receiver's key pair with 'ehr key new --recipient -o NAME' and give them NAME.pub");
    if (report.error().is(ErrorCode::kAlreadyExists))
      ctx.add_hint("name a new directory, or remove the old one first; an export never overwrites one");
    return ctx.fail(report.error());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& path : report->removed_stale)
    ctx.info(fmt::format("removed {}, left by an export that did not finish", path));
  if (!ctx.quiet()) {
    // One line for cron's mail and the logs: what went where, then the job,
    // the group and the sealing.
    std::size_t files = report->output.size() + report->deleted.size() + 1;  // and manifest.json
    std::string line = fmt::format(
        "exported {} resource{}{} to {}: {} file{} ({:.1f} MB) in {:.1f} s", group_digits(report->resources),
        report->resources == 1 ? "" : "s",
        report->deletions > 0
            ? fmt::format(" and {} deletion{}", group_digits(report->deletions), report->deletions == 1 ? "" : "s")
            : "",
        report->out_dir, files, files == 1 ? "" : "s", static_cast<double>(report->bytes) / 1e6, seconds);
    if (!o.job.empty())
      line += report->job_first_run ? fmt::format("; job {}: first run, everything up to change {}", o.job,
                                                  report->change_sequence)
              : report->change_sequence == report->job_after_sequence
                  // (records of members new to the group's job are exported all
                  // the same: then it is no *record* that changed)
                  ? fmt::format("; job {}: {} changed since {} (change {})", o.job,
                                report->resources > 0 ? "no record" : "nothing", report->job_after_time,
                                report->change_sequence)
                  : fmt::format("; job {}: changes {} to {}, since {}", o.job, report->job_after_sequence + 1,
                                report->change_sequence, report->job_after_time);
    if (eo.group) {
      line += fmt::format("; group {}: {} member{}", o.group == "-" ? "<stdin>" : o.group,
                          group_digits(report->group_members), report->group_members == 1 ? "" : "s");
      if (!o.job.empty() && !report->job_first_run) {
        if (report->group_added > 0)
          line += fmt::format(", {} new since the job's last run (exported with {} whole history)",
                              group_digits(report->group_added), report->group_added == 1 ? "its" : "their");
        if (report->group_removed > 0)
          line += fmt::format(", {} no longer in it (exported no more)", group_digits(report->group_removed));
      }
    }
    if (eo.encrypt_to != nullptr)
      line += fmt::format("; sealed to {} (recipient key {}){}", eo.encrypt_to->label, eo.encrypt_to->hex(),
                          sign_seed ? "; signed with key " + *signing_public_key(*sign_seed) : "");
    ctx.info(line);
  }
  // Even with --quiet (as record show says it): the output is not all the
  // window holds, though the run succeeded.
  if (report->withheld > 0)
    ctx.warning(fmt::format("{} record{} withheld by the access policy (not exported; counted in the manifest)",
                            group_digits(report->withheld), report->withheld == 1 ? "" : "s"));
  return kExitOk;
}

}  // namespace

void setup_export(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<ExportCommandOptions>();
  cmd.add_option("--format", o->format,
                 "ndjson (Bulk Data files, the default), csv (a Type.csv per type, for spreadsheets) or "
                 "bundle (one patient's $everything Bundle)")
      ->type_name("FORMAT");
  cmd.add_option("--out", o->out,
                 "the output directory (ndjson, csv): new, or empty; written whole or not at all")
      ->type_name("DIR");
  cmd.add_option("-o,--output", o->output,
                 "the Bundle file (bundle): created 0600, must not exist; - for standard output")
      ->type_name("FILE");
  cmd.add_option("--base-url", o->base_url,
                 "give each Bundle entry the fullUrl URL/Type/id (bundle; default: no fullUrl)")
      ->type_name("URL");
  cmd.add_option("--type", o->types, "only these resource types (repeat, or separate with commas)")
      ->delimiter(',')
      ->type_name("TYPE");
  cmd.add_option("--patient", o->patients,
                 "only these patients' compartments: the Patient and its records (id or MRN; repeat, or "
                 "separate with commas)")
      ->delimiter(',')
      ->type_name("ID");
  cmd.add_option("--group", o->group,
                 "a cohort: a file of patient ids or MRNs, one a line (# comments), or a FHIR Group "
                 "resource; - for standard input; with --patient, the union. A --job reads it at every run "
                 "and exports its new members whole")
      ->type_name("FILE");
  cmd.add_option("--type-filter", o->type_filters,
                 "'Type?param=value[&param=value...]': records of Type only when they match this FHIR "
                 "search (Bulk Data's _typeFilter; status, code, date, category); repeat: the filters of a "
                 "type are ORed, types without one are not filtered")
      ->type_name("FILTER");
  cmd.add_flag("--lenient", o->lenient,
               "ignore an unsupported type filter parameter or a malformed value, with a warning, "
               "instead of failing (as Prefer: handling=lenient)");
  cmd.add_option("--since", o->since,
                 "only records changed at or after INSTANT; records retracted or purged since then go to "
                 "deleted/")
      ->type_name("INSTANT");
  cmd.add_option("--until", o->until, "only records changed before INSTANT")->type_name("INSTANT");
  cmd.add_option("--job", o->job,
                 "a named incremental job: the first run exports everything, each later one what "
                 "changed (and deleted/ what was removed) since the last successful run")
      ->type_name("NAME");
  cmd.add_option("--max-file-size", o->max_file_size,
                 "start a new NDJSON file of the type past this size [default: 256M]")
      ->type_name("SIZE");
  cmd.add_option("--sign", o->sign,
                 "sign every sealed file with this Ed25519 signing key (a key file made with 'ehr key "
                 "new'); needs --recipient FILE.pub")
      ->type_name("KEYFILE");
  cmd.add_flag("--plaintext", o->plaintext,
               "write plaintext even where the access policy requires encrypted exports "
               "(export_requires_encryption)");
  cmd.footer(
      "Writes the FHIR Bulk Data layout: Type.001.ndjson files (one resource type each),\n"
      "manifest.json (transactionTime, the files with their counts and SHA-256), and with\n"
      "--since deleted/Bundle.001.ndjson (DELETE entries for retracted and purged records).\n"
      "Everything comes from one snapshot. The files appear only when all of them are\n"
      "written (mode 0600); an export that fails or is interrupted leaves nothing, and a\n"
      "temporary .DIR.tmp-* left by a killed one is removed by the next export beside it.\n"
      "Needs the export permission (the service role); each patient exported gets an\n"
      "audit entry, a disclosure when --recipient is given. Records the policy lets you\n"
      "not export (with the built-in policy: those labelled restricted, psychotherapy or\n"
      "substance-use, for the service role) are withheld: left out, counted on stderr\n"
      "('N records withheld by the access policy') and in manifest.json (extension\n"
      "withheld), and the export still exits 0. Where the policy limits a role to some\n"
      "elements, records go out reduced to them (csv: the patient column is blank unless\n"
      "a kept element names the patient).\n\n"
      "--group FILE exports a cohort: one patient id or MRN a line (blank lines and # comments\n"
      "ignored), or a FHIR Group resource (member[].entity.reference Patient/ID); - reads\n"
      "standard input. An unknown patient exits 1 naming FILE:LINE. --type-filter takes a FHIR\n"
      "search per type: 'Observation?category=laboratory&date=ge2026-01-01'. Parameters are\n"
      "ANDed, comma-separated values ORed, several filters of a type ORed; status, code\n"
      "([system]|code), date (eq ne lt le gt ge sa eb, partial dates as ranges) and category\n"
      "are supported (the table per type is in ehr-export(1)). Anything else exits 64, or with\n"
      "--lenient is ignored with a warning; _sort, _include, _revinclude and _elements are\n"
      "never allowed. Filters choose what is exported, not what is deleted: deleted/ still\n"
      "lists every retracted or purged record of the types.\n\n"
      "For cron, --job NAME keeps a checkpoint (the change sequence, not a clock) in the\n"
      "database and moves it only once the output is in place; a run that fails or is\n"
      "killed leaves it, and the next run exports the whole window again. One run of a job\n"
      "at a time: another gets exit 75. Without a job, pass the last manifest's\n"
      "transactionTime as --since. A job keeps its --type, --patient, --group and --type-filter;\n"
      "its group is the file, read at every run: members new since the last run are exported\n"
      "with their whole history, removed ones no more.\n\n"
      "--format csv writes the same directory with one Type.csv per type (RFC 4180, CRLF,\n"
      "UTF-8; columns patient,type,id,version,last_updated,date,status,code_system,code,\n"
      "display,value,unit; a cell starting = + - @ that is not a number gets a leading ').\n"
      "--format bundle writes one patient's $everything searchset Bundle to -o FILE (new,\n"
      "0600) or -o - (stdout). With --patient, every format also takes along the stored\n"
      "Practitioner, PractitionerRole, Organization, Location and Medication records the\n"
      "patient's records reference. See ehr-export(1) for the columns and the Bundle.\n\n"
      "Encrypted hand-over: with --recipient FILE.pub (a recipient key made by 'ehr key new\n"
      "--recipient') every file, manifest.json included, is sealed to that key as it is\n"
      "written and named NAME.ehrenc; the disclosure names the key's label. Only its\n"
      "identity opens them (ehr import --identity); a changed byte is detected. --sign\n"
      "KEYFILE adds an Ed25519 signature the receiver checks with 'ehr import --signer KEY'.\n"
      "A policy with export_requires_encryption refuses plaintext unless --plaintext.\n\n"
      "Exit status: 0 exported; 1 an unknown patient (also in a --group file); 64 bad\n"
      "arguments (also an unsupported type filter); 65 a malformed recipient key file or\n"
      "group file, or an empty group; 66 a key file or group file is missing or unreadable;\n"
      "73 DIR exists and is not empty, FILE exists, or either cannot be created; 74 I/O\n"
      "error; 75 the database is busy or the job is running; 77 access denied: no export\n"
      "permission for a type asked for (records withheld one by one are not an error),\n"
      "or a plaintext export the policy forbids; 130 interrupted.\n\n"
      "Examples:\n"
      "  ehr export --out /srv/export/2026-12-05\n"
      "  ehr export --out out --type Patient,Observation --since 2026-12-01T00:00:00Z\n"
      "  ehr export --quiet --job nightly --out /srv/export/$(date +%F)\n"
      "  ehr --recipient 'St. Elsewhere' --purpose treatment export --patient p1 --out transfer\n"
      "  ehr --recipient 'St. Elsewhere' export --format bundle --patient p1 -o p1.json\n"
      "  ehr export --format csv --type Observation --out labs\n"
      "  ehr export --group cohort.txt --type-filter 'Observation?category=laboratory&date=ge2026' --out labs\n"
      "  ehr export --quiet --job registry --group /etc/ehr/registry.txt --out /srv/registry/$(date +%F)\n"
      "  ehr export --type-filter 'Condition?status=active' --type-filter 'MedicationRequest?status=active' --out now\n"
      "  ehr --recipient elsewhere.pub export --patient p1 --sign /etc/ehr/sign.key --out transfer\n"
      "  ehr export --quiet --out /srv/export/$(date +%F) --since \"$(jq -r .transactionTime last/manifest.json)\"");
  run = [o](Context& ctx) { return run_export(ctx, *o); };
}

}  // namespace ehr::cli
