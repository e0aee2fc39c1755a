// Tests of FHIR R4 validation (core/src/validate.cc): every rule, with exact
// paths and messages, and the shared real data, which must validate clean.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/validate.h"
#include "fhir_rules.h"

using ehr::Json;
using ehr::ValidationIssue;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Validates JSON text; the text must parse.
std::vector<ValidationIssue> issues_of(std::string_view text) {
  auto doc = ehr::parse_json(text);
  REQUIRE_MESSAGE(doc.ok(), text);
  return ehr::validate_resource(*doc);
}

std::string dump(const std::vector<ValidationIssue>& issues) {
  std::string out;
  for (const auto& i : issues)
    out += (i.is_error ? "error " : "warning ") + ehr::format_issue(i) + " [" + i.rule + "]\n";
  return out;
}

// One rule violation: the resource and the single issue it must give.
struct Case {
  const char* json;
  const char* path;
  const char* rule;
  const char* message;
  bool is_error = true;
};

void check_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    CAPTURE(c.json);
    std::vector<ValidationIssue> want{{c.path, c.rule, c.message, c.is_error}};
    CHECK(dump(issues_of(c.json)) == dump(want));
  }
}

}  // namespace

TEST_SUITE("validate") {

// Minimal valid resources of every first-class type: no issue at all.
const char* const kValid[] = {
    R"({"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]})",
    R"({"resourceType":"Encounter","id":"e1","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}})",
    R"({"resourceType":"Condition","subject":{"reference":"Patient/p1"}})",
    R"({"resourceType":"Observation","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]}})",
    R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
        "medicationCodeableConcept":{"text":"aspirin"},"subject":{"reference":"Patient/p1"}})",
    R"({"resourceType":"MedicationStatement","status":"active",
        "medicationReference":{"reference":"Medication/m1"},"subject":{"reference":"Patient/p1"}})",
    R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
        "patient":{"reference":"Patient/p1"}})",
    R"({"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":
        "http://hl7.org/fhir/sid/cvx","code":"140"}]},"patient":{"reference":"Patient/p1"},
        "occurrenceDateTime":"2020-01-01"})",
    R"({"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/p1"}})",
    R"({"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"}})",
    R"({"resourceType":"DocumentReference","status":"current",
        "content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]})",
    R"({"resourceType":"CarePlan","status":"active","intent":"plan",
        "subject":{"reference":"Patient/p1"}})",
    R"({"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi",
        "value":"1234567893"}]})",
    R"({"resourceType":"Organization","name":"Clinic"})",
    R"({"resourceType":"Provenance","target":[{"reference":"Patient/p1"}],
        "recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/d1"}}]})",
    R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":
        "http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
        "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
        "patient":{"reference":"Patient/p1"},"policyRule":{"text":"opt in"}})",
    R"({"resourceType":"AuditEvent","type":{"system":
        "http://dicom.nema.org/resources/ontology/DCM","code":"110106"},
        "recorded":"2020-01-01T00:00:00Z","agent":[{"requestor":true}],
        "source":{"observer":{"display":"ehr"}}})",
    // Not first-class: generic checks only.
    R"({"resourceType":"Claim","id":"c.1-A"})",
};

TEST_CASE("minimal resources of every first-class type are valid") {
  for (const char* json : kValid) {
    CAPTURE(json);
    CHECK(dump(issues_of(json)) == "");
  }
}

TEST_CASE("unknown elements are warnings; extensions and code systems are never flagged") {
  // Real data has a few (US Core examples: Period.stop, Attachment.link):
  // a warning names them and the record still goes in.
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"family":"Doe"}],
      "birthPlace":{"city":"Atlantis"},
      "extension":[{"url":"http://example.org/x","valueCoding":{"system":"http://example.org/cs",
                    "code":"whatever"}}],
      "_gender":{"extension":[{"url":"http://example.org/y","valueString":"z"}]},
      "maritalStatus":{"coding":[{"system":"urn:oid:1.2.3","code":"??"}]}})")) ==
        "warning Patient.birthPlace: not an element of Patient in FHIR R4 [unknown-element]\n");
}

TEST_CASE("the structure of R4: members, objects and primitives") {
  // A member of a backbone element or data type is named by its R4 path.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x","txt":"y"},
      "extension":[{"url":"urn:x","valueStrin":"z"}]})")) ==
        "warning Basic.code.txt: not an element of CodeableConcept in FHIR R4 [unknown-element]\n"
        "warning Basic.extension[0].valueStrin: not an element of Extension in FHIR R4 [unknown-element]\n");
  CHECK(dump(issues_of(R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/p1"},"medicationCodeableConcept":{"text":"x"},
      "dispenseRequest":{"validityPeriod":{"start":"2020"},"quantiy":{"value":1}}})")) ==
        "warning MedicationRequest.dispenseRequest.quantiy: not an element of MedicationRequest.dispenseRequest "
        "in FHIR R4 [unknown-element]\n");
  // _x extends primitive x only; a name that is no name is not quoted.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"_created":{"extension":
      [{"url":"urn:x","valueString":"y"}]},"_code":{"id":"a"},"John Smith":1})")) ==
        "warning Basic._code: not an element of Basic in FHIR R4 [unknown-element]\n"
        "warning Basic.(a member not named like an element): not an element of Basic in FHIR R4 [unknown-element]\n");
  // An object where R4 has a primitive, and the reverse, are errors.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":{"div":"x"}}})")) ==
        "error Basic.code.text: expected a primitive value (string, number or true/false), not an object "
        "[json-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"subject":"Patient/p1"})")) ==
        "error Basic.subject: expected an object (Reference), not a string [json-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":"x"}]})")) ==
        "error Bundle.entry[0].resource: expected a resource, not a string [json-type]\n");
  // An element that repeats is an array, one that does not is not (QA
  // finding: Observation.code as an array and category as an object went in).
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":[{"text":"x"}]})")) ==
        "error Basic.code: expected a single value, not an array (the element does not repeat) [json-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"identifier":{"value":"1"}})")) ==
        "error Basic.identifier: expected an array (the element repeats), not an object [json-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"family":"Doe","given":"Jo"}]})")) ==
        "error Patient.name[0].given: expected an array (the element repeats), not a string [json-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"family":"Doe","given":["Jo"],
      "_given":{"extension":[{"url":"urn:x","valueString":"y"}]}}]})")) ==
        "error Patient.name[0]._given: expected an array (the element repeats), not an object [json-type]\n");
  // A choice element takes one variant (QA finding: valueString and
  // valueBoolean together went in); two lists that share a description
  // (Encounter.reasonCode, reasonReference) are no choice.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"urn:x",
      "valueString":"a","valueBoolean":true,"valueCode":"c"}]})")) ==
        "error Basic.extension[0].value[x]: only one of valueString and valueBoolean may be given [choice-type]\n");
  CHECK(dump(issues_of(R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
      "reasonCode":[{"text":"x"}],"reasonReference":[{"reference":"Condition/c1"}]})")) == "");
  // A contained resource is checked against its own type.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},
      "contained":[{"resourceType":"Organization","id":"o","name":"x","nme":"x"}]})")) ==
        "warning Basic.contained[0].nme: not an element of Organization in FHIR R4 [unknown-element]\n");
}

TEST_CASE("the element table has every R4 resource type") {
  auto defs = ehr::detail::compiled_element_defs();
  for (std::string_view type : ehr::detail::compiled_resource_types()) {
    CAPTURE(type);
    CHECK(std::any_of(defs.begin(), defs.end(), [&](const ehr::detail::FhirElementDef& d) { return d.name == type; }));
  }
  CHECK(std::is_sorted(defs.begin(), defs.end(),
                       [](const ehr::detail::FhirElementDef& a, const ehr::detail::FhirElementDef& b) { return a.name < b.name; }));
}

TEST_CASE("the resource itself: a JSON object with a known resourceType") {
  check_cases({
      {"[]", "", "json-type", "a resource must be a JSON object, not an array"},
      {R"("Patient")", "", "json-type", "a resource must be a JSON object, not a string"},
      {"{}", "Resource.resourceType", "resource-type", "resourceType is missing"},
      {R"({"resourceType":5})", "Resource.resourceType", "resource-type",
       "resourceType must be a string"},
      {R"({"resourceType":"Patients","id":"1"})", "Resource.resourceType", "resource-type",
       "unknown resource type \"Patients\""},
      {R"({"resourceType":"DomainResource"})", "Resource.resourceType", "resource-type",
       "unknown resource type \"DomainResource\""},
  });
}

TEST_CASE("ids are 1 to 64 letters, digits, '-' or '.'") {
  check_cases({
      {R"({"resourceType":"Claim","id":"a b"})", "Claim.id", "id-syntax",
       "id is not 1 to 64 letters, digits, '-' or '.'"},
      {R"({"resourceType":"Claim","id":"a_b"})", "Claim.id", "id-syntax",
       "id is not 1 to 64 letters, digits, '-' or '.'"},
      {R"({"resourceType":"Claim","id":"12345678901234567890123456789012345678901234567890123456789012345"})",
       "Claim.id", "id-syntax",
       "id is not 1 to 64 "
       "letters, digits, '-' or '.'"},
      {R"({"resourceType":"Claim","id":7})", "Claim.id", "json-type", "id must be a string"},
      {R"({"resourceType":"Claim","meta":{"versionId":"v/1"}})", "Claim.meta.versionId",
       "id-syntax", "versionId is not 1 to 64 letters, digits, '-' or '.'"},
  });
  CHECK(dump(issues_of(
            R"({"resourceType":"Claim","id":"1234567890123456789012345678901234567890123456789012345678901234"})")) ==
        "");
}

TEST_CASE("every reference string is a valid reference") {
  for (const char* ok :
       {"Patient/123", "Patient/123/_history/2", "https://example.org/fhir/Patient/1",
        "http://example.org/anything", "urn:uuid:53fefa32-fcbb-4ff8-8a92-55ee120877b7",
        "urn:oid:2.16.840.1.113883.4.6", "#", "#m1",
        "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999974493"}) {
    std::string json = std::string(R"({"resourceType":"Basic","contained":[{"resourceType":"Medication","id":"m1"}],"subject":{"reference":")") +
                       ok + R"("}})";
    CAPTURE(json);
    CHECK(dump(issues_of(json)) == "");
  }
  auto basic = [](const char* ref) {
    return std::string(R"({"resourceType":"Basic","author":{"reference":")") + ref + R"("}})";
  };
  struct Bad {
    const char* ref;
    const char* rule;
    const char* message;
  };
  const Bad bad[] = {
      {"Patient", "reference-syntax",
       "the reference is not a relative (Type/id), absolute, urn:uuid:, urn:oid:, "
       "#contained or conditional (Type?search) reference"},
      {"Patient/1/2", "reference-syntax",
       "the reference is not a relative (Type/id), absolute, urn:uuid:, urn:oid:, "
       "#contained or conditional (Type?search) reference"},
      {"Foo/1", "reference-syntax", "the reference names an unknown resource type"},
      {"patient/1", "reference-syntax",
       "the reference names an unknown resource type"},
      {"Patient/a b", "reference-syntax", "the reference contains white space"},
      {"Patient/a_b", "reference-syntax", "the reference has an invalid id"},
      {"Patient/1/_history/v_1", "reference-syntax",
       "the reference has an invalid version id"},
      {"urn:uuid:53FEFA32-FCBB-4FF8-8A92-55EE120877B7", "reference-syntax",
       "the reference is not a valid urn:uuid "
       "(lower-case 8-4-4-4-12 hex digits)"},
      {"urn:uuid:1234", "reference-syntax",
       "the reference is not a valid urn:uuid (lower-case 8-4-4-4-12 hex digits)"},
      {"urn:oid:1.02", "reference-syntax", "the reference is not a valid urn:oid"},
      {"urn:oid:3.1", "reference-syntax", "the reference is not a valid urn:oid"},
      {"#a_b", "reference-syntax", "the reference is not a valid contained reference"},
      {"#missing", "reference-contained", "the reference names no contained resource"},
      {"Foo?x=1", "reference-syntax", "the reference names an unknown resource type"},
      {"Patient?", "reference-syntax", "the reference has an empty search"},
      {"https://", "reference-syntax", "the reference is not a valid absolute URL"},
  };
  for (const Bad& b : bad) {
    std::string json = basic(b.ref);
    check_cases({{json.c_str(), "Basic.author.reference", b.rule, b.message}});
  }
}

TEST_CASE("contained references resolve within the container, also from a contained resource") {
  CHECK(dump(issues_of(R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "contained":[{"resourceType":"Medication","id":"m1","manufacturer":{"reference":"#o1"}},
                   {"resourceType":"Organization","id":"o1","name":"Acme"}],
      "medicationReference":{"reference":"#m1"},"subject":{"reference":"Patient/p1"}})")) == "");
  check_cases({
      {R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
          "contained":[{"resourceType":"Medication","id":"m1","manufacturer":{"reference":"#o2"}}],
          "medicationReference":{"reference":"#m1"},"subject":{"reference":"Patient/p1"}})",
       "MedicationRequest.contained[0].manufacturer.reference", "reference-contained",
       "the reference names no contained resource"},
  });
}

TEST_CASE("values are never empty, and null only aligns primitive arrays") {
  check_cases({
      {R"({"resourceType":"Patient","name":[{"family":""}]})", "Patient.name[0].family",
       "empty-value", "value is an empty string"},
      {R"({"resourceType":"Patient","name":[{"family":"Doe"}],"maritalStatus":{}})",
       "Patient.maritalStatus", "empty-value", "object has no members"},
      {R"({"resourceType":"Patient","name":[{"family":"Doe"}],"telecom":[]})", "Patient.telecom",
       "empty-value", "array has no items"},
      {R"({"resourceType":"Patient","name":[{"family":"Doe"}],"gender":null})", "Patient.gender",
       "null-value", "null is not allowed; leave the element out"},
      {R"({"resourceType":"Patient","name":[{"family":"Doe","given":["A",null]}]})",
       "Patient.name[0].given[1]", "null-value", "null is not allowed; leave the element out"},
      {R"({"resourceType":"Patient","name":[{"family":"Doe","given":[" "]}]})",
       "Patient.name[0].given[0]", "blank-string", "value is only white space", false},
  });
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"family":"Doe","given":["A",null],
      "_given":[null,{"extension":[{"url":"http://example.org/x","valueBoolean":true}]}]}]})")) ==
        "");
}

TEST_CASE("booleans, integers and decimals that an element's name fixes have their JSON type") {
  const char* whole = "expected a whole number from -2147483648 to 2147483647";
  check_cases({
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"active":"yes"})", "Patient.active", "json-type",
       "expected true or false, not a string"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"deceasedBoolean":1})", "Patient.deceasedBoolean", "json-type",
       "expected true or false, not a number"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"multipleBirthInteger":1.5})", "Patient.multipleBirthInteger",
       "json-type", whole},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"multipleBirthInteger":1e999})", "Patient.multipleBirthInteger",
       "json-type", whole},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"multipleBirthInteger":"3"})", "Patient.multipleBirthInteger",
       "json-type", "expected a number, not a string"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"multipleBirthInteger":2147483648})", "Patient.multipleBirthInteger",
       "json-type", whole},
      {R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://example.org/x",
          "valuePositiveInt":0}]})",
       "Basic.extension[0].valuePositiveInt", "json-type", "expected a whole number from 1 to 2147483647"},
      {R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://example.org/x",
          "valueUnsignedInt":-1}]})",
       "Basic.extension[0].valueUnsignedInt", "json-type", "expected a whole number from 0 to 2147483647"},
      {R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://example.org/x",
          "valueDecimal":"1.5"}]})",
       "Basic.extension[0].valueDecimal", "json-type", "expected a number, not a string"},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "valueQuantity":{"value":"twelve","unit":"kg"}})",
       "Observation.valueQuantity.value", "json-type", "expected a number, not a string"},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "referenceRange":[{"low":{"value":true}}]})",
       "Observation.referenceRange[0].low.value", "json-type", "expected a number, not a boolean"},
  });
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"family":"D"}],"active":true,"multipleBirthInteger":-2147483648,
      "extension":[{"url":"http://example.org/x","valueDecimal":1e999},
                   {"url":"http://example.org/y","valuePositiveInt":2147483647},
                   {"url":"http://example.org/z","valueUnsignedInt":0}],
      "_active":{"extension":[{"url":"http://example.org/w","valueString":"a"}]}})")) == "");
}

TEST_CASE("strings hold no control character other than tab, CR and LF") {
  check_cases({
      {R"({"resourceType":"Patient","name":[{"family":"Do\u0000e"}]})", "Patient.name[0].family",
       "string-chars", "the string holds a control character (only tab, CR and LF are allowed)"},
      {R"({"resourceType":"Patient","name":[{"text":"a\u001bb"}]})", "Patient.name[0].text",
       "string-chars", "the string holds a control character (only tab, CR and LF are allowed)"},
  });
  CHECK(dump(issues_of(R"({"resourceType":"Patient","name":[{"text":"a\tb\r\nc"}]})")) == "");
}

TEST_CASE("dates, dateTimes and instants of known elements have R4 syntax") {
  const char* date_form = "YYYY, YYYY-MM or YYYY-MM-DD";
  const char* dt_form = "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]+zz:zz";
  const char* instant_form = "YYYY-MM-DDThh:mm:ss[.sss]+zz:zz";
  struct DateCase {
    const char* json;
    const char* path;
    const char* value;
    const char* kind;
    const char* form;
  };
  const DateCase cases[] = {
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"birthDate":"1990-02-30"})",
       "Patient.birthDate", "1990-02-30", "date", date_form},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"birthDate":"2019-02-29"})",
       "Patient.birthDate", "2019-02-29", "date", date_form},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"birthDate":"1990-13"})",
       "Patient.birthDate", "1990-13", "date", date_form},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"birthDate":"0000"})",
       "Patient.birthDate", "0000", "date", date_form},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"birthDate":"1990-01-01T00:00:00Z"})",
       "Patient.birthDate", "1990-01-01T00:00:00Z", "date", date_form},
      {R"({"resourceType":"Claim","meta":{"lastUpdated":"2020-01-01"}})", "Claim.meta.lastUpdated",
       "2020-01-01", "instant", instant_form},
      {R"({"resourceType":"Claim","created":"2020-01-01","billablePeriod":{"start":"2020-1-1"}})",
       "Claim.billablePeriod.start", "2020-1-1", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "effectiveDateTime":"2020-01-01T10:00:00"})",
       "Observation.effectiveDateTime", "2020-01-01T10:00:00", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "effectiveDateTime":"2020-01-01T10:00Z"})",
       "Observation.effectiveDateTime", "2020-01-01T10:00Z", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "effectiveDateTime":"2020-01-01T24:00:00Z"})",
       "Observation.effectiveDateTime", "2020-01-01T24:00:00Z", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "effectiveDateTime":"2020-01-01T10:00:00+14:30"})",
       "Observation.effectiveDateTime", "2020-01-01T10:00:00+14:30", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "effectivePeriod":{"end":"yesterday"}})",
       "Observation.effectivePeriod.end", "yesterday", "dateTime", dt_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "issued":"2020-01-01"})",
       "Observation.issued", "2020-01-01", "instant", instant_form},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
          "recordedDate":"2020/01/01"})",
       "Condition.recordedDate", "2020/01/01", "dateTime", dt_form},
      {R"({"resourceType":"Provenance","target":[{"reference":"Patient/p1"}],
          "recorded":"2020-01-01T00:00","agent":[{"who":{"reference":"Practitioner/d1"}}]})",
       "Provenance.recorded", "2020-01-01T00:00", "instant", instant_form},
      {R"({"resourceType":"DocumentReference","status":"current","date":"2020-01-01",
          "content":[{"attachment":{"url":"http://x"}}]})",
       "DocumentReference.date", "2020-01-01", "instant", instant_form},
      {R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
          "patient":{"reference":"Patient/p1"},"reaction":[{"manifestation":[{"text":"rash"}],
          "onset":"May"}]})",
       "AllergyIntolerance.reaction[0].onset", "May", "dateTime", dt_form},
  };
  for (const DateCase& c : cases) {
    std::string message = std::string("not a valid ") + c.kind + " (" + c.form + ")";
    check_cases({{c.json, c.path, "date-syntax", message.c_str()}});
  }
  for (const char* ok : {"2020", "2020-02", "2020-02-29", "2000-02-29", "2020-01-01T10:00:00Z",
                         "2020-01-01T23:59:60.123+14:00", "2020-01-01T10:00:00.5-05:00"}) {
    std::string json =
        std::string(R"({"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"urn:x","valueDateTime":")") +
        ok + R"("}]})";
    CAPTURE(json);
    CHECK(dump(issues_of(json)) == "");
  }
  // Elements ehr does not know as dates are left alone.
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"start":"whenever"})")) ==
        "warning Basic.start: not an element of Basic in FHIR R4 [unknown-element]\n");
}

// QA finding dates 10: only element names of the global rules were checked,
// so Composition.date "yesterday", whenHandedOver "2020-02-30T10:00:00Z" and
// valueTime "25:00:00" were stored. Every element R4 types as a date,
// dateTime, instant or time is checked by its type.
TEST_CASE("every date, dateTime, instant and time element is checked by its R4 type") {
  const char* date_form = "YYYY, YYYY-MM or YYYY-MM-DD";
  const char* dt_form = "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]+zz:zz";
  const char* instant_form = "YYYY-MM-DDThh:mm:ss[.sss]+zz:zz";
  const char* time_form = "hh:mm:ss[.sss]";
  struct DateCase {
    const char* json;
    const char* path;
    const char* kind;
    const char* form;
  };
  const DateCase cases[] = {
      {R"({"resourceType":"Basic","code":{"text":"x"},"created":"2020-13-45"})", "Basic.created", "date", date_form},
      {R"({"resourceType":"FamilyMemberHistory","status":"completed","patient":{"reference":"Patient/p"},)"
       R"("relationship":{"text":"x"},"date":"2020-13-45"})",
       "FamilyMemberHistory.date", "dateTime", dt_form},
      {R"({"resourceType":"MedicationDispense","status":"completed","medicationCodeableConcept":{"text":"x"},)"
       R"("whenHandedOver":"2020-02-30T10:00:00Z"})",
       "MedicationDispense.whenHandedOver", "dateTime", dt_form},
      {R"({"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted",)"
       R"("actor":{"reference":"Patient/p"}}],"start":"2020-01-01T10:00:00"})",
       "Appointment.start", "instant", instant_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"25:00:00"})",
       "Observation.valueTime", "time", time_form},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"10:00"})",
       "Observation.valueTime", "time", time_form},
  };
  for (const DateCase& c : cases) {
    std::string message = std::string("not a valid ") + c.kind + " (" + c.form + ")";
    CAPTURE(c.json);
    CHECK(dump(issues_of(c.json)).find(std::string("error ") + c.path + ": " + message + " [date-syntax]") !=
          std::string::npos);
  }
  for (const char* ok : {"10:00:00", "23:59:60", "00:00:00.250"})
    CHECK(dump(issues_of(std::string(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                                     R"("valueTime":")") + ok + R"("})")) == "");
}

// QA finding dates 11: FHIR's per-1, a Period's start is not after its end.
TEST_CASE("a period that ends before it starts is refused (per-1)") {
  auto encounter = [](const char* start, const char* end) {
    return fmt::format(R"({{"resourceType":"Encounter","status":"finished","class":{{"code":"AMB"}},)"
                       R"("period":{{"start":"{}","end":"{}"}}}})",
                       start, end);
  };
  CHECK(dump(issues_of(encounter("2026-03-02", "2026-03-01"))) ==
        "error Encounter.period: the period ends (2026-03-01) before it starts (2026-03-02) [per-1]\n");
  CHECK(dump(issues_of(encounter("2026-03-01T10:00:00+01:00", "2026-03-01T09:30:00Z"))) == "");  // 09:00Z to 09:30Z
  CHECK(dump(issues_of(encounter("2026-03-01T10:00:00Z", "2026-03-01T10:00:00+01:00"))) ==
        "error Encounter.period: the period ends (2026-03-01T10:00:00+01:00) before it starts "
        "(2026-03-01T10:00:00Z) [per-1]\n");
  CHECK(dump(issues_of(encounter("2026", "2026-03-01"))) == "");
  CHECK(dump(issues_of(encounter("2026-03-01T10:00:00Z", "2026-03-01"))) == "");  // the same day
}

TEST_CASE("meta.security codings are well formed") {
  check_cases({
      {R"({"resourceType":"Claim","meta":{"security":[{"system":
          "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"X"}]}})",
       "Claim.meta.security[0].code", "security-label",
       "confidentiality code is not one of U, L, M, N, R, V"},
      {R"({"resourceType":"Claim","meta":{"security":[{"code":"R"}]}})",
       "Claim.meta.security[0]", "security-label", "a security label needs a system"},
      {R"({"resourceType":"Claim","meta":{"security":[{"system":"http://x","display":"R"}]}})",
       "Claim.meta.security[0]", "security-label", "a security label needs a code"},
      {R"({"resourceType":"Claim","meta":{"security":["R"]}})", "Claim.meta.security[0]",
       "security-label", "a security label must be a Coding object"},
  });
  CHECK(dump(issues_of(R"({"resourceType":"Claim","meta":{"security":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"},{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}})")) == "");
}

TEST_CASE("codes and identifiers of LOINC, SNOMED CT and NPI carry good check digits") {
  auto obs = [](const char* system, const char* code) {
    return std::string(R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":")") +
           system + R"(","code":")" + code + R"("}]}})";
  };
  const char* loinc = "http://loinc.org";
  const char* sct = "http://snomed.info/sct";
  const char* npi = "http://hl7.org/fhir/sid/us-npi";
  struct CodeCase {
    std::string json;
    const char* rule;
    const char* message;
  };
  const CodeCase cases[] = {
      {obs(loinc, "2345-8"), "loinc-check-digit", "LOINC code fails its check digit"},
      {obs(loinc, "LP29684-8"), "loinc-check-digit", "LOINC code fails its check digit"},
      {obs(loinc, "2345"), "loinc-check-digit",
       "LOINC code is malformed (digits, '-' and a check digit)"},
      {obs(loinc, "12345678-5"), "loinc-check-digit",
       "LOINC code is malformed (digits, '-' and a check digit)"},
      {obs(sct, "22298007"), "snomed-check-digit", "SNOMED CT code fails its check digit"},
      {obs(sct, "0123"), "snomed-check-digit",
       "SNOMED CT code is malformed (6 to 18 digits, no leading zero, a known partition id)"},
      {obs(sct, "22298O06"), "snomed-check-digit",
       "SNOMED CT code is malformed (6 to 18 digits)"},
      {obs(sct, "123456017"), "snomed-check-digit",
       "SNOMED CT code is not a concept id (partition 01)"},
      {obs(npi, "1234567890"), "npi-check-digit", "NPI fails its check digit"},
  };
  for (const CodeCase& c : cases)
    check_cases({{c.json.c_str(), "Observation.code.coding[0].code", c.rule, c.message}});

  for (const char* ok : {"2345-7", "11491-6", "5895-7", "LA6568-5", "LP7839-6"}) CHECK(dump(issues_of(obs(loinc, ok))) == "");
  for (const char* ok : {"22298006", "900000000000207008", "1221000119103",
                         "128045006:{363698007=56459004}"})
    CHECK(dump(issues_of(obs(sct, ok))) == "");
  CHECK(dump(issues_of(obs("http://example.org/local", "2345-8"))) == "");

  // Identifiers: an NPI that fails is a warning (synthetic data sets use
  // made-up NPIs); LOINC and SNOMED keep their severity.
  check_cases({
      {R"({"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi",
          "value":"1234567890"}]})",
       "Practitioner.identifier[0].value", "npi-check-digit", "NPI fails its check digit",
       false},
      {R"({"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi",
          "value":"9999974493"}]})",
       "Practitioner.identifier[0].value", "npi-check-digit",
       "NPI is malformed (10 digits, the first 1 or 2)", false},
      {R"({"resourceType":"Claim","identifier":[{"system":"http://loinc.org","value":"2345-8"}]})",
       "Claim.identifier[0].value", "loinc-check-digit", "LOINC code fails its check digit"},
      // Wherever a Coding occurs: in an extension, in a non-first-class type.
      {R"({"resourceType":"Claim","extension":[{"url":"http://example.org/x",
          "valueCoding":{"system":"http://snomed.info/sct","code":"73211008"}}]})",
       "Claim.extension[0].valueCoding.code", "snomed-check-digit",
       "SNOMED CT code fails its check digit"},
  });
}

TEST_CASE("required elements, also inside backbone elements and choice types") {
  check_cases({
      {R"({"resourceType":"Encounter","class":{"code":"AMB"}})", "Encounter.status", "required",
       "required element is missing"},
      {R"({"resourceType":"Encounter","status":"finished"})", "Encounter.class", "required",
       "required element is missing"},
      {R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
          "diagnosis":[{"rank":1}]})",
       "Encounter.diagnosis[0].condition", "required", "required element is missing"},
      {R"({"resourceType":"Condition","code":{"text":"x"}})", "Condition.subject", "required",
       "required element is missing"},
      {R"({"resourceType":"Observation","status":"final"})", "Observation.code", "required",
       "required element is missing"},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"bp"},
          "component":[{"code":{"text":"sys"}},{"valueQuantity":{"value":80}}]})",
       "Observation.component[1].code", "required", "required element is missing"},
      {R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
          "subject":{"reference":"Patient/p1"}})",
       "MedicationRequest.medication[x]", "required", "required element is missing"},
      {R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
          "medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p1"},
          "substitution":{"reason":{"text":"x"}}})",
       "MedicationRequest.substitution.allowed[x]", "required", "required element is missing"},
      {R"({"resourceType":"MedicationStatement","status":"active",
          "medicationCodeableConcept":{"text":"x"}})",
       "MedicationStatement.subject", "required", "required element is missing"},
      {R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
          "patient":{"reference":"Patient/p1"},"reaction":[{"severity":"mild"}]})",
       "AllergyIntolerance.reaction[0].manifestation", "required", "required element is missing"},
      {R"({"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},
          "patient":{"reference":"Patient/p1"}})",
       "Immunization.occurrence[x]", "required", "required element is missing"},
      {R"({"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},
          "patient":{"reference":"Patient/p1"},"occurrenceString":"last spring",
          "protocolApplied":[{"doseNumberPositiveInt":1},{"series":"b"}]})",
       "Immunization.protocolApplied[1].doseNumber[x]", "required", "required element is missing"},
      {R"({"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/p1"},
          "performer":[{"function":{"text":"surgeon"}}]})",
       "Procedure.performer[0].actor", "required", "required element is missing"},
      {R"({"resourceType":"DiagnosticReport","code":{"text":"x"}})", "DiagnosticReport.status",
       "required", "required element is missing"},
      {R"({"resourceType":"DocumentReference","status":"current"})", "DocumentReference.content",
       "required", "required element is missing"},
      {R"({"resourceType":"DocumentReference","status":"current","content":[{"format":{"code":"x"}}]})",
       "DocumentReference.content[0].attachment", "required", "required element is missing"},
      {R"({"resourceType":"CarePlan","status":"active","subject":{"reference":"Patient/p1"}})",
       "CarePlan.intent", "required", "required element is missing"},
      {R"({"resourceType":"CarePlan","status":"active","intent":"plan",
          "subject":{"reference":"Patient/p1"},"activity":[{"detail":{"kind":"Task"}}]})",
       "CarePlan.activity[0].detail.status", "required", "required element is missing"},
      {R"({"resourceType":"Practitioner","qualification":[{"issuer":{"display":"x"}}]})",
       "Practitioner.qualification[0].code", "required", "required element is missing"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"link":[{"type":"seealso"}]})",
       "Patient.link[0].other", "required", "required element is missing"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"link":[{"other":{"reference":"Patient/2"}}]})",
       "Patient.link[0].type", "required", "required element is missing"},
      {R"({"resourceType":"Provenance","target":[{"reference":"Patient/p1"}],
          "recorded":"2020-01-01T00:00:00Z","agent":[{"role":[{"text":"author"}]}]})",
       "Provenance.agent[0].who", "required", "required element is missing"},
      {R"({"resourceType":"Provenance","recorded":"2020-01-01T00:00:00Z",
          "agent":[{"who":{"reference":"Practitioner/d1"}}]})",
       "Provenance.target", "required", "required element is missing"},
      {R"({"resourceType":"Consent","status":"active","scope":{"text":"x"},"policyRule":{"text":"x"}})",
       "Consent.category", "required", "required element is missing"},
      {R"({"resourceType":"AuditEvent","type":{"code":"110106"},"recorded":"2020-01-01T00:00:00Z",
          "agent":[{"requestor":true}],"source":{"site":"x"}})",
       "AuditEvent.source.observer", "required", "required element is missing"},
  });
  // A primitive extension stands in for a missing value (data-absent-reason).
  CHECK(dump(issues_of(R"({"resourceType":"Observation","_status":{"extension":[{"url":
      "http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},
      "code":{"text":"x"}})")) == "");
}

TEST_CASE("required bindings: codes and CodeableConcepts") {
  check_cases({
      {R"({"resourceType":"Encounter","status":"done","class":{"code":"AMB"}})", "Encounter.status",
       "binding",
       "code is not one of planned, arrived, triaged, in-progress, onleave, finished, "
       "cancelled, entered-in-error, unknown"},
      {R"({"resourceType":"Encounter","status":5,"class":{"code":"AMB"}})", "Encounter.status",
       "json-type", "expected a code string, not a number"},
      {R"({"resourceType":"Patient","name":[{"family":"D"}],"gender":"F"})", "Patient.gender",
       "binding", "code is not one of male, female, other, unknown"},
      {R"({"resourceType":"Patient","name":[{"family":"D","use":"legal"}]})", "Patient.name[0].use",
       "binding", "code is not one of usual, official, temp, nickname, anonymous, old, maiden"},
      {R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
          "patient":{"reference":"Patient/p1"},"category":["food","drug"]})",
       "AllergyIntolerance.category[1]", "binding",
       "code is not one of food, medication, environment, biologic"},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{
          "coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical",
          "code":"current"}]}})",
       "Condition.clinicalStatus.coding[0].code", "binding",
       "code is not one of active, recurrence, relapse, inactive, remission, resolved"},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
          "clinicalStatus":{"text":"active"}})",
       "Condition.clinicalStatus", "binding",
       "no coding from http://terminology.hl7.org/CodeSystem/condition-clinical (one of active, "
       "recurrence, relapse, inactive, remission, resolved)"},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
          "verificationStatus":"confirmed"})",
       "Condition.verificationStatus", "json-type",
       "expected a CodeableConcept object, not a string"},
      {R"({"resourceType":"Observation","status":"done","code":{"text":"x"}})",
       "Observation.status", "binding",
       "code is not one of registered, preliminary, final, amended, corrected, cancelled, "
       "entered-in-error, unknown"},
      {R"({"resourceType":"MedicationRequest","status":"active","intent":"orders",
          "medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p1"}})",
       "MedicationRequest.intent", "binding",
       "code is not one of proposal, plan, order, original-order, reflex-order, "
       "filler-order, instance-order, option"},
      {R"({"resourceType":"Immunization","status":"given","vaccineCode":{"text":"x"},
          "patient":{"reference":"Patient/p1"},"occurrenceDateTime":"2020"})",
       "Immunization.status", "binding",
       "code is not one of completed, entered-in-error, not-done"},
      {R"({"resourceType":"DocumentReference","status":"final","content":[{"attachment":{"url":"http://x"}}]})",
       "DocumentReference.status", "binding",
       "code is not one of current, superseded, entered-in-error"},
      {R"({"resourceType":"Provenance","target":[{"reference":"Patient/p1"}],
          "recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/d1"}}],
          "entity":[{"role":"origin","what":{"reference":"DocumentReference/1"}}]})",
       "Provenance.entity[0].role", "binding",
       "code is not one of derivation, revision, quotation, source, removal"},
      {R"({"resourceType":"Consent","status":"signed","scope":{"text":"x"},"category":[{"text":"x"}],
          "policyRule":{"text":"x"}})",
       "Consent.status", "binding",
       "code is not one of draft, proposed, active, rejected, inactive, entered-in-error"},
      {R"({"resourceType":"AuditEvent","type":{"code":"110106"},"recorded":"2020-01-01T00:00:00Z",
          "agent":[{"requestor":true}],"source":{"observer":{"display":"ehr"}},"outcome":"1"})",
       "AuditEvent.outcome", "binding", "code is not one of 0, 4, 8, 12"},
  });
}

TEST_CASE("invariants") {
  const char* active = R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]})";
  const char* eie = R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"entered-in-error"}]})";
  std::string con5 = std::string(R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":)") +
                     active + R"(,"verificationStatus":)" + eie + "}";
  std::string con4 = std::string(R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":)") +
                     active + R"(,"abatementDateTime":"2020-01-01"})";
  check_cases({
      {R"({"resourceType":"Patient","gender":"male"})", "Patient", "ehr-pat-1",
       "a patient needs at least one identifier or name"},
      {R"({"resourceType":"Patient","identifier":[{"value":"1"}],"contact":[{"gender":"male"}]})",
       "Patient.contact[0]", "pat-1", "a contact needs a name, telecom, address or organization"},
      {con4.c_str(), "Condition.clinicalStatus", "con-4",
       "an abated condition needs clinicalStatus inactive, resolved or remission"},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"abatementString":"gone"})",
       "Condition.clinicalStatus", "con-4",
       "an abated condition needs clinicalStatus inactive, resolved or remission"},
      {con5.c_str(), "Condition.clinicalStatus", "con-5",
       "clinicalStatus must be absent when verificationStatus is entered-in-error"},
      {R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
          "verificationStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},
          "category":[{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}]})",
       "Condition.clinicalStatus", "con-3",
       "clinicalStatus should be present when verificationStatus is not entered-in-error and "
       "category is problem-list-item",
       false},
      {R"({"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p1"}})",
       "AllergyIntolerance.clinicalStatus", "ait-1",
       "clinicalStatus must be present unless verificationStatus is entered-in-error"},
      {R"({"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p1"},
          "clinicalStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
          "verificationStatus":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
          "code":"entered-in-error"}]}})",
       "AllergyIntolerance.clinicalStatus", "ait-2",
       "clinicalStatus must be absent when verificationStatus is entered-in-error"},
      {R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "valueString":"x","dataAbsentReason":{"text":"unknown"}})",
       "Observation.dataAbsentReason", "obs-6",
       "dataAbsentReason must be absent when a value is present"},
      {R"({"resourceType":"Observation","status":"final",
          "code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
          "valueQuantity":{"value":120},
          "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
                        "valueQuantity":{"value":120}}]})",
       "Observation.component[0].code", "obs-7",
       "a value must be absent when a component has the same code as the observation"},
      {R"({"resourceType":"CarePlan","status":"active","intent":"plan",
          "subject":{"reference":"Patient/p1"},
          "activity":[{"reference":{"reference":"Task/1"},"detail":{"status":"completed"}}]})",
       "CarePlan.activity[0]", "cpl-3", "an activity may have a reference or a detail, not both"},
      {R"({"resourceType":"Organization","active":true})", "Organization", "org-1",
       "an organization needs a name or an identifier"},
      {R"({"resourceType":"Organization","name":"x","address":[{"use":"home","city":"x"}]})",
       "Organization.address[0].use", "org-2", "an organization's address can never be of use home"},
      {R"({"resourceType":"Organization","name":"x","telecom":[{"system":"phone","value":"1","use":"home"}]})",
       "Organization.telecom[0].use", "org-3", "an organization's telecom can never be of use home"},
      {R"({"resourceType":"Consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}]})",
       "Consent", "ppc-1", "a consent needs a policy or a policyRule"},
      {R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
          "category":[{"text":"x"}],"policyRule":{"text":"x"}})",
       "Consent.patient", "ppc-2", "a consent with scope patient-privacy needs a patient"},
      {R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/consentscope","code":"research"}]},
          "category":[{"text":"x"}],"policy":[{"uri":"http://x"}]})",
       "Consent.patient", "ppc-3", "a consent with scope research needs a patient"},
      {R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/consentscope","code":"adr"}]},
          "category":[{"text":"x"}],"policyRule":{"text":"x"}})",
       "Consent.patient", "ppc-4", "a consent with scope adr needs a patient"},
      {R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":
          "http://terminology.hl7.org/CodeSystem/consentscope","code":"treatment"}]},
          "category":[{"text":"x"}],"policyRule":{"text":"x"}})",
       "Consent.patient", "ppc-5", "a consent with scope treatment needs a patient"},
      {R"({"resourceType":"AuditEvent","type":{"code":"110106"},"recorded":"2020-01-01T00:00:00Z",
          "agent":[{"requestor":true}],"source":{"observer":{"display":"ehr"}},
          "entity":[{"name":"x"},{"name":"y","query":"eD0x"}]})",
       "AuditEvent.entity[1]", "sev-1", "an entity may have a name or a query, not both"},
  });
  // A problem-list condition entered in error needs no clinicalStatus (con-3).
  CHECK(dump(issues_of(std::string(R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"verificationStatus":)") +
                       eie + R"(,"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}]})")) == "");
}

TEST_CASE("nested resources are validated with their own type's rules and their place in the path") {
  check_cases({
      {R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":
          "Patient","name":[{"family":"D"}]}},{"resource":{"resourceType":"Observation",
          "code":{"text":"x"}}}]})",
       "Bundle.entry[1].resource.status", "required", "required element is missing"},
      {R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
          "contained":[{"resourceType":"Organization","id":"o1"}],
          "medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p1"},
          "performer":{"reference":"#o1"}})",
       "MedicationRequest.contained[0]", "org-1", "an organization needs a name or an identifier"},
      {R"({"resourceType":"Claim","contained":[{"resourceType":"Thing","id":"t"}]})",
       "Claim.contained[0].resourceType", "resource-type", "unknown resource type \"Thing\""},
  });
}

TEST_CASE("errors come before warnings, each in document order") {
  auto issues = issues_of(R"({"resourceType":"Practitioner",
      "identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890"}],
      "name":[{"family":"Doe","given":[" "]}],"gender":"M","birthDate":"1970-02-31"})");
  CHECK(dump(issues) ==
        "error Practitioner.gender: code is not one of male, female, other, unknown [binding]\n"
        "error Practitioner.birthDate: not a valid date (YYYY, YYYY-MM or "
        "YYYY-MM-DD) [date-syntax]\n"
        "warning Practitioner.identifier[0].value: NPI fails its check digit "
        "[npi-check-digit]\n"
        "warning Practitioner.name[0].given[0]: value is only white space [blank-string]\n");
  CHECK(ehr::has_errors(issues));
  CHECK_FALSE(ehr::has_errors({issues[2], issues[3]}));
}

TEST_CASE("messages never quote the resource's values, which end up in logs") {
  // Each value carries the marker 7777 and breaks one rule; the message must
  // name the element and the rule, never the value (ehr-import(1) OUTPUT).
  const char* cases[] = {
      R"({"resourceType":"Patient","birthDate":"7777-13-01"})",
      R"({"resourceType":"Patient","gender":"f7777"})",
      R"({"resourceType":"Patient","id":"mrn_7777"})",
      R"({"resourceType":"Patient","meta":{"versionId":"v/7777"}})",
      R"({"resourceType":"Patient","meta":{"security":[{"system":
          "http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"X7777"}]}})",
      R"({"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi",
          "value":"1234577770"}]})",
      R"({"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi",
          "value":"77770"}]})",
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org",
          "code":"7777-1"}]}})",
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://snomed.info/sct",
          "code":"77770"}]}})",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "subject":{"reference":"Patient?identifier=urn:ssn|999-77-7777 x"}})",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "subject":{"reference":"Ssn7777?identifier=x"}})",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "subject":{"reference":"Patient/7777_1"}})",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
          "subject":{"reference":"#p7777"}})",
      R"({"resourceType":"Observation","status":"f7777","code":{"text":"x"},
          "effectiveDateTime":"2020-01-01T77:77"})",
      R"({"resourceType":"Basic","code":{"text":"x"},"text":{"status":"generated",
          "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><n7777>x</n7777></div>"}})",
      R"({"resourceType":"Basic","code":{"text":"x"},"text":{"status":"generated",
          "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p data-mrn7777=\"1\">x</p></div>"}})",
      R"({"resourceType":"Basic","code":{"text":"x"},"modifierExtension":[{"url":"urn:x7777","valueString":"7777"}]})",
  };
  for (const char* json : cases) {
    CAPTURE(json);
    auto issues = issues_of(json);
    CHECK_FALSE(issues.empty());
    for (const auto& i : issues) CHECK(i.message.find("7777") == std::string::npos);
  }
}

// QA finding (qa9 interop 03): a SUBSETTED copy (a _summary or _elements
// search result) replaced the complete stored resource.
TEST_CASE("a resource tagged SUBSETTED is refused; a nested one is not") {
  check_cases({
      {R"({"resourceType":"Patient","meta":{"tag":[{"system":"http://example.org/t","code":"x"},
          {"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]},
          "name":[{"family":"Doe"}]})",
       "Patient.meta.tag[1]", "subsetted", "an incomplete copy (SUBSETTED): import the full resource"},
  });
  // Another code of the system, or a contained SUBSETTED resource, is fine.
  CHECK(issues_of(R"({"resourceType":"Patient","meta":{"tag":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"REDACTED"}]},"name":[{"family":"Doe"}]})")
            .empty());
  CHECK(dump(issues_of(R"({"resourceType":"Basic","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"c","name":[{"family":"C"}],
      "meta":{"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]}}]})")) ==
        "");
}

// QA finding (qa9 interop 09): a modifierExtension, which may reverse what a
// record says, went in without a word.
TEST_CASE("every modifier extension is a warning naming its place, not its value") {
  CHECK(dump(issues_of(R"({"resourceType":"Observation","status":"final","code":{"text":"k"},
      "modifierExtension":[{"url":"http://lab.example.org/result-invalid","valueString":"s7777"}],
      "component":[{"code":{"text":"c"},"modifierExtension":[{"url":"urn:x","valueBoolean":true},
      {"url":"urn:y","valueBoolean":false}]}]})")) ==
        "warning Observation.modifierExtension[0]: a modifier extension ehr does not know: it may change what "
        "this record means [modifier-extension]\n"
        "warning Observation.component[0].modifierExtension[0]: a modifier extension ehr does not know: it may "
        "change what this record means [modifier-extension]\n"
        "warning Observation.component[0].modifierExtension[1]: a modifier extension ehr does not know: it may "
        "change what this record means [modifier-extension]\n");
  CHECK(ehr::warning_message({"Observation.modifierExtension[0]", "modifier-extension", "m", false}) == "m");
}

// QA finding (qa9 interop 11): text.div was not checked, so scripts and
// event handlers were stored and exported.
TEST_CASE("narratives are one XHTML div of basic formatting with some content (txt-1, txt-2)") {
  auto obs = [](std::string div) {
    std::string escaped;
    for (char c : div) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    }
    return R"({"resourceType":"Basic","code":{"text":"x"},"text":{"status":"generated","div":")" + escaped +
           "\"}}";
  };
  const std::string ns = R"(<div xmlns="http://www.w3.org/1999/xhtml">)";
  const std::string bad = "the narrative is not well-formed XHTML";
  const std::string no_ns = R"(the narrative is not in the XHTML namespace (xmlns="http://www.w3.org/1999/xhtml"))";
  const std::string elements =
      ": FHIR R4 narratives allow only basic HTML formatting (no scripts, styles, forms, frames or objects)";
  const std::string script_url = "the narrative holds a script URL (javascript:): FHIR R4 narratives may not run scripts";
  struct DivCase {
    std::string div, rule, message;
  };
  const std::vector<DivCase> cases = {
      {ns + "<script>alert(1)</script>Glucose</div>", "txt-1", "the narrative holds element script" + elements},
      {ns + R"~(<img src="x" onerror="alert(2)"/>Glucose</div>)~", "txt-1",
       "the narrative holds attribute onerror: FHIR R4 narratives allow only basic HTML formatting attributes (no "
       "event handlers)"},
      {ns + "<iframe/>x</div>", "txt-1", "the narrative holds element iframe" + elements},
      {ns + "<style>p{}</style>x</div>", "txt-1", "the narrative holds element style" + elements},
      {ns + "<P>x</P></div>", "txt-1", "the narrative holds an element that is not basic HTML formatting" + elements},
      {"not xhtml at all <b>unclosed", "txt-1",
       R"(the narrative must be one XHTML <div> element (<div xmlns="http://www.w3.org/1999/xhtml">))"},
      {"<p>x</p>", "txt-1", R"(the narrative must be one XHTML <div> element (<div xmlns="http://www.w3.org/1999/xhtml">))"},
      {"<div>HIV positive</div>", "txt-1", no_ns},
      {R"(<div xmlns="http://example.org/">x</div>)", "txt-1", no_ns},
      {ns + "<b>unclosed</div>", "txt-1", bad + " (an end tag does not match its start tag)"},
      {ns + "<b>unclosed", "txt-1", bad + " (an element is not closed)"},
      {ns + "x</div><p>y</p>", "txt-1", "the narrative has content after its <div> element"},
      {ns + "a & b</div>", "txt-1", bad + " (a bare '&'; write &amp;)"},
      {ns + "a < b</div>", "txt-1", bad + " (a '<' that starts no tag; write &lt;)"},
      {ns + "<p class=x>y</p></div>", "txt-1", bad + " (an attribute value is not quoted)"},
      {ns + R"(<p class="a" class="b">y</p></div>)", "txt-1", bad + " (an attribute given twice)"},
      {ns + "<!-- x </div>", "txt-1", bad + " (a comment is not closed)"},
      {ns + "<?php x ?></div>", "txt-1", bad + " (a '<' that starts no tag; write &lt;)"},
      {ns + R"~(<a href="javascript:alert(1)">x</a></div>)~", "txt-1", script_url},
      {ns + R"~(<a href=" JaVa&#x53;cript&#58;alert(1)">x</a></div>)~", "txt-1", script_url},
      {ns + R"(<a href="data:text/html,x">x</a></div>)", "txt-1", script_url},
      {ns + R"~(<p style="width: expression(alert(1))">x</p></div>)~", "txt-1",
       "the narrative holds a script in a style attribute: FHIR R4 narratives may not run scripts"},
      {ns + "</div>", "txt-2", "the narrative has no content but white space"},
      {ns + " \n&#9;<p> </p><br/></div>", "txt-2", "the narrative has no content but white space"},
      {R"(<div xmlns="http://www.w3.org/1999/xhtml"/>)", "txt-2", "the narrative has no content but white space"},
  };
  for (const DivCase& c : cases) {
    CAPTURE(c.div);
    std::vector<ValidationIssue> want{{"Basic.text.div", c.rule, c.message, true}};
    CHECK(dump(issues_of(obs(c.div))) == dump(want));
  }
  // Real narratives: tables, links, images, entities, comments, style.
  const std::string good[] = {
      ns + "Generated <b>Summary</b>: id: 1; Jane <span title=\"Codes: {http://loinc.org 2345-7}\">Glucose</span></div>",
      ns + "\n&#9;<table class=\"grid\"><thead><tr><th>a</th></tr></thead><tbody><tr><td style=\"color: red\">1"
           "</td></tr></tbody></table><ul><li>x&gt;y &amp; &nbsp;&#x263A;</li></ul></div>",
      ns + "<a name=\"top\"> </a><a href=\"https://example.org/a?b=1&amp;c=2\">x</a><br/><hr />"
           "<img src=\"data:image/png;base64,AAAA\" alt=\"\"/><!-- note --><p xml:lang=\"en\">y</p></div>",
      R"(  <div xmlns='http://www.w3.org/1999/xhtml'><img src="x.png"/></div> )",
  };
  for (const std::string& div : good) {
    CAPTURE(div);
    CHECK(dump(issues_of(obs(div))) == "");
  }
  // Composition.section.text is a Narrative too.
  CHECK(dump(issues_of(R"({"resourceType":"Composition","status":"final","type":{"text":"x"},"date":"2020",
      "author":[{"display":"a"}],"title":"t","section":[{"text":{"status":"generated","div":"<script/>"}}]})")) ==
        "error Composition.section[0].text.div: the narrative must be one XHTML <div> element (<div "
        "xmlns=\"http://www.w3.org/1999/xhtml\">) [txt-1]\n");
}

TEST_CASE("format_issue joins path and message") {
  CHECK(ehr::format_issue({"Observation.code", "loinc-check-digit",
                           "LOINC code fails its check digit", true}) ==
        "Observation.code: LOINC code fails its check digit");
  CHECK(ehr::format_issue({"", "json-type", "a resource must be a JSON object, not null", true}) ==
        "a resource must be a JSON object, not null");
}


TEST_CASE("every resource of the shared real data validates without errors") {
  namespace fs = std::filesystem;
  fs::path root = fs::path(EHR_SOURCE_DIR) / ".." / "shared" / "data";
  if (!fs::is_directory(root)) {
    MESSAGE("skipped: " << root.string() << " is absent (a fresh clone has no ../shared)");
    return;
  }
  size_t resources = 0, errors = 0;
  std::map<std::string, size_t> warnings;
  auto check = [&](const Json& res, const std::string& where) {
    ++resources;
    for (const ValidationIssue& i : ehr::validate_resource(res)) {
      if (i.is_error) {
        ++errors;
        if (errors <= 50) FAIL_CHECK(where << ": " << ehr::format_issue(i) << " [" << i.rule << "]");
      } else {
        ++warnings[i.rule];
      }
    }
  };
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".json" || e.path().extension() == ".ndjson") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::string text = read_file(f);
    if (f.extension() == ".ndjson") {
      std::istringstream lines(text);
      std::string line;
      for (int n = 1; std::getline(lines, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto doc = ehr::parse_json(line);
        REQUIRE_MESSAGE(doc.ok(), f.string() << ":" << n);
        check(*doc, f.filename().string() + ":" + std::to_string(n));
      }
      continue;
    }
    auto doc = ehr::parse_json(text);
    REQUIRE_MESSAGE(doc.ok(), f.string());
    const Json* type = doc->find("resourceType");
    if (type != nullptr && type->is_string() && type->text() == "Bundle") {
      const Json* entries = doc->find("entry");
      if (entries == nullptr) continue;
      for (size_t i = 0; i < entries->items().size(); ++i)
        if (const Json* res = entries->items()[i].find("resource"))
          check(*res, f.filename().string() + " entry " + std::to_string(i));
    } else {
      check(*doc, f.filename().string());
    }
  }
  std::string summary;
  for (const auto& [rule, n] : warnings) summary += " " + rule + "=" + std::to_string(n);
  MESSAGE("validated " << resources << " resources from " << files.size() << " files: " << errors
                       << " errors; warnings:" << (summary.empty() ? " none" : summary));
  CHECK(resources > 0);
  CHECK(errors == 0);
}

}
