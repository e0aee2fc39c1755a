#!/usr/bin/env bash
# One patient, one record (issue 10): another clinic's export imported with
# --match auto links a certain match and queues a possible one; re-importing
# changes nothing; the registrar reviews duplicates, rules a pair out,
# merges, and unmerge puts every resource and reference back exactly.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
new_clinic clinic.db
"$EHR" key new -o desk.key -q && "$EHR" user add desk --role registrar --new-key-file desk.key -q || fail "user add failed"
as() { local u=$1; shift; EHR_USER=$u EHR_KEY_FILE=$u.key "$EHR" "$@"; }

# Every resource but Provenance, canonical, without meta: what "the same
# records" means across a merge and its unmerge.
state() {
  rm -rf snap && as svc export --quiet --plaintext --out snap || fail "export failed"
  cat snap/*.ndjson | jq -cS 'select(.resourceType != "Provenance") | del(.meta)' | sort
}

OBS='"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}]}'
cat >clinic-a.ndjson <<JSON
{"resourceType":"Patient","id":"pa1","identifier":[{"system":"urn:oid:1.2.3.4.100","value":"A-100"}],"name":[{"family":"Gómez","given":["Ana","María"]}],"gender":"female","birthDate":"1961-07-14","telecom":[{"system":"phone","value":"(617) 555-0101"}],"address":[{"line":["12 Main Street"],"city":"Boston","postalCode":"02139"}]}
{"resourceType":"Patient","id":"pa2","identifier":[{"system":"urn:oid:1.2.3.4.100","value":"A-200"}],"name":[{"family":"Smith","given":["John"]}],"gender":"male","birthDate":"1950-03-02","address":[{"line":["4 Elm Road"],"city":"Salem","postalCode":"01970"}]}
{"resourceType":"Patient","id":"pa3","identifier":[{"system":"urn:oid:1.2.3.4.100","value":"A-300"}],"name":[{"family":"Ward","given":["Lena"]}],"gender":"female","birthDate":"2001-05-05","telecom":[{"system":"phone","value":"555-0303"}],"address":[{"line":["9 Oak Avenue"],"city":"Lynn","postalCode":"01901"}]}
{"resourceType":"Patient","id":"pa4","identifier":[{"system":"urn:oid:1.2.3.4.100","value":"A-400"}],"name":[{"family":"Ward","given":["Lara"]}],"gender":"female","birthDate":"2001-05-05","telecom":[{"system":"phone","value":"555-0303"}],"address":[{"line":["9 Oak Avenue"],"city":"Lynn","postalCode":"01901"}]}
{"resourceType":"Observation","id":"oa1",$OBS,"subject":{"reference":"Patient/pa1"},"effectiveDateTime":"2026-01-10","valueQuantity":{"value":61,"unit":"kg"}}
{"resourceType":"Observation","id":"oa2",$OBS,"subject":{"reference":"Patient/pa2"},"effectiveDateTime":"2026-01-11","valueQuantity":{"value":80,"unit":"kg"}}
JSON
EHR_USER=svc EHR_KEY_FILE=svc.key run import --match auto clinic-a.ndjson
expect_code 0
expect_err_contains "6 created"
# Twins share everything but the given name: never linked, queued for a person.
expect_err_contains "ehr:   patients: 0 linked to stored patients by matching, 1 pair queued for review"
[ "$(as desk patient duplicates --queue --format json | jq -c '[.[] | [.a, .b, .result]]')" = \
  '[["pa3","pa4","possible-match"]]' ] || fail "the first import's queue: $(as desk patient duplicates --queue)"

# Clinic B: Ana again (no accents, her other phone format, B's MRN), John
# with day and month swapped and no address, and a new patient.
cat >clinic-b.ndjson <<JSON
{"resourceType":"Patient","id":"pb1","identifier":[{"system":"urn:oid:1.2.3.4.200","value":"B-1"}],"name":[{"family":"Gomez","given":["Ana","Maria"]}],"gender":"female","birthDate":"1961-07-14","telecom":[{"system":"phone","value":"617-555-0101"}],"address":[{"line":["12 Main St."],"city":"Boston","postalCode":"02139"}]}
{"resourceType":"Patient","id":"pb2","identifier":[{"system":"urn:oid:1.2.3.4.200","value":"B-2"}],"name":[{"family":"Smith","given":["John"]}],"gender":"male","birthDate":"1950-02-03"}
{"resourceType":"Patient","id":"pb3","identifier":[{"system":"urn:oid:1.2.3.4.200","value":"B-3"}],"name":[{"family":"Novak","given":["Ivo"]}],"gender":"male","birthDate":"1977-11-30"}
{"resourceType":"Observation","id":"ob1",$OBS,"subject":{"reference":"Patient/pb1"},"effectiveDateTime":"2026-02-01","valueQuantity":{"value":62,"unit":"kg"}}
{"resourceType":"Observation","id":"ob2",$OBS,"subject":{"reference":"Patient/pb2"},"effectiveDateTime":"2026-02-02","valueQuantity":{"value":81,"unit":"kg"}}
JSON
export EHR_USER=svc EHR_KEY_FILE=svc.key
run import --match auto --report report.json clinic-b.ndjson
expect_code 0
expect_err_contains "ehr:   patients: 1 linked to stored patients by matching, 1 pair queued for review (ehr patient duplicates --queue)"
[ "$(jq -c '[.matches[] | [.incoming, .patient, .result, .action]]' report.json)" = \
  '[["pb1","pa1","match","linked"],["pb2","pa2","possible-match","queued"]]' ] || fail "report: $(cat report.json)"
[ "$(jq -c '[.linked, .queued, .types.Patient.created, .types.Patient.updated]' report.json)" = '[1,1,2,1]' ] ||
  fail "report counts: $(cat report.json)"
# Ana's record from B landed on pa1, which now holds B's MRN too; pb1 does not exist.
run export --patient pa1 --format bundle -o -
expect_code 0
[ "$(jq -c '[.entry[].resource | select(.resourceType == "Observation") | .id] | sort' <<<"$OUT")" = '["oa1","ob1"]' ] ||
  fail "pa1's record: $OUT"
[ "$(jq -c '[.entry[].resource | select(.resourceType == "Patient") | .identifier[].value]' <<<"$OUT")" = '["A-100","B-1"]' ] ||
  fail "pa1's identifiers: $OUT"
run export --patient pb1 --format bundle -o -
expect_code 1
expect_err "ehr: error: no patient pb1"
# The Provenance of the import names the link.
run export --quiet --plaintext --type Provenance --out prov
expect_code 0
grep -q '"display":"Patient/pb1 of clinic-b.ndjson linked to Patient/pa1 by matching: match, score ' prov/Provenance.001.ndjson ||
  fail "no link in the Provenance: $(cat prov/Provenance.001.ndjson)"

# The same file again: nothing changes.
BEFORE=$(state)
run import --match auto --report - clinic-b.ndjson
expect_code 0
[ "$(jq -c '[.linked, .queued, .total.created, .total.updated]' <<<"$OUT")" = '[0,0,0,0]' ] || fail "re-import: $OUT"
[ "$(state)" = "$BEFORE" ] || fail "re-importing clinic B changed the records"

# --match off and review: nothing linked.
run import --match sometimes clinic-b.ndjson
expect_code 64
expect_err "ehr: error: --match must be auto, review or off"

# The registrar's review: the queued pair, found by the import.
export EHR_USER=desk EHR_KEY_FILE=desk.key
run patient duplicates --queue --format csv
expect_code 3
expect_out_contains "pa2,\"Smith, John\",1950-03-02,pb2,\"Smith, John\",1950-02-03,"
# csv has every field of the json rows: agreed, disagreed (space-separated
# field:how) and queued were left out.
expect_out_contains "a,a_name,a_birth_date,b,b_name,b_birth_date,score,result,agreed,disagreed,found_by,queued"
expect_out_contains ",11,possible-match,family:exact given:exact birth-date:transposed sex,,import,20"
expect_out_contains ",possible-match,family:exact birth-date:exact sex phone address:line,identifier:urn:oid:1.2.3.4.100 given,import,20"
expect_out_contains "pa3,\"Ward, Lena\",2001-05-05,pa4,\"Ward, Lara\",2001-05-05,"
run patient duplicates --format json
expect_code 3
[ "$(jq -c '[.[] | select(.result == "match")] | length' <<<"$OUT")" = 0 ] || fail "a false match: $OUT"
[ "$(jq -c '[.[] | select(.a == "pa2" and .b == "pb2") | .found_by]' <<<"$OUT")" = '["import"]' ] ||
  fail "pa2/pb2 not listed once: $OUT"
# Twins ruled out stay out.
run patient not-duplicate pa3 pa4 --reason "twins, checked with the family"
expect_code 0
expect_err "ehr: pa3 and pa4 are recorded as different patients"
run patient duplicates --format json
[ "$(jq -c '[.[] | select(.a == "pa3")] | length' <<<"$OUT")" = 0 ] || fail "a decided pair came back: $OUT"
run patient duplicates --patient pa2 --format json
[ "$(jq -c '[.[] | [.a, .b]]' <<<"$OUT")" = '[["pa2","pb2"]]' ] || fail "--patient pa2: $OUT"
run patient duplicates --min-score 1000
expect_code 0
expect_out "[]"
run patient not-duplicate pa3 A-300 --reason x
expect_code 64
expect_err "ehr: error: pa3 and A-300 are the same patient (Patient/pa3)"

# Merge pb2 into pa2: every reference moves, the two are linked, one
# transaction, a Provenance and an audit entry.
BEFORE=$(state)
run patient merge pb2 pa2
expect_code 64
expect_err_contains "--reason is required"
run patient merge pb2 pb2 --reason x
expect_code 64
expect_err "ehr: error: pb2 and pb2 are the same patient (Patient/pb2)"
run patient merge nobody pa2 --reason x
expect_code 1
expect_err "ehr: error: no patient nobody"
EHR_USER=svc EHR_KEY_FILE=svc.key run patient merge pb2 pa2 --reason x
expect_code 77
expect_err "ehr: error: access denied: user svc (roles: service) may not merge Patient pb2: no role of the user allows merge on Patient"
run patient merge pb2 pa2 --reason "same man: ID checked at the desk"
expect_code 0
expect_err_contains "ehr: merged Patient/pb2 into Patient/pa2: 1 record moved (Provenance/"
AFTER=$(state)
[ "$(jq -c 'select(.id == "ob2") | .subject' <<<"$AFTER")" = '{"reference":"Patient/pa2"}' ] || fail "ob2 not moved"
[ "$(jq -c 'select(.id == "pb2") | [.active, .link]' <<<"$AFTER")" = \
  '[false,[{"other":{"reference":"Patient/pa2"},"type":"replaced-by"}]]' ] || fail "pb2 after merge: $AFTER"
[ "$(jq -c 'select(.id == "pa2") | .link' <<<"$AFTER")" = '[{"other":{"reference":"Patient/pb2"},"type":"replaces"}]' ] ||
  fail "pa2 after merge"
# B's file again after the merge: its records land on pa2, pb2 stays merged.
MERGED=$(state)
EHR_USER=svc EHR_KEY_FILE=svc.key run import --match auto --report - clinic-b.ndjson
expect_code 0
[ "$(jq -c '[.total.created, .total.updated]' <<<"$OUT")" = '[0,0]' ] || fail "re-import after the merge: $OUT"
[ "$(state)" = "$MERGED" ] || fail "re-importing clinic B undid the merge: $(diff <(echo "$MERGED") <(state))"
# The pair left the queue; merges are unique and leave no chains.
run patient duplicates --queue --format json
expect_out "[]"
run patient merge pb2 pa1 --reason x
expect_code 65
expect_err "ehr: error: Patient/pb2 was merged into Patient/pa2 already (ehr patient unmerge pb2 undoes it)"
run patient merge pa1 pb2 --reason x
expect_code 65
expect_err "ehr: error: Patient/pb2 was merged into Patient/pa2: merge into Patient/pa2"
run patient merge pa2 pa1 --reason x
expect_code 65
expect_err "ehr: error: Patient/pa2 holds the records of Patient/pb2 merged into it: unmerge pb2 first"

# Unmerge: the exact earlier state (Provenance aside, which records both).
run patient unmerge pb2 --reason "merged in error"
expect_code 0
expect_err_contains "ehr: unmerged Patient/pb2 from Patient/pa2: 1 record moved back (Provenance/"
[ "$(state)" = "$BEFORE" ] || fail "unmerge did not restore the records: $(diff <(echo "$BEFORE") <(state))"
run patient unmerge pb2 --reason again
expect_code 1
expect_err "ehr: error: Patient/pb2 is not merged"
# Unmerged, B's file finds pb2's records where they were.
EHR_USER=svc EHR_KEY_FILE=svc.key run import --match auto --report - clinic-b.ndjson
[ "$(jq -c '[.total.created, .total.updated]' <<<"$OUT")" = '[0,0]' ] || fail "re-import after the unmerge: $OUT"
[ "$(state)" = "$BEFORE" ] || fail "re-importing clinic B after the unmerge changed the records"

# An identifier is evidence, not proof: a later file's patient holding a
# stored patient's identifier (a recycled licence number) but none of their
# demographics keeps its own id and its records, with a warning, and the pair
# waits for review; the stored patient is not touched. Again: nothing changes.
DL='"system":"urn:oid:2.16.840.1.113883.4.3.25","value":"S99960609"'
cat >dl-1.ndjson <<JSON
{"resourceType":"Patient","id":"pd1","identifier":[{$DL}],"name":[{"family":"Anderson","given":["Rebecca"]}],"gender":"female","birthDate":"1940-01-29"}
JSON
cat >dl-2.ndjson <<JSON
{"resourceType":"Patient","id":"pd2","identifier":[{$DL}],"name":[{"family":"DuBuque","given":["Daniel"]}],"gender":"male","birthDate":"1944-11-18"}
{"resourceType":"Observation","id":"od2",$OBS,"subject":{"reference":"Patient/pd2"},"effectiveDateTime":"2026-02-01","valueQuantity":{"value":97.5,"unit":"kg"}}
JSON
EHR_USER=svc EHR_KEY_FILE=svc.key run import --quiet dl-1.ndjson
expect_code 0
for mode in review off; do
  EHR_USER=svc EHR_KEY_FILE=svc.key run import --quiet --match $mode --report - dl-2.ndjson
  expect_code 0
  [ "$(jq -c '[.total.created, .total.updated, .warnings_by_rule]' <<<"$OUT")" = \
    "$([ $mode = review ] && echo '[2,0,{"identifier-conflict":1}]' || echo '[0,0,{}]')" ] ||
    fail "import --match $mode of a patient holding another's licence: $OUT"
done
EHR_USER=svc EHR_KEY_FILE=svc.key run import --quiet dl-2.ndjson
[ "$ERR" = "" ] || fail "the re-import warned again: $ERR"
[ "$(as desk patient show pd1 --format json | jq -c '[.name[0].family, .gender, .meta.versionId]')" = '["Anderson","female","1"]' ] ||
  fail "the stored patient was changed: $(as desk patient show pd1 --format json)"
[ "$(as desk patient duplicates --queue --format json | jq -c '[.[] | select(.a == "pd1" or .b == "pd1") | [.a, .b, .result, .found_by]]')" = \
  '[["pd1","pd2","no-match","identifier"]]' ] || fail "the pair is not queued: $(as desk patient duplicates --queue)"
as svc export --quiet --plaintext --type Observation --out dl-out || fail "export failed"
[ "$(jq -r 'select(.id == "od2") | .subject.reference' dl-out/Observation.*.ndjson)" = "Patient/pd2" ] ||
  fail "Daniel's weight is not on his record: $(cat dl-out/Observation.*.ndjson)"

# The trail: who merged, unmerged and ruled out which patients; no content.
export EHR_USER=admin EHR_KEY_FILE=admin.key
run audit show --format csv
for action in merge unmerge not-duplicate; do
  [ "$(grep -c ",desk,registrar,$action,ok," <<<"$OUT")" = 1 ] || fail "audit: no $action entry: $OUT"
done
grep -q "Smith\|Gomez\|Gómez" <<<"$OUT" && fail "patient names in the audit trail"
finish
