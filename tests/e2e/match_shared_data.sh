#!/usr/bin/env bash
# Issue 10 on real data: the Synthea patients of ../shared/data (the R4
# Bundles and the CSV directory), imported a second time as another
# facility would send them (every patient under a new id, with only that
# facility's MRN: no SSN, licence or passport to find them by), are each
# linked to themselves with --match auto: no patient is created, none is
# queued, and the other records are found unchanged. Skips without
# the data.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
skip_unless_shared_data
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
DATA=$(cd "$(shared_data)" && pwd)
new_clinic match.db
export EHR_USER=svc EHR_KEY_FILE=svc.key

run import --quiet "$DATA/fhir-bundles/synthea-r4" "$DATA/synthea-csv"
expect_code 0
"$EHR" export --quiet --plaintext --type Patient --out first || fail "export failed"
PATIENTS=$(cat first/Patient.*.ndjson | jq -s length)

# Facility B's copy. Bundles: each patient's id replaced everywhere in its
# file (ids, fullUrls, references, the Synthea identifier) and its
# identifiers replaced by one B MRN. CSV: the same for patients.csv's Id in
# every table, SSN, DRIVERS and PASSPORT emptied.
MRN=urn:oid:2.16.840.1.113883.19.5.99
mkdir -p b/bundles b/csv
n=0
for f in "$DATA"/fhir-bundles/synthea-r4/*.json; do
  pid=$(jq -r 'if .resourceType == "Bundle" then (.entry[].resource | select(.resourceType == "Patient") | .id) else empty end' "$f")
  [ -n "$pid" ] || continue
  n=$((n + 1))
  sed "s/$pid/b$pid/g" "$f" |
    jq --arg sys $MRN --arg v "B-$n" \
      '.entry |= map(if .resource.resourceType == "Patient" then .resource.identifier = [{"system": $sys, "value": $v}] else . end)' \
      >"b/bundles/$n.json"
done
BUNDLE_PATIENTS=$n
cp "$DATA"/synthea-csv/*.csv b/csv/
script=""
for pid in $(tail -n +2 "$DATA/synthea-csv/patients.csv" | cut -d, -f1); do script+="s/$pid/b$pid/g;"; done
sed -i "$script" b/csv/*.csv
awk -F, -v OFS=, 'NR > 1 { $4 = ""; $5 = ""; $6 = "" } { print }' b/csv/patients.csv >b/csv/p && mv b/csv/p b/csv/patients.csv
CSV_PATIENTS=$(($(wc -l <b/csv/patients.csv) - 1))
[ "$BUNDLE_PATIENTS" -ge 10 ] && [ "$CSV_PATIENTS" -ge 20 ] || fail "too few patients: $BUNDLE_PATIENTS, $CSV_PATIENTS"

run import --match auto --report bundles.json b/bundles
expect_code 0
[ "$(jq -c '[.linked, .queued, .types.Patient.created]' bundles.json)" = "[$BUNDLE_PATIENTS,0,0]" ] ||
  fail "Bundles: $(jq -c '[.linked, .queued, .types.Patient, .matches]' bundles.json)"
# Every link is to the same person: B's id is "b" + the stored id.
[ "$(jq '[.matches[] | select(.incoming != "b" + .patient or .result != "match")] | length' bundles.json)" = 0 ] ||
  fail "a patient linked to someone else: $(jq -c .matches bundles.json)"
# The rest of each Bundle is the same records: found, nothing created.
[ "$(jq '.total.created' bundles.json)" = 0 ] || fail "records created: $(jq -c .types bundles.json)"

run import --match auto --report csv.json b/csv
expect_code 0
[ "$(jq -c '[.linked, .queued, .types.Patient.created]' csv.json)" = "[$CSV_PATIENTS,0,0]" ] ||
  fail "CSV: $(jq -c '[.linked, .queued, .types.Patient, .matches]' csv.json)"
[ "$(jq '[.matches[] | select(.incoming != "b" + .patient or .result != "match")] | length' csv.json)" = 0 ] ||
  fail "a patient linked to someone else: $(jq -c .matches csv.json)"
# Rows whose ids derive from their columns (conditions, observations, ...)
# name the patient by B's id; through the link they find the stored rows.
[ "$(jq '.total.created' csv.json)" = 0 ] || fail "CSV records created: $(jq -c .types csv.json)"

# Still the same patients, each now holding B's MRN beside its own identifiers.
"$EHR" export --quiet --plaintext --type Patient --out second || fail "export failed"
[ "$(cat second/Patient.*.ndjson | jq -s length)" = "$PATIENTS" ] || fail "the patient count changed"
[ "$(cat second/Patient.*.ndjson | jq -s "[.[] | select(any(.identifier[]; .system == \"$MRN\"))] | length")" = \
  "$BUNDLE_PATIENTS" ] || fail "B's MRNs did not reach the Bundle patients"
finish
