// ehr import: FHIR Bundles, Bulk Data NDJSON, Synthea CSV and mapped CSV into
// the database (ehr/import.h), with progress, rejects and a summary.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "care_flags.h"
#include "commands.h"
#include "ehr/files.h"
#include "ehr/import.h"
#include "exit_codes.h"
#include "interrupt.h"
#include "matching_flags.h"
#include "output.h"
#include "progress.h"
#include "size_option.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct ImportCommandOptions {
  std::vector<std::string> paths;
  std::string format = "auto";
  std::string mapping;
  std::string delimiter = ",";
  std::string on_conflict = "request";
  std::string on_error = "stop";
  std::int64_t batch_size = 0;
  bool dry_run = false;
  bool strict = false;
  std::string rejects;
  std::string report;
  std::string max_record_size = "64M";
  std::string identity;  // --identity FILE
  std::string signer;    // --signer KEY (hex)
  std::string match = "review";
};

// Prints rejects (the first 20 in full) and warnings (the first 5 of each
// rule, 20 in all, so that a flood of one kind does not hide another), and
// writes the rejects to --rejects.
class RejectSink final : public ImportObserver {
 public:
  RejectSink(Context& ctx, AtomicFile* file) : ctx_(ctx), file_(file) {}

  void rejected(const ImportReject& r) override {
    ++count_;
    if (count_ <= kShown) ctx_.error(format_reject(r));
    if (file_ == nullptr || !status_.ok()) return;
    // The record as read, and an OperationOutcome saying what is wrong.
    Json issue = Json::object();
    issue.set("severity", Json::string("error"));
    issue.set("code", Json::string(r.rule == "access" ? "forbidden"
                                   : r.rule == "conflict" ? "conflict"
                                   : r.rule == "dangling-reference" ? "not-found"
                                   : r.rule == "json" || r.rule == "csv-column-count" || r.rule == "utf8" ||
                                           r.rule == "record-size" || r.rule == "file" || r.rule == "seal"
                                       ? "structure"
                                       : "invalid"));
    issue.set("diagnostics", Json::string(r.message));
    if (!r.path.empty()) {
      Json exprs = Json::array();
      exprs.push_back(Json::string(r.path));
      issue.set("expression", std::move(exprs));
    }
    Json ext = Json::object();
    ext.set("url", Json::string("https://ehr.invalid/fhir/StructureDefinition/import-rule"));
    ext.set("valueCode", Json::string(r.rule));
    Json exts = Json::array();
    exts.push_back(std::move(ext));
    issue.set("extension", std::move(exts));
    Json issues = Json::array();
    issues.push_back(std::move(issue));
    Json outcome = Json::object();
    outcome.set("resourceType", Json::string("OperationOutcome"));
    outcome.set("issue", std::move(issues));
    Json line = Json::object();
    line.set("file", Json::string(r.file));
    if (r.line > 0) line.set("line", Json::number(r.line));
    if (r.entry > 0) line.set("entry", Json::number(r.entry));
    line.set("original", Json::string(r.original));
    line.set("outcome", std::move(outcome));
    status_ = file_->write(to_json(line) + "\n");
  }

  void warned(const ImportReject& w) override {
    if (shown_warnings_ < kShown && ++warned_by_rule_[w.rule] <= kShownPerRule) {
      ++shown_warnings_;
      ctx_.warning(format_reject(w));
    } else {
      ++hidden_warnings_;
    }
  }

  void finish() {
    if (hidden_warnings_ > 0)
      ctx_.warning(fmt::format("... and {} more warnings ({})", hidden_warnings_,
                               ctx_.quiet() ? "--report counts them by rule" : "counted by rule below"));
    if (count_ > kShown) ctx_.error(fmt::format("... and {} more rejected records{}", count_ - kShown,
                                                file_ != nullptr ? " (all in " + file_->path() + ")" : ""));
  }
  const Status& status() const { return status_; }

 private:
  static constexpr std::int64_t kShown = 20;
  static constexpr std::int64_t kShownPerRule = 5;
  Context& ctx_;
  AtomicFile* file_;
  std::int64_t count_ = 0;
  std::int64_t shown_warnings_ = 0;
  std::int64_t hidden_warnings_ = 0;
  std::map<std::string, std::int64_t> warned_by_rule_;
  Status status_;
};

Json counts_json(const ImportCounts& c) {
  Json j = Json::object();
  j.set("read", Json::number(c.read));
  j.set("created", Json::number(c.created));
  j.set("updated", Json::number(c.updated));
  j.set("unchanged", Json::number(c.unchanged));
  j.set("skipped", Json::number(c.skipped));
  j.set("rejected", Json::number(c.rejected));
  return j;
}

Json report_json(const ImportReport& r, double seconds, int exit_code) {
  Json doc = Json::object();
  doc.set("dry_run", Json::boolean(r.dry_run));
  doc.set("exit", Json::number(static_cast<std::int64_t>(exit_code)));
  doc.set("seconds", Json::number(seconds));
  doc.set("bytes", Json::number(r.bytes));
  doc.set("warnings", Json::number(r.warnings));
  Json by_rule = Json::object();
  for (const auto& [rule, n] : r.warnings_by_rule) by_rule.set(rule, Json::number(n));
  doc.set("warnings_by_rule", std::move(by_rule));
  Json files = Json::array();
  for (const auto& f : r.files) {
    Json j = Json::object();
    j.set("path", Json::string(f.path));
    j.set("format", Json::string(f.format));
    j.set("records", Json::number(f.records));
    j.set("rejected", Json::number(f.rejected));
    j.set("error", text_or_null(f.error));
    j.set("refused", Json::boolean(f.refused));
    files.push_back(std::move(j));
  }
  doc.set("files", std::move(files));
  Json types = Json::object();
  for (const auto& [type, c] : r.types) types.set(type, counts_json(c));
  doc.set("types", std::move(types));
  doc.set("total", counts_json(r.total()));
  Json prov = Json::array();
  for (const auto& id : r.provenance) prov.push_back(Json::string("Provenance/" + id));
  doc.set("provenance", std::move(prov));
  Json matches = Json::array();
  for (const auto& m : r.matches) {
    Json j = Json::object();
    j.set("incoming", Json::string(m.incoming));
    j.set("patient", Json::string(m.patient));
    j.set("score", Json::number(m.score));
    j.set("result", Json::string(m.result));
    j.set("action", Json::string(m.action));
    matches.push_back(std::move(j));
  }
  doc.set("linked", Json::number(r.linked));
  doc.set("queued", Json::number(r.queued));
  doc.set("matches", std::move(matches));
  doc.set("failure", r.failure ? Json::string(r.failure->message()) : Json());
  return doc;
}

// `failed`: an error (not a rejected record) ended the import; the counts
// are then those of the transactions committed before it.
void print_summary(Context& ctx, const ImportReport& r, double seconds, bool failed) {
  ImportCounts t = r.total();
  int files = 0;
  for (const auto& f : r.files)
    if (f.format != "skipped") ++files;
  const char* lead = r.dry_run ? "dry run (nothing written): "
                     : failed  ? "import ended by an error in "
                               : "imported ";
  ctx.info(fmt::format("{}{} file{} ({:.1f} MB) in {:.1f} s{} {} record{}, {} created, {} updated, {} "
                       "unchanged, {} skipped, {} rejected",
                       lead, files, files == 1 ? "" : "s",
                       static_cast<double>(r.bytes) / 1e6, seconds,
                       failed ? "; committed before it:" : ":", group_digits(t.read), t.read == 1 ? "" : "s", group_digits(t.created),
                       group_digits(t.updated), group_digits(t.unchanged), group_digits(t.skipped), group_digits(t.rejected)));
  size_t width = 4;
  for (const auto& [type, c] : r.types) width = std::max(width, type.size());
  for (const auto& [type, c] : r.types)
    ctx.info(fmt::format("  {:<{}}  read {:>9}  created {:>9}  updated {:>7}  unchanged {:>9}  skipped {:>6}  "
                         "rejected {:>6}",
                         type, width, c.read, c.created, c.updated, c.unchanged, c.skipped, c.rejected));
  for (const auto& f : r.files)
    if (f.format == "skipped") ctx.info(fmt::format("  skipped {}: {}", f.path, f.error));
  if (r.warnings > 0) {
    std::string rules;
    for (const auto& [rule, n] : r.warnings_by_rule)
      rules += fmt::format("{}{} {}", rules.empty() ? "" : ", ", rule, group_digits(n));
    ctx.info(fmt::format("  warnings: {} ({})", group_digits(r.warnings), rules));
  }
  if (r.linked > 0 || r.queued > 0)
    ctx.info(fmt::format("  patients: {} linked to stored patients by matching, {} pair{} queued for review "
                         "(ehr patient duplicates --queue)",
                         group_digits(r.linked), group_digits(r.queued), r.queued == 1 ? "" : "s"));
}

// Refuses (64) an output file (`option` FILE) that is one of the inputs,
// which its write would replace, or lies in an input directory, which a
// later import of that directory would read as input.
Status output_apart_from_inputs(const char* option, const std::string& out, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (out.empty() || out == "-") return {};
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(fs::path(out), ec);
  if (ec) return {};  // AtomicFile::create reports what is wrong with it
  for (const auto& in : inputs) {
    if (in == "-") continue;
    const fs::path source = fs::weakly_canonical(fs::path(in), ec);
    if (ec) continue;  // the import names a missing input itself
    if (target == source)
      return Error::invalid_argument(
          fmt::format("{} {}: that is an input of this import, which writing it would replace", option, out));
    if (fs::is_directory(source, ec)) {
      auto rel = target.lexically_relative(source);
      if (!rel.empty() && *rel.begin() != "..")
        return Error::invalid_argument(fmt::format(
            "{} {}: that is inside the input directory {}, where a later import would read it as input",
            option, out, in));
    }
  }
  return {};
}

int run_import(Context& ctx, ImportCommandOptions& o) {
  auto start = std::chrono::steady_clock::now();
  ImportOptions io;
  auto format = parse_import_format(o.format);
  if (!format) return ctx.fail(Error::invalid_argument("--format must be auto, bundle, ndjson, synthea-csv or csv"));
  io.format = *format;
  io.mapping_path = o.mapping;
  if (o.delimiter == "tab" || o.delimiter == "\\t") o.delimiter = "\t";
  if (o.delimiter.size() != 1)
    return ctx.fail(Error::invalid_argument("--delimiter must be one character (or tab)"));
  io.delimiter = o.delimiter[0];
  auto conflict = parse_on_conflict(o.on_conflict);
  if (!conflict) return ctx.fail(Error::invalid_argument("--on-conflict must be request, fail, skip or update"));
  io.on_conflict = *conflict;
  if (o.on_error != "stop" && o.on_error != "continue")
    return ctx.fail(Error::invalid_argument("--on-error must be stop or continue"));
  io.continue_on_error = o.on_error == "continue";
  io.batch_size = o.batch_size;
  io.dry_run = o.dry_run;
  auto max = parse_size(o.max_record_size);
  if (!max) return ctx.fail(Error::invalid_argument("--max-record-size must be a size such as 64M, 512K or 1G"));
  io.max_record_bytes = static_cast<std::size_t>(*max);
  io.stdin_stream = &ctx.io().in;
  if (!o.report.empty() && o.report == o.rejects)
    return ctx.fail(Error::invalid_argument("--report and --rejects must be different files"));

  // Sealed inputs (an encrypted export): the identity and the signer.
  std::optional<Identity> identity;
  if (!o.identity.empty()) {
    auto id = Identity::read_file(o.identity);
    if (!id.ok()) return ctx.fail(id.error());
    identity.emplace(std::move(*id));
    io.unseal.identity = &*identity;
  }
  if (!o.signer.empty()) {
    if (o.signer.size() != 64 || o.signer.find_first_not_of("0123456789abcdef") != std::string::npos)
      return ctx.fail(Error::invalid_argument(
          "--signer must be a public key of 64 lower-case hex digits (as ehr export --sign prints)"));
    io.unseal.signer = o.signer;
  }

  // The medication-allergy check of ehr care runs on every medication.
  auto care_rules = load_care_rules(ctx);
  if (!care_rules.ok()) return ctx.fail(care_rules.error());
  io.drug_classes = &care_rules->drugs;
  io.strict_allergies = o.strict;

  // Patient matching.
  if (o.match == "auto") io.match = MatchMode::kAuto;
  else if (o.match == "review") io.match = MatchMode::kReview;
  else if (o.match == "off") io.match = MatchMode::kOff;
  else return ctx.fail(Error::invalid_argument("--match must be auto, review or off"));
  auto matching = load_matching(ctx);
  if (!matching.ok()) return ctx.fail(matching.error());
  io.matching = &*matching;

  if (Status st = output_apart_from_inputs("--rejects", o.rejects, o.paths); !st.ok()) return ctx.fail(st.error());
  if (Status st = output_apart_from_inputs("--report", o.report, o.paths); !st.ok()) return ctx.fail(st.error());

  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());

  std::optional<AtomicFile> rejects_file;
  if (!o.rejects.empty()) {
    auto f = AtomicFile::create(o.rejects);
    if (!f.ok()) return ctx.fail(f.error());
    rejects_file.emplace(std::move(*f));
  }
  // Created before anything is imported, so that a report that cannot be
  // written stops the import instead of being found after the commit.
  std::optional<AtomicFile> report_file;
  if (!o.report.empty() && o.report != "-") {
    auto f = AtomicFile::create(o.report);
    if (!f.ok()) return ctx.fail(f.error());
    report_file.emplace(std::move(*f));
  }
  RejectSink sink(ctx, rejects_file ? &*rejects_file : nullptr);
  auto t0 = std::chrono::steady_clock::now();
  ProgressReporter progress(ctx.io().err, choose_progress_mode(ctx.quiet(), ctx.io().err_tty), "import",
                            "records", [t0] {
                              return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                            });
  // SIGINT and SIGTERM stop the import cleanly: its open transaction rolls
  // back and the temporaries of --rejects and --report are removed (exit 130).
  InterruptGuard signals;
  io.cancelled = InterruptGuard::cancelled();
  auto report = import_paths(*session, o.paths, io, sink, progress);
  for (const auto* f : {rejects_file ? &*rejects_file : nullptr, report_file ? &*report_file : nullptr})
    if (f != nullptr)
      for (const auto& path : f->removed_stale())
        ctx.info(fmt::format("removed {}, left by an import that did not finish", path));
  if (report.ok() && report->failure && report->failure->is(ErrorCode::kInterrupted)) {
    ctx.add_hint("run it again: records already committed are found, not doubled");
    return ctx.fail(*report->failure);
  }
  if (!report.ok()) {
    // The database is open: an authentication failure is a sealed file's.
    if (report.error().is(ErrorCode::kAuthFailed))
      ctx.add_hint("sealed files open with the identity of the recipient key they were sealed to "
                   "(the file 'ehr key new --recipient -o NAME' wrote as NAME)");
    return ctx.fail(report.error());
  }
  sink.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A file that cannot be read is unusable input (65) even when the import
  // went on past it; rejected records alone are findings (3).
  std::int64_t refused = std::count_if(report->files.begin(), report->files.end(),
                                       [](const ImportFileReport& f) { return f.refused; });
  int code = kExitOk;
  if (report->failure) code = exit_code_for(report->failure->code());
  else if (refused > 0) code = kExitDataErr;
  else if (report->total().rejected > 0) code = kExitFindings;
  // A rejects or report file that cannot be written (the disk the import
  // filled) is said after the summary and the import's own failure, which
  // it must not hide (QA finding ops 02).
  std::optional<Error> output_error;
  if (rejects_file) {
    Status st = sink.status();
    if (st.ok()) st = rejects_file->commit();
    if (!st.ok()) output_error = st.error();
  }
  if (!o.report.empty()) {
    std::string text = to_json_pretty(report_json(*report, seconds, code)) + "\n";
    if (!report_file) {
      ctx.out() << text << std::flush;
    } else {
      Status st = report_file->write(text);
      if (st.ok()) st = report_file->commit();
      if (!st.ok() && !output_error) output_error = st.error();
    }
  }
  const bool stopped_by_reject = report->failure && report->failure->is(ErrorCode::kInvalidData) &&
                                 report->total().rejected > 0;
  if (!ctx.quiet()) print_summary(ctx, *report, seconds, report->failure && !stopped_by_reject);
  if (output_error && report->failure) ctx.error(output_error->message());
  if (output_error && !report->failure) return ctx.fail(*output_error);
  if (report->failure) {
    if (stopped_by_reject) {
      // The record's own error is printed already; say what it did.
      ctx.error("import stopped at the first rejected record; its transaction was rolled back");
      ctx.hint("fix the input and run it again (records already imported are found, not doubled), "
               "or go on past bad records with --on-error continue");
      return code;
    }
    return ctx.fail(*report->failure);
  }
  if (refused > 0)
    ctx.error(fmt::format("{} file{} could not be read and {} refused whole; the rest was {}", refused,
                          refused == 1 ? "" : "s", refused == 1 ? "was" : "were",
                          report->dry_run ? "checked" : "imported"));
  return code;
}

}  // namespace

void setup_import(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<ImportCommandOptions>();
  cmd.add_option("paths", o->paths, "files, directories, or - for standard input")
      ->required()
      ->type_name("PATH");
  cmd.add_option("--format", o->format,
                 "auto (by content), bundle, ndjson, synthea-csv or csv (with --mapping) [default: auto]")
      ->type_name("FORMAT");
  cmd.add_option("--mapping", o->mapping, "a YAML mapping for CSV files that are not Synthea tables")
      ->type_name("FILE");
  cmd.add_option("--delimiter", o->delimiter, "the CSV field delimiter: one character, or tab [default: ,]")
      ->type_name("CHAR");
  cmd.add_option("--on-conflict", o->on_conflict,
                 "a record stored with other content: request (PUT updates, POST keeps, NDJSON and CSV "
                 "update), fail, skip or update [default: request]")
      ->type_name("WHAT");
  cmd.add_option("--on-error", o->on_error,
                 "stop at the first rejected record (its transaction rolls back), or continue past "
                 "rejects (exit 3) and unreadable files (refused whole: exit 65) [default: stop]")
      ->type_name("WHAT");
  cmd.add_option("--batch-size", o->batch_size, "records per transaction; 0 = one per file or Bundle [default: 0]")
      ->type_name("N");
  cmd.add_flag("--dry-run", o->dry_run, "validate and resolve everything, write nothing");
  cmd.add_flag("--strict", o->strict,
               "reject a medication with a high or moderate conflict with its patient's recorded allergies "
               "(without it, a warning)");
  cmd.add_option("--rejects", o->rejects,
                 "write rejected records to FILE as NDJSON (the record as read and an OperationOutcome; "
                 "mode 0600: it holds health data)")
      ->type_name("FILE");
  cmd.add_option("--report", o->report, "write the import report as JSON to FILE (- for stdout)")->type_name("FILE");
  cmd.add_option("--max-record-size", o->max_record_size,
                 "the largest NDJSON line, CSV record or Bundle file [default: 64M]")
      ->type_name("SIZE");
  cmd.add_option("--identity", o->identity,
                 "open sealed files (an encrypted export, *.ehrenc) with this identity, made by 'ehr "
                 "key new --recipient -o FILE'")
      ->type_name("FILE");
  cmd.add_option("--signer", o->signer,
                 "require every sealed file to be signed by this Ed25519 public key (64 hex digits, "
                 "as the sender's ehr export --sign printed)")
      ->type_name("KEY");
  cmd.add_option("--match", o->match,
                 "patient matching: auto links an incoming patient to the one stored patient it matches, "
                 "review only queues alike pairs for review, off [default: review]")
      ->type_name("MODE");
  add_config_flag(cmd, flags, "matching");
  cmd.footer(
      "Formats are told apart by content: a JSON document (a Bundle or one resource), NDJSON (one\n"
      "resource or Bundle per line), a Synthea CSV table (by its header), other CSV with --mapping.\n"
      "Directories are read whole, referenced records first. Importing the same data again\n"
      "changes nothing. Sealed files (an export to a recipient key) are decrypted as they are\n"
      "read with --identity; a changed byte fails the file and nothing of it is imported.\n"
      "An incoming patient found by neither id nor identifier is compared with the stored\n"
      "patients (ehr-patient(1), MATCHING): --match auto links a certain match (its identifiers\n"
      "are added to the stored patient and its records land there); anything less certain, or\n"
      "any match under --match review, is stored as its own patient and queued for review.\n\n"
      "Exit status: 0 all imported; 3 some records rejected (--on-error continue), the rest\n"
      "committed; 65 unusable input (a file that cannot be read is refused whole; with\n"
      "--on-error continue the other files still go in), a rejected record (--on-error stop),\n"
      "or a sealed file that was changed, cut short or not signed by --signer; 66 a missing\n"
      "or unreadable path (a file, or a directory named or inside one), before anything is\n"
      "imported; 73 --report or --rejects cannot be created (before anything is imported);\n"
      "77 access denied, or a sealed file without its identity (--identity); 78 a bad\n"
      "mapping file.\n\n"
      "Examples:\n"
      "  ehr import ./synthea/output/csv\n"
      "  ehr import --on-error continue --rejects rejects.ndjson /srv/bulk/export-2026-12-01/\n"
      "  curl -s https://lab.example/results.ndjson | ehr import --quiet -\n"
      "  ehr import --format csv --mapping labs.yaml --delimiter ';' labs.csv\n"
      "  ehr import --dry-run --report - bundle.json\n"
      "  ehr import --match auto /srv/inbox/clinic-b-export/\n"
      "  ehr import --identity /etc/ehr/elsewhere --signer 3b6a...e1 /srv/inbox/transfer/");
  run = [o](Context& ctx) { return run_import(ctx, *o); };
}

}  // namespace ehr::cli
