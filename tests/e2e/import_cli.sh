#!/usr/bin/env bash
# ehr import from the shell: a transaction Bundle, NDJSON with conditional
# references, Synthea-shaped and mapped CSV; idempotent re-import; and a
# corpus of broken inputs, each with its documented error and exit code and
# the database left exactly as it was.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
"$EHR" key new -o alice.key -q && "$EHR" init -q || fail "init failed"
# An interface engineer's role: imports, and reads back what was loaded.
"$EHR" policy show >policy.yaml
sed -i '/^roles:/a\  integration:\n    description: loads feeds and checks what they loaded\n    allow:\n      - actions: [import, read, search]\n' policy.yaml
"$EHR" policy apply -q policy.yaml || fail "policy apply failed"
"$EHR" key new -o feed.key -q && "$EHR" user add feed --role integration --new-key-file feed.key -q || fail "user add failed"
"$EHR" key new -o doc.key -q && "$EHR" user add doc --role physician --new-key-file doc.key -q || fail "user add failed"
export EHR_USER=feed EHR_KEY_FILE=feed.key

# snapshot: every stored record, with its version (what "unchanged" means).
snapshot() { "$EHR" record list --all --limit 0 --format ndjson 2>/dev/null | sha256sum; }

NPI=http://hl7.org/fhir/sid/us-npi
cat >base.json <<JSON
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Practitioner","identifier":[{"system":"$NPI","value":"9999974493"}],"name":[{"family":"Osler","given":["William"]}]},"request":{"method":"POST","url":"Practitioner","ifNoneExist":"identifier=$NPI|9999974493"}},
 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","resource":{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-1"}],"name":[{"family":"Testperson","given":["Ada"]}],"gender":"female","birthDate":"1970-01-01","generalPractitioner":[{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:33333333-3333-4333-8333-333333333333","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"urn:uuid:22222222-2222-4222-8222-222222222222"},"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}},"request":{"method":"POST","url":"Observation"}}
]}
JSON
run import base.json
expect_code 0
ERR=$(sed -E 's/in [0-9]+\.[0-9] s/in T s/' <<<"$ERR")  # times vary
# Synthea's made-up NPI fails the NPI format: a warning in an Identifier (the
# record is stored as read), named and counted by rule.
expect_err "ehr: warning: base.json: entry 1: Practitioner.identifier[0].value: NPI is malformed (10 digits, the first 1 or 2)
ehr: import: done, 3 records in T s
ehr: imported 1 file (0.0 MB) in T s: 3 records, 3 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected
ehr:   Observation   read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr:   Patient       read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr:   Practitioner  read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr:   warnings: 1 (npi-check-digit 1)"
run record show --patient MRN-1 --format csv
# The import's Provenance names Ada and no other patient: it is part of her
# record (ehr-policy(1), "RECORDS OF A PATIENT").
expect_out "type,id,date,code,display,value,status
Patient,22222222-2222-4222-8222-222222222222,1970-01-01,,Ada Testperson,,
Observation,33333333-3333-4333-8333-333333333333,2026-11-30T08:15:00Z,2345-7,Glucose,5.4 mmol/L,final
$(grep -E '^Provenance,[0-9a-f-]*,20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z,,,,$' <<<"$OUT")"
[ "$(grep -c '^Provenance,' <<<"$OUT")" = 1 ] || fail "the import's Provenance is not in Ada's record: $OUT"
run record show --patient MRN-1 --format ndjson
expect_out_contains '"generalPractitioner":[{"reference":"Practitioner/11111111-1111-4111-8111-111111111111"}]'
BASE=$(snapshot)

# Idempotent: the same Bundle again writes nothing (no new version, no Provenance).
run import --quiet base.json
expect_code 0
expect_err "ehr: warning: base.json: entry 1: Practitioner.identifier[0].value: NPI is malformed (10 digits, the first 1 or 2)"
[ "$(snapshot)" = "$BASE" ] || fail "a second import of the same Bundle changed the database"
run import --report - base.json
expect_code 0
[ "$(jq -c .types.Patient <<<"$OUT")" = '{"read":1,"created":0,"updated":0,"unchanged":1,"skipped":0,"rejected":0}' ] ||
  fail "report: $OUT"

# One Provenance per import that wrote something, naming the user and the file.
run record list --type Provenance --format ndjson
[ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] || fail "expected one Provenance: $OUT"
expect_out_contains '"target":[{"reference":"Practitioner/11111111-1111-4111-8111-111111111111/_history/1"}'
expect_out_contains '"who":{"display":"ehr user feed"}'
expect_out_contains '"what":{"display":"base.json (bundle)"}'

# NDJSON with a conditional reference resolved by identifier, read from stdin,
# split over two types; a DELETE-free upsert; a relative reference kept.
cat >more.ndjson <<JSON
{"resourceType":"Encounter","id":"enc-1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"},"participant":[{"individual":{"reference":"Practitioner?identifier=$NPI|9999974493"}}],"serviceProvider":{"reference":"Organization/not-exported"}}
{"resourceType":"Condition","id":"cond-1","subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"},"encounter":{"reference":"Encounter/enc-1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}}
JSON
"$EHR" import --quiet - <more.ndjson 2>err.txt
CODE=$?
ERR=$(cat err.txt)
expect_code 0
expect_err ""
run record show --patient MRN-1 --type Encounter --format ndjson
expect_out_contains '"individual":{"reference":"Practitioner/11111111-1111-4111-8111-111111111111"}'
expect_out_contains '"serviceProvider":{"reference":"Organization/not-exported"}'

# Synthea-shaped CSV (by header) and mapped CSV with a BOM, quotes, an embedded
# newline and a semicolon delimiter.
mkdir synthea
cat >synthea/patients.csv <<'CSV'
Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE
5c9d0f3a-6a4e-4b8e-9a55-0c3f2c7d1e01,1961-02-28,,999-11-2222,S99912345,,Mr.,Bert,Sample,,,M,white,nonhispanic,M,Springfield  Massachusetts  US,1 Main St,Springfield,Massachusetts,Hampden County,01101,42.1,-72.5,1000.5,200
CSV
cat >synthea/observations.csv <<'CSV'
DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE
2026-11-01T09:00:00Z,5c9d0f3a-6a4e-4b8e-9a55-0c3f2c7d1e01,,vital-signs,29463-7,Body Weight,81.5,kg,numeric
2026-11-01T09:00:00Z,5c9d0f3a-6a4e-4b8e-9a55-0c3f2c7d1e01,,survey,72166-2,Tobacco smoking status,Never smoked tobacco (finding),,text
CSV
run import --quiet --report report.json synthea
expect_code 0
[ "$(jq -c '[.types.Observation.created, .types.Patient.created, [.files[].format]]' report.json)" = \
  '[2,1,["synthea-csv:patients","synthea-csv:observations"]]' ] || fail "synthea report: $(cat report.json)"
run import --quiet synthea
expect_code 0
run import --report - synthea
[ "$(jq -c .types.Observation <<<"$OUT")" = '{"read":2,"created":0,"updated":0,"unchanged":2,"skipped":0,"rejected":0}' ] ||
  fail "report: $OUT"

cat >labs.yaml <<'YAML'
schema: ehr-csv-mapping
version: 1
name: lab-feed
required: [MRN, LOINC, TAKEN]
resources:
  - id: {hash: [MRN, LOINC, TAKEN]}
    resource:
      resourceType: Observation
      status: final
      code: {coding: [{system: http://loinc.org, code: "{LOINC}"}], text: "{NAME}"}
      subject: {reference: "Patient?identifier=urn:oid:2.16.840.1.113883.3.1|{MRN}"}
      effectiveDateTime: "{TAKEN|datetime}"
      valueQuantity: {$if: VALUE, value: "{VALUE|decimal}", unit: "{UNIT}"}
      note: [{$if: COMMENT, text: "{COMMENT}"}]
YAML
printf '\xef\xbb\xbfMRN;LOINC;NAME;TAKEN;VALUE;UNIT;COMMENT\r\nMRN-1;4548-4;"HbA1c; whole blood";2026-11-02 10:00:00Z;6.1;%%;"drawn late;\r\nrepeat ordered"\r\n' >labs.csv
run import --quiet --format csv --mapping labs.yaml --delimiter ';' labs.csv
expect_code 0
run record show --patient MRN-1 --type Observation --format ndjson
expect_out_contains '"text":"HbA1c; whole blood"'
expect_out_contains '"note":[{"text":"drawn late;\r\nrepeat ordered"}]'
BASE=$(snapshot)

STOPPED="ehr: error: import stopped at the first rejected record; its transaction was rolled back"
# --- the broken corpus: each input, its error, exit 65, nothing written -------
broken() {  # file expected-stderr [import options...]
  local file=$1 expected=$2
  shift 2
  run import --quiet "$@" "$file"
  expect_code 65
  expect_err "$expected"
  [ "$(snapshot)" = "$BASE" ] || fail "$file changed the database"
  BASE=$(snapshot)
}
head -c 300 base.json >truncated.json
broken truncated.json "ehr: error: truncated.json:2: column 245: unterminated string
$STOPPED"
echo '{"resourceType":"Patiant","id":"x1"}' >wrong-type.ndjson
broken wrong-type.ndjson 'ehr: error: wrong-type.ndjson:1: Resource.resourceType: unknown resource type "Patiant"
'"$STOPPED"
echo '{"resourceType":"Observation","id":"x2","code":{"text":"Mood"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"}}' >missing.ndjson
broken missing.ndjson "ehr: error: missing.ndjson:1: Observation.status: required element is missing
$STOPPED"
echo '{"resourceType":"Observation","id":"x3","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-8"}]},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"}}' >check-digit.ndjson
broken check-digit.ndjson "ehr: error: check-digit.ndjson:1: Observation.code.coding[0].code: LOINC code fails its check digit
$STOPPED"
cat >dangling.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:44444444-4444-4444-8444-444444444444","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:99999999-9999-4999-8999-999999999999"}},"request":{"method":"POST","url":"Observation"}}]}
JSON
broken dangling.json "ehr: error: dangling.json: entry 1: Observation.subject.reference: dangling reference urn:uuid:99999999-9999-4999-8999-999999999999: no entry of the Bundle has this fullUrl and no stored record this id
$STOPPED"
echo '{"resourceType":"Encounter","id":"x4","status":"finished","class":{"code":"AMB"},"participant":[{"individual":{"reference":"Practitioner?identifier=urn:x|none"}}]}' >dangling-cond.ndjson
broken dangling-cond.ndjson "ehr: error: dangling-cond.ndjson:1: Encounter.participant[0].individual.reference: dangling reference: the conditional reference to Practitioner matches no stored record
$STOPPED"
printf 'MRN;LOINC;NAME;TAKEN\nMRN-1;4548-4;"open;2026-11-03\nMRN-1;4548-4;x;2026-11-04\n' >unbalanced.csv
broken unbalanced.csv "ehr: error: unbalanced.csv:2: unbalanced quote: the quoted field opened on this line is never closed
$STOPPED" --format csv --mapping labs.yaml --delimiter ';'
printf 'MRN;LOINC;NAME;TAKEN\nMRN-1;4548-4;x;2026-11-03;extra\n' >columns.csv
broken columns.csv "ehr: error: columns.csv:2: 5 fields, the header has 4
$STOPPED" --format csv --mapping labs.yaml --delimiter ';'
# A Bundle inside a Bundle is refused (rule nested-bundle), whatever the
# outer type and the entry's request; an empty inner Bundle too (it was
# refused as "Bundle.entry: array has no items"), and a transaction with one
# is refused whole.
echo '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","id":"inner","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"hidden","name":[{"family":"H"}]}}]}}]}' >nested.json
broken nested.json "ehr: error: nested.json: entry 1: Bundle.entry[0].resource: a Bundle inside a Bundle is not imported
$STOPPED"
cat >nested-tx.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:55555555-5555-4555-8555-555555555555","resource":{"resourceType":"Patient","name":[{"family":"Outer"}]},"request":{"method":"POST","url":"Patient"}},
 {"resource":{"resourceType":"Bundle","type":"collection"},"request":{"method":"POST","url":"Bundle"}}]}
JSON
broken nested-tx.json "ehr: error: nested-tx.json: entry 2: Bundle.entry[1].resource: a Bundle inside a Bundle is not imported (the transaction Bundle's 2 entries are not imported)
$STOPPED"
# Two entries with one fullUrl (FHIR bdl-7): the second was dropped quietly
# (counted skipped, exit 0). A transaction is refused whole.
cat >dup-url.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:66666666-6666-4666-8666-666666666666","resource":{"resourceType":"Patient","name":[{"family":"First"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:66666666-6666-4666-8666-666666666666","resource":{"resourceType":"Patient","name":[{"family":"Second"}]},"request":{"method":"POST","url":"Patient"}}]}
JSON
DUP="ehr: error: dup-url.json: entry 2: Bundle.entry[1].fullUrl: fullUrl repeats entry 1's; it must be unique within a Bundle (bdl-7)"
broken dup-url.json "$DUP (the transaction Bundle's 2 entries are not imported)
$STOPPED"
run import --quiet --on-error continue --rejects dup-url.ndjson --report dup-url.report.json dup-url.json
expect_code 3
# (every entry of the refused transaction is read and rejected, as its message says)
[ "$(jq -c '[.total.read, .total.rejected]' dup-url.report.json)" = '[2,2]' ] || fail "report: $(cat dup-url.report.json)"
expect_err "$DUP (the transaction Bundle's 2 entries are not imported)"
[ "$(jq -c '[.entry, .outcome.issue[0].expression[0], .outcome.issue[0].extension[0].valueCode]' dup-url.ndjson)" = \
  '[2,"Bundle.entry[1].fullUrl","bdl-7"]' ] || fail "rejects: $(cat dup-url.ndjson)"
[ "$(snapshot)" = "$BASE" ] || fail "a transaction with a repeated fullUrl changed the database"
printf '{"resourceType":"Patient","id":"x5","name":[{"family":"M\xfcller"}]}\n' >latin1.ndjson
broken latin1.ndjson "ehr: error: latin1.ndjson:1: column 57: invalid UTF-8 in string
$STOPPED"
# QA finding (qa9 interop 02): a history Bundle lists versions newest first;
# applied in file order it left an outdated version current. Refused whole.
cat >history.json <<'JSON'
{"resourceType":"Bundle","type":"history","entry":[
 {"fullUrl":"https://fhir.example.org/r4/Patient/h1","resource":{"resourceType":"Patient","id":"h1","meta":{"versionId":"2"},"name":[{"family":"Newer"}]},"request":{"method":"PUT","url":"Patient/h1"}},
 {"fullUrl":"https://fhir.example.org/r4/Patient/h1","resource":{"resourceType":"Patient","id":"h1","meta":{"versionId":"1"},"name":[{"family":"Older"}]},"request":{"method":"POST","url":"Patient"}}]}
JSON
broken history.json "ehr: error: history.json: Bundle.type: a history Bundle lists versions newest first: import the current versions (a collection or transaction)
$STOPPED"
# A Bundle.type outside R4's codes was imported as a collection.
sed 's/"type":"history"/"type":"collectoin"/' history.json >odd-type.json
broken odd-type.json "ehr: error: odd-type.json: Bundle.type: Bundle.type collectoin is not a FHIR R4 Bundle type (transaction, batch, collection, searchset, document, message)
$STOPPED"
# QA finding (qa9 interop 03): a SUBSETTED copy (a _summary or _elements
# search result) replaced the complete stored record.
echo '{"resourceType":"Patient","id":"22222222-2222-4222-8222-222222222222","meta":{"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]},"name":[{"family":"Testperson"}]}' >subsetted.ndjson
broken subsetted.ndjson "ehr: error: subsetted.ndjson:1: Patient.meta.tag[0]: an incomplete copy (SUBSETTED): import the full resource
$STOPPED"
# QA finding (qa9 interop 11): narratives with scripts, event handlers or no
# XHTML at all went in and out unchanged (txt-1, txt-2).
cat >narrative.ndjson <<'JSON'
{"resourceType":"Observation","id":"xss-1","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"x\" onerror=\"alert(2)\"/>Glucose 5.5</div>"},"status":"final","code":{"text":"Glucose"}}
{"resourceType":"Observation","id":"xss-2","text":{"status":"generated","div":"not xhtml at all <b>unclosed"},"status":"final","code":{"text":"Glucose"}}
{"resourceType":"Observation","id":"xss-3","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"> </div>"},"status":"final","code":{"text":"Glucose"}}
JSON
run import --quiet --on-error continue narrative.ndjson
expect_code 3
expect_err 'ehr: error: narrative.ndjson:1: Observation.text.div: the narrative holds attribute onerror: FHIR R4 narratives allow only basic HTML formatting attributes (no event handlers)
ehr: error: narrative.ndjson:2: Observation.text.div: the narrative must be one XHTML <div> element (<div xmlns="http://www.w3.org/1999/xhtml">)
ehr: error: narrative.ndjson:3: Observation.text.div: the narrative has no content but white space'
[ "$(snapshot)" = "$BASE" ] || fail "narrative.ndjson changed the database"
# A searchset's outcome entry (an OperationOutcome about the search) was
# stored as a record: skipped now. The match entry is imported.
cat >searchset.json <<'JSON'
{"resourceType":"Bundle","type":"searchset","total":1,"entry":[
 {"fullUrl":"https://fhir.example.org/r4/Observation/ss-1","resource":{"resourceType":"Observation","id":"ss-1","status":"final","code":{"text":"Glucose"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"}},"search":{"mode":"match"}},
 {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"page 1 of 2"}]},"search":{"mode":"outcome"}}]}
JSON
run import --quiet --report searchset.report.json searchset.json
expect_code 0
expect_err ""
[ "$(jq -c '[.types.OperationOutcome, .types.Observation.created]' searchset.report.json)" = \
  '[{"read":1,"created":0,"updated":0,"unchanged":0,"skipped":1,"rejected":0},1]' ] || fail "report: $(cat searchset.report.json)"
run record list --all --type OperationOutcome --format csv
[ "$(grep -c '^OperationOutcome,' <<<"$OUT")" = 0 ] || fail "the searchset's outcome was stored: $OUT"
# QA finding (qa9 interop 09): a modifier extension (it may reverse what the
# record says) went in silently; now with a warning naming its place.
echo '{"resourceType":"Observation","id":"mx-k","modifierExtension":[{"url":"http://lab.example.org/result-invalid","valueBoolean":true}],"status":"final","code":{"text":"Potassium"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"}}' >modifier.ndjson
run import --quiet --report modifier.report.json modifier.ndjson
expect_code 0
expect_err "ehr: warning: modifier.ndjson:1: Observation.modifierExtension[0]: a modifier extension ehr does not know: it may change what this record means"
[ "$(jq -c '.warnings_by_rule' modifier.report.json)" = '{"modifier-extension":1}' ] || fail "report: $(cat modifier.report.json)"
BASE=$(snapshot)

# A 1 GiB line, streamed: refused at the record size limit, in bounded memory.
{ printf '{"resourceType":"Binary","contentType":"text/plain","data":"'; head -c 1073741824 /dev/zero | tr '\0' 'A'; printf '"}\n'; } |
  "$EHR" import --quiet - >"$E2E_TMP/out" 2>"$E2E_TMP/err"
CODE=$?
ERR=$(cat "$E2E_TMP/err")
expect_code 65
expect_err "ehr: error: stdin:1: line larger than the record limit of 67108864 bytes (--max-record-size)
$STOPPED"
[ "$(snapshot)" = "$BASE" ] || fail "the 1 GiB line changed the database"

# --- an output file that is an input, or inside an input directory: 64, nothing read or written
# (QA finding: --rejects feed.csv replaced the feed being imported)
cp check-digit.ndjson feed.ndjson
BEFORE_FEED=$(cat feed.ndjson)
run import --quiet --on-error continue --rejects feed.ndjson feed.ndjson
expect_code 64
expect_err "ehr: error: --rejects feed.ndjson: that is an input of this import, which writing it would replace"
[ "$(cat feed.ndjson)" = "$BEFORE_FEED" ] || fail "the input was replaced"
mkdir -p feeddir && cp check-digit.ndjson feeddir/
run import --quiet --report feeddir/report.json feeddir
expect_code 64
expect_err "ehr: error: --report feeddir/report.json: that is inside the input directory feeddir, where a later import would read it as input"
[ ! -e feeddir/report.json ] || fail "the report was written into the input directory"
[ "$(snapshot)" = "$BASE" ] || fail "a refused import changed the database"

# --- go on past rejects: exit 3, the rest committed, rejects as NDJSON ---------
cat check-digit.ndjson missing.ndjson >mixed.ndjson
echo '{"resourceType":"Observation","id":"x6","status":"final","code":{"text":"Mood"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"},"valueString":"good"}' >>mixed.ndjson
run import --quiet --on-error continue --rejects rejects.ndjson mixed.ndjson
expect_code 3
expect_err "ehr: error: mixed.ndjson:1: Observation.code.coding[0].code: LOINC code fails its check digit
ehr: error: mixed.ndjson:2: Observation.status: required element is missing"
[ "$(stat -c %a rejects.ndjson)" = 600 ] || fail "rejects file mode $(stat -c %a rejects.ndjson)"
[ "$(wc -l <rejects.ndjson)" = 2 ] || fail "rejects: $(cat rejects.ndjson)"
grep -q '"line":2,"original":"{\\"resourceType\\":\\"Observation\\",\\"id\\":\\"x2\\"' rejects.ndjson || fail "rejects lack the original line: $(cat rejects.ndjson)"
grep -q '"resourceType":"OperationOutcome","issue":\[{"severity":"error","code":"invalid","diagnostics":"required element is missing","expression":\["Observation.status"\]' rejects.ndjson ||
  fail "rejects lack the OperationOutcome: $(cat rejects.ndjson)"
run record show --patient MRN-1 --type Observation --format csv
expect_out_contains "x6,"
# A batch Bundle with a repeated fullUrl: the repeat is refused, the first goes in.
sed 's/"transaction"/"batch"/' dup-url.json >dup-url-batch.json
run import --quiet --on-error continue --report dup-url.json.report dup-url-batch.json
expect_code 3
expect_err "${DUP/dup-url.json/dup-url-batch.json}"
[ "$(jq -c '[.types.Patient.created, .total.read, .total.rejected, .total.skipped]' dup-url.json.report)" = '[1,2,1,0]' ] ||
  fail "report: $(cat dup-url.json.report)"
run record list --type Patient --format csv
expect_out_contains "Patient,66666666-6666-4666-8666-666666666666,"
# A batch Bundle: the nested Bundle is refused, the other entry goes in.
cat >nested-batch.json <<'JSON'
{"resourceType":"Bundle","type":"batch","entry":[
 {"resource":{"resourceType":"Patient","id":"batch-1","name":[{"family":"Batch"}]},"request":{"method":"PUT","url":"Patient/batch-1"}},
 {"resource":{"resourceType":"Bundle","id":"inner-2","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"hidden-2","name":[{"family":"H"}]}}]},"request":{"method":"PUT","url":"Bundle/inner-2"}}]}
JSON
run import --quiet --on-error continue nested-batch.json
expect_code 3
expect_err "ehr: error: nested-batch.json: entry 2: Bundle.entry[1].resource: a Bundle inside a Bundle is not imported"
run record list --type Bundle --format ndjson
expect_out ""
run record list --type Patient --format csv
expect_out_contains "Patient,batch-1,"
case "$OUT" in *hidden*) fail "a nested Bundle's entry was stored: $OUT" ;; esac
BASE=$(snapshot)

# A file that cannot be read on (a duplicate member, a Bundle cut short, an
# unbalanced quote) is refused whole: one rejected record with its file, line
# and rule, in the summary, the report and the rejects; with --on-error
# continue the other files still go in, and the exit is 65 (unusable input),
# not 0 or 3.
mkdir refused
printf '{"resourceType":"Patient","id":"c","name":[{"family":"C"}]}\n' >refused/a.ndjson
printf '{"resourceType":"Patient","id":"d","name":[{"family":"D"}],"gender":"male","gender":"male"}\n' >refused/b.json
printf '{"resourceType":"Bundle","type":"collection",\n"entry":[{"resource":{"resourceType":"Patient","id":"e","name":[{"family":"E"}]}}]\n' >refused/c.json
run import --on-error continue --rejects refused.ndjson --report refused.json refused
expect_code 65
ERR=$(sed -E 's/in [0-9]+\.[0-9] s/in T s/' <<<"$ERR")
expect_err 'ehr: error: refused/b.json:1: column 76: duplicate member "gender"
ehr: error: refused/c.json:3: column 1: unexpected end of input in object
ehr: import: done, 3 records in T s
ehr: imported 3 files (0.0 MB) in T s: 3 records, 1 created, 0 updated, 0 unchanged, 0 skipped, 2 rejected
ehr:   (unknown)  read         2  created         0  updated       0  unchanged         0  skipped      0  rejected      2
ehr:   Patient    read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr: error: 2 files could not be read and were refused whole; the rest was imported'
[ "$(jq -c '[.exit, .total.rejected, [.files[] | [.path, .rejected, .refused, .error]]]' refused.json)" = \
  '[65,2,[["refused/a.ndjson",0,false,null],["refused/b.json",1,true,"refused/b.json:1: column 76: duplicate member \"gender\""],["refused/c.json",1,true,"refused/c.json:3: column 1: unexpected end of input in object"]]]' ] ||
  fail "report of refused files: $(cat refused.json)"
[ "$(jq -c '[.file, .line, .outcome.issue[0].extension[0].valueCode, .outcome.issue[0].code]' refused.ndjson | tr '\n' ' ')" = \
  '["refused/b.json",1,"json","structure"] ["refused/c.json",3,"json","structure"] ' ] ||
  fail "rejects of refused files: $(cat refused.ndjson)"
run record list --type Patient --format csv
expect_out_contains "Patient,c,"
case "$OUT" in *"Patient,d,"* | *"Patient,e,"*) fail "a refused file was imported: $OUT" ;; esac
BASE=$(snapshot)
# The same with --on-error stop: the first refused file ends the import.
run import --quiet --rejects refused.ndjson --report refused.json refused/b.json refused/c.json
expect_code 65
expect_err "ehr: error: refused/b.json:1: column 76: duplicate member \"gender\"
$STOPPED"
[ "$(jq -c '[.exit, .total.rejected, [.files[].refused]]' refused.json)" = '[65,1,[true]]' ] || fail "report: $(cat refused.json)"
[ "$(jq -c '[.file, .line]' refused.ndjson)" = '["refused/b.json",1]' ] || fail "rejects: $(cat refused.ndjson)"
# A mapped CSV with an unbalanced quote, between two good files; and a dry run.
printf 'MRN;LOINC;NAME;TAKEN\nMRN-1;4548-4;x;2026-11-05\n' >good.csv
run import --quiet --on-error continue --report refused.json --format csv --mapping labs.yaml --delimiter ';' good.csv unbalanced.csv
expect_code 65
expect_err "ehr: error: unbalanced.csv:2: unbalanced quote: the quoted field opened on this line is never closed
ehr: error: 1 file could not be read and was refused whole; the rest was imported"
[ "$(jq -c '[.exit, .total.created, .total.rejected, [.files[].refused]]' refused.json)" = '[65,1,1,[false,true]]' ] ||
  fail "report: $(cat refused.json)"
run import --quiet --dry-run --on-error continue refused/c.json refused/a.ndjson
expect_code 65
expect_err "ehr: error: refused/c.json:3: column 1: unexpected end of input in object
ehr: error: 1 file could not be read and was refused whole; the rest was checked"
[ "$(snapshot)" != "$BASE" ] || fail "the good CSV file was not imported"
BASE=$(snapshot)
# QA findings (docs sweep): a JSON document on one line cut short (ehr export
# --format bundle writes one line) was taken for an NDJSON record, rejected
# alone with exit 3; and a CSV no Synthea table fits (a notes.txt in a feed
# directory) stopped the whole import before anything was read, with no
# report. Both are refused whole now: --on-error continue imports the rest
# and exits 65.
mkdir feed
printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"cut","name":[{"fam' >feed/transfer.json
printf 'This feed was exported on Monday by the night shift.\n' >feed/notes.txt
printf '{"resourceType":"Patient","id":"after-notes","name":[{"family":"N"}]}\n' >feed/z.ndjson
run import --on-error continue --report feed.json feed
expect_code 65
ERR=$(sed -E 's/in [0-9]+\.[0-9] s/in T s/' <<<"$ERR")
expect_err 'ehr: error: feed/notes.txt:1: not a Synthea CSV table this ehr knows (by its header); read it with --mapping FILE
ehr: error: feed/transfer.json:1: column 117: unterminated string
ehr: import: done, 3 records in T s
ehr: imported 3 files (0.0 MB) in T s: 3 records, 1 created, 0 updated, 0 unchanged, 0 skipped, 2 rejected
ehr:   (unknown)  read         2  created         0  updated       0  unchanged         0  skipped      0  rejected      2
ehr:   Patient    read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr: error: 2 files could not be read and were refused whole; the rest was imported'
[ "$(jq -c '[.exit, [.files[] | [.path, .refused]]]' feed.json)" = \
  '[65,[["feed/notes.txt",true],["feed/z.ndjson",false],["feed/transfer.json",true]]]' ] || fail "report: $(cat feed.json)"
# With --on-error stop the table no mapping fits is refused first: nothing is imported.
rm feed/z.ndjson
printf '{"resourceType":"Patient","id":"never","name":[{"family":"N"}]}\n' >feed/y.ndjson
BASE=$(snapshot)
run import --quiet feed
expect_code 65
expect_err "ehr: error: feed/notes.txt:1: not a Synthea CSV table this ehr knows (by its header); read it with --mapping FILE
$STOPPED"
[ "$(snapshot)" = "$BASE" ] || fail "an import stopped by a CSV no table fits wrote"
# An NDJSON file whose first line is bad and that has more lines is not
# refused whole: the bad line is one reject (blank lines between counted).
printf '{"resourceType":"Patient","id":"bad\n\n{"resourceType":"Patient","id":"ok2","name":[{"family":"O"}]}\n' >two.ndjson
run import --quiet --on-error continue --format ndjson two.ndjson
expect_code 3
expect_err "ehr: error: two.ndjson:1: column 36: unterminated string"
run record list --type Patient --format csv
expect_out_contains "Patient,ok2,"
BASE=$(snapshot)

# --- dry run: everything checked, nothing written --------------------------
sed 's/"x6"/"x7"/' mixed.ndjson | tail -1 >new.ndjson
run import --dry-run --report - new.ndjson
expect_code 0
[ "$(jq -c '[.dry_run, .types.Observation.created]' <<<"$OUT")" = '[true,1]' ] || fail "dry-run report: $OUT"
[ "$(snapshot)" = "$BASE" ] || fail "--dry-run wrote"

# --- conflicts ------------------------------------------------------------------
sed 's/"good"/"better"/' new.ndjson | sed 's/"x7"/"x6"/' >changed.ndjson
run import --quiet --on-conflict fail changed.ndjson
expect_code 65
expect_err "ehr: error: changed.ndjson:1: Observation/x6 is stored with other content (--on-conflict update replaces it, skip keeps it)
$STOPPED"
run import --report - --on-conflict skip changed.ndjson
[ "$(jq -c .total.skipped <<<"$OUT")" = 1 ] || fail "report: $OUT"
[ "$(snapshot)" = "$BASE" ] || fail "--on-conflict skip wrote"
run import --quiet changed.ndjson
expect_code 0
run record history Observation/x6 --format csv
[ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ] || fail "an NDJSON upsert made no new version: $OUT"
# Out of order (QA interop finding 02): the source's copy of 10:00 arrives,
# then its older copy of 09:00 (a retry): the older one is skipped as stale,
# with the times compared as instants (08:30-01:00 is 09:30Z); a newer one updates.
x8() {  # VALUE LASTUPDATED
  printf '{"resourceType":"Observation","id":"x8","meta":{"lastUpdated":"%s"},"status":"final","code":{"text":"Mood"},"subject":{"reference":"Patient/22222222-2222-4222-8222-222222222222"},"valueString":"%s"}\n' "$2" "$1"
}
x8 new 2026-03-01T10:00:00Z >x8-new.ndjson
x8 old 2026-03-01T08:30:00-01:00 >x8-old.ndjson
x8 newest 2026-03-01T11:00:00.5+01:00 >x8-newest.ndjson
run import --quiet x8-new.ndjson
expect_code 0
run import x8-old.ndjson
expect_code 0
expect_err_contains "ehr: warning: x8-old.ndjson:1: Observation.meta.lastUpdated: Observation/x8: the source updated this copy at 2026-03-01T09:30:00.000Z, before the stored copy (2026-03-01T10:00:00.000Z): kept the newer"
expect_err_contains "warnings: 1 (stale 1)"
run record history Observation/x8 --format ndjson
[ "$(tail -1 <<<"$OUT" | jq -r .resource.valueString)" = new ] || fail "x8 after the stale copy: $OUT"
# 11:00.5+01:00 is 10:00:00.500Z: newer by half a second.
run import --quiet x8-newest.ndjson
expect_code 0
run record history Observation/x8 --format ndjson
[ "$(jq -r .resource.valueString <<<"$OUT" | tr '\n' ' ')" = "new newest " ] || fail "x8 versions: $OUT"

# --- usage, access, paths and mappings ---------------------------------------
run import --quiet absent.ndjson
expect_code 66
expect_err "ehr: error: absent.ndjson: no such file or directory"
printf 'schema: ehr-csv-mapping\nversion: 1\nname: x\nresources:\n  - resource: {resourceType: Observation, code: "{A|shout}"}\n' >bad-map.yaml
run import --quiet --format csv --mapping bad-map.yaml labs.csv
expect_code 78
expect_err_contains "ehr: error: bad-map.yaml:5:49: unknown filter \"shout\""
run import --quiet --format synthea-csv --mapping labs.yaml labs.csv
expect_code 64

# A --report or --rejects that cannot be written stops the import before
# anything is imported (a report was found unwritable only after the commit).
BASE=$(snapshot)
for bad in /nonexistent/r.json reportdir; do
  mkdir -p reportdir
  run import --quiet --report "$bad" new.ndjson
  expect_code 73
  expect_err "ehr: error: cannot create $bad: $([ "$bad" = reportdir ] && echo 'Is a directory' || echo 'No such file or directory')"
  run import --quiet --rejects "$bad" new.ndjson
  expect_code 73
  [ "$(snapshot)" = "$BASE" ] || fail "an import with --report/--rejects $bad changed the database"
done
[ -z "$(ls -A reportdir)$(ls -d reportdir.tmp-* 2>/dev/null)" ] || fail "files left behind: $(ls -A . reportdir)"

# Unreadable input: a file, a directory named, or one nested in a directory
# named, exits 66 naming it before anything is imported (a directory was
# skipped without a word). Root reads through file modes, so as root ehr
# runs without the capabilities that allow that.
mkdir -p unreadable/locked unreadable/open
cp new.ndjson unreadable/open/a.ndjson
cp new.ndjson unreadable/locked/b.ndjson
cp new.ndjson locked.ndjson
chmod 000 unreadable/locked locked.ndjson
BASE=$(snapshot)
denied=()
[ "$(id -u)" = 0 ] && denied=(setpriv --bounding-set=-dac_override,-dac_read_search)
if "${denied[@]}" cat locked.ndjson >/dev/null 2>&1; then
  echo "SKIP (unreadable input): cannot make a file unreadable here (root without setpriv?)"
else
  run_denied() { "${denied[@]}" "$EHR" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"; CODE=$?; ERR=$(cat "$E2E_TMP/err"); }
  run_denied import --quiet locked.ndjson
  expect_code 66
  expect_err "ehr: error: locked.ndjson: cannot read: Permission denied"
  run_denied import --quiet unreadable/locked
  expect_code 66
  expect_err "ehr: error: unreadable/locked: cannot read: Permission denied"
  run_denied import --quiet --on-error continue unreadable
  expect_code 66
  expect_err "ehr: error: unreadable/locked: cannot read: Permission denied"
  [ "$(snapshot)" = "$BASE" ] || fail "an import with an unreadable directory changed the database"
fi
chmod 755 unreadable/locked
chmod 644 locked.ndjson
EHR_USER=doc EHR_KEY_FILE=doc.key run import --quiet base.json
expect_code 77
expect_err_contains "ehr: error: access denied"

# --- the medication-allergy check of ehr care, on import ----------------------
# Ada (MRN-1) is allergic to penicillin; a feed sends amoxicillin.
RX=http://www.nlm.nih.gov/research/umls/rxnorm
PAT=22222222-2222-4222-8222-222222222222
cat >allergy.ndjson <<JSON
{"resourceType":"AllergyIntolerance","id":"pen-1","patient":{"reference":"Patient/$PAT"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"category":["medication"],"criticality":"high","code":{"coding":[{"system":"$RX","code":"7980","display":"Penicillin G"}]}}
JSON
run import --quiet allergy.ndjson
expect_code 0
cat >amox.ndjson <<JSON
{"resourceType":"MedicationRequest","id":"amox-1","status":"active","intent":"order","subject":{"reference":"Patient/$PAT"},"medicationCodeableConcept":{"coding":[{"system":"$RX","code":"308182","display":"Amoxicillin 250 MG Oral Capsule"}]}}
JSON
BEFORE=$(snapshot)
run import --quiet --strict amox.ndjson
expect_code 65
expect_err "ehr: error: amox.ndjson:1: MedicationRequest/amox-1: high allergy conflict with AllergyIntolerance/pen-1 (--strict refuses it)
ehr: error: import stopped at the first rejected record; its transaction was rolled back"
[ "$(snapshot)" = "$BEFORE" ] || fail "a refused medication was written"
run import --quiet amox.ndjson
expect_code 0
expect_err "ehr: warning: amox.ndjson:1: MedicationRequest/amox-1: high allergy conflict with AllergyIntolerance/pen-1"
[ "$(snapshot)" != "$BEFORE" ] || fail "the medication was not written after the warning"
run import --quiet --strict --report - amox.ndjson
expect_code 0  # unchanged: nothing new is written, so nothing is checked again
[ "$(jq -c .total.unchanged <<<"$OUT")" = 1 ] || fail "re-import of the medication: $OUT"
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action care-alert --format csv
expect_code 0
[ "$(printf '%s\n' "$OUT" | grep -c ",care-alert,")" = 1 ] || fail "no care-alert audit entry: $OUT"
# The refusal under --on-error stop was rolled back with its import, but its
# audit entry stays; under --on-error continue the rest goes in (exit 3).
sed 's/amox-1/amox-2/' amox.ndjson >amox2.ndjson
cat allergy.ndjson >>amox2.ndjson
run import --quiet --strict --on-error continue amox2.ndjson
expect_code 3
expect_err "ehr: error: amox2.ndjson:1: MedicationRequest/amox-2: high allergy conflict with AllergyIntolerance/pen-1 (--strict refuses it)"
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action create --format csv
expect_code 0
[ "$(printf '%s\n' "$OUT" | grep -c ",create,refused,")" = 2 ] || fail "not two refused creates audited: $OUT"
# A dry run refuses nothing for real: no refused create is audited.
sed 's/amox-1/amox-3/' amox.ndjson >amox3.ndjson
run import --quiet --dry-run --strict --on-error continue amox3.ndjson
expect_code 3
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action create --format csv
[ "$(printf '%s\n' "$OUT" | grep -c ",create,refused,")" = 2 ] || fail "a dry run audited a refused create: $OUT"
case "$OUT" in *enicillin* | *moxicillin*) fail "drug names in the audit trail: $OUT" ;; esac

# --- an element R4 does not define: kept, with a warning naming it -----------
# (real US Core examples carry Period.stop and Attachment.link); exit 0.
cat >odd.ndjson <<JSON
{"resourceType":"Observation","id":"odd-1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/$PAT"},"effectivePeriod":{"start":"2020-01-01","stop":"2020-01-02"}}
JSON
run import --quiet --report odd-report.json odd.ndjson
expect_code 0
expect_err "ehr: warning: odd.ndjson:1: Observation.effectivePeriod.stop: not an element of Period in FHIR R4 (kept)"
[ "$(jq -c '[.total.created, .warnings]' odd-report.json)" = "[1,1]" ] || fail "odd import report: $(cat odd-report.json)"
run record list --type Observation --all --limit 0 --format ndjson
[ "$(printf '%s\n' "$OUT" | jq -c 'select(.id == "odd-1") | .effectivePeriod.stop')" = '"2020-01-02"' ] \
  || fail "the unknown element was not kept: $OUT"
# Every validation warning is named (five of each rule, so that a flood of
# one kind hides no other) and counted by rule; the records go in as read.
for i in 1 2 3 4 5 6 7 8; do
  echo "{\"resourceType\":\"Practitioner\",\"id\":\"npi-$i\",\"identifier\":[{\"system\":\"$NPI\",\"value\":\"123456789$i\"}]}"
done >warn.ndjson
cat >>warn.ndjson <<JSON
{"resourceType":"Practitioner","id":"npi-9","identifier":[{"system":"$NPI","value":"1234567893"}],"name":[{"family":" "}]}
{"resourceType":"Observation","id":"odd-9","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/$PAT"},"effectivePeriod":{"start":"2020-01-01","stop":"2020-01-02"}}
JSON
run import --report warn-report.json warn.ndjson
expect_code 0
ERR=$(sed -E 's/in [0-9]+\.[0-9] s/in T s/' <<<"$ERR")
expect_err "ehr: warning: warn.ndjson:1: Practitioner.identifier[0].value: NPI fails its check digit
ehr: warning: warn.ndjson:2: Practitioner.identifier[0].value: NPI fails its check digit
ehr: warning: warn.ndjson:4: Practitioner.identifier[0].value: NPI fails its check digit
ehr: warning: warn.ndjson:5: Practitioner.identifier[0].value: NPI fails its check digit
ehr: warning: warn.ndjson:6: Practitioner.identifier[0].value: NPI fails its check digit
ehr: warning: warn.ndjson:9: Practitioner.name[0].family: value is only white space
ehr: warning: warn.ndjson:10: Observation.effectivePeriod.stop: not an element of Period in FHIR R4 (kept)
ehr: import: done, 10 records in T s
ehr: warning: ... and 2 more warnings (counted by rule below)
ehr: imported 1 file (0.0 MB) in T s: 10 records, 10 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected
ehr:   Observation   read         1  created         1  updated       0  unchanged         0  skipped      0  rejected      0
ehr:   Practitioner  read         9  created         9  updated       0  unchanged         0  skipped      0  rejected      0
ehr:   warnings: 9 (blank-string 1, npi-check-digit 7, unknown-element 1)"
[ "$(jq -c '[.total.created, .warnings, .warnings_by_rule]' warn-report.json)" = \
  '[10,9,{"blank-string":1,"npi-check-digit":7,"unknown-element":1}]' ] || fail "warn import report: $(cat warn-report.json)"
# A record written here is held to R4 (65, nothing written), but one that
# came in with such an element can still be amended and retracted.
EHR_USER=alice EHR_KEY_FILE=alice.key run patient team add "$PAT" doc -q
expect_code 0
jq -c '.id = "odd-2" | .code.text = "y"' odd.ndjson >odd2.json
EHR_USER=doc EHR_KEY_FILE=doc.key run record add --json odd2.json
expect_code 65
expect_err "ehr: error: Observation.effectivePeriod.stop: not an element of Period in FHIR R4"
EHR_USER=doc EHR_KEY_FILE=doc.key run record amend Observation/odd-1 --status amended --reason "checked"
expect_code 0
jq -c '.valueStrin = "z"' odd.ndjson >odd3.json
EHR_USER=doc EHR_KEY_FILE=doc.key run record amend Observation/odd-1 --json odd3.json --reason "x"
expect_code 65
expect_err "ehr: error: Observation.valueStrin: not an element of Observation in FHIR R4"
EHR_USER=doc EHR_KEY_FILE=doc.key run record retract Observation/odd-1 --reason "wrong patient"
expect_code 0

# --- the audit trail: one entry per chunk, no file names, no content ----------
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action import --format csv
expect_code 0
case "$OUT" in *base.json* | *labs.csv* | *Testperson* | *HbA1c*) fail "file names or content in the audit trail: $OUT" ;; esac
[ "$(printf '%s\n' "$OUT" | grep -c ',import,')" -ge 6 ] || fail "too few import entries: $OUT"

# --- matching by identifier: only the same patient's record with the same code --
# QA (interop 06): a lab stamps every result of one specimen with its
# accession number; a potassium sharing the stored glucose's was taken for
# it (the glucose replaced), and another patient's result with that number
# moved the record into that patient's chart, with exit 0 and no warning.
# Now both are kept, with a warning naming both records and no values.
new_clinic ident.db
export EHR_USER=svc EHR_KEY_FILE=svc.key
dump() { rm -rf dump && "$EHR" -q export --out dump >/dev/null 2>&1 && cat dump/*.ndjson; }
ACC='"identifier":[{"system":"http://lab.example.org/accession","value":"A100"}]'
cat >ident-p.ndjson <<JSON
{"resourceType":"Patient","id":"kid-1","name":[{"family":"Family","given":["Kid"]}],"gender":"male","birthDate":"2015-01-01"}
{"resourceType":"Patient","id":"mom-1","name":[{"family":"Family","given":["Mom"]}],"gender":"female","birthDate":"1985-01-01"}
{"resourceType":"Observation","id":"acc-glu",$ACC,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/kid-1"},"valueQuantity":{"value":5.0,"unit":"mmol/L"}}
JSON
sed -e 's/acc-glu/acc-k/' -e 's/2345-7/2823-3/' -e 's/5.0/4.1/' ident-p.ndjson | tail -1 >ident-k.ndjson
sed -e 's/acc-glu/acc-mom/' -e 's/kid-1/mom-1/' -e 's/5.0/12.0/' ident-p.ndjson | tail -1 >ident-m.ndjson
sed -e 's/acc-glu/fac2-glu/' ident-p.ndjson | tail -1 >ident-copy.ndjson
run import --quiet ident-p.ndjson
expect_code 0
run import --quiet --dry-run ident-m.ndjson
expect_code 0
expect_err "ehr: warning: ident-m.ndjson:1: Observation.identifier: an identifier of this record is held by stored Observation/acc-glu, which belongs to another patient: stored as Observation/acc-mom, the stored record not changed"
run import --quiet ident-k.ndjson
expect_code 0
expect_err "ehr: warning: ident-k.ndjson:1: Observation.identifier: an identifier of this record is held by stored Observation/acc-glu, which has another code: stored as Observation/acc-k, the stored record not changed"
run import --quiet ident-m.ndjson
expect_code 0
expect_err "ehr: warning: ident-m.ndjson:1: Observation.identifier: its identifiers match several stored Observation records (acc-glu and acc-k); stored as Observation/acc-mom"
[ "$(dump | jq -r 'select(.resourceType == "Observation") | [.id, .subject.reference, .code.coding[0].code, .meta.versionId] | join(" ")' | sort)" = \
  "acc-glu Patient/kid-1 2345-7 1
acc-k Patient/kid-1 2823-3 1
acc-mom Patient/mom-1 2345-7 1" ] || fail "a record matched by a shared identifier was changed: $(dump)"
# Another source's copy of the same result (same patient, same code) is
# still found by the identifier, which three stored results now share; the
# same files again change nothing.
IDENT=$(dump | sha256sum)
run import --report - ident-copy.ndjson ident-k.ndjson ident-m.ndjson
expect_code 0
[ "$(jq -c '[.total.unchanged, .total.created, .warnings]' <<<"$OUT")" = "[3,0,0]" ] || fail "re-import report: $OUT"
[ "$(dump | sha256sum)" = "$IDENT" ] || fail "a re-import changed the database"
export EHR_DB=clinic.db

# --- absolute references to another server -------------------------------------
# QA (interop 04): https://lab.example.net/fhir/Patient/p1 (the lab's patient)
# was taken for the Patient/p1 stored here, filing the lab's result in her
# chart; and two entries with fullUrls on two servers but one Patient/x1
# became one record. The reference is now kept as written and links to no
# record here (with a warning), and the second entry is a conflict.
export EHR_DB=ident.db
cat >ident-lab.ndjson <<'JSON'
{"resourceType":"Observation","id":"lab-o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"https://lab.example.net/fhir/Patient/kid-1"},"valueQuantity":{"value":22.2,"unit":"mmol/L"}}
JSON
run import --quiet ident-lab.ndjson
expect_code 0
expect_err "ehr: warning: ident-lab.ndjson:1: Observation.subject.reference: a reference to a Patient on another server (https://lab.example.net/fhir): kept as written, linked to no record here"
rm -rf kid && "$EHR" -q export --patient kid-1 --out kid >/dev/null 2>&1 || fail "export --patient kid-1 failed"
case "$(cat kid/*.ndjson)" in *lab-o1*) fail "the lab's result is in the chart of the Patient/kid-1 stored here" ;; esac
[ "$(dump | jq -r 'select(.id == "lab-o1") | .subject.reference')" = "https://lab.example.net/fhir/Patient/kid-1" ] ||
  fail "the absolute reference was not kept as written: $(dump)"
cat >ident-coll.json <<'JSON'
{"resourceType":"Bundle","type":"collection","entry":[
 {"fullUrl":"https://a.example.org/fhir/Patient/x1","resource":{"resourceType":"Patient","id":"x1","name":[{"family":"Absolute","given":["Ann"]}],"gender":"female","birthDate":"1960-01-01"}},
 {"fullUrl":"https://a.example.org/fhir/Observation/o1","resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"https://a.example.org/fhir/Patient/x1"},"valueQuantity":{"value":5.0,"unit":"mmol/L"}}},
 {"fullUrl":"https://b.example.com/fhir/Patient/x1","resource":{"resourceType":"Patient","id":"x1","name":[{"family":"Different","given":["Person"]}],"gender":"male","birthDate":"1999-09-09"}}
]}
JSON
IDENT=$(dump | sha256sum)
run import --quiet ident-coll.json
expect_code 65
expect_err "ehr: error: ident-coll.json: entry 3: Bundle.entry[2].fullUrl: Patient/x1 is also entry 1's, whose fullUrl is on another server (https://a.example.org/fhir and https://b.example.com/fhir): two servers' resources cannot be one record
$STOPPED"
[ "$(dump | sha256sum)" = "$IDENT" ] || fail "a refused Bundle wrote"
run import --quiet --on-error continue ident-coll.json
expect_code 3
[ "$(dump | jq -r 'select(.id == "x1" or .id == "o1") | [.id, .name[0].family // .subject.reference] | join(" ")' | sort)" = \
  "o1 Patient/x1
x1 Absolute" ] || fail "the first server's entries: $(dump)"
export EHR_DB=clinic.db

# --- a POST whose id is another stored record's -------------------------------
# QA (interop 01): a transaction's POST Patient/123 (another hospital's
# patient) was "skipped" because a different Patient/123 was stored, and the
# Bundle's Observation referring to Patient/123 went into that person's
# chart. FHIR's create ignores a POSTed id: the entry is now created under an
# id of its own, and the Bundle's references to it follow.
export EHR_DB=ident.db
cat >ident-a.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"http://src.example.org/fhir/Patient/123","resource":{"resourceType":"Patient","id":"123","name":[{"family":"Posterior","given":["Paul"]}],"gender":"male","birthDate":"1955-05-05"},"request":{"method":"POST","url":"Patient"}}
]}
JSON
cat >ident-b.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"http://other.example.com/fhir/Patient/123","resource":{"resourceType":"Patient","id":"123","name":[{"family":"Wong","given":["Mei"]}],"gender":"female","birthDate":"2001-02-03"},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"http://other.example.com/fhir/Observation/77","resource":{"resourceType":"Observation","id":"77","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/123"},"valueQuantity":{"value":9.9,"unit":"mmol/L"}},"request":{"method":"POST","url":"Observation"}}
]}
JSON
run import --quiet ident-a.json
expect_code 0
run import --quiet ident-b.json
expect_code 0
NEW=$(dump | jq -r 'select(.name[0].family? == "Wong") | .id')
expect_err "ehr: warning: ident-b.json: entry 1: Patient.id: Patient/123 is stored as another record, whose demographics do not match (no-match, score -15): this POST creates Patient/$NEW, and the Bundle's references to the entry follow it"
[ "$(dump | jq -r 'select(.id == "123" or .id == "77" or .id == "'"$NEW"'") | [.id, .name[0].family // .subject.reference, .meta.versionId] | join(" ")' | sort)" = \
  "$(printf '%s\n' "123 Posterior 1" "77 Patient/$NEW 1" "$NEW Wong 1" | sort)" ] || fail "the second hospital's patient and result: $(dump)"
# Again: found by the same ids, nothing written, no warning.
IDENT=$(dump | sha256sum)
run import --report - ident-b.json
expect_code 0
[ "$(jq -c '[.total.unchanged, .total.created, .warnings]' <<<"$OUT")" = "[2,0,0]" ] || fail "re-import report: $OUT"
[ "$(dump | sha256sum)" = "$IDENT" ] || fail "a re-import changed the database"
# The same patient sent again with other content (a new phone: alike, a
# possible match) is still the stored one: the POST keeps it (skipped), as
# before.
jq -c '.entry[0].resource.telecom = [{"system":"phone","value":"555-0100"}]' ident-a.json >ident-a2.json
run import --report - ident-a2.json
expect_code 0
[ "$(jq -c '[.total.skipped, .total.created, .warnings]' <<<"$OUT")" = "[1,0,0]" ] || fail "edited copy report: $OUT"
# A POSTed Observation/77 of another patient (kid-1) while 77 is Mei's
# result: refused (conflict), the transaction whole, nothing written.
IDENT=$(dump | sha256sum)
jq -c '.entry |= [.[1] | .resource.subject.reference = "Patient/kid-1"]' ident-b.json >ident-c.json
run import --quiet ident-c.json
expect_code 65
expect_err "ehr: error: ident-c.json: entry 1: Observation/77 is stored as another record, which belongs to another patient: this POST cannot take its id (the Bundle's references to the entry would land on it)
$STOPPED"
[ "$(dump | sha256sum)" = "$IDENT" ] || fail "a refused POST wrote"
export EHR_DB=clinic.db

# --- a result ahead of its registration (QA interop finding 07) --------------
# A lab feed names the patient only by MRN, before the ADT feed registers
# them: the result was stored in no chart for good, without a word. Now a
# warning says it waits, and the Patient imported later brings it into the
# chart, with an audit entry (action link) naming it.
export EHR_DB=clinic.db EHR_USER=feed EHR_KEY_FILE=feed.key
cat >early-lab.ndjson <<'JSON'
{"resourceType":"Observation","id":"early-k","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},"subject":{"identifier":{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-LATE"}},"effectiveDateTime":"2026-12-01T07:00:00Z","valueQuantity":{"value":6.1,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
JSON
run import --quiet early-lab.ndjson
expect_code 0
expect_err "ehr: warning: early-lab.ndjson:1: Observation: names its patient only by an identifier that no one stored patient holds: it is in no chart until a Patient holding that identifier is imported (ehr-policy(1), RECORDS OF A PATIENT)"
run record show --patient MRN-LATE
expect_code 1
expect_err "ehr: error: no patient MRN-LATE"
cat >late-adt.ndjson <<'JSON'
{"resourceType":"Patient","id":"late-1","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-LATE"}],"name":[{"family":"Later","given":["Lee"]}],"gender":"male","birthDate":"1961-02-03"}
JSON
run import --quiet late-adt.ndjson
expect_code 0
expect_err ""
run record show --patient MRN-LATE --format csv
expect_code 0
[ "$(grep -v '^Provenance,' <<<"$OUT")" = "type,id,date,code,display,value,status
Patient,late-1,1961-02-03,,Lee Later,,
Observation,early-k,2026-12-01T07:00:00Z,2823-3,Potassium,6.1 mmol/L,final" ] || fail "the early result is not in the chart: $OUT"
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action link --format ndjson
expect_code 0
[ "$(jq -c '[.user, .outcome, .patients, .resources, .count, .detail]' <<<"$OUT")" = \
  '["feed","ok","late-1","Observation/early-k",1,"by identifier"]' ] || fail "audit of the link: $OUT"
# Imported again: nothing waits, nothing is linked twice.
run import --quiet early-lab.ndjson late-adt.ndjson
expect_code 0
expect_err ""
EHR_USER=alice EHR_KEY_FILE=alice.key run audit show --action link --format ndjson
[ "$(wc -l <<<"$OUT")" = 1 ] || fail "linked twice: $OUT"
# A file with the result before its Patient links it in the same import:
# no warning (it warned that the result was in no chart).
cat >same-file.ndjson <<'JSON'
{"resourceType":"Observation","id":"early-3","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},"subject":{"identifier":{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-SAME"}},"effectiveDateTime":"2026-12-02T07:00:00Z","valueQuantity":{"value":4.1,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Patient","id":"same-1","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-SAME"}],"name":[{"family":"Sameday","given":["Sol"]}],"gender":"female","birthDate":"1984-07-08"}
JSON
run import --quiet same-file.ndjson
expect_code 0
expect_err ""
run record show --patient MRN-SAME --format csv
[ "$(grep -c '^Observation,early-3,' <<<"$OUT")" = 1 ] || fail "early-3 not in the chart: $OUT"
# record add says the same of a record it stores in no chart (it said nothing).
export EHR_USER=alice EHR_KEY_FILE=alice.key
"$EHR" policy show >policy2.yaml
sed -i '/^roles:/a\  abstractor:\n    description: enters results from paper reports\n    allow:\n      - actions: [create]\n' policy2.yaml
"$EHR" policy apply -q policy2.yaml || fail "policy apply failed"
"$EHR" key new -o abs.key -q && "$EHR" user add abs --role abstractor --new-key-file abs.key -q || fail "user add failed"
sed 's/"early-k"/"early-2"/; s/MRN-LATE/MRN-LATER/' early-lab.ndjson >early-2.json
EHR_USER=abs EHR_KEY_FILE=abs.key run record add --json early-2.json
expect_code 0
expect_out "Observation/early-2"
expect_err "ehr: warning: Observation/early-2 names its patient only by an identifier that no one stored patient holds: it is in no chart until a Patient holding that identifier is imported (ehr-policy(1), RECORDS OF A PATIENT)"

finish
