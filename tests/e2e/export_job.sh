#!/usr/bin/env bash
# ehr export --job for cron: the first run exports everything; after 10
# records changed, 2 retracted and 5 added the next run holds exactly those
# 15 resources and 2 deletions; a run with no changes is empty and moves the
# checkpoint nowhere wrong; a run killed with SIGKILL leaves no output and
# the checkpoint unchanged, so the next run has the whole window; a second
# run of a running job exits 75; a job's filters never change.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
"$EHR" key new -o doc.key -q && "$EHR" user add doc --role physician --new-key-file doc.key -q || fail "user add failed"

LOINC=http://loinc.org
obs() {  # id patient value
  printf '{"resourceType":"Observation","id":"%s","status":"final","code":{"coding":[{"system":"%s","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":%s,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}\n' \
    "$1" "$LOINC" "$2" "$3"
}
{
  echo '{"resourceType":"Patient","id":"p1","name":[{"family":"Testperson","given":["Ada"]}],"gender":"female","birthDate":"1970-01-01"}'
  echo '{"resourceType":"Patient","id":"p2","name":[{"family":"Exampleton","given":["Bo"]}],"gender":"male","birthDate":"1980-02-02"}'
  for i in $(seq -w 1 30); do obs "o$i" p$(( (10#$i % 2) + 1 )) "5.$i"; done
} >data.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key "$EHR" import --quiet data.ndjson || fail "import failed"
"$EHR" patient team add p1 doc -q && "$EHR" patient team add p2 doc -q || fail "team add failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key
ids() { cat "$1"/*.ndjson 2>/dev/null | jq -r '.resourceType + "/" + .id' | sort | tr '\n' ' '; }
deletions() { cat "$1"/deleted/*.ndjson 2>/dev/null | jq -r '.entry[].request.url' | sort | tr '\n' ' '; }
mask_times() { sed -E 's/in [0-9]+\.[0-9] s/in T s/g; s/\([0-9]+\.[0-9] MB\)/(M MB)/; s/since [0-9T:.Z-]+/since TIME/'; }

# --- the first run: everything ---------------------------------------------------
run export --job nightly --out run1
expect_code 0
ERR=$(mask_times <<<"$ERR")
SEQ1=$(jq .extension.changeSequence run1/manifest.json)
expect_err "ehr: exported 33 resources to run1: 4 files (M MB) in T s; job nightly: first run, everything up to change $SEQ1"
[ "$(jq -c '.extension | {job, sinceChangeSequence}' run1/manifest.json)" = '{"job":"nightly","sinceChangeSequence":0}' ] ||
  fail "manifest extension: $(jq -c .extension run1/manifest.json)"
[ ! -d run1/deleted ] || fail "a first run has deletions"

# --- 10 changed, 2 retracted, 5 added: exactly those --------------------------------
for i in 01 02 03 04 05 06 07 08 09 10; do
  "$EHR" --user doc --key-file doc.key record amend "Observation/o$i" --value 7.$i --reason recheck -q >/dev/null ||
    fail "amend o$i failed"
done
for i in 11 12; do
  "$EHR" --user doc --key-file doc.key record retract "Observation/o$i" --reason "wrong patient" -q || fail "retract o$i failed"
done
for i in 31 32 33 34 35; do
  obs "o$i" p1 6.1 | "$EHR" --user doc --key-file doc.key record add --json - -q >/dev/null || fail "add o$i failed"
done
run export --job nightly --out run2
expect_code 0
ERR=$(mask_times <<<"$ERR")
SEQ2=$(jq .extension.changeSequence run2/manifest.json)
expect_err "ehr: exported 15 resources and 2 deletions to run2: 3 files (M MB) in T s; job nightly: changes $((SEQ1 + 1)) to $SEQ2, since TIME"
expected=""
for i in 01 02 03 04 05 06 07 08 09 10 31 32 33 34 35; do expected+="Observation/o$i "; done
[ "$(ids run2)" = "$expected" ] || fail "run2 holds: $(ids run2)"
[ "$(deletions run2)" = "Observation/o11 Observation/o12 " ] || fail "run2 deletes: $(deletions run2)"
[ "$(jq -c '[.extension.sinceChangeSequence, .extension.sinceTransactionTime]' run2/manifest.json)" = \
  "[$SEQ1,$(jq .transactionTime run1/manifest.json)]" ] || fail "run2 does not start where run1 ended"
[ "$(jq -r 'select(.id == "o05") | .valueQuantity.value' run2/Observation.001.ndjson)" = 7.05 ] ||
  fail "run2 has not the amended value"

# --- nothing changed: an empty set, and the checkpoint where it was ------------------
run export --job nightly --out run3
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 0 resources to run3: 1 file (M MB) in T s; job nightly: nothing changed since TIME (change $SEQ2)"
[ "$(ls -A run3)" = manifest.json ] || fail "run3 holds: $(ls -A run3)"
[ "$(jq -c '[.output, .deleted, .extension.changeSequence, .extension.sinceChangeSequence]' run3/manifest.json)" = "[[],[],$SEQ2,$SEQ2]" ] ||
  fail "run3 manifest: $(cat run3/manifest.json)"
"$EHR" --user doc --key-file doc.key record amend Observation/o20 --value 9.9 --reason recheck -q >/dev/null || fail "amend o20 failed"
run export --quiet --job nightly --out run4
expect_code 0
[ "$(ids run4)" = "Observation/o20 " ] || fail "run4 holds: $(ids run4)"

# --- killed mid-way: no output, checkpoint unchanged, the next run has it all --------
# (A run is caught while its temporary directory exists: it holds the job's lock
# and has not renamed it yet. 3000 new records in one file each, every file
# fsynced, keep it there long enough even in an optimised build.)
TWENTY="01 02 03 04 05 06 07 08 09 10 13 14 15 16 17 18 19 20 21 22"  # o11, o12 are retracted
for i in $TWENTY; do
  "$EHR" --user doc --key-file doc.key record amend "Observation/o$i" --value 8.$i --reason again -q >/dev/null || fail "amend failed"
done
for i in $(seq 1001 4000); do obs "o$i" p1 4.2; done >bulk.ndjson
"$EHR" import --quiet bulk.ndjson || fail "bulk import failed"
expected=$(printf 'Observation/o%s\n' $TWENTY $(seq 1001 4000) | sort | tr '\n' ' ')
CHECKPOINT=$(jq .extension.changeSequence run4/manifest.json)
catch() {  # out: starts a job run, stops it (SIGSTOP) while it runs; sets PID, or fails
  PID=
  local try
  for try in 1 2 3 4 5; do
    "$EHR" export --quiet --job nightly --max-file-size 200 --out "$1" & local pid=$!
    while kill -0 "$pid" 2>/dev/null && ! compgen -G ".$1.tmp-*/*" >/dev/null; do :; done
    kill -STOP "$pid" 2>/dev/null
    if [ ! -d "$1" ] && compgen -G ".$1.tmp-*" >/dev/null; then PID=$pid; return 0; fi
    kill -CONT "$pid" 2>/dev/null; wait "$pid"
    # It finished first and moved the checkpoint: the window is now one amend.
    CHECKPOINT=$(jq .extension.changeSequence "$1/manifest.json")
    rm -rf "$1"
    "$EHR" --user doc --key-file doc.key record amend Observation/o01 --value "9.$try" --reason again -q >/dev/null
    expected="Observation/o01 "
  done
  fail "could not catch a running export in 5 tries"
}
catch killed
if [ -n "$PID" ]; then
  # A second run of the same job meanwhile: refused at once.
  run export --job nightly --out other
  expect_code 75
  expect_err "ehr: error: export job nightly is running (another run holds its lock); try again later
ehr: hint: another ehr process holds the lock; retry later"
  [ ! -e other ] || fail "the refused run wrote other/"
  # The stopped run holds a read transaction, not the write lock: a writer
  # meanwhile commits (with the write lock held it waited 5 s, then exit 75).
  "$EHR" key new -o nurse.key -q || fail "key new failed"
  EHR_USER=admin EHR_KEY_FILE=admin.key run user add nurse1 --role nurse --new-key-file nurse.key -q
  expect_code 0
  kill -KILL "$PID"; wait "$PID" 2>/dev/null
  [ ! -e killed ] || fail "a killed run left killed/"
  run export --job nightly --out killed
  expect_code 0
  expect_err_contains "ehr: removed ./.killed.tmp-"
  [ "$(jq .extension.sinceChangeSequence killed/manifest.json)" = "$CHECKPOINT" ] ||
    fail "the killed run moved the checkpoint"
  # (and the import's Provenance records, one per 1000 targets)
  observations=$(ids killed | tr ' ' '\n' | grep '^Observation/' | tr '\n' ' ')
  [ "$observations" = "$expected" ] ||
    { diff <(tr ' ' '\n' <<<"$expected") <(tr ' ' '\n' <<<"$observations") | head -5; fail "the run after the kill holds other records"; }
fi

# --- a job's filters, names and windows ----------------------------------------------
run export --job nightly --type Patient --out typed
expect_code 64
expect_err "ehr: error: export job nightly was started with every type, every patient; this run asks for --type Patient, every patient (a job's filters never change: name a new job)"
run export --job labs --type Observation --patient p2 --out labs1
expect_code 0
[ "$(ids labs1 | wc -w)" = 14 ] || fail "labs1 holds: $(ids labs1)"  # p2's: the odd ones, less o11
run export --job labs --type Observation --patient p1 --out labs2
expect_code 64
expect_err_contains "was started with --type Observation, --patient p2; this run asks for --type Observation, --patient p1"
run export --job nightly --since 2026-01-01T00:00:00Z --out x
expect_code 64
expect_err "ehr: error: --job sets the window itself: it takes no --since or --until"
run export --job "night/ly" --out x
expect_code 64
expect_err "ehr: error: --job night/ly: a job name is 1 to 64 letters, digits, '.', '_' or '-'"
run export --job nightly --format bundle --patient p1 -o p1.json
expect_code 64
expect_err "ehr: error: --job is for --format ndjson and csv; a bundle is one patient's whole record"
[ ! -e x ] && [ ! -e p1.json ] && [ ! -e typed ] && [ ! -e labs2 ] || fail "a refused run wrote a directory"

finish
