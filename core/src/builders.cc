// Friendly fields -> FHIR resources (ehr/builders.h).
#include "ehr/builders.h"

#include <algorithm>
#include <regex>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace ehr {

namespace {

const char* kLoinc = "http://loinc.org";
const char* kSnomed = "http://snomed.info/sct";
const char* kRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
const char* kCvx = "http://hl7.org/fhir/sid/cvx";
const char* kUcum = "http://unitsofmeasure.org";
const char* kTerm = "http://terminology.hl7.org/CodeSystem/";

Json str(const std::string& s) { return Json::string(s); }

Json coding(const std::string& system, const std::string& code, const std::string& display = "") {
  Json c = Json::object();
  c.set("system", str(system));
  c.set("code", str(code));
  if (!display.empty()) c.set("display", str(display));
  return c;
}

Json codeable(const std::string& system, const std::string& code, const std::string& display = "") {
  Json cc = Json::object();
  Json codings = Json::array();
  codings.push_back(coding(system, code, display));
  cc.set("coding", std::move(codings));
  if (!display.empty()) cc.set("text", str(display));
  return cc;
}

Json array_of(Json item) {
  Json a = Json::array();
  a.push_back(std::move(item));
  return a;
}

Json reference(const std::string& type, const std::string& id) {
  Json r = Json::object();
  r.set("reference", str(type + "/" + id));
  return r;
}

bool is_date(const std::string& s) {
  static const std::regex re(R"(\d{4}(-\d{2}(-\d{2})?)?)");
  return std::regex_match(s, re);
}

bool is_date_or_instant(const std::string& s) {
  static const std::regex re(R"(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?)");
  return std::regex_match(s, re);
}

bool is_decimal(const std::string& s) {
  static const std::regex re(R"(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)");
  return std::regex_match(s, re);
}

Json quantity(const std::string& value, const std::string& unit) {
  Json q = Json::object();
  q.set("value", Json::number_literal(value));
  if (!unit.empty()) {
    q.set("unit", str(unit));
    q.set("system", str(kUcum));
    q.set("code", str(unit));
  }
  return q;
}

Json category(const std::string& code, const std::string& display) {
  return array_of(codeable(std::string(kTerm) + "observation-category", code, display));
}

Error missing(const std::string& flag, const std::string& kind) {
  return Error::invalid_argument(fmt::format("{} is required for --type {}", flag, kind));
}

}  // namespace

std::string code_system_uri(const std::string& alias) {
  if (alias == "loinc") return kLoinc;
  if (alias == "snomed" || alias == "sct") return kSnomed;
  if (alias == "rxnorm") return kRxNorm;
  if (alias == "cvx") return kCvx;
  if (alias == "icd10" || alias == "icd-10-cm") return "http://hl7.org/fhir/sid/icd-10-cm";
  if (alias == "ucum") return kUcum;
  return alias;
}

Result<Json> build_patient(const PatientFields& f, Json base) {
  Json p = base.is_object() ? std::move(base) : Json::object();
  p.set("resourceType", str("Patient"));
  if (!f.gender.empty()) {
    if (f.gender != "male" && f.gender != "female" && f.gender != "other" && f.gender != "unknown")
      return Error::invalid_argument("--gender must be one of male, female, other, unknown");
    p.set("gender", str(f.gender));
  }
  if (!f.birth_date.empty()) {
    if (!is_date(f.birth_date) || f.birth_date.size() != 10)
      return Error::invalid_argument("--birth-date must be YYYY-MM-DD");
    p.set("birthDate", str(f.birth_date));
  }
  if (!f.family.empty() || !f.given.empty()) {
    Json name = Json::object();
    name.set("use", str("official"));
    if (!f.family.empty()) name.set("family", str(f.family));
    if (!f.given.empty()) {
      Json given = Json::array();
      for (const auto& g : f.given) given.push_back(str(g));
      name.set("given", std::move(given));
    }
    // The official name is replaced; other names (maiden, nickname) stay.
    Json names = Json::array();
    names.push_back(std::move(name));
    if (const Json* old = p.find("name"); old != nullptr && old->is_array())
      for (const auto& n : old->items())
        if (!(n.find("use") && n.find("use")->is_string() && n.find("use")->text() == "official"))
          names.push_back(n);
    p.set("name", std::move(names));
  }
  if (!f.mrn.empty()) {
    Json id = Json::object();
    id.set("use", str("usual"));
    id.set("type", codeable(std::string("http://terminology.hl7.org/CodeSystem/v2-0203"), "MR",
                            "Medical record number"));
    id.set("system", str(f.mrn_system));
    id.set("value", str(f.mrn));
    Json ids = Json::array();
    ids.push_back(std::move(id));
    if (const Json* old = p.find("identifier"); old != nullptr && old->is_array())
      for (const auto& i : old->items())
        if (!(i.find("system") && i.find("system")->is_string() && i.find("system")->text() == f.mrn_system))
          ids.push_back(i);
    p.set("identifier", std::move(ids));
  }
  auto set_telecom = [&](const std::string& system, const std::string& value) {
    Json t = Json::object();
    t.set("system", str(system));
    t.set("value", str(value));
    Json tel = Json::array();
    tel.push_back(std::move(t));
    if (const Json* old = p.find("telecom"); old != nullptr && old->is_array())
      for (const auto& x : old->items())
        if (!(x.find("system") && x.find("system")->is_string() && x.find("system")->text() == system))
          tel.push_back(x);
    p.set("telecom", std::move(tel));
  };
  if (!f.phone.empty()) set_telecom("phone", f.phone);
  if (!f.email.empty()) set_telecom("email", f.email);
  if (!f.address.empty()) {
    Json a = Json::object();
    a.set("text", str(f.address));
    p.set("address", array_of(std::move(a)));
  }
  return p;
}

const std::vector<std::pair<std::string, std::string>>& record_kinds() {
  static const std::vector<std::pair<std::string, std::string>> kinds = {
      {"vital", "vital sign Observation: --code LOINC --value N --unit UCUM"},
      {"blood-pressure", "blood pressure panel: --systolic N --diastolic N (mm[Hg])"},
      {"lab", "laboratory Observation: --code LOINC --value N --unit UCUM"},
      {"condition", "problem-list Condition: --code SNOMED [--onset via --date]"},
      {"allergy", "AllergyIntolerance: --code, --criticality, --reaction, --category"},
      {"medication", "MedicationRequest (an order): --code RxNorm [--dosage TEXT]"},
      {"medication-statement", "MedicationStatement (what the patient takes): --code RxNorm"},
      {"immunization", "Immunization: --code CVX --date"},
      {"procedure", "Procedure: --code SNOMED --date"},
      {"encounter", "Encounter: --class AMB|EMER|IMP|... --date"},
      {"note", "clinical note DocumentReference: --value TEXT [--display TITLE]"},
  };
  return kinds;
}

bool record_kind_dated_when_recorded(const std::string& k) {
  return k == "vital" || k == "lab" || k == "blood-pressure" || k == "procedure" || k == "medication" ||
         k == "encounter" || k == "note";
}

namespace {

// A flag the kind does not use is refused, never dropped silently (a --unit
// without its number, a --value on a condition, a --dosage on a lab).
Status check_flags_apply(const RecordFields& f) {
  struct Flag {
    const char* name;
    const std::string& value;
    std::vector<std::string_view> kinds;
  };
  const Flag flags[] = {
      {"--value", f.value, {"vital", "lab", "note"}},
      {"--unit", f.unit, {"vital", "lab"}},
      {"--systolic", f.systolic, {"blood-pressure"}},
      {"--diastolic", f.diastolic, {"blood-pressure"}},
      {"--code", f.code, {"vital", "lab", "condition", "allergy", "medication", "medication-statement",
                          "immunization", "procedure", "encounter", "note"}},
      {"--system", f.system, {"vital", "lab", "condition", "allergy", "medication", "medication-statement",
                              "immunization", "procedure", "encounter"}},
      {"--display", f.display, {"vital", "lab", "condition", "allergy", "medication", "medication-statement",
                                "immunization", "procedure", "encounter", "note"}},
      {"--criticality", f.criticality, {"allergy"}},
      {"--reaction", f.reaction, {"allergy"}},
      {"--category", f.category, {"allergy"}},
      {"--dosage", f.dosage, {"medication", "medication-statement"}},
      {"--class", f.encounter_class, {"encounter"}},
  };
  bool known = std::any_of(record_kinds().begin(), record_kinds().end(),
                           [&](const auto& kind) { return kind.first == f.kind; });
  if (!known) return {};  // build_record names the kinds
  for (const Flag& flag : flags) {
    if (flag.value.empty() || std::find(flag.kinds.begin(), flag.kinds.end(), f.kind) != flag.kinds.end())
      continue;
    std::string kinds;
    for (size_t i = 0; i < flag.kinds.size(); ++i)
      kinds += (i == 0 ? "" : i + 1 == flag.kinds.size() ? " and " : ", ") + std::string(flag.kinds[i]);
    return Error::invalid_argument(fmt::format("{} applies to --type {}, not {}", flag.name, kinds, f.kind));
  }
  return {};
}

}  // namespace

std::string_view patient_element(std::string_view type) {
  // From the R4 Patient CompartmentDefinition, keeping the elements of
  // cardinality 0..1 or 1..1 (plus Device.patient and Task.for, which ehr's
  // index also counts).
  static const std::pair<std::string_view, std::string_view> kElements[] = {
      {"AdverseEvent", "subject"},
      {"AllergyIntolerance", "patient"},
      {"AppointmentResponse", "actor"},
      {"Basic", "subject"},
      {"BodyStructure", "patient"},
      {"CarePlan", "subject"},
      {"CareTeam", "subject"},
      {"ChargeItem", "subject"},
      {"Claim", "patient"},
      {"ClaimResponse", "patient"},
      {"ClinicalImpression", "subject"},
      {"Communication", "subject"},
      {"CommunicationRequest", "subject"},
      {"Composition", "subject"},
      {"Condition", "subject"},
      {"Consent", "patient"},
      {"Coverage", "beneficiary"},
      {"CoverageEligibilityRequest", "patient"},
      {"CoverageEligibilityResponse", "patient"},
      {"DetectedIssue", "patient"},
      {"Device", "patient"},
      {"DeviceRequest", "subject"},
      {"DeviceUseStatement", "subject"},
      {"DiagnosticReport", "subject"},
      {"DocumentManifest", "subject"},
      {"DocumentReference", "subject"},
      {"Encounter", "subject"},
      {"EnrollmentRequest", "candidate"},
      {"EpisodeOfCare", "patient"},
      {"ExplanationOfBenefit", "patient"},
      {"FamilyMemberHistory", "patient"},
      {"Flag", "subject"},
      {"Goal", "subject"},
      {"GuidanceResponse", "subject"},
      {"ImagingStudy", "subject"},
      {"Immunization", "patient"},
      {"ImmunizationEvaluation", "patient"},
      {"ImmunizationRecommendation", "patient"},
      {"Invoice", "subject"},
      {"List", "subject"},
      {"MeasureReport", "subject"},
      {"Media", "subject"},
      {"MedicationAdministration", "subject"},
      {"MedicationDispense", "subject"},
      {"MedicationRequest", "subject"},
      {"MedicationStatement", "subject"},
      {"MolecularSequence", "patient"},
      {"NutritionOrder", "patient"},
      {"Observation", "subject"},
      {"Procedure", "subject"},
      {"QuestionnaireResponse", "subject"},
      {"RelatedPerson", "patient"},
      {"RequestGroup", "subject"},
      {"ResearchSubject", "individual"},
      {"RiskAssessment", "subject"},
      {"ServiceRequest", "subject"},
      {"Specimen", "subject"},
      {"SupplyDelivery", "patient"},
      {"Task", "for"},
      {"VisionPrescription", "patient"},
  };
  for (const auto& [t, element] : kElements)
    if (t == type) return element;
  return {};
}

namespace {

std::string type_of(const Json& resource) {
  const Json* t = resource.find("resourceType");
  return t != nullptr && t->is_string() ? t->text() : std::string();
}

}  // namespace

Status set_record_status(Json& resource, const std::string& status) {
  std::string type = type_of(resource);
  if (type == "Condition" || type == "AllergyIntolerance") {
    std::string system = std::string(kTerm) +
                         (type == "Condition" ? "condition-clinical" : "allergyintolerance-clinical");
    resource.set("clinicalStatus", codeable(system, status));
    // A `status` written here by ehr before 2026-12-07 (R4 has none on
    // these types) is what this amend means: it goes.
    resource.erase("status");
    return {};
  }
  const Json* current = resource.find("status");
  if (current == nullptr || !current->is_string())
    return Error::invalid_argument(fmt::format(
        "--status: {} has no status to change; amend it with --json", type.empty() ? "a resource without resourceType" : type));
  resource.set("status", str(status));
  return {};
}

Status add_record_note(Json& resource, Json note) {
  // The R4 resources with note: Annotation[0..*].
  static const std::string_view kWithNotes[] = {
      "AllergyIntolerance", "CarePlan", "CareTeam", "ChargeItem", "ClinicalImpression", "Communication",
      "CommunicationRequest", "Condition", "DeviceRequest", "DeviceUseStatement", "FamilyMemberHistory",
      "Goal", "GuidanceResponse", "Immunization", "Invoice", "List", "Media", "MedicationAdministration",
      "MedicationDispense", "MedicationRequest", "MedicationStatement", "NutritionOrder", "Observation",
      "Procedure", "RequestGroup", "RiskAssessment", "ServiceRequest", "Specimen", "Task"};
  std::string type = type_of(resource);
  if (std::find(std::begin(kWithNotes), std::end(kWithNotes), type) == std::end(kWithNotes))
    return Error::invalid_argument(fmt::format(
        "--note: {} has no note element; amend it with --json", type.empty() ? "a resource without resourceType" : type));
  Json* notes = resource.find("note");
  if (notes == nullptr || !notes->is_array()) notes = &resource.set("note", Json::array());
  notes->push_back(std::move(note));
  return {};
}

Result<Json> build_record(const RecordFields& fields) {
  const std::string& k = fields.kind;
  if (fields.patient.empty()) return Error::invalid_argument("--patient is required");
  if (!fields.date.empty() && !is_date_or_instant(fields.date))
    return Error::invalid_argument("--date must be YYYY-MM-DD or an instant like 2024-05-01T10:30:00Z");
  // Without --date, what is recorded now happened now (a rule reads only a
  // dated record).
  RecordFields f = fields;
  if (f.date.empty() && record_kind_dated_when_recorded(k)) f.date = f.recorded_at;
  Json r = Json::object();
  auto subject = reference("Patient", f.patient);
  auto need_code = [&]() -> Status {
    if (f.code.empty()) return missing("--code", k);
    return {};
  };
  auto sys = [&](const char* dflt) { return f.system.empty() ? std::string(dflt) : code_system_uri(f.system); };
  EHR_TRY(check_flags_apply(f));
  if (k == "vital" || k == "lab") {
    EHR_TRY(need_code());
    if (f.value.empty()) return missing("--value", k);
    // A result is a quantity; "72,5" or "high" would be stored as text,
    // which no rule, range or unit can read.
    if (!is_decimal(f.value))
      return Error::invalid_data(fmt::format(
          "--value must be a number for --type {}, written with a decimal point (72.5); a text result goes in "
          "with --json",
          k));
    r.set("resourceType", str("Observation"));
    r.set("status", str(f.status.empty() ? "final" : f.status));
    r.set("category", k == "vital" ? category("vital-signs", "Vital Signs") : category("laboratory", "Laboratory"));
    r.set("code", codeable(sys(kLoinc), f.code, f.display));
    r.set("subject", subject);
    if (!f.date.empty()) r.set("effectiveDateTime", str(f.date));
    r.set("valueQuantity", quantity(f.value, f.unit));
  } else if (k == "blood-pressure") {
    if (f.systolic.empty()) return missing("--systolic", k);
    if (f.diastolic.empty()) return missing("--diastolic", k);
    if (!is_decimal(f.systolic) || !is_decimal(f.diastolic))
      return Error::invalid_argument("--systolic and --diastolic must be numbers");
    r.set("resourceType", str("Observation"));
    r.set("status", str(f.status.empty() ? "final" : f.status));
    r.set("category", category("vital-signs", "Vital Signs"));
    r.set("code", codeable(kLoinc, "85354-9", "Blood pressure panel with all children optional"));
    r.set("subject", subject);
    if (!f.date.empty()) r.set("effectiveDateTime", str(f.date));
    Json comps = Json::array();
    for (auto [code, display, value] : {std::tuple{"8480-6", "Systolic blood pressure", f.systolic},
                                        std::tuple{"8462-4", "Diastolic blood pressure", f.diastolic}}) {
      Json c = Json::object();
      c.set("code", codeable(kLoinc, code, display));
      c.set("valueQuantity", quantity(value, "mm[Hg]"));
      comps.push_back(std::move(c));
    }
    r.set("component", std::move(comps));
  } else if (k == "condition") {
    EHR_TRY(need_code());
    r.set("resourceType", str("Condition"));
    r.set("clinicalStatus", codeable(std::string(kTerm) + "condition-clinical",
                                     f.status.empty() ? "active" : f.status));
    r.set("verificationStatus", codeable(std::string(kTerm) + "condition-ver-status", "confirmed"));
    r.set("category", array_of(codeable(std::string(kTerm) + "condition-category", "problem-list-item",
                                        "Problem List Item")));
    r.set("code", codeable(sys(kSnomed), f.code, f.display));
    r.set("subject", subject);
    if (!f.date.empty()) r.set("onsetDateTime", str(f.date));
  } else if (k == "allergy") {
    EHR_TRY(need_code());
    r.set("resourceType", str("AllergyIntolerance"));
    r.set("clinicalStatus", codeable(std::string(kTerm) + "allergyintolerance-clinical",
                                     f.status.empty() ? "active" : f.status));
    r.set("verificationStatus", codeable(std::string(kTerm) + "allergyintolerance-verification", "confirmed"));
    if (!f.category.empty()) {
      if (f.category != "food" && f.category != "medication" && f.category != "environment" && f.category != "biologic")
        return Error::invalid_argument("--category must be one of food, medication, environment, biologic");
      r.set("category", array_of(str(f.category)));
    }
    if (!f.criticality.empty()) {
      if (f.criticality != "low" && f.criticality != "high" && f.criticality != "unable-to-assess")
        return Error::invalid_argument("--criticality must be one of low, high, unable-to-assess");
      r.set("criticality", str(f.criticality));
    }
    r.set("code", codeable(sys(f.category == "medication" ? kRxNorm : kSnomed), f.code, f.display));
    r.set("patient", subject);
    if (!f.date.empty()) r.set("onsetDateTime", str(f.date));
    if (!f.reaction.empty()) {
      Json manifestation = Json::object();
      manifestation.set("text", str(f.reaction));
      Json reaction = Json::object();
      reaction.set("manifestation", array_of(std::move(manifestation)));
      r.set("reaction", array_of(std::move(reaction)));
    }
  } else if (k == "medication" || k == "medication-statement") {
    EHR_TRY(need_code());
    bool request = k == "medication";
    r.set("resourceType", str(request ? "MedicationRequest" : "MedicationStatement"));
    r.set("status", str(f.status.empty() ? "active" : f.status));
    if (request) r.set("intent", str("order"));
    r.set("medicationCodeableConcept", codeable(sys(kRxNorm), f.code, f.display));
    r.set("subject", subject);
    if (!f.date.empty()) r.set(request ? "authoredOn" : "effectiveDateTime", str(f.date));
    if (!f.dosage.empty()) {
      Json d = Json::object();
      d.set("text", str(f.dosage));
      r.set(request ? "dosageInstruction" : "dosage", array_of(std::move(d)));
    }
  } else if (k == "immunization") {
    EHR_TRY(need_code());
    if (f.date.empty()) return missing("--date", k);
    r.set("resourceType", str("Immunization"));
    r.set("status", str(f.status.empty() ? "completed" : f.status));
    r.set("vaccineCode", codeable(sys(kCvx), f.code, f.display));
    r.set("patient", subject);
    r.set("occurrenceDateTime", str(f.date));
    r.set("primarySource", Json::boolean(true));
  } else if (k == "procedure") {
    EHR_TRY(need_code());
    r.set("resourceType", str("Procedure"));
    r.set("status", str(f.status.empty() ? "completed" : f.status));
    r.set("code", codeable(sys(kSnomed), f.code, f.display));
    r.set("subject", subject);
    if (!f.date.empty()) r.set("performedDateTime", str(f.date));
  } else if (k == "encounter") {
    std::string cls = f.encounter_class.empty() ? "AMB" : f.encounter_class;
    r.set("resourceType", str("Encounter"));
    r.set("status", str(f.status.empty() ? "finished" : f.status));
    r.set("class", coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", cls));
    if (!f.code.empty()) r.set("type", array_of(codeable(sys(kSnomed), f.code, f.display)));
    r.set("subject", subject);
    if (!f.date.empty()) {
      Json period = Json::object();
      period.set("start", str(f.date));
      r.set("period", std::move(period));
    }
  } else if (k == "note") {
    if (f.value.empty()) return missing("--value (the note text)", k);
    r.set("resourceType", str("DocumentReference"));
    r.set("status", str(f.status.empty() ? "current" : f.status));
    r.set("type", codeable(kLoinc, f.code.empty() ? "11506-3" : f.code,
                           f.display.empty() ? "Progress note" : f.display));
    r.set("subject", subject);
    if (!f.date.empty()) r.set("date", str(f.date.size() == 10 ? f.date + "T00:00:00Z" : f.date));
    // FHIR attachments carry base64; the text is stored exactly.
    static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string enc;
    const std::string& in = f.value;
    for (size_t i = 0; i < in.size(); i += 3) {
      uint32_t n = static_cast<uint8_t>(in[i]) << 16;
      if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
      if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
      enc += b64[(n >> 18) & 63];
      enc += b64[(n >> 12) & 63];
      enc += i + 1 < in.size() ? b64[(n >> 6) & 63] : '=';
      enc += i + 2 < in.size() ? b64[n & 63] : '=';
    }
    Json att = Json::object();
    att.set("contentType", str("text/plain; charset=utf-8"));
    att.set("data", str(enc));
    Json content = Json::object();
    content.set("attachment", std::move(att));
    r.set("content", array_of(std::move(content)));
  } else {
    std::string names;
    for (const auto& [name, _] : record_kinds()) names += (names.empty() ? "" : ", ") + name;
    return Error::invalid_argument(fmt::format(
        "--type {} has no friendly flags; use one of {}, or --json FILE for any FHIR resource", k, names));
  }
  return r;
}

}  // namespace ehr
