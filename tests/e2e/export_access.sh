#!/usr/bin/env bash
# ehr export and the access policy, record by record (QA report 4, items 2
# and 3): a role the policy limits to some elements gets CSV columns only
# from what it may see (no patient from a withheld subject, in Type.csv or
# deleted.csv), as the NDJSON export labels the same records REDACTED; the
# service role's whole-database export withholds the records labelled
# restricted or psychotherapy that it has no clearance for, counts them on
# stderr (also with --quiet), in the manifest and in the audit trail, and
# exits 0; a role without export on a type asked for still gets 77, and a
# one-patient Bundle still fails on a withheld record.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
"$EHR" key new -o res.key -q && "$EHR" user add res --role auditor --new-key-file res.key -q || fail "user add failed"
"$EHR" key new -o doc.key -q && "$EHR" user add doc --role physician --new-key-file doc.key -q || fail "user add failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key
# add FILE: each line of FILE recorded by the physician doc (fixed ids, no import Provenance).
add() {
  while IFS= read -r line; do
    printf '%s\n' "$line" >one.json
    EHR_USER=doc EHR_KEY_FILE=doc.key "$EHR" record add --json one.json -q >/dev/null || fail "record add: $line"
  done <"$1"
}

mask_times() { sed -E 's/in [0-9]+\.[0-9] s/in T s/g; s/[0-9]+\.[0-9] MB/M MB/'; }
lu() { sed -E 's/,1,20[0-9-]{8}T[0-9:.]{12}Z,/,1,LU,/'; }
ids() { cat "$@" | jq -r '"\(.resourceType)/\(.id)"' | sort | tr '\n' ' '; }

cat >data.ndjson <<'JSON'
{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:ehr:mrn","value":"M1"}],"name":[{"family":"Alpha","given":["Ann"]}],"gender":"female","birthDate":"1960-05-01"}
{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-01","valueQuantity":{"value":72.5,"unit":"kg"}}
{"resourceType":"Observation","id":"obs-2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-02-01","valueQuantity":{"value":71,"unit":"kg"}}
JSON
add data.ndjson

# --- a role limited to some elements: CSV columns only from what it may see --------------
EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" policy show >policy.yaml || fail "policy show"
cat >researcher.yaml <<'YAML'
  researcher:
    description: exports observations without who they are about
    allow:
      - actions: [export]
        types: [Observation]
        fields: [status, code]
YAML
sed '/^roles:$/r researcher.yaml' policy.yaml >policy2.yaml
EHR_USER=admin EHR_KEY_FILE=admin.key run policy apply policy2.yaml -q
expect_code 0
EHR_USER=admin EHR_KEY_FILE=admin.key run user grant res --role researcher -q
expect_code 0
T0=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
sleep 0.01
EHR_USER=doc EHR_KEY_FILE=doc.key run record retract Observation/obs-2 --reason 'wrong patient' -q
expect_code 0
EHR_USER=res EHR_KEY_FILE=res.key run export --type Observation --out nd
expect_code 0
[ "$(jq -c . nd/Observation.001.ndjson | sed -E 's/"lastUpdated":"[^"]*"/"lastUpdated":"LU"/')" = \
  '{"resourceType":"Observation","id":"obs-1","meta":{"versionId":"1","lastUpdated":"LU","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"REDACTED","display":"redacted"}]},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}]}}' ] ||
  fail "ndjson: $(cat nd/Observation.001.ndjson)"
EHR_USER=res EHR_KEY_FILE=res.key run export --type Observation --format csv --out cs
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 1 resource to cs: 2 files (M MB) in T s"
[ "$(lu <cs/Observation.csv)" = "$(printf '%s\r\n' \
  'patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit' \
  ',Observation,obs-1,1,LU,,final,http://loinc.org,29463-7,Body weight,,')" ] ||
  fail "Observation.csv shows what the policy withholds: $(cat -A cs/Observation.csv)"
EHR_USER=res EHR_KEY_FILE=res.key run export --type Observation --format csv --since "$T0" --out csd -q
expect_code 0
expect_err ""
[ "$(cat csd/deleted.csv)" = "$(printf '%s\r\n' 'type,id,patient' 'Observation,obs-2,')" ] ||
  fail "deleted.csv shows the withheld patient: $(cat -A csd/deleted.csv)"
# The service role sees the patient column as stored.
run export --type Observation --format csv --since "$T0" --out csd-svc -q
expect_code 0
[ "$(cat csd-svc/deleted.csv)" = "$(printf '%s\r\n' 'type,id,patient' 'Observation,obs-2,p1')" ] ||
  fail "deleted.csv (service): $(cat -A csd-svc/deleted.csv)"

# --- records the service role has no clearance for: withheld, counted, exit 0 -----------
run export --out before
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 2 resources to before: 3 files (M MB) in T s"
jq -e '.extension | has("withheld") | not' before/manifest.json >/dev/null || fail "manifest: $(jq -c .extension before/manifest.json)"
cat >labelled.ndjson <<'JSON'
{"resourceType":"Observation","id":"obs-r","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-01","valueQuantity":{"value":70,"unit":"/min"}}
{"resourceType":"DocumentReference","id":"note-p","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSYTHPN"}]},"status":"current","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"contentType":"text/plain","data":"c2Vzc2lvbg=="}}]}
JSON
add labelled.ndjson
run export --out after
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 2 resources to after: 3 files (M MB) in T s
ehr: warning: 2 records withheld by the access policy (not exported; counted in the manifest)"
[ "$(ids after/*.ndjson)" = "Observation/obs-1 Patient/p1 " ] || fail "after: $(ids after/*.ndjson)"
[ "$(jq -c .extension.withheld after/manifest.json)" = 2 ] || fail "manifest: $(jq -c .extension after/manifest.json)"
run export --quiet --format csv --out after-csv
expect_code 0
expect_err "ehr: warning: 2 records withheld by the access policy (not exported; counted in the manifest)"
[ "$(ls after-csv | tr '\n' ' ')" = "Observation.csv Patient.csv manifest.json " ] || fail "after-csv: $(ls after-csv)"
# A job's nightly run succeeds too.
run export --quiet --job nightly --out night1
expect_code 0
expect_err "ehr: warning: 2 records withheld by the access policy (not exported; counted in the manifest)"
EHR_USER=admin EHR_KEY_FILE=admin.key run audit show --action export --user svc --format csv
expect_code 0
expect_out_contains "bulk export: 2 resources, 0 deleted, 2 files, 1 patients, 2 withheld"
# Only the labelled record's type asked for: nothing exported, still 0.
run export --type DocumentReference --out docs
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 0 resources to docs: 1 file (M MB) in T s
ehr: warning: 1 record withheld by the access policy (not exported; counted in the manifest)"
# No export permission on a type asked for: still 77, nothing written.
EHR_USER=res EHR_KEY_FILE=res.key run export --type Patient --out res-patients
expect_code 77
expect_err_contains "ehr: error: access denied: user res (roles: auditor researcher) may not export Patient"
[ ! -e res-patients ] || fail "a denied export left a directory"
# A one-patient Bundle is the whole record: a withheld record still fails it.
run export --format bundle --patient p1 -o p1.json
expect_code 77
expect_err_contains "ehr: error: access denied: user svc (roles: service) may not export DocumentReference of patient p1"
[ ! -e p1.json ] || fail "a denied Bundle was written"

finish
