// Decision support, offline and data-driven: preventive-care due lists,
// medication-allergy conflicts and abnormal lab flags (DESIGN.md section 9).
//
// The rules are data: one YAML file per rule in schemas/care/ (schema
// ehr-care-rule), the drug class map (care/drug-classes.yaml, schema
// ehr-care-drug-classes) and the lab reference ranges (care/lab-ranges.yaml,
// schema ehr-care-lab-ranges), embedded in the binary. A directory named by
// the care_rules setting replaces built-in files of the same name and adds
// new ones. Each rule names its source, version and effective date; several
// versions of one rule may ship (breast-cancer-screening 2024 and 2016), of
// which the one marked `default: true` runs unless another is asked for
// ("breast-cancer-screening@2016").
//
// Dates are civil dates "YYYY-MM-DD": UTC days (a FHIR dateTime with a zone
// converted to UTC; a date as recorded; a partial date from its first day).
// Age is in completed years (or months) on the as-of date; a 29 February
// birthday is reached on 1 March in common years. A record covers the as-of
// date when its date plus the window (the day of the month clamped to the
// month's end: 28 February plus 6 months is 28 August) is on or after it
// and it is on or before the as-of date; records after the as-of date are
// ignored, so a run is reproducible.
//
// Due-list matching uses the record's main code (its first coding, as ehr
// indexes it: records.h StoredResource::code), which keeps a due list over
// 100k patients an index scan rather than a read of every document.
//
// Everything that reads records goes through a Session: the access decision
// point filters what the user may see and one audit entry records the read.

#ifndef EHR_CARE_H_
#define EHR_CARE_H_

#include <optional>
#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/session.h"
#include "ehr/status.h"

namespace ehr {

// --- dates ----------------------------------------------------------------

struct CivilDate {
  int year = 0, month = 0, day = 0;
  friend bool operator==(const CivilDate&, const CivilDate&) = default;
  friend auto operator<=>(const CivilDate&, const CivilDate&) = default;
};

// Parses the date part of "YYYY-MM-DD[Thh:mm...]"; nullopt for anything else
// (a partial date "YYYY" or "YYYY-MM" included) or an impossible day.
std::optional<CivilDate> parse_civil_date(std::string_view text);
// The first day of a partial date "YYYY" or "YYYY-MM"; nullopt for anything
// else (a full date included: parse_civil_date reads those).
std::optional<CivilDate> partial_date_start(std::string_view text);
// "YYYY-MM-DD".
std::string format_civil_date(const CivilDate& d);
// Completed years and months of someone born on `birth` on `on`
// (negative when `on` is before `birth`).
int age_in_years(const CivilDate& birth, const CivilDate& on);
int age_in_months(const CivilDate& birth, const CivilDate& on);

// A period of a rule: N days, weeks, months or years ("10y", "6m", "4w",
// "28d"), "ever" (any time) or "season" (since the rule's season start).
struct CarePeriod {
  enum class Unit { kDays, kWeeks, kMonths, kYears, kEver, kSeason };
  Unit unit = Unit::kEver;
  int count = 0;
  std::string text;  // as written
};
// Errors: kInvalidArgument "bad period P (expected N followed by d, w, m or y; ever; season)".
Result<CarePeriod> parse_care_period(std::string_view text);
// `d` plus / minus a period (months and years clamp the day to the month's
// end). REQUIRES: unit is days, weeks, months or years.
CivilDate add_period(const CivilDate& d, const CarePeriod& p);
CivilDate subtract_period(const CivilDate& d, const CarePeriod& p);
CivilDate add_days(const CivilDate& d, int days);

// --- rules ----------------------------------------------------------------

// A set of codes of one system: exact codes, or prefixes written "E11*".
struct CareCodeSet {
  std::string system;                 // URI (aliases loinc, snomed, cvx, rxnorm, icd10, atc resolved)
  std::vector<std::string> codes;
  std::vector<std::string> prefixes;  // without the '*'
  std::vector<std::string> types;     // resource types; empty = any
  bool matches(const std::string& system_uri, const std::string& code) const;
};

// What satisfies a rule: a record of one of `codes` within `within` of the
// as-of date (and, with min_age_at, given at or after that age; with
// negative_only, not a positive result).
struct CareOption {
  std::string name;  // "colonoscopy"
  std::vector<CareCodeSet> codes;
  CarePeriod within;
  std::optional<CarePeriod> min_age_at;
  // Only a result that is not positive counts (a stool test): a positive
  // one calls for a follow-up, not a repeat (`negative_only: true`).
  bool negative_only = false;
};

// An age band of the population (first match wins): its result when
// unsatisfied, and optionally its own look-back window for every option.
struct CareBand {
  std::optional<CarePeriod> min_age, max_age;  // inclusive, completed units
  std::string result;                          // "due" or "consider"
  std::optional<CarePeriod> within;
  std::string note;                            // "grade C: offer selectively"
};

// A shorter window when the last value is at or above a threshold (or may
// be: a value with a comparator, ">6.5", unless its bound is below it) or a
// listed medication was started or changed recently (HbA1c).
struct CareTighten {
  CarePeriod within;
  std::optional<double> value_at_least;
  std::vector<CareCodeSet> medications;
  std::optional<CarePeriod> medications_within;
};

// Children (up to max_age) whose first dose falls in this season need
// `doses` doses at least `min_days_apart` days apart (influenza).
struct CareFirstSeason {
  CarePeriod max_age;
  int doses = 2;
  int min_days_apart = 28;
};

struct CareRule {
  std::string file;  // "care/colorectal-cancer-screening.yaml" (or the override's path)
  std::string id, version, title, source, url, effective;
  bool is_default = true;
  std::string sex = "any";                // any, female, male (birth sex, else gender)
  std::vector<CareCodeSet> conditions;    // required on the problem list (any one); empty = none
  std::vector<CareCodeSet> exclusions;    // any record of these excludes the patient
  std::vector<CareBand> bands;
  std::vector<CareOption> satisfied_by;
  std::optional<CareTighten> tighten;
  std::string season_start;               // "MM-DD" when an option is "season"
  std::optional<CareFirstSeason> first_season;
  std::string name() const { return id + "@" + version; }
};

// The drug class map: classes by ATC prefix, drugs with their ATC code and
// R1 side-chain group, and allergen codes or words naming a whole class.
struct DrugClass {
  std::string name;                  // "penicillins"
  std::vector<std::string> atc;      // prefixes
  std::string family;                // "beta-lactam"; "" when none
  std::vector<std::string> codes;    // allergen codes "SYSTEM-URI|CODE" naming the class
  std::vector<std::string> names;    // allergen words naming the class ("penicillin")
};
struct Drug {
  std::string name;                  // "amoxicillin"
  std::string atc;                   // "J01CA04"
  std::vector<std::string> codes;    // "SYSTEM-URI|CODE" (ingredients, products)
  std::vector<std::string> names;    // lower-case phrases ("amoxicillin")
  std::string side_chain;            // R1 side-chain group; "" when none listed
  std::vector<std::string> raised_with;  // classes with a raised reaction rate
};
struct DrugClassMap {
  std::string file, version, source, effective;
  std::vector<DrugClass> classes;
  std::vector<Drug> drugs;
  const DrugClass* class_of(const Drug& d) const;  // by ATC prefix; nullptr when none
};

// One bound of a range, inclusive or not.
struct LabBound {
  double value = 0;
  bool inclusive = true;
};
struct LabRange {
  std::string loinc, test, unit;       // unit: UCUM
  std::string sex = "any";
  std::optional<CarePeriod> min_age, max_age;
  std::optional<LabBound> low, high;   // normal (default inclusive)
  std::optional<LabBound> critical_low, critical_high;
};
struct LabRanges {
  std::string file, version, source, effective;
  std::vector<LabRange> rows;
};

struct CareRules {
  std::vector<CareRule> rules;  // in file name order
  DrugClassMap drugs;
  LabRanges labs;

  // The built-in files (schemas/care/), with the *.yaml files of
  // `override_dir` (when non-empty) replacing those of the same name and
  // adding new ones. Errors: kConfig "FILE:LINE:COLUMN: <what>" for a file
  // that does not parse or breaks the rule schema (unknown keys included),
  // "FILE: rule R version V is defined twice", "rule R has no default
  // version" or several; kNoInput "care rules directory D does not exist".
  static Result<CareRules> load(const std::string& override_dir);
  // The same from (file name, text) pairs, for tests.
  static Result<CareRules> parse(const std::vector<std::pair<std::string, std::string>>& files);

  // The rules named (each "id" for its default version or "id@version");
  // every default rule when `names` is empty. Errors: kInvalidArgument
  // "unknown care rule R (known: ...)" / "rule R has no version V (known: ...)".
  Result<std::vector<const CareRule*>> select(const std::vector<std::string>& names) const;

  // The same for a due list evaluated on `as_of`: a rule named without a
  // version (or every rule, when `names` is empty) is evaluated with the
  // version in effect on that day: its default version when that is
  // effective (effective <= as_of), else the latest version that is. Of
  // every rule, one with no version in effect yet is left out and named in
  // `not_in_effect` ("influenza-vaccine: no version in effect on 2020-05-01
  // (2025-26 is effective from 2025-08-01)", the version that takes effect
  // first); `rules` may then be empty. A rule named so is an error instead.
  // "id@version" is evaluated as named, whatever its effective date (a
  // retrospective review under today's guideline). Errors as select(), and
  // kInvalidArgument "rule R has no version in effect on D (V is effective
  // from E); name a version (R@V) to evaluate it anyway".
  struct Selection {
    std::vector<const CareRule*> rules;
    std::vector<std::string> not_in_effect;
  };
  Result<Selection> select_on(const std::vector<std::string>& names, const CivilDate& as_of) const;
};

// --- due lists ------------------------------------------------------------

// The facts about one patient that the rules read.
struct CarePatient {
  std::string id;
  std::string name;        // "Family, Given" for display
  std::optional<CivilDate> birth;
  // A partial birth date ("1950", "1950-06"): birth is its first day, this
  // its last, birth_text as written. Unset for an exact date.
  std::optional<CivilDate> birth_latest;
  std::string birth_text;
  std::string sex;         // "female", "male", "other", "unknown", ""
  bool deceased = false;   // deceased on or before the as-of date
  bool active = true;
};

// One record the rules may use as evidence (its main code and date).
struct CareEvidence {
  std::string patient;
  std::string type, id;
  std::string system, code;
  std::optional<CivilDate> date;     // its UTC day; a partial date's first day
  std::string when;                 // its clinical date as stored (UTC instant, date or partial
                                    // date): orders records of the same day
  std::string date_text;            // a partial date as written ("2020"), shown for it; else ""
  std::string status;               // status, or clinical status
  std::string verification;         // Condition: verificationStatus code
  std::optional<double> value;      // Observation valueQuantity.value, when read
  std::string comparator;           // its Quantity.comparator ("<", "<=", ">=", ">"), "" when none
  bool subpotent = false;           // Immunization: isSubpotent (the dose does not count)
  bool positive = false;            // a positive or abnormal result (result_positive), read
                                    // for the codes of negative_only options
};

// Whether an Observation or DiagnosticReport reports a positive or abnormal
// result: an interpretation POS, DET, A, AA, H, HH or HU; a coded value or
// conclusion Positive (SNOMED 10828004), Detected (260373001), Present
// (52101004) or Abnormal (263654008); or a value, conclusion or display in
// words "positive", "detected", "present", "abnormal" or "reactive". A
// numeric value without an interpretation is not positive (the cut-off is
// the assay's). Pure.
bool result_positive(const Json& resource);

enum class CareStatus { kNotApplicable, kSatisfied, kDue, kOverdue, kConsider };
// "not-applicable", "satisfied", "due", "overdue", "consider".
std::string care_status_name(CareStatus s);

struct CareResult {
  std::string patient;
  std::string patient_name;
  std::optional<int> age;           // completed years on the as-of date
  const CareRule* rule = nullptr;
  CareStatus status = CareStatus::kNotApplicable;
  std::string last_ref;             // Type/id of the last qualifying record, "" when none
  std::string last_date;            // its date
  std::string last_what;            // the option it satisfies ("colonoscopy")
  std::string due_since;            // the first day not covered: a seasonal rule's season
                                    // start (also when never covered), a first-season
                                    // child's next dose; otherwise "" when never covered
  std::string detail;               // why, in words
  bool not_evaluated = false;       // the rule could not be evaluated (no birth date; a
                                    // sex-specific rule, within its ages, for a patient
                                    // neither female nor male): status kNotApplicable,
                                    // detail says why
};

// Evaluates one rule for one patient over their evidence (any order; records
// of other patients are ignored). Records not done, entered in error,
// cancelled, stopped or refuted never count, nor a Procedure not completed
// or an Immunization not completed or subpotent. Pure: the table-driven
// tests call it.
CareResult evaluate_care_rule(const CareRule& rule, const CarePatient& patient,
                              const std::vector<CareEvidence>& evidence, const CivilDate& as_of);

struct CareDueQuery {
  CivilDate as_of;
  std::vector<const CareRule*> rules;  // REQUIRES: non-empty, from a CareRules that outlives the call
  std::vector<std::string> patients;   // ids; empty = every patient
  bool include_satisfied = false;      // also list satisfied results
};

// Every patient's due, overdue and consider results (and satisfied ones when
// asked), and the rules not evaluated for a patient (no birth date: its age
// is unknown; a sex-specific rule for a patient neither female nor male:
// CareResult::not_evaluated), ordered by patient name then id,
// then rule. Patients and records
// the policy withholds from the user are left out (Session::withheld());
// deceased and inactive patients are skipped. Needs search on Patient and
// on each resource type the rules read. One audit entry (a search of the
// patients reported). Errors: kAccessDenied; kNotFound "no patient P".
struct CareDueList {
  std::vector<CareResult> results;
  // The patients the user may see of whom records the rules read were
  // withheld (a labelled Condition, a restricted procedure): their results
  // may be wrong, listed or not. Ordered as the results.
  std::vector<std::string> incomplete;
};
Result<CareDueList> care_due(Session& s, const CareDueQuery& q);

// --- medication-allergy conflicts -------------------------------------------

struct AllergyConflict {
  std::string severity;    // "high", "moderate", "info" ("unchecked" only in CareCheck)
  std::string medication;  // the drug matched ("amoxicillin")
  std::string allergy;     // the allergen as recorded ("Penicillin")
  std::string allergy_ref; // AllergyIntolerance/id
  std::string basis;       // "same drug", "same class (penicillins)", "shared side chain
                           // (aminopenicillin R1)", "raised reaction rate (...)", "other beta-lactam"
};

// Whether `allergy` (an AllergyIntolerance) is one the medication check
// applies: not refuted, entered in error, resolved or inactive, and of
// category medication (or of no category). Pure.
bool drug_allergy_in_force(const Json& allergy);

// Whether `map` resolves `medication` (as check_medication_allergies reads
// it: its concept's codes, else its words) to a drug it knows. A medication
// it does not know (a brand name, a local code) cannot be checked. Pure.
bool medication_known(const DrugClassMap& map, const Json& medication);

// The conflicts between `medication` (a MedicationRequest,
// MedicationStatement, MedicationAdministration or MedicationDispense, with
// medicationCodeableConcept or a reference to a contained Medication) and
// `allergies` (AllergyIntolerance resources of the same patient), worst
// first. Pure: the importer calls it with the allergies it holds. Refuted
// and entered-in-error allergies never fire, nor resolved or inactive ones;
// a drug or allergen is resolved by its codes, else by the words of its
// text and displays, through `map`.
std::vector<AllergyConflict> check_medication_allergies(const DrugClassMap& map,
                                                        const Json& medication,
                                                        const std::vector<Json>& allergies);

// The patient's allergies (read through the access decision point, audited)
// checked against `medication`, for `record add`. A medication without a
// patient reference gives no conflicts. A medicationReference to a stored
// Medication ("Medication/ID") is checked by that Medication's code, one
// naming no Medication known by the reference's display (the Medication is
// read without an access decision: a product, not a patient's record).
// Errors: those of patient_records (kNotFound "no patient P", kAccessDenied).
Result<std::vector<AllergyConflict>> medication_allergy_alerts(Session& s, const CareRules& rules,
                                                               const Json& medication);

// Writes the audit entry of an allergy alert on recording `medication`:
// action "create", outcome "refused" (with `refused`, ehr record add
// --strict) or "alert", detail "allergy conflict <worst severity> <count>";
// no clinical content.
Status record_allergy_alert(Session& s, const Json& medication,
                            const std::vector<AllergyConflict>& conflicts, bool refused);

// --- lab flags -------------------------------------------------------------

struct LabFlag {
  std::string observation_ref;  // Observation/id
  std::string test;             // display
  std::string loinc;
  std::string value;            // "2.5 mmol/L"
  std::string date;
  std::string flag;             // "LL", "L", "H", "HH", "A", "AA", "unit-mismatch" or "unchecked"
  std::string severity;         // "critical", "abnormal", "unit-mismatch", "unchecked" (care_check:
                                // a result dated after the as-of date)
  std::string source;           // "lab interpretation", "lab range", "table (care/lab-ranges.yaml 1)",
                                // "not checked"
  std::string range;            // the range applied, ">= 3.5 and <= 5.1 mmol/L"; "" for an interpretation
  std::string note;             // "" or more of the basis ("the lab's interpretation: N", "undated: it
                                // may not be the latest"); unchecked: why ("dated after the as-of
                                // date 2026-06-01")
};

// The flag of one Observation, or nullopt when it is normal or cannot be
// judged (no numeric value and no interpretation, no range for its code).
// A critical interpretation of the lab (LL, HH, AA) stands; otherwise a
// value past a critical bound of the table row for its LOINC code, sex and
// age (the most specific) is LL or HH whatever the lab says (an
// interpretation it overrides is named in `note`); otherwise the lab's own
// interpretation (N: normal), then its referenceRange, then the table row
// give L, H, A or nothing. A patient neither female nor male, when only
// sex-specific rows apply, is judged by the more severe of the female and
// male rows (named in `note`). A unit other than the row's gives
// "unit-mismatch" and no flag. Age-specific rows take the patient's age on
// the result's date (effective[x], else issued), or on `on` when it has
// none or is later. Pure.
std::optional<LabFlag> flag_lab_result(const LabRanges& ranges, const Json& observation,
                                       const CarePatient& patient, const CivilDate& on);

// --- one patient's check ------------------------------------------------------

struct CareCheck {
  CarePatient patient;
  struct MedicationAlert {
    std::string medication_ref;  // MedicationRequest/id
    std::string medication;      // as recorded (text or display)
    AllergyConflict conflict;
  };
  // Conflicts, worst first; with drug allergies in force, a current
  // medication the drug-class map does not know is a row of severity
  // "unchecked" (allergy "", basis saying why).
  std::vector<MedicationAlert> allergies;
  std::vector<LabFlag> labs;
};

// Checks the patient's current medications (status active, on-hold,
// intended, draft or unknown) against their allergies (a
// medicationReference resolved as medication_allergy_alerts does), and the
// latest result of each lab code against the ranges (flag_lab_result). The
// code is the result's LOINC coding, else its first coding; the latest are
// the results at the latest instant of those holding a value[x] or an
// interpretation (without dataAbsentReason) dated on or before `on`. Each
// result dated after `on` (by day) is an "unchecked" row instead; each
// undated one is judged on its own (note "undated: ..."). Reads the record
// through patient_records (access decision and audit entry). `on` is the
// as-of date (flag_lab_result). Errors: those of patient_records.
Result<CareCheck> care_check(Session& s, const CareRules& rules, const std::string& patient,
                             const CivilDate& on);

}  // namespace ehr

#endif  // EHR_CARE_H_
