#!/usr/bin/env bash
# What an import may learn and change of records its user may not see (QA
# access sweep): a service account (import and export, no clearances) may
# not import over a labelled record, is told nothing of a labelled allergy,
# a labelled record holding the same identifier or a restricted patient its
# Patient resembles; and a registrar denied a restricted patient does not
# list its care team.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db NO_COLOR=1
as() { local u=$1; shift; EHR_USER=$u EHR_KEY_FILE=$u.key "$EHR" "$@"; }
"$EHR" key new -o alice.key -q && EHR_USER=alice EHR_KEY_FILE=alice.key "$EHR" init -q || fail "init failed"
for u in doc:physician svc:service reg:registrar psych:physician; do
  "$EHR" key new -o "${u%%:*}.key" -q && as alice user add "${u%%:*}" --role "${u#*:}" --new-key-file "${u%%:*}.key" -q ||
    fail "user add $u failed"
done
P=$(as doc patient add --given Zoe --family Nunez --birth-date 1984-02-29 --gender female --mrn A1001)
label() {  # SYSTEM-SUFFIX CODE: a meta with one security label
  printf '"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-%s","code":"%s"}]}' "$1" "$2"
}

# 1. A record labelled restricted is not the service account's to replace:
# the entry is rejected (access) and the stored record keeps content and label.
printf '{"resourceType":"AllergyIntolerance",%s,"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"patient":{"reference":"Patient/%s"},"criticality":"high","code":{"text":"Latex"}}' \
  "$(label Confidentiality R)" "$P" >restricted.json
AL=$(as doc record add --patient A1001 --json restricted.json) || fail "record add failed"
printf '{"resourceType":"AllergyIntolerance","id":"%s","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"patient":{"reference":"Patient/%s"},"code":{"text":"nothing"}}\n' \
  "${AL#*/}" "$P" >over.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key run import --quiet over.ndjson
expect_code 77
expect_err_contains "ehr: error: over.ndjson:1: $AL is stored as a record this user may not import over"
run record history "$AL" --format csv
EHR_USER=doc EHR_KEY_FILE=doc.key run record history "$AL" --format ndjson
[ "$(jq -r '.resource.code.text + " " + .resource.meta.security[0].code' <<<"$OUT")" = "Latex R" ] ||
  fail "the restricted allergy was replaced: $OUT"

# 2. A psychotherapy-labelled penicillin allergy is not checked against the
# service account's amoxicillin order: no warning, report or reject names it.
printf '{"resourceType":"AllergyIntolerance",%s,"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"patient":{"reference":"Patient/%s"},"criticality":"high","category":["medication"],"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin"}]}}' \
  "$(label ActCode PSYTHPN)" "$P" >psy.json
PSY=$(as doc record add --patient A1001 --json psy.json) || fail "record add failed"
printf '{"resourceType":"MedicationRequest","id":"amox-1","status":"active","intent":"order","subject":{"reference":"Patient/%s"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308182","display":"Amoxicillin 250 MG Oral Capsule"}]}}\n' \
  "$P" >amox.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key run import --strict --on-error continue --rejects rej.ndjson --report rep.json amox.ndjson
expect_code 0
case "$ERR$(cat rej.ndjson rep.json 2>/dev/null)" in *"${PSY#*/}"* | *allergy-conflict*) fail "the labelled allergy shows through the import: $ERR" ;; esac
# The same allergy unlabelled (another patient's) is checked, as before.
Q=$(as doc patient add --given Quin --family Open --birth-date 1980-01-01 --gender male --mrn A1004)
printf '{"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"patient":{"reference":"Patient/%s"},"criticality":"high","category":["medication"],"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin"}]}}' \
  "$Q" >open.json
OPEN=$(as doc record add --patient A1004 --json open.json) || fail "record add failed"
sed "s/amox-1/amox-2/; s/$P/$Q/" amox.ndjson >amox2.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key run import amox2.ndjson
expect_err_contains "allergy conflict with $OPEN"

# 3. An identifier held by a labelled Condition: the entry is refused without
# naming the record, its patient or whether the guessed code is its code.
printf '{"resourceType":"Condition",%s,"identifier":[{"system":"urn:clinic:dx","value":"DX-77"}],"subject":{"reference":"Patient/%s"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"35489007"}]}}' \
  "$(label ActCode PSYTHPN)" "$P" >dx.json
DX=$(as doc record add --patient A1001 --json dx.json) || fail "record add failed"
for code in 44054006 35489007; do
  printf '{"resourceType":"Condition","id":"probe-%s","identifier":[{"system":"urn:clinic:dx","value":"DX-77"}],"subject":{"reference":"Patient/%s"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"%s"}]}}\n' \
    "$code" "$P" "$code" >probe.ndjson
  EHR_USER=svc EHR_KEY_FILE=svc.key run import --quiet --dry-run probe.ndjson
  expect_code 77
  expect_err "ehr: error: probe.ndjson:1: Condition.identifier: an identifier of this record is held by a stored record this user may not import over
ehr: error: access denied: probe.ndjson:1: Condition.identifier: an identifier of this record is held by a stored record this user may not import over"
done

# 4. A restricted patient is never a reported match of a guessed Patient.
printf '{"resourceType":"Patient",%s,"identifier":[{"system":"urn:ehr:mrn","value":"A2000"}],"name":[{"family":"Celebrity","given":["Vip"]}],"gender":"male","birthDate":"1960-03-03"}' \
  "$(label Confidentiality R)" >vip.json
VIP=$(as doc patient add --json vip.json) || fail "patient add failed"
printf '{"resourceType":"Patient","id":"guess","name":[{"family":"Celebrity","given":["Vip"]}],"gender":"male","birthDate":"1960-03-03"}\n' >guess.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key run import --dry-run --report guess.json guess.ndjson
expect_code 0
[ "$(jq -c .matches guess.json)" = "[]" ] || fail "the restricted patient is reported: $(jq -c .matches guess.json)"
case "$ERR" in *"$VIP"*) fail "the restricted patient is named: $ERR" ;; esac

# 5. A registrar denied the restricted patient does not list its care team.
as doc patient team add A2000 psych -q || fail "team add failed"
EHR_USER=reg EHR_KEY_FILE=reg.key run patient team list A2000
expect_code 77
expect_out ""
EHR_USER=doc EHR_KEY_FILE=doc.key run patient team list A2000 --format csv
expect_code 0
expect_out_contains "psych,"

# 6. A contained resource's label is the record's: an order whose contained
# Medication is labelled substance-use is withheld from the service export.
printf '{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/%s"},"contained":[{"resourceType":"Medication","id":"m1",%s,"code":{"text":"buprenorphine"}}],"medicationReference":{"reference":"#m1"}}' \
  "$P" "$(label ActCode ETH)" >bup.json
BUP=$(as doc record add --patient A1001 --json bup.json) || fail "record add failed"
EHR_USER=svc EHR_KEY_FILE=svc.key run export --plaintext --type MedicationRequest --out mr
expect_code 0
case "$(cat mr/*.ndjson 2>/dev/null)" in *buprenorphine*) fail "the contained labelled Medication was exported" ;; esac
expect_err_contains "withheld"
EHR_USER=doc EHR_KEY_FILE=doc.key run record history "$BUP" --format ndjson
expect_out_contains buprenorphine

finish
