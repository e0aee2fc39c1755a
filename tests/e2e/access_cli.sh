#!/usr/bin/env bash
# Users, roles and the access policy from the shell: the registrar sees
# demographics only, a physician off the care team is refused (77) unless
# they break the glass, a disabled user cannot open the file, an invalid
# policy is refused (78) and the old one stays.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
for k in alice bob carol desk rx; do "$EHR" key new -o $k.key -q || fail "key new $k"; done
"$EHR" init -q || fail "init failed"

# The admin manages users but reads and writes no clinical data.
run user add bob --role physician --new-key-file bob.key
expect_code 0
expect_err "ehr: added user bob (roles: physician) with key slot 1"
run user add carol --role physician --new-key-file carol.key -q
run user add desk --role registrar --new-key-file desk.key -q
run user add rx --role pharmacist --new-key-file rx.key -q
run user add eve --role wizard --new-key-file rx.key
expect_code 64
expect_err "ehr: error: unknown role wizard (the policy has: admin, physician, nurse, pharmacist, lab, registrar, auditor, service)"
run user add eve --role nurse --new-key-file rx.key --new-passphrase-file rx.key
expect_code 64
expect_err "ehr: error: --new-key-file and --new-passphrase-file are mutually exclusive"
run user list --format csv
expect_code 0
expect_out_contains "bob,physician,enabled,1,"
# A key file given as a flag wins over a passphrase file from the config file
# or the environment (the lower precedence), as every setting does; two of
# the same level are ambiguous (QA ops sweep: a cron line broke on exit 64).
mkdir -p "$XDG_CONFIG_HOME/ehr"; printf 'passphrase_file: /nonexistent/pass
' >"$XDG_CONFIG_HOME/ehr/config.yaml"
run --key-file alice.key user list --format csv
expect_code 0
EHR_PASSPHRASE_FILE=/nonexistent/pass run --key-file alice.key user list --format csv
expect_code 0
rm "$XDG_CONFIG_HOME/ehr/config.yaml"
run --key-file alice.key --passphrase-file /nonexistent/pass user list
expect_code 64
expect_err_contains "ehr: error: --key-file and --passphrase-file are mutually exclusive"
run patient add --family Admin --given Try
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user alice (roles: admin) may not create Patient: no role of the user allows create on Patient"

# Bob registers a patient (and so joins the care team) and charts.
run --user bob --key-file bob.key patient add --given Zoë --family Núñez --birth-date 1984-02-29 --gender female --mrn A1001
expect_code 0
P=$OUT
run --user bob --key-file bob.key record add --patient A1001 --type vital --code 29463-7 --display "Body weight" --value 72.5 --unit kg --date 2026-11-20
expect_code 0
run --user bob --key-file bob.key record add --patient A1001 --type condition --code 44054006 --display "Diabetes mellitus type 2"
expect_code 0
run --user bob --key-file bob.key patient team list A1001 --format csv
expect_code 0
expect_out_contains "bob,creator,"

# The registrar: demographics only, the rest withheld and counted.
run --user desk --key-file desk.key record show --patient A1001 --format ndjson
expect_code 0
expect_err "ehr: warning: 2 records withheld by the access policy"
[ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] || fail "registrar saw more than the patient: $OUT"
expect_out_contains '"resourceType":"Patient"'
expect_out_contains '"code":"REDACTED"'

# Carol, a physician off the care team: refused, nothing on stdout.
run --user carol --key-file carol.key record show --patient A1001
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user carol (roles: physician) may not read Patient $P: role physician: not on the patient's care team (break the glass with --emergency --reason TEXT)"
run --user carol --key-file carol.key record show --patient A1001 --emergency
expect_code 64
expect_err_contains "--emergency needs --reason TEXT"
# Breaking the glass: the record, and a warning that it is flagged.
run --user carol --key-file carol.key record show --patient A1001 --format ndjson --emergency --reason "unconscious in the ED"
expect_code 0
[ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ] || fail "emergency read did not print the whole record: $OUT"
expect_err "ehr: warning: emergency access to patient $P is recorded and flagged for review"
# The grant lasts: the next read within the hour needs no flag, and is flagged too.
run --user carol --key-file carol.key record show --patient A1001 --format ndjson
expect_code 0
expect_err "ehr: warning: emergency access to patient $P is recorded and flagged for review"

# A search never breaks the glass: carol's grant covers A1001 only, and
# --emergency on a list across patients grants nothing more.
run --user bob --key-file bob.key patient add --family Other --given Pat --mrn A1002 -q
P2=$OUT
run --user bob --key-file bob.key record add --patient A1002 --type condition --code 38341003 --display Hypertension -q
run --user carol --key-file carol.key record list --type Condition --format csv --emergency --reason "sweep"
expect_code 0
expect_err "ehr: warning: 1 record withheld by the access policy
ehr: warning: emergency access to patient $P is recorded and flagged for review"
expect_out_contains "Diabetes mellitus type 2"
case "$OUT" in *Hypertension*) fail "a list broke the glass on another patient";; esac

# The pharmacist is not eligible for break-the-glass.
run --user rx --key-file rx.key record show --patient A1001 --emergency --reason "refill"
expect_code 77
expect_err "ehr: error: access denied: user rx (roles: pharmacist) may not read Patient $P: role pharmacist: not on the patient's care team"
# On the team, the pharmacist sees the weight but not the diagnosis... of conditions: allowed.
run --user desk --key-file desk.key patient team add A1001 rx --role pharmacy
expect_code 0
run --user rx --key-file rx.key record show --patient A1001 --format ndjson
expect_code 0
expect_out_contains '"code":"29463-7"'

# policy check explains; exit 0 allowed, 1 denied.
run --user carol --key-file carol.key policy check --action read --type Condition --patient A1001 --format json
expect_code 0
expect_out_contains '"rule": "physician allow 1 (line'
run policy check --for bob --action read --type Observation --patient A1001 --label PSYTHPN --format ndjson
expect_code 0
run policy check --action read --type Observation --patient A1001 --format ndjson
expect_code 1
expect_out_contains '"decision":"deny","rule":"default deny"'

# Every action is listed, merge included (it works but was left out).
run policy check --action reed --type Patient
expect_code 64
expect_err "ehr: error: --action reed: not one of read, search, create, update, retract, purge, export, import, audit-read, admin, merge"
run policy check --help
expect_out_contains "read, search, create, update, retract, purge, export, import, audit-read, admin or merge"
run policy check --action merge --type Patient --format ndjson
case "$CODE" in 0 | 1) ;; *) fail "policy check --action merge: exit $CODE ($ERR)" ;; esac
run policy check --action read --type Frobnicate
expect_code 64
expect_err "ehr: error: --type Frobnicate: not a FHIR R4 resource type nor one of User, Key, Policy, CareTeam, AuditEvent, Database"

# A policy check naming a patient used to answer anyone and leave no trace:
# a probe for which MRNs exist and whose team someone is on. Now a user who
# may not read the patient gets the answer for an MRN of nobody, and every
# check is audited (policy-check), naming the patient.
run --user carol --key-file carol.key policy check --action read --type Condition --patient A1002
expect_code 1
expect_out ""
expect_err "ehr: error: no patient A1002 that you may read"
run --user carol --key-file carol.key policy check --action read --type Condition --patient "$P2" --label PSYTHPN
expect_code 1
expect_out ""
expect_err "ehr: error: no patient $P2 that you may read"
run --user carol --key-file carol.key policy check --action read --type Condition --patient A9999
expect_code 1
expect_out ""
expect_err "ehr: error: no patient A9999 that you may read"
# An auditor or admin asks about anyone and any patient.
run policy check --for carol --action read --type Condition --patient A1002 --format ndjson
expect_code 1
expect_out_contains '"decision":"deny","rule":"default deny","reason":"role physician: not on the patient'"'"'s care team"'
expect_out_contains '"patient":"'"$P2"'","on_care_team":false'
expect_err ""
run policy check --action read --type Condition --patient A9999
expect_code 1
expect_out ""
expect_err "ehr: error: no patient A9999"
# The trail (time left out): who asked what about whom, and the answer.
run audit show --action policy-check --format csv
expect_code 0
OUT=$(printf '%s\n' "$OUT" | cut -d, -f3-)
expect_out "user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail
carol,physician,policy-check,ok,treatment,$P,,0,true,,user carol read Condition: allow
alice,admin,policy-check,ok,treatment,$P,,0,false,,user bob read Observation: allow
alice,admin,policy-check,ok,treatment,$P,,0,false,,user alice read Observation: deny
alice,admin,policy-check,ok,treatment,,,0,false,,user alice merge Patient: deny
carol,physician,policy-check,denied,treatment,$P2,,0,false,,user carol read Condition: may not read the patient
carol,physician,policy-check,denied,treatment,$P2,,0,false,,user carol read Condition: may not read the patient
carol,physician,policy-check,not-found,treatment,,,0,false,,user carol read Condition: no such patient
alice,admin,policy-check,ok,treatment,$P2,,0,false,,user carol read Condition: deny
alice,admin,policy-check,not-found,treatment,,,0,false,,user alice read Condition: no such patient"

# The admin, who may not read the patient, still assigns its team by MRN.
run patient team add A1001 carol --role consulting
expect_code 0
expect_err "ehr: carol joined the care team of patient A1001"
run patient team remove A1001 carol
expect_code 0

# A service account reads nothing interactively: an explicit deny, exit 77.
"$EHR" key new -o svc.key -q
run user add svc --role service --new-key-file svc.key -q
run --user svc --key-file svc.key record list
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user svc (roles: service) may not search *: role service is explicitly denied search on *"

# An invalid policy: exit 78 naming file, line and column; the old one stays.
run policy show
expect_code 0
before=$OUT
printf 'schema: ehr-policy\nversion: 1\nroles:\n  admin:\n    allow:\n      - actions: [reed]\n' > bad.yaml
run policy apply bad.yaml
expect_code 78
expect_err "ehr: error: bad.yaml:6:19: unknown action 'reed' (read, search, create, update, retract, purge, export, import, audit-read, admin, merge)"
run policy show
[ "$OUT" = "$before" ] || fail "a refused policy changed the one in force"
run policy list --format csv
expect_out "version,applied,by,source,in_force"
# A negative --version is a usage error; it printed the policy in force.
run policy show --version -1
expect_code 64
expect_out ""
expect_err "ehr: error: --version must be 0 or more"
run policy show --version 9
expect_code 1
printf 'schema: ehr-policy\nversion: 1\nroles: [\n' > syntax.yaml
run policy apply --dry-run syntax.yaml
expect_code 78
expect_err_contains "ehr: error: syntax.yaml:4:1: "
# A valid one dropping a role users hold is refused too.
printf 'schema: ehr-policy\nversion: 1\nroles:\n  admin:\n    allow:\n      - actions: [admin]\n' > small.yaml
run policy apply small.yaml
expect_code 78
expect_err "ehr: error: small.yaml: role physician of user bob is not in the new policy"
# Only admins apply policies.
run --user bob --key-file bob.key policy apply small.yaml
expect_code 77
expect_err "ehr: error: access denied: user bob (roles: physician) may not admin Policy: no role of the user allows admin on Policy"
# Nor add users: refused before any secret is asked for (QA finding: a
# non-admin was asked for the new user's passphrase first, exit 64).
run --user bob --key-file bob.key user add eve --role nurse
expect_code 77
expect_err "ehr: error: access denied: user bob (roles: physician) may not admin User: no role of the user allows admin on User"

# A disabled user's secret no longer opens the file.
run user disable bob
expect_code 0
run --user bob --key-file bob.key record show --patient A1001
expect_code 77
expect_out ""
expect_err_contains "ehr: error: wrong passphrase or key"
run user disable alice
expect_code 65
expect_err "ehr: error: you cannot disable yourself"
run user enable bob --new-key-file bob.key
expect_code 0
run --user bob --key-file bob.key record show --patient A1001 --format ndjson
expect_code 0

# --- security findings ---------------------------------------------------------
# A second clinic: alice (admin, physician), nina (nurse) on patient A's team
# only, the service account imp, and an auditor.
export EHR_DB=sec.db EHR_USER=alice EHR_KEY_FILE=alice.key
for k in nina imp aud; do "$EHR" key new -o $k.key -q || fail "key new $k"; done
"$EHR" init -q --role physician || fail "init sec.db failed"
run user add nina --role nurse --new-key-file nina.key -q
run user add imp --role service --new-key-file imp.key -q
run user add aud --role auditor --new-key-file aud.key -q
expect_code 0
nina() { run --user nina --key-file nina.key "$@"; }
aud() { run --user aud --key-file aud.key "$@"; }
run patient add --given Alpha --family Aaa --birth-date 1911-11-11 --mrn MRNA
PA=$OUT
run patient add --given Bravo --family Bbb --birth-date 1922-02-22 --mrn MRNB
PB=$OUT
run patient team add MRNA nina -q
expect_code 0

# Finding 1: records of patient B that name B elsewhere than subject, patient
# or beneficiary, or by MRN only, are B's; a Group of A and B is nobody's.
mkdir in1
echo "{\"resourceType\":\"Appointment\",\"id\":\"appt-1\",\"status\":\"booked\",\"description\":\"APPTSECRET\",\"participant\":[{\"actor\":{\"reference\":\"Patient/$PB\"},\"status\":\"accepted\"}]}" > in1/Appointment.ndjson
echo "{\"resourceType\":\"Task\",\"id\":\"task-1\",\"status\":\"requested\",\"intent\":\"order\",\"description\":\"TASKSECRET\",\"for\":{\"reference\":\"Patient/$PB\"}}" > in1/Task.ndjson
echo '{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}],"text":"OBSSECRET"},"subject":{"identifier":{"system":"urn:ehr:mrn","value":"MRNB"}},"valueQuantity":{"value":333.33,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}' > in1/Observation.ndjson
echo "{\"resourceType\":\"Group\",\"id\":\"grp-1\",\"type\":\"person\",\"actual\":true,\"member\":[{\"entity\":{\"reference\":\"Patient/$PA\"}},{\"entity\":{\"reference\":\"Patient/$PB\"}}]}" > in1/Group.ndjson
run --user imp --key-file imp.key import -q in1
expect_code 0
nina record list --type Appointment --type Task --type Observation --type Group --format csv
expect_code 0
expect_out "type,id,date,code,display,value,status"
expect_err "ehr: warning: 4 records withheld by the access policy"
for ref in Appointment/appt-1 Task/task-1 Observation/obs-1; do
  nina record history $ref
  expect_code 77
  expect_out ""
  expect_err "ehr: error: access denied: user nina (roles: nurse) may not read ${ref%/*} of patient $PB: role nurse: not on the patient's care team (break the glass with --emergency --reason TEXT)"
done
nina record history Observation/obs-1
expect_code 77
# alice is on both teams, and still no care-team rule reads a record of several patients.
run record history Group/grp-1
expect_code 77
expect_err "ehr: error: access denied: user alice (roles: admin physician) may not read Group of several patients: the record belongs to several patients; rules limited to the care team never allow it"
run record show --patient MRNB --format csv
expect_code 0
expect_out_contains "Appointment,appt-1"
expect_out_contains "Task,task-1"
expect_out_contains "Observation,obs-1"
case "$OUT" in *grp-1*) fail "a Group of two patients is in one patient's record";; esac
# The audit entries of these reads name patient B.
aud audit show --user nina --format csv
expect_code 0
[ "$(grep -c ",nina,nurse,read,denied,treatment,$PB," <<<"$OUT")" = 4 ] || fail "nina's denied reads do not name B: $OUT"
# Break the glass covers B's records, never the Group.
nina record history Task/task-1 --emergency --reason "patient B collapsed" --format ndjson
expect_code 0
expect_out_contains TASKSECRET
nina record history Group/grp-1 --emergency --reason "patient B collapsed"
expect_code 77
expect_err "ehr: error: access denied: user nina (roles: nurse) may not read Group of several patients: the record belongs to several patients; rules limited to the care team never allow it"

# Finding 2: a history decides each version on its own; a label or code
# dropped later does not reveal the versions before.
echo "{\"resourceType\":\"DocumentReference\",\"meta\":{\"security\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"PSYTHPN\"}]},\"status\":\"current\",\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"11506-3\"}]},\"content\":[{\"attachment\":{\"contentType\":\"text/plain\",\"data\":\"$(printf 'PSYSECRET' | base64)\"}}]}" > psy.json
run record add --patient MRNA --json psy.json
expect_code 0
R=$OUT
nina record history "$R"
expect_code 77
expect_err "ehr: error: access denied: user nina (roles: nurse) may not read DocumentReference of patient $PA: role nurse is not cleared for records labelled psychotherapy"
run record history "$R" --format json
jq '.[-1].resource | del(.meta)' <<<"$OUT" > v2.json
run record amend "$R" --json v2.json --reason "publish without the label" -q
expect_code 0
nina record history "$R" --format csv
expect_code 0
expect_out_contains "2,update,alice,"
case "$OUT" in *"1,create"*) fail "the labelled version 1 was shown: $OUT";; esac
expect_err "ehr: warning: 1 version withheld by the access policy"
aud audit show --user nina --action read --format csv
expect_out_contains "DocumentReference/${R#*/}/_history,1,false,,DocumentReference withheld 1"
finish
