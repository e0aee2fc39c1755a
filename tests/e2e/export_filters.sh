#!/usr/bin/env bash
# ehr export's filters from the shell: --group (a list with comments and
# MRNs, a FHIR Group, standard input, the union with --patient, an unknown
# member naming FILE:LINE (1), an empty group (65), a missing file (66));
# --type-filter on status, code, date and category, values ORed, parameters
# ANDed, several filters ORed, other types unfiltered, in NDJSON, CSV and a
# Bundle; an unsupported parameter (64, with the hint), the same with
# --lenient (a warning, the rest applied), what --lenient never allows; a
# job with a group that grows (the new member's whole history) and shrinks;
# a job with a type filter where a record stops matching (not deleted).
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
export EHR_USER=svc EHR_KEY_FILE=svc.key

# ids DIR TYPE: the ids in DIR's TYPE file, in order, on one line.
ids() { [ -f "$1/$2.001.ndjson" ] && jq -r .id "$1/$2.001.ndjson" | tr '\n' ' '; }
# files DIR: the files of DIR with their line counts.
files() { (cd "$1" && for f in *.ndjson; do [ -f "$f" ] && echo "$f $(wc -l <"$f")"; done); }
mask_times() {
  sed -E 's/in [0-9]+\.[0-9] s/in T s/g; s/\([0-9]+\.[0-9] MB\)/(M MB)/; s/since [0-9T:.Z-]+/since TIME/;
          s/changes [0-9]+ to [0-9]+/changes N to N/; s/change [0-9]+/change N/'
}
LOINC=http://loinc.org
SCT=http://snomed.info/sct
RX=http://www.nlm.nih.gov/research/umls/rxnorm
CAT=http://terminology.hl7.org/CodeSystem/observation-category
CLIN=http://terminology.hl7.org/CodeSystem/condition-clinical
obs() {  # id patient status category code date-element
  printf '{"resourceType":"Observation","id":"%s","status":"%s","category":[{"coding":[{"system":"%s","code":"%s"}]}],"code":{"coding":[%s]},"subject":{"reference":"Patient/%s"},%s}\n' \
    "$1" "$3" "$CAT" "$4" "$5" "$2" "$6"
}
{
  echo '{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:2.16.840.1.113883.3.1","value":"MRN-1"}],"name":[{"family":"Testperson","given":["Ada"]}],"gender":"female"}'
  echo '{"resourceType":"Patient","id":"p2","name":[{"family":"Exampleton","given":["Bo"]}],"gender":"male"}'
  echo '{"resourceType":"Patient","id":"p3","name":[{"family":"Sample","given":["Cy"]}],"gender":"other"}'
  obs obs-1 p1 final laboratory "{\"system\":\"$LOINC\",\"code\":\"2345-7\"}" '"effectiveDateTime":"2026-01-10T08:00:00Z"'
  obs obs-2 p1 final vital-signs "{\"system\":\"$LOINC\",\"code\":\"8867-4\"}" '"effectiveDateTime":"2026-02-15T08:00:00Z"'
  obs obs-3 p2 preliminary laboratory "{\"system\":\"$LOINC\",\"code\":\"2345-7\"},{\"system\":\"urn:local\",\"code\":\"GLU\"}" \
    '"effectiveDateTime":"2026-03-01T09:00:00Z"'
  obs obs-4 p2 amended laboratory "{\"system\":\"$LOINC\",\"code\":\"4548-4\"}" '"effectivePeriod":{"start":"2026-03-20","end":"2026-04-10"}'
  obs obs-5 p3 final laboratory "{\"system\":\"$LOINC\",\"code\":\"2345-7\"}" '"effectiveDateTime":"2025-12-31T23:00:00Z"'
  cond() {  # id patient code clinical-status
    printf '{"resourceType":"Condition","id":"%s","subject":{"reference":"Patient/%s"},"code":{"coding":[{"system":"%s","code":"%s"}]},"clinicalStatus":{"coding":[{"system":"%s","code":"%s"}]}}\n' \
      "$1" "$2" "$SCT" "$3" "$CLIN" "$4"
  }
  cond cond-1 p1 44054006 active
  cond cond-2 p2 38341003 resolved
  medreq() {  # id patient status authoredOn
    printf '{"resourceType":"MedicationRequest","id":"%s","status":"%s","intent":"order","subject":{"reference":"Patient/%s"},"medicationCodeableConcept":{"coding":[{"system":"%s","code":"860975"}]},"authoredOn":"%s"}\n' \
      "$1" "$3" "$2" "$RX" "$4"
  }
  medreq mr-1 p1 active 2026-01-05
  medreq mr-2 p2 stopped 2025-06-01
} >data.ndjson
run import --quiet data.ndjson
expect_code 0
expect_err ""

# --- --group: a list with comments, MRNs, duplicates ----------------------------------
cat >cohort.txt <<'TXT'
# registry cohort, 2026
p1
   MRN-1     # p1 again, by MRN

p3	# tab before the comment
TXT
run export --group cohort.txt --type Patient,Observation --out g1
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 5 resources to g1: 3 files (M MB) in T s; group cohort.txt: 2 members"
[ "$(files g1)" = "Observation.001.ndjson 3
Patient.001.ndjson 2" ] || fail "g1 files: $(files g1)"
[ "$(ids g1 Patient)" = "p1 p3 " ] || fail "g1 patients: $(ids g1 Patient)"
[ "$(ids g1 Observation)" = "obs-1 obs-2 obs-5 " ] || fail "g1 observations: $(ids g1 Observation)"
[ "$(jq -r .request g1/manifest.json)" = "ehr export --out g1 --type Patient,Observation --group cohort.txt" ] ||
  fail "request: $(jq -r .request g1/manifest.json)"
[ "$(jq -c .extension.group g1/manifest.json)" = '{"file":"cohort.txt","members":2}' ] ||
  fail "manifest group: $(jq -c .extension g1/manifest.json)"
grep -q Testperson g1/manifest.json && fail "patient content in the manifest"

# With --patient: the union. From standard input. As a FHIR Group (inactive members left out).
run export --quiet --group cohort.txt --patient p2 --type Patient --out g2
expect_code 0
[ "$(ids g2 Patient)" = "p1 p2 p3 " ] || fail "union: $(ids g2 Patient)"
run export --quiet --group - --type Observation --out g3 <<<"p2"
expect_code 0
[ "$(ids g3 Observation)" = "obs-3 obs-4 " ] || fail "stdin: $(ids g3 Observation)"
[ "$(jq -c .extension.group g3/manifest.json)" = '{"file":"<stdin>","members":1}' ] || fail "stdin group: $(jq -c .extension g3/manifest.json)"
cat >group.json <<'JSON'
{"resourceType":"Group","type":"person","actual":true,"member":[
  {"entity":{"reference":"Patient/p2"}},
  {"entity":{"reference":"Patient/p3"},"inactive":true}]}
JSON
run export --quiet --group group.json --type Patient --out g4
expect_code 0
[ "$(ids g4 Patient)" = "p2 " ] || fail "Group resource: $(ids g4 Patient)"

# Errors: nothing written.
printf 'p1\n\n  nobody  \n' >bad.txt
run export --group bad.txt --out x
expect_code 1
expect_err "ehr: error: bad.txt:3: no patient nobody"
printf '{"resourceType":"Group","member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p9"}}]}' >bad.json
run export --group bad.json --out x
expect_code 1
expect_err "ehr: error: bad.json: member[1]: no patient p9"
printf '# nobody yet\n\n' >empty.txt
run export --group empty.txt --out x
expect_code 65
expect_err "ehr: error: empty.txt: the group has no members"
run export --group missing.txt --out x
expect_code 66
expect_err "ehr: error: cannot read missing.txt"
run export --format bundle --group cohort.txt -o x.json
expect_code 64
expect_err "ehr: error: --group is for --format ndjson and csv; a bundle is one patient's record (--patient)"
[ ! -e x ] && [ ! -e x.json ] || fail "a refused export wrote x"

# --- --type-filter ----------------------------------------------------------------------
tf() {  # out filter...: an export of Observation with these filters; prints the ids
  local out=$1; shift
  local args=()
  for f in "$@"; do args+=(--type-filter "$f"); done
  run export --quiet --type Observation "${args[@]}" --out "$out"
  [ "$CODE" = 0 ] || fail "export $out: exit $CODE: $ERR"
  ids "$out" Observation
}
[ "$(tf s1 'Observation?status=final')" = "obs-1 obs-2 obs-5 " ] || fail "status: $(ids s1 Observation)"
[ "$(tf s2 'Observation?status=preliminary,amended')" = "obs-3 obs-4 " ] || fail "status OR: $(ids s2 Observation)"
[ "$(tf s3 'Observation?status=preliminary' 'Observation?code=8867-4')" = "obs-2 obs-3 " ] || fail "filters OR: $(ids s3 Observation)"
[ "$(tf s4 'Observation?category=laboratory&status=final')" = "obs-1 obs-5 " ] || fail "AND: $(ids s4 Observation)"
[ "$(tf s5 'Observation?code=http://loinc.org|2345-7')" = "obs-1 obs-3 obs-5 " ] || fail "system|code: $(ids s5 Observation)"
[ "$(tf s6 'Observation?code=urn%3Alocal%7CGLU')" = "obs-3 " ] || fail "second coding: $(ids s6 Observation)"
[ "$(tf s7 'Observation?date=ge2026-01&date=lt2026-03')" = "obs-1 obs-2 " ] || fail "date range: $(ids s7 Observation)"
[ "$(tf s8 'Observation?date=2026-03')" = "obs-3 " ] || fail "date month: $(ids s8 Observation)"  # obs-4 runs into April
[ "$(tf s9 'Observation?date=gt2026-03-31')" = "obs-4 " ] || fail "date gt: $(ids s9 Observation)"
[ "$(tf s10 'Observation?date=lt2026')" = "obs-5 " ] || fail "date lt: $(ids s10 Observation)"
[ "$(tf s11 'Observation?category=vital-signs,nothing&code=8867-4,2345-7')" = "obs-2 " ] || fail "OR and AND: $(ids s11 Observation)"
[ "$(jq -r .request s4/manifest.json)" = "ehr export --out s4 --type Observation --type-filter 'Observation?category=laboratory&status=final'" ] ||
  fail "request: $(jq -r .request s4/manifest.json)"
[ "$(jq -c .extension.typeFilters s3/manifest.json)" = '["Observation?code=8867-4","Observation?status=preliminary"]' ] ||
  fail "typeFilters: $(jq -c .extension s3/manifest.json)"
[ "$(jq -c '[.output[] | {type, count}]' s1/manifest.json)" = '[{"type":"Observation","count":3}]' ] || fail "s1 manifest: $(jq -c .output s1/manifest.json)"
# A filter that matches nothing: no file for the type.
[ "$(tf s12 'Observation?status=cancelled')" = "" ] || fail "nothing: $(ls s12)"
[ "$(ls s12)" = manifest.json ] || fail "s12 holds: $(ls s12)"

# Each type filtered on its own; other types not at all. Condition's status is clinicalStatus.
run export --quiet --type Observation,Condition,MedicationRequest --type-filter 'Observation?category=vital-signs' \
  --type-filter 'Condition?clinical-status=active' --type-filter 'MedicationRequest?status=active&date=ge2026' --out t1
expect_code 0
[ "$(files t1)" = "Condition.001.ndjson 1
MedicationRequest.001.ndjson 1
Observation.001.ndjson 1" ] || fail "t1 files: $(files t1)"
[ "$(ids t1 Observation)$(ids t1 Condition)$(ids t1 MedicationRequest)" = "obs-2 cond-1 mr-1 " ] || fail "t1: $(cat t1/*.ndjson)"
run export --quiet --type Observation,Condition --type-filter 'Observation?category=vital-signs' --out t2
expect_code 0
[ "$(ids t2 Condition)" = "cond-1 cond-2 " ] || fail "an unfiltered type was filtered: $(ids t2 Condition)"
# With a group.
run export --quiet --group cohort.txt --type Observation --type-filter 'Observation?category=laboratory' --out t3
expect_code 0
[ "$(ids t3 Observation)" = "obs-1 obs-5 " ] || fail "group and filter: $(ids t3 Observation)"

# CSV: the same records.
run export --quiet --format csv --type Observation --type-filter 'Observation?status=final' --out c1
expect_code 0
[ "$(wc -l <c1/Observation.csv)" = 4 ] || fail "csv rows: $(cat c1/Observation.csv)"
[ "$(tail -n +2 c1/Observation.csv | cut -d, -f3 | tr -d '\r' | tr '\n' ' ')" = "obs-1 obs-2 obs-5 " ] || fail "csv ids: $(cat c1/Observation.csv)"
# A Bundle: its entries of the type.
run export --quiet --format bundle --patient p1 -o - --type-filter 'Observation?category=laboratory'
expect_code 0
[ "$(jq -r '.entry[] | "\(.search.mode) \(.resource.resourceType)/\(.resource.id)"' <<<"$OUT" | tr '\n' ' ')" = \
  "match Patient/p1 match Condition/cond-1 match MedicationRequest/mr-1 match Observation/obs-1 " ] || fail "bundle: $OUT"
[ "$(jq .total <<<"$OUT")" = 4 ] || fail "bundle total: $(jq .total <<<"$OUT")"

# --- refusals and --lenient -------------------------------------------------------------
run export --type-filter 'Observation?subject=Patient/p1' --out x
expect_code 64
expect_err "ehr: error: --type-filter 'Observation?subject=Patient/p1': subject: not a supported parameter for Observation (it supports category, code, date, status)
ehr: hint: --lenient ignores an unsupported parameter or a malformed value with a warning (as Bulk Data's Prefer: handling=lenient); see ehr-export(1) for the supported ones"
run export --quiet --lenient --type Observation --type-filter 'Observation?subject=Patient/p1&status=final' \
  --type-filter 'Observation?code:text=glucose' --out l1
expect_code 0
expect_err "ehr: warning: --type-filter 'Observation?subject=Patient/p1&status=final': ignoring subject: not a supported parameter for Observation (it supports category, code, date, status)
ehr: warning: --type-filter 'Observation?code:text=glucose': ignoring code:text: modifiers are not supported"
# The second filter lost its only parameter: it matches every Observation (more, never less).
[ "$(ids l1 Observation)" = "obs-1 obs-2 obs-3 obs-4 obs-5 " ] || fail "lenient: $(ids l1 Observation)"
[ "$(jq -c .extension.typeFilters l1/manifest.json)" = '["Observation?","Observation?status=final"]' ] ||
  fail "lenient typeFilters: $(jq -c .extension l1/manifest.json)"
run export --quiet --lenient --type Observation --type-filter 'Observation?date=2026-13&status=final' --out l2
expect_code 0
expect_err "ehr: warning: --type-filter 'Observation?date=2026-13&status=final': ignoring date=2026-13: 2026-13 is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] with Z or +hh:mm)"
[ "$(ids l2 Observation)" = "obs-1 obs-2 obs-5 " ] || fail "lenient date: $(ids l2 Observation)"
run export --type-filter 'Observation?date=2026-13' --out x
expect_code 64
expect_err_contains "ehr: error: --type-filter 'Observation?date=2026-13': date=2026-13: 2026-13 is not a date"
run export --lenient --type-filter 'Observation?status=final&_sort=date' --out x
expect_code 64
expect_err "ehr: error: --type-filter 'Observation?status=final&_sort=date': _sort is not allowed in a type filter (Bulk Data forbids _sort, _include, _revinclude and _elements there)"
run export --type Observation --type-filter 'Condition?status=active' --out x
expect_code 64
expect_err "ehr: error: --type-filter 'Condition?status=active': Condition is not one of the exported types (--type Observation)"
run export --type-filter 'status=final' --out x
expect_code 64
expect_err "ehr: error: --type-filter 'status=final': not Type?param=value[&param=value...]"
run export --type-filter 'Patient?status=active' --out x
expect_code 64
expect_err_contains "ehr: error: --type-filter 'Patient?status=active': status: Patient supports no type filter parameter"
run export --lenient --out x
expect_code 64
expect_err "ehr: error: --lenient applies only to --type-filter"
[ ! -e x ] || fail "a refused export wrote x"

# --- a job's group grows and shrinks ------------------------------------------------------
echo p1 >job.txt
run export --job reg --group job.txt --type Patient,Observation --out j1
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 3 resources to j1: 3 files (M MB) in T s; job reg: first run, everything up to change N; group job.txt: 1 member"
[ "$(ids j1 Patient)|$(ids j1 Observation)" = "p1 |obs-1 obs-2 " ] || fail "j1: $(files j1)"
# obs-1 (p1) changes; p2 joins the group: obs-1, and p2's whole history.
sed -n '/"obs-1"/p' data.ndjson | sed 's/"final"/"corrected"/' >change1.ndjson
"$EHR" import --quiet change1.ndjson || fail "import change1 failed"
printf 'p1\np2  # joined\n' >job.txt
run export --job reg --group job.txt --type Patient,Observation --out j2
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err "ehr: exported 4 resources to j2: 3 files (M MB) in T s; job reg: changes N to N, since TIME; group job.txt: 2 members, 1 new since the job's last run (exported with its whole history)"
[ "$(files j2)" = "Observation.001.ndjson 3
Patient.001.ndjson 1" ] || fail "j2 files: $(files j2)"
[ "$(ids j2 Patient)|$(ids j2 Observation)" = "p2 |obs-1 obs-3 obs-4 " ] || fail "j2: $(ids j2 Patient)|$(ids j2 Observation)"
[ "$(jq -c .extension.group j2/manifest.json)" = '{"file":"job.txt","members":2,"added":1,"removed":0}' ] ||
  fail "j2 group: $(jq -c .extension j2/manifest.json)"
# p1 leaves; obs-2 (p1) and obs-3 (p2) change: only obs-3.
sed -n '/"obs-2"/p; /"obs-3"/p' data.ndjson | sed 's/"final"/"corrected"/; s/"preliminary"/"final"/' >change2.ndjson
"$EHR" import --quiet change2.ndjson || fail "import change2 failed"
echo p2 >job.txt
run export --job reg --group job.txt --type Patient,Observation --out j3
expect_code 0
expect_err_contains "; group job.txt: 1 member, 1 no longer in it (exported no more)"
[ "$(ids j3 Observation)" = "obs-3 " ] || fail "j3: $(files j3)"
[ ! -e j3/Patient.001.ndjson ] || fail "j3 exported a patient: $(ids j3 Patient)"
# p1 joins again and nothing changed: its history is exported, and the line
# says no record changed, not "nothing changed" (QA ops sweep).
printf 'p1\np2\n' >job.txt
run export --job reg --group job.txt --type Patient,Observation --out j4
expect_code 0
ERR=$(mask_times <<<"$ERR")
expect_err_contains "; job reg: no record changed since TIME (change N); group job.txt: 2 members, 1 new since the job's last run"
echo p2 >job.txt
# The job's filters are its own: another group file, or a type filter, is refused.
cp job.txt other.txt
run export --job reg --group other.txt --type Patient,Observation --out x
expect_code 64
expect_err "ehr: error: export job reg was started with --type Observation,Patient, --group $(pwd -P)/job.txt; this run asks for --type Observation,Patient, --group $(pwd -P)/other.txt (a job's filters never change: name a new job)"
run export --job reg --group job.txt --type Patient,Observation --type-filter 'Observation?status=final' --out x
expect_code 64
expect_err_contains "this run asks for --type Observation,Patient, --group $(pwd -P)/job.txt, --type-filter 'Observation?status=final'"
[ ! -e x ] || fail "a refused job run wrote x"

# --- a job with a type filter: a record that stops matching is not a deletion ----------------
run export --quiet --job finals --type Observation --type-filter 'Observation?status=final,corrected' --out f1
expect_code 0
[ "$(ids f1 Observation)" = "obs-1 obs-2 obs-3 obs-5 " ] || fail "f1: $(ids f1 Observation)"
# obs-5 is amended (no longer matches), obs-4 (never matched) is deleted at the source.
sed -n '/"obs-5"/p' data.ndjson | sed 's/"final"/"amended"/' >change3.ndjson
"$EHR" import --quiet change3.ndjson || fail "import change3 failed"
echo '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Observation/obs-4"}}]}' >delete.json
"$EHR" import --quiet delete.json || fail "import delete failed"
# The same filter, written otherwise: the same job.
run export --quiet --job finals --type Observation --type-filter 'Observation?status=corrected%2Cfinal' --out f2
expect_code 0
[ ! -e f2/Observation.001.ndjson ] || fail "f2 exported: $(ids f2 Observation)"
[ "$(jq -r '.entry[].request.url' f2/deleted/Bundle.001.ndjson)" = "Observation/obs-4" ] ||
  fail "f2 deletions: $(cat f2/deleted/*.ndjson)"

finish
