#!/usr/bin/env bash
# Patients and records from the shell: add, show, find, history, amend,
# retract, purge; exit codes, exact errors, nothing written on bad input.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
"$EHR" key new -o alice.key -q && "$EHR" init -q --role physician || fail "init failed"

run patient add --given Zoë --family Núñez --birth-date 1984-02-29 --gender female --mrn A1001 --phone 555-0100
expect_code 0
P=$OUT
echo "$P" | grep -Eq '^[0-9a-f-]{36}$' || fail "patient add printed '$P', not an id"

run patient add --gender male
expect_code 64
expect_err "ehr: error: give at least --family, --given or --mrn (or --json FILE)"
run patient add --family X --birth-date 1984-2-1
expect_code 64
expect_err "ehr: error: --birth-date must be YYYY-MM-DD"
run patient add --family X --birth-date 1984-13-01
expect_code 65
expect_err 'ehr: error: Patient.birthDate: not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)'
# A second patient with a stored patient's MRN: refused (73), the MRN not
# quoted; lookups by the MRN still find the one patient.
run patient add --given Other --family Person --mrn A1001
expect_code 73
expect_err "ehr: error: a stored patient holds this MRN (urn:ehr:mrn); find them with ehr patient show MRN, or give another"
run patient list --format csv
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "a refused patient was written: $OUT"
run patient show A1001 --format csv
expect_code 0

# A record with a bad LOINC check digit: exit 65 naming field and rule; nothing written.
run record add --patient A1001 --type lab --code 2345-8 --value 5.4 --unit mmol/L
expect_code 65
expect_err "ehr: error: Observation.code.coding[0].code: LOINC code fails its check digit"
run record list --type Observation --format csv
expect_out "type,id,date,code,display,value,status"

run record add --patient A1001 --type vital --code 29463-7 --display "Body weight" --value 72.5 --unit kg --date 2026-11-20
expect_code 0
W=$OUT
run record add --patient A1001 --type allergy --code 7980 --system rxnorm --display Penicillin --criticality high --category medication
expect_code 0
A=$OUT
run record add --patient NOPE --type vital --code 29463-7 --value 1 --unit kg
expect_code 1
expect_err "ehr: error: no patient NOPE"
# The --value of a vital or lab is a number: "72,5" was stored as text with
# its --unit dropped. Refused (exit 65) with nothing written; --unit on a type
# without a value is a usage error.
run record add --patient A1001 --type vital --code 29463-7 --value 72,5 --unit kg
expect_code 65
expect_err "ehr: error: --value must be a number for --type vital, written with a decimal point (72.5); a text result goes in with --json"
expect_out ""
run record add --patient A1001 --type lab --code 2345-7 --value positive
expect_code 65
expect_err "ehr: error: --value must be a number for --type lab, written with a decimal point (72.5); a text result goes in with --json"
run record add --patient A1001 --type condition --code 44054006 --unit kg
expect_code 64
expect_err "ehr: error: --unit applies to --type vital and lab, not condition"
run record list --type Observation --format csv
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "a refused record was written: $OUT"
# An unknown --type is a usage error everywhere, as in export: a misspelt type
# listed nothing and exited 0.
run record list --type Nope
expect_code 64
expect_out ""
expect_err "ehr: error: --type Nope: not a FHIR R4 resource type"
# So is a --since that is no date (QA finding: 'yesterday' listed nothing,
# exit 0, and "" listed everything).
run record list --since yesterday
expect_code 64
expect_out ""
expect_err "ehr: error: --since yesterday: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)"
run record show --patient A1001 --since 2026-13-01
expect_code 64
expect_out ""
expect_err "ehr: error: --since 2026-13-01: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)"
run record list --since ""
expect_code 64
expect_out ""
expect_err "ehr: error: --since: must not be empty
ehr: hint: run 'ehr --help' for usage"
for cmd in "record list" "patient list" "patient find --name a" "patient duplicates"; do
  # shellcheck disable=SC2086
  run $cmd --limit -1
  expect_code 64
  expect_out ""
  expect_err "ehr: error: --limit: must be 0 (no limit) or more
ehr: hint: run 'ehr --help' for usage"
done
run record list --since 2000 --type Observation --format csv
expect_code 0
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "--since 2000 lost records: $OUT"
run record show --patient A1001 --type Observaton
expect_code 64
expect_out ""
expect_err "ehr: error: --type Observaton: not a FHIR R4 resource type"
run export --type Bogus --out bogus
expect_code 64
expect_err "ehr: error: --type Bogus: not a FHIR R4 resource type"
run record add --patient A1001 --type weather
expect_code 64
expect_err_contains "ehr: error: --type weather has no friendly flags"

# JSON input: from stdin, with a truncated document named by line and column.
printf '{"resourceType":"Observation","status":"final","code":{"text":"x"}' > broken.json
run record add --patient A1001 --json broken.json
expect_code 65
expect_err "ehr: error: broken.json: line 1, column 67: unexpected end of input in object"
run record add --patient A1001 --json - < <(printf '{"resourceType":"Observation","status":"final","code":{"text":"Mood"},"valueString":"good","extension":[{"url":"urn:x","valueString":"kept"}]}')
expect_code 0
J=$OUT

# show: every format; bundle is a searchset; unknown patient exits 1 with nothing on stdout.
run record show --patient A1001 --format ndjson
expect_code 0
[ "$(printf '%s\n' "$OUT" | wc -l)" = 4 ] || fail "record show printed $(printf '%s\n' "$OUT" | wc -l) lines"
expect_out_contains '"url":"urn:x","valueString":"kept"'
run record show --patient A1001 --format bundle
expect_out_contains '"type": "searchset"'
expect_out_contains '"total": 4'
run record show --patient A1001 --format table
expect_out_contains "Allergies (1)"
expect_out_contains "Penicillin  criticality high"
run record show --patient NOBODY
expect_code 1
expect_out ""
expect_err "ehr: error: no patient NOBODY"
run patient show A1001 --format bundle
expect_code 0
run config show --format bundle
expect_code 64
expect_err "ehr: error: --format bundle applies only to commands that print FHIR resources"
# As a default (EHR_FORMAT, the config file) bundle gives way to auto (json
# when stdout is not a terminal) where no resources are printed: config show
# used to exit 64.
EHR_FORMAT=bundle run config show
expect_code 0
expect_out_contains '"key": "format",
    "value": "bundle",
    "origin": "env EHR_FORMAT"'
printf 'format: bundle\n' > bundle.yaml
EHR_CONFIG=$PWD/bundle.yaml run record show --patient A1001
expect_code 0
expect_out_contains '"type": "searchset"'
EHR_CONFIG=$PWD/bundle.yaml run config show --format bundle
expect_code 64
expect_err "ehr: error: --format bundle applies only to commands that print FHIR resources"

# find: case- and accent-insensitive prefixes; no match exits 1.
run patient find --name "zoe nun" --format csv
expect_code 0
expect_out "id,name,birth_date,gender,mrn,phone
$P,Zoë Núñez,1984-02-29,female,A1001,555-0100"
run patient find --name smith
expect_code 1
expect_out ""

# amend, history, retract, purge.
run record amend "$W" --value 72,1 --reason "scale recalibrated"
expect_code 65
expect_err "ehr: error: --value must be a number for a record with a quantity value, written with a decimal point (72.5)"
run record amend "$W" --value 72.1 --reason "scale recalibrated"
expect_code 0
run record history "$W" --format csv
expect_code 0
echo "$OUT" | grep -q '^1,create,alice,' || fail "history lacks the create: $OUT"
echo "$OUT" | grep -q '^2,update,alice,.*,scale recalibrated$' || fail "history lacks the amend: $OUT"
run record retract "$A" --reason "wrong patient"
expect_code 0
run record show --patient A1001 --format csv
case "$OUT" in *Penicillin*) fail "a retracted allergy is still shown by default" ;; esac
run record show --patient A1001 --all --format csv
expect_out_contains "Penicillin"
run record retract "$A" --reason again
expect_code 65
run record purge "$J" --reason "duplicate"
expect_code 64
expect_err_contains "add --yes to confirm"
run record purge "$J" --reason "duplicate" --yes
expect_code 0
run record history "$J" --format csv
expect_out_contains ",purge,alice,"
run record show --patient A1001 --format csv
case "$OUT" in *Mood*) fail "a purged record is still shown" ;; esac

# patient update may not give a patient another's MRN (73, nothing
# written); a patient keeps its own.
run patient add --given Other --family Person --mrn B2002
expect_code 0
run patient update B2002 --mrn A1001
expect_code 73
expect_err "ehr: error: a stored patient holds this MRN (urn:ehr:mrn); find them with ehr patient show MRN, or give another"
run patient show B2002 --format json
expect_code 0
[ "$(printf '%s' "$OUT" | jq -r '.meta.versionId')" = 1 ] || fail "a refused MRN update wrote a version"
run patient update A1001 --mrn A1001 --phone 555-0199
expect_code 0

# A write that raises validation warnings goes in, each warning named on
# stderr: an Identifier's NPI failing its check digit, a blank string.
cat >warned.json <<'JSON'
{"resourceType":"Patient","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890"}],"name":[{"family":"Warned","given":[" "]}]}
JSON
run patient add --json warned.json
expect_code 0
WARNED=$OUT
expect_err "ehr: warning: Patient.identifier[0].value: NPI fails its check digit
ehr: warning: Patient.name[0].given[0]: value is only white space"
jq -c --arg id "$WARNED" '.id = $id | .name[0].given = ["Wanda"]' warned.json >warned2.json
run record amend "Patient/$WARNED" --json warned2.json --reason "given name"
expect_code 0
expect_err "ehr: warning: Patient.identifier[0].value: NPI fails its check digit
ehr: Patient/$WARNED is now version 2"
run patient update "$WARNED" --phone 555-0142
expect_code 0
expect_err "ehr: warning: Patient.identifier[0].value: NPI fails its check digit
ehr: Patient/$WARNED is now version 3"

# QA findings (qa9 interop 03, 09, 11): a SUBSETTED copy and a narrative with
# a script are refused (65, nothing written); a modifier extension goes in
# with a warning naming its place.
jq -c '.meta = {"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]} | .name[0].given = ["Sub"]' warned.json >subsetted.json
run patient add --json subsetted.json
expect_code 65
expect_err "ehr: error: Patient.meta.tag[0]: an incomplete copy (SUBSETTED): import the full resource"
jq -c --arg id "$WARNED" '.id = $id | .meta = {"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]}' warned2.json >subsetted2.json
run record amend "Patient/$WARNED" --json subsetted2.json --reason "summary copy"
expect_code 65
expect_err "ehr: error: Patient.meta.tag[0]: an incomplete copy (SUBSETTED): import the full resource"
printf '%s' '{"resourceType":"Observation","status":"final","code":{"text":"Potassium"},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script>K</div>"}}' >script.json
run record add --patient A1001 --json script.json
expect_code 65
expect_err "ehr: error: Observation.text.div: the narrative holds element script: FHIR R4 narratives allow only basic HTML formatting (no scripts, styles, forms, frames or objects)"
printf '%s' '{"resourceType":"Observation","status":"final","code":{"text":"Potassium"},"modifierExtension":[{"url":"http://lab.example.org/result-invalid","valueBoolean":true}]}' >modifier.json
run record add --patient A1001 --json modifier.json
expect_code 0
expect_err "ehr: warning: Observation.modifierExtension[0]: a modifier extension ehr does not know: it may change what this record means"

# A flag the type does not use is refused, not dropped (64): --value on a
# condition, --dosage on a lab; beside --json every friendly flag is.
run record add --patient A1001 --type condition --code 44054006 --value severe
expect_code 64
expect_err "ehr: error: --value applies to --type vital, lab and note, not condition"
run record add --patient A1001 --type lab --code 2345-7 --value 5.4 --dosage daily
expect_code 64
expect_err "ehr: error: --dosage applies to --type medication and medication-statement, not lab"
run record add --patient A1001 --type blood-pressure --systolic 120 --diastolic 80 --code 1234-5
expect_code 64
expect_err "ehr: error: --code applies to --type vital, lab, condition, allergy, medication, medication-statement, immunization, procedure, encounter and note, not blood-pressure"
printf '{"resourceType":"Task","status":"requested","intent":"order"}' > task.json
run record add --patient A1001 --json task.json --code 1234-5
expect_code 64
expect_err "ehr: error: --code cannot be used with --json (the JSON is the whole record)"
# --patient with --json sets the type's own patient element: a Task's is
# "for" (no subject); Account and Appointment name patients in lists, and a
# Patient is no one's record: refused, nothing written.
run record add --patient B2002 --json task.json
expect_code 0
T=$OUT
run record show --patient B2002 --type Task --format ndjson
expect_code 0
[ "$(printf '%s' "$OUT" | jq -c '[.id, .for.reference, .subject]')" = "$(jq -cn --arg t "${T#Task/}" --arg p "$("$EHR" patient show B2002 --format json | jq -r .id)" '[$t, "Patient/"+$p, null]')" ] \
  || fail "the Task's patient is not in for: $OUT"
printf '{"resourceType":"Account","status":"active"}' > account.json
run record add --patient B2002 --json account.json
expect_code 64
expect_err "ehr: error: --patient cannot set the patient of Account (it has no single patient element); give the patient reference in the JSON"
run record add --patient B2002 --json - < <(printf '{"resourceType":"Patient"}')
expect_code 64
expect_err "ehr: error: --patient cannot set the patient of Patient (it has no single patient element); give the patient reference in the JSON"
run record list --patient B2002 --format csv
[ "$(printf '%s\n' "$OUT" | grep -c '^Task,')" = 1 ] && [ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ] \
  || fail "record list of B2002: $OUT"

# amend --status goes where the type keeps it: a condition's clinicalStatus
# (it used to write a "status" a Condition does not have and leave the
# problem active); a bad code is refused (65); --note on a type without
# notes and --status on a Patient are usage errors (64), nothing written.
run record add --patient B2002 --type condition --code 44054006 -q
C=$OUT
run record amend "$C" --status resolved --reason "controlled"
expect_code 0
run record show --patient B2002 --type Condition --format ndjson
[ "$(printf '%s' "$OUT" | jq -c '[.status, .clinicalStatus.coding[0].code, .meta.versionId]')" = '[null,"resolved","2"]' ] \
  || fail "amend --status on a Condition: $OUT"
run record amend "$C" --status cured --reason "x"
expect_code 65
expect_err "ehr: error: Condition.clinicalStatus.coding[0].code: code is not one of active, recurrence, relapse, inactive, remission, resolved"
run record add --patient B2002 --type encounter --date 2026-01-05 -q
run record amend "$OUT" --note "came late" --reason "x"
expect_code 64
expect_err "ehr: error: --note: Encounter has no note element; amend it with --json"
BP=$("$EHR" patient show B2002 --format json | jq -r .id)
run record amend "Patient/$BP" --status active --reason "x"
expect_code 64
expect_err "ehr: error: --status: Patient has no status to change; amend it with --json"
# record amend of a Patient is held to patient update's MRN rule (73).
"$EHR" patient show B2002 --format json | jq '.identifier[0].value = "A1001"' > taken.json
run record amend "Patient/$BP" --json taken.json --reason "x"
expect_code 73
expect_err "ehr: error: a stored patient holds this MRN (urn:ehr:mrn); find them with ehr patient show MRN, or give another"
run record history "Patient/$BP" --format csv
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "a refused amend wrote a version: $OUT"

# No plaintext on disk: names and values never appear in the files.
for f in clinic.db*; do
  if grep -aq -e "Penicillin" -e "Núñez" -e "A1001" "$f"; then fail "$f holds plaintext patient data"; fi
done
# A given name is text: "[Baby]" is not a list (CLI11's [a,b] syntax), and a
# second name takes its own --given (QA finding ops 04).
run patient add --given '[Baby,Girl]' --given Ann --family Doe --birth-date 2026-01-01 --gender female --mrn BABY1
expect_code 0
run patient show BABY1 --format ndjson
expect_out_contains '"given":["[Baby,Girl]","Ann"]'
run patient update BABY1 --given '[Twin A]'
expect_code 0
run patient show BABY1 --format ndjson
expect_out_contains '"given":["[Twin A]"]'
run patient add --given Ann Marie --family Doe
expect_code 64
expect_err_contains "Marie"
# A line feed in a name stays escaped in record show's table header too
# (QA finding ops 06).
printf '%s' '{"resourceType":"Patient","name":[{"family":"Line\nFeed","given":["Cr\rOw"]}],"identifier":[{"system":"urn:ehr:mrn","value":"LF1"}]}' >lf.json
run record add --json lf.json
expect_code 0
run record show --patient LF1 --format table
expect_out_contains 'Patient Cr\rOw Line\nFeed  ('

finish
