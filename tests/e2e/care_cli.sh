#!/usr/bin/env bash
# Decision support from the shell on small synthetic data: ehr care due
# (every rule, rule versions, a 29 February birthday, deceased patients,
# every format, exit 0/3), ehr care check (allergy conflicts, lab flags, unit
# mismatch), the allergy check of record add (warning, --strict refusal,
# audit), ehr care rules and site rule files.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
"$EHR" key new -o alice.key -q && "$EHR" init -q --role physician || fail "init failed"

# add ARGS...: record add that must succeed; prints Type/id.
add() {
  "$EHR" record add "$@" 2>"$E2E_TMP/add.err" || fail "record add $* failed: $(cat "$E2E_TMP/add.err")"
}
patient() {
  "$EHR" patient add "$@" || fail "patient add $* failed"
}

# The care rules need no database.
run care rules --format csv
expect_code 0
expect_out "name,version,default,effective,title,source
blood-pressure-screening,2021,true,2021-04-27,Blood pressure screening,\"USPSTF, Screening for Hypertension in Adults: Reaffirmation Recommendation Statement, JAMA 2021;325(16):1650-1656\"
breast-cancer-screening,2016,false,2016-01-12,Breast cancer screening,\"USPSTF, Screening for Breast Cancer: Recommendation Statement, Ann Intern Med 2016;164(4):279-296\"
breast-cancer-screening,2024,true,2024-04-30,Breast cancer screening,\"USPSTF, Screening for Breast Cancer: Recommendation Statement, JAMA 2024;331(22):1918-1930\"
colorectal-cancer-screening,2021,true,2021-05-18,Colorectal cancer screening,\"USPSTF, Screening for Colorectal Cancer: Recommendation Statement, JAMA 2021;325(19):1965-1977\"
hba1c-monitoring,2025,true,2025-01-01,HbA1c monitoring in diabetes,\"American Diabetes Association, Standards of Care in Diabetes-2025, section 6 (Glycemic Goals and Hypoglycemia), Diabetes Care 2025;48(Suppl 1)\"
influenza-vaccine,2025-26,true,2025-08-01,\"Influenza vaccine, this season\",\"ACIP, Prevention and Control of Seasonal Influenza with Vaccines, United States, 2025-26 Influenza Season (MMWR Recomm Rep)\"
pneumococcal-vaccine,2022,true,2022-01-28,Pneumococcal vaccine at 65 and older,\"Kobayashi M et al., Use of 15-Valent and 20-Valent Pneumococcal Conjugate Vaccine Among U.S. Adults: Updated Recommendations of the ACIP, MMWR 2022;71(4):109-117\"
drug-classes,2024.2,true,2024-01-01,drug class map of the medication-allergy check,\"WHO Collaborating Centre for Drug Statistics Methodology, ATC index 2024; Zagursky RJ, Pichichero ME, Cross-reactivity in beta-lactam allergy, J Allergy Clin Immunol Pract 2018;6(1):72-81; RxNorm product codes: VSAC value set 2.16.840.1.113883.3.464.1003.196.12.1001 (eCQM 2021-05-06), Synthea modules\"
lab-ranges,1,true,2026-01-01,reference ranges of the lab flags,Seed adult ranges from one US hospital laboratory's published reference table (anchors-security-care.md section 3.3); ADA diagnostic thresholds for HbA1c"

# An empty database: nobody is due (exit 0).
run care due --as-of 2026-06-01 --format csv
expect_code 0
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail"
expect_err "ehr: nobody is due on 2026-06-01"

A=$(patient --given Ada --family Alpha --birth-date 1970-03-15 --gender female --mrn C1)
B=$(patient --given Bob --family Beta --birth-date 1955-06-01 --gender male --mrn C2)
C=$(patient --given Cy --family Gamma --birth-date 1984-02-29 --gender female --mrn C3)
E=$(patient --given Eve --family Epsilon --birth-date 2022-01-15 --gender female --mrn C5)
printf '%s' '{"resourceType":"Patient","name":[{"family":"Delta","given":["Dee"]}],"gender":"male","birthDate":"1950-01-01","deceasedBoolean":true,"identifier":[{"system":"urn:ehr:mrn","value":"C4"}]}' > dead.json
D=$(add --json dead.json | cut -d/ -f2)
add --patient C4 --type immunization --code 140 --date 2024-10-01 >/dev/null

# Ada: colonoscopy 2020 (up to date), mammogram 2023 (overdue), flu and BP current.
add --patient C1 --type procedure --code 73761001 --display Colonoscopy --date 2020-01-10 >/dev/null
MAMMO=$(add --patient C1 --type procedure --code 71651007 --display Mammography --date 2023-05-01)
add --patient C1 --type immunization --code 140 --date 2025-10-01 >/dev/null
add --patient C1 --type blood-pressure --systolic 120 --diastolic 80 --date 2026-01-10 >/dev/null
# Bob: diabetic, HbA1c 8.1 % nine months ago (above goal: every 3 months), flu
# only last season, nothing for colorectal or pneumococcal, BP current.
add --patient C2 --type condition --code 44054006 --display "Diabetes mellitus type 2" --date 2010-01-01 >/dev/null
A1C=$(add --patient C2 --type lab --code 4548-4 --display HbA1c --value 8.1 --unit % --date 2025-09-01)
FLU_B=$(add --patient C2 --type immunization --code 140 --date 2024-10-01)
add --patient C2 --type blood-pressure --systolic 130 --diastolic 85 --date 2026-05-01 >/dev/null
# Cy (born 29 February 1984): flu current, no BP, no mammogram.
add --patient C3 --type immunization --code 140 --date 2025-09-15 >/dev/null
# Eve, 4: her first flu season, one dose of two.
FLU_E=$(add --patient C5 --type immunization --code 140 --date 2025-09-01)

run care due --as-of 2026-06-01 --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$A,\"Alpha, Ada\",56,breast-cancer-screening,2024,overdue,2025-05-02,2023-05-01,$MAMMO,screening mammogram,last screening mammogram 2023-05-01 is outside the window
$B,\"Beta, Bob\",71,colorectal-cancer-screening,2021,due,,,,,\"none on record: colonoscopy, CT colonography, flexible sigmoidoscopy, FIT, high-sensitivity gFOBT, stool DNA-FIT\"
$B,\"Beta, Bob\",71,hba1c-monitoring,2025,overdue,2025-12-02,2025-09-01,$A1C,HbA1c,last HbA1c 2025-09-01 is outside the window; window shortened: last value 8.1 at or above 7
$B,\"Beta, Bob\",71,influenza-vaccine,2025-26,overdue,2025-08-01,2024-10-01,$FLU_B,influenza vaccine,last influenza vaccine 2024-10-01 is outside the window
$B,\"Beta, Bob\",71,pneumococcal-vaccine,2022,due,,,,,\"none on record: PCV20, PPSV23 at 65 or older\"
$E,\"Epsilon, Eve\",4,influenza-vaccine,2025-26,due,2025-09-29,2025-09-01,$FLU_E,influenza vaccine,first season: dose 2 of 2 due 28 days after the last
$C,\"Gamma, Cy\",42,blood-pressure-screening,2021,due,,,,,none on record: blood pressure
$C,\"Gamma, Cy\",42,breast-cancer-screening,2024,due,,,,,none on record: screening mammogram"
expect_err ""
case "$OUT" in *"$D"*) fail "the deceased patient is listed" ;; esac

# The same in every format: json field names, ndjson lines, yaml, table.
run care due --as-of 2026-06-01 --patient C2 --rule hba1c-monitoring --format json
expect_code 3
expect_out "[
  {
    \"patient\": \"$B\",
    \"name\": \"Beta, Bob\",
    \"age\": 71,
    \"rule\": \"hba1c-monitoring\",
    \"version\": \"2025\",
    \"status\": \"overdue\",
    \"due_since\": \"2025-12-02\",
    \"last\": \"$A1C\",
    \"last_date\": \"2025-09-01\",
    \"last_what\": \"HbA1c\",
    \"detail\": \"last HbA1c 2025-09-01 is outside the window; window shortened: last value 8.1 at or above 7\"
  }
]"
run care due --as-of 2026-06-01 --format ndjson
expect_code 3
[ "$(printf '%s\n' "$OUT" | wc -l)" = 8 ] || fail "ndjson: not 8 lines: $OUT"
run care due --as-of 2026-06-01 --patient C3 --format yaml --rule blood-pressure-screening
expect_code 3
case "$OUT" in "- patient: $C"$'\n'*|"- patient: \"$C\""$'\n'*) ;; *) fail "yaml: first line: $OUT" ;; esac
OUT=$(printf '%s\n' "$OUT" | tail -n +2)
expect_out "  name: Gamma, Cy
  age: 42
  rule: blood-pressure-screening
  version: \"2021\"
  status: due
  due_since: null
  last: null
  last_date: null
  last_what: null
  detail: \"none on record: blood pressure\""
run care due --as-of 2026-06-01 --patient C3 --rule blood-pressure-screening --format table
expect_code 3
expect_out "PATIENT                               NAME       AGE  RULE                      VERSION  STATUS  DUE_SINCE  LAST_DATE  LAST
$C  Gamma, Cy  42   blood-pressure-screening  2021     due"

# Breast screening of Cy, born 29 February: 40 on 1 March 2024, not 28 February;
# under the 2016 rule 40-49 is an individual decision.
# The 2024 rule is named: on these days the 2016 rule was the one in effect.
run care due --as-of 2024-02-28 --patient C3 --rule breast-cancer-screening@2024 --format csv
expect_code 0
run care due --as-of 2024-03-01 --patient C3 --rule breast-cancer-screening@2024 --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$C,\"Gamma, Cy\",40,breast-cancer-screening,2024,due,,,,,none on record: screening mammogram"
run care due --as-of 2024-03-01 --patient C3 --rule breast-cancer-screening@2016 --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$C,\"Gamma, Cy\",40,breast-cancer-screening,2016,consider,,,,,grade C: individual decision at 40 to 49"
# Unnamed, a rule's version is the one in effect on the as-of date (2024 from
# 2024-04-30); a rule with none in effect yet is left out with a note.
run care due --as-of 2024-03-01 --patient C3 --rule breast-cancer-screening --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$C,\"Gamma, Cy\",40,breast-cancer-screening,2016,consider,,,,,grade C: individual decision at 40 to 49"
run care due --as-of 2024-04-30 --patient C3 --rule breast-cancer-screening --format csv
expect_code 3
expect_out_contains ",breast-cancer-screening,2024,due,"
run care due --as-of 2025-07-31 --patient C3 --format csv
expect_code 3
expect_err_contains "ehr: not evaluated: influenza-vaccine: no version in effect on 2025-07-31 (2025-26 is effective from 2025-08-01)"
case "$OUT" in *influenza*) fail "a rule not in effect was evaluated: $OUT" ;; esac
run care due --as-of 2025-07-31 --patient C3 --rule influenza-vaccine --format csv
expect_code 64
expect_err "ehr: error: rule influenza-vaccine has no version in effect on 2025-07-31 (2025-26 is effective from 2025-08-01); name a version (influenza-vaccine@2025-26) to evaluate it anyway"
# --all lists the satisfied results too.
run care due --as-of 2026-06-01 --patient C1 --all --format csv
expect_code 3
[ "$(printf '%s\n' "$OUT" | grep -c ',satisfied,')" = 3 ] || fail "--all: not 3 satisfied rows: $OUT"
run care due --as-of 2026-06-01 --patient C1 --rule colorectal-cancer-screening --format csv
expect_code 0

# A colonoscopy not yet done (status preparation) and a subpotent flu dose
# do not count (QA findings care 10 and 12).
S=$(patient --given Sal --family Sched --birth-date 1960-01-01 --gender male --mrn S1)
add --patient S1 --type procedure --code 73761001 --display Colonoscopy --date 2026-01-10 --status preparation >/dev/null
add --patient S1 --json - >/dev/null <<'JSON'
{"resourceType":"Immunization","status":"completed","isSubpotent":true,"vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}]},"occurrenceDateTime":"2026-01-02"}
JSON
run care due --as-of 2026-06-01 --patient S1 --rule colorectal-cancer-screening --rule influenza-vaccine --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$S,\"Sched, Sal\",66,colorectal-cancer-screening,2021,due,,,,,\"none on record: colonoscopy, CT colonography, flexible sigmoidoscopy, FIT, high-sensitivity gFOBT, stool DNA-FIT\"
$S,\"Sched, Sal\",66,influenza-vaccine,2025-26,due,2025-08-01,,,,none on record: influenza vaccine"

# Bad input.
run care due --as-of 2026-6-1
expect_code 64
expect_err "ehr: error: --as-of: bad date 2026-6-1 (expected YYYY-MM-DD)"
run care due --rule mammogram
expect_code 64
expect_err "ehr: error: unknown care rule mammogram (known: blood-pressure-screening, breast-cancer-screening, colorectal-cancer-screening, hba1c-monitoring, influenza-vaccine, pneumococcal-vaccine)"
run care due --patient NOPE
expect_code 1
expect_err "ehr: error: no patient NOPE"
run care due --format bundle
expect_code 64

# care check: allergies against active medications, lab flags.
add --patient C3 --type allergy --code 70618 --system rxnorm --display Penicillin --criticality high --category medication >/dev/null
REFUTED=$(add --json - <<JSON
{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/$C"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"refuted"}]},"code":{"text":"Sulfa drugs"},"category":["medication"]}
JSON
)
run care check --patient C3 --format csv
expect_code 0
expect_out "kind,severity,record,what,finding,basis,date"
expect_err "ehr: no findings for patient $C"

# Recording a medication: a warning; with --strict a refusal, nothing written.
run record add --patient C3 --type medication --code 308182 --display "Amoxicillin 250 MG Oral Capsule" --strict
expect_code 3
ALLERGY=$("$EHR" record list --type AllergyIntolerance --patient C3 --format csv | awk -F, '$5=="Penicillin"{print "AllergyIntolerance/"$2}')
expect_err "ehr: warning: high allergy conflict: amoxicillin against allergy Penicillin ($ALLERGY): same class (penicillins)
ehr: error: refused to record the medication (--strict): it conflicts with a recorded allergy"
expect_out ""
run record list --type MedicationRequest --format csv
expect_out "type,id,date,code,display,value,status"
run record add --patient C3 --type medication --code 309114 --display "Cephalexin 500 MG Oral Capsule" --date 2026-05-20
expect_code 0
CEPH=$OUT
expect_err "ehr: warning: moderate allergy conflict: cephalexin against allergy Penicillin ($ALLERGY): shared side chain (aminopenicillin R1) with penicillins"
run record add --patient C3 --type medication --code 2193 --display "ceftriaxone 1000 MG Injection" --date 2026-05-20 --strict
expect_code 0
CEFTRI=$OUT
expect_err "ehr: warning: info allergy conflict: ceftriaxone against allergy Penicillin ($ALLERGY): other beta-lactam (cephalosporins)"
# The sulfa allergy is refuted: it never fires.
run record add --patient C3 --type medication --code 198335 --display "Sulfamethoxazole 800 MG / Trimethoprim 160 MG Oral Tablet" --date 2026-05-20 --strict
expect_code 0
expect_err ""
# A product the drug-class map does not know is checked against nothing: an
# unchecked row (QA finding care 06: it read as no conflict).
run record add --patient C3 --type medication --code 999999 --display "Zyxal 10 MG Oral Tablet" --date 2026-05-20
expect_code 0
UNK=$OUT
run audit show --patient "$C" --format csv
expect_out_contains ",create,refused,"
expect_out_contains ",care-alert,ok,"

# Labs: potassium critical (lab table), sodium normal, glucose in a unit the
# table cannot convert,
# base excess below range (a negative value), the latest result of a code only.
add --patient C3 --type lab --code 2823-3 --display Potassium --value 4.2 --unit mmol/L --date 2026-01-01 >/dev/null
K=$(add --patient C3 --type lab --code 2823-3 --display Potassium --value 2.5 --unit mmol/L --date 2026-05-30)
add --patient C3 --type lab --code 2951-2 --display Sodium --value 140 --unit mmol/L --date 2026-05-30 >/dev/null
GLU=$(add --patient C3 --type lab --code 2345-7 --display Glucose --value 0.9 --unit g/L --date 2026-05-30)
BE=$(add --patient C3 --type lab --code 1925-7 --display "Base excess" --value -3 --unit mmol/L --date 2026-05-30)
add --patient C3 --type lab --code 4548-4 --display HbA1c --value 0 --unit % --date 2026-05-30 >/dev/null
run care check --patient C3 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
allergy,moderate,$CEPH,Cephalexin 500 MG Oral Capsule,cephalexin against allergy Penicillin ($ALLERGY),shared side chain (aminopenicillin R1) with penicillins,
allergy,info,$CEFTRI,ceftriaxone 1000 MG Injection,ceftriaxone against allergy Penicillin ($ALLERGY),other beta-lactam (cephalosporins),
allergy,unchecked,$UNK,Zyxal 10 MG Oral Tablet,not checked against the allergies,not in the drug-class map (care/drug-classes.yaml): not checked against 1 drug allergy,
lab,critical,$K,Potassium,2.5 mmol/L LL,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L,2026-05-30
lab,abnormal,$BE,Base excess,'-3 mmol/L L,table (care/lab-ranges.yaml 1): >= -2 and <= 3 mmol/L,2026-05-30
lab,unit-mismatch,$GLU,Glucose,0.9 g/L unit-mismatch,table (care/lab-ranges.yaml 1): >= 70 and <= 99 mg/dL,2026-05-30"
run care check --patient NOPE
expect_code 1

# A value past the table's critical bound is critical whatever the lab's own
# interpretation says (QA finding care 01: potassium 7.4 with the lab's N
# was no finding).
patient --given Kay --family Crit --birth-date 1960-05-05 --gender female --mrn K1 >/dev/null
KN=$(add --patient K1 --json - <<'JSON'
{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},"effectiveDateTime":"2026-01-03T08:00:00Z","valueQuantity":{"value":7.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}]}
JSON
)
run care check --patient K1 --as-of 2026-06-01 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,critical,$KN,Potassium,7.4 mmol/L HH,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L; the lab's interpretation: N,2026-01-03"

# A newer result without a value (dataAbsentReason: haemolysed) does not hide
# the critical one before it (QA finding care 05).
patient --given Kim --family Absent --birth-date 1960-05-05 --gender female --mrn K2 >/dev/null
K7=$(add --patient K2 --type lab --code 2823-3 --display Potassium --value 7.4 --unit mmol/L --date 2026-01-01)
add --patient K2 --json - >/dev/null <<'JSON'
{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},"effectiveDateTime":"2026-01-02T08:00:00Z","dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}}
JSON
run care check --patient K2 --as-of 2026-06-01 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,critical,$K7,Potassium,7.4 mmol/L HH,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L,2026-01-01"

# Results of one code at the same latest instant are each flagged (QA
# finding care 03: one of them was picked by id).
patient --given Kit --family Same --birth-date 1960-05-05 --gender female --mrn K3 >/dev/null
add --patient K3 --type lab --code 2823-3 --display Potassium --value 4.0 --unit mmol/L --date 2026-01-01T08:00:00Z >/dev/null
KS=$(add --patient K3 --type lab --code 2823-3 --display Potassium --value 7.4 --unit mmol/L --date 2026-01-01T08:00:00Z)
run care check --patient K3 --as-of 2026-06-01 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,critical,$KS,Potassium,7.4 mmol/L HH,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L,2026-01-01"

# Results are grouped by their LOINC coding (QA finding care 15: a result
# coded [local K, LOINC] and a newer LOINC-only one were two codes).
patient --given Kai --family Local --birth-date 1960-05-05 --gender female --mrn K4 >/dev/null
add --patient K4 --json - >/dev/null <<'JSON'
{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"urn:lab:local","code":"K"},{"system":"http://loinc.org","code":"2823-3"}]},"effectiveDateTime":"2026-01-01","valueQuantity":{"value":7.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
JSON
add --patient K4 --type lab --code 2823-3 --display Potassium --value 4.0 --unit mmol/L --date 2026-01-03 >/dev/null
run care check --patient K4 --as-of 2026-06-01 --format csv
expect_code 0
expect_out "kind,severity,record,what,finding,basis,date"

# Age-specific rows take the age on the result's date (QA finding care 14:
# ALP 400 U/L drawn at 16 was H by the adult row once she was 18).
mkdir alp
cat > alp/lab-ranges.yaml <<'YAML'
schema: ehr-care-lab-ranges
version: "site-1"
source: "test site"
effective: 2020-01-01
ranges:
  - {loinc: 6768-6, test: ALP, unit: U/L, max_age: 17y, low: 100, high: 500}
  - {loinc: 6768-6, test: ALP, unit: U/L, min_age: 18y, low: 40, high: 130}
YAML
patient --given Tea --family Teen --birth-date 2008-03-01 --gender female --mrn T1 >/dev/null
add --patient T1 --type lab --code 6768-6 --display ALP --value 400 --unit U/L --date 2025-01-01 >/dev/null
run care check --patient T1 --as-of 2026-06-01 --care-rules alp --format csv
expect_code 0
expect_out "kind,severity,record,what,finding,basis,date"
ALP=$(add --patient T1 --type lab --code 6768-6 --display ALP --value 400 --unit U/L --date 2026-03-01)
run care check --patient T1 --as-of 2026-06-01 --care-rules alp --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,abnormal,$ALP,ALP,400 U/L H,table (alp/lab-ranges.yaml site-1): >= 40 and <= 130 U/L,2026-03-01"

# A result dated after the as-of date is not the latest but an unchecked row
# (QA finding care 04: a typo year 2062 hid a critical result); an undated
# one is judged on its own.
patient --given Kip --family Future --birth-date 1960-05-05 --gender female --mrn K5 >/dev/null
KC=$(add --patient K5 --type lab --code 2823-3 --display Potassium --value 7.4 --unit mmol/L --date 2026-01-01)
KF=$(add --patient K5 --type lab --code 2823-3 --display Potassium --value 4.0 --unit mmol/L --date 2062-01-02)
KU=$(add --patient K5 --json - <<'JSON'
{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2951-2","display":"Sodium"}]},"valueQuantity":{"value":118,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
JSON
)
add --patient K5 --type lab --code 2951-2 --display Sodium --value 140 --unit mmol/L --date 2026-01-01 >/dev/null
run care check --patient K5 --as-of 2026-06-01 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,critical,$KC,Potassium,7.4 mmol/L HH,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L,2026-01-01
lab,critical,$KU,Sodium,118 mmol/L LL,table (care/lab-ranges.yaml 1): >= 136 and <= 146 mmol/L; undated: it may not be the latest,
lab,unchecked,$KF,Potassium,4.0 mmol/L dated after the as-of date 2026-06-01,not checked,2062-01-02"
run care check --patient K5 --as-of 2026-06-01 --format json
expect_out_contains "\"severity\": \"unchecked\",
    \"record\": \"$KF\",
    \"what\": \"Potassium\",
    \"finding\": \"4.0 mmol/L dated after the as-of date 2026-06-01\",
    \"basis\": \"not checked\",
    \"date\": \"2062-01-02\",
    \"loinc\": \"2823-3\",
    \"value\": \"4.0 mmol/L\",
    \"flag\": \"unchecked\",
    \"source\": \"not checked\",
    \"range\": null"

# An order naming a stored Medication by reference is checked by that
# Medication's code, in record add, import and care check (QA finding care
# 02: it was checked against no allergy).
R=$(patient --given Ray --family Ref --birth-date 1960-05-05 --gender female --mrn R1)
RALLERGY=$(add --patient R1 --type allergy --code 70618 --system rxnorm --display Penicillin --category medication)
AMOX=$(add --json - <<'JSON'
{"resourceType":"Medication","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308182","display":"amoxicillin 250 MG Oral Capsule"}]}}
JSON
)
printf '{"resourceType":"MedicationRequest","status":"active","intent":"order","medicationReference":{"reference":"%s"}}' "$AMOX" > byref.json
run record add --patient R1 --json byref.json --strict
expect_code 3
expect_err "ehr: warning: high allergy conflict: amoxicillin against allergy Penicillin ($RALLERGY): same class (penicillins)
ehr: error: refused to record the medication (--strict): it conflicts with a recorded allergy"
"$EHR" key new -o svc.key -q && "$EHR" user add svc --role service --new-key-file svc.key -q || fail "user add svc failed"
printf '{"resourceType":"MedicationRequest","id":"byref-import","status":"active","intent":"order","subject":{"reference":"Patient/%s"},"medicationReference":{"reference":"%s"}}\n' "$R" "$AMOX" > byref.ndjson
EHR_USER=svc EHR_KEY_FILE=svc.key run import byref.ndjson
expect_code 0
expect_err_contains "MedicationRequest/byref-import: high allergy conflict with $RALLERGY"
run care check --patient R1 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
allergy,high,MedicationRequest/byref-import,amoxicillin 250 MG Oral Capsule,amoxicillin against allergy Penicillin ($RALLERGY),same class (penicillins),"
# A medication of status unknown is checked like an active one (QA finding care 16).
UNK=$(add --patient R1 --json - <<'JSON'
{"resourceType":"MedicationStatement","status":"unknown","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"309114","display":"Cephalexin 500 MG Oral Capsule"}]}}
JSON
)
run care check --patient R1 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
allergy,high,MedicationRequest/byref-import,amoxicillin 250 MG Oral Capsule,amoxicillin against allergy Penicillin ($RALLERGY),same class (penicillins),
allergy,moderate,$UNK,Cephalexin 500 MG Oral Capsule,cephalexin against allergy Penicillin ($RALLERGY),shared side chain (aminopenicillin R1) with penicillins,"

# With records withheld by the access policy, no findings is no all-clear: the
# check says it is incomplete and exits 3 (QA finding care 09).
"$EHR" key new -o rx.key -q && "$EHR" user add rx --role pharmacist --new-key-file rx.key -q || fail "user add rx failed"
H=$(patient --given Hal --family Held --birth-date 1960-05-05 --gender male --mrn H1)
"$EHR" patient team add H1 rx -q || fail "patient team add failed"
add --patient H1 --json - >/dev/null <<'JSON'
{"resourceType":"AllergyIntolerance","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"764146007","display":"Penicillin"}]}}
JSON
EHR_USER=rx EHR_KEY_FILE=rx.key run care check --patient H1 --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date"
expect_err "ehr: warning: no findings for patient $H in the records you may read; 1 withheld: this check is incomplete
ehr: warning: 1 record withheld by the access policy"
run care check --patient H1 --format csv
expect_code 0
expect_err "ehr: no findings for patient $H"

# A patient neither female nor male, with ranges only by sex: the more
# severe of the two rows (QA finding care 07: no row applied at all).
mkdir hb
cat > hb/lab-ranges.yaml <<'YAML'
schema: ehr-care-lab-ranges
version: "site-1"
source: "test site"
effective: 2020-01-01
ranges:
  - {loinc: 718-7, test: Hemoglobin, unit: g/dL, sex: male, low: 13.5, high: 17.5, critical_low: {value: 7.0, inclusive: false}}
  - {loinc: 718-7, test: Hemoglobin, unit: g/dL, sex: female, low: 12.0, high: 15.5, critical_low: {value: 7.0, inclusive: false}}
YAML
add --json - >/dev/null <<'JSON'
{"resourceType":"Patient","name":[{"family":"Unk","given":["Gen"]}],"gender":"unknown","birthDate":"1970-03-01","identifier":[{"system":"urn:ehr:mrn","value":"G1"}]}
JSON
HB=$(add --patient G1 --type lab --code 718-7 --display Hemoglobin --value 5.0 --unit g/dL --date 2026-01-01)
run care check --patient G1 --as-of 2026-06-01 --care-rules hb --format csv
expect_code 3
expect_out "kind,severity,record,what,finding,basis,date
lab,critical,$HB,Hemoglobin,5.0 g/dL LL,table (hb/lab-ranges.yaml site-1): >= 12 and <= 15.5 g/dL; gender unknown: the female row (the more severe of the female and male rows),2026-01-01"

# Units: the same whatever their case, mEq/L as mmol/L for monovalent ions,
# glucose and calcium in mmol/L converted to the table's mg/dL (QA finding
# care 08: these critical values were only unit-mismatch).
patient --given Uma --family Units --birth-date 1960-05-05 --gender female --mrn U1 >/dev/null
UK=$(add --patient U1 --type lab --code 2823-3 --display Potassium --value 7.4 --unit meq/L --date 2026-05-30)
UG=$(add --patient U1 --type lab --code 2345-7 --display Glucose --value 1.5 --unit mmol/L --date 2026-05-30)
UN=$(add --patient U1 --type lab --code 2951-2 --display Sodium --value 150 --unit mmol/l --date 2026-05-30)
run care check --patient U1 --as-of 2026-06-01 --format csv
expect_code 3
expect_out_contains "lab,critical,$UK,Potassium,7.4 meq/L HH,table (care/lab-ranges.yaml 1): >= 3.5 and <= 5.1 mmol/L; meq/L read as mmol/L,2026-05-30"
expect_out_contains "lab,critical,$UG,Glucose,1.5 mmol/L LL,table (care/lab-ranges.yaml 1): >= 70 and <= 99 mg/dL; 1.5 mmol/L x 18.016 = 27.024 mg/dL,2026-05-30"
expect_out_contains "lab,abnormal,$UN,Sodium,150 mmol/l H,table (care/lab-ranges.yaml 1): >= 136 and <= 146 mmol/L,2026-05-30"
[ "$(printf '%s\n' "$OUT" | wc -l)" = 4 ] || fail "units: not 3 rows: $OUT"

# Site rules: a southern-hemisphere flu season from 1 March replaces the built-in file.
mkdir site
sed 's/season_start: "08-01"/season_start: "03-01"/' "$EHR_SOURCE_DIR/schemas/care/influenza-vaccine.yaml" > site/influenza-vaccine.yaml
run care due --as-of 2026-06-01 --patient C1 --rule influenza-vaccine --care-rules site --format csv
expect_code 3
expect_out_contains ",influenza-vaccine,2025-26,overdue,2026-03-01,2025-10-01,"
run care rules --care-rules site --format json
expect_out_contains "\"file\": \"site/influenza-vaccine.yaml\""
printf 'schema: ehr-care-rule\nid: x\n' > site/bad.yaml
run care rules --care-rules site
expect_code 78
expect_err "ehr: error: site/bad.yaml:1:1: missing key version"
run care rules --care-rules nowhere
expect_code 66
expect_err "ehr: error: care rules directory nowhere does not exist"

# The README's example: the product code alone, no display, is refused. RxNorm
# 308182 is Amoxicillin 250 MG Oral Capsule; when the class map knew only the
# ingredient (723) this was recorded without a warning.
patient --given A --family B --birth-date 1980-01-01 --gender female --mrn W2 >/dev/null
WALLERGY=$(add --patient W2 --type allergy --code 7980 --system rxnorm --display Penicillin --criticality high --category medication)
run record add --patient W2 --type medication --code 308182 --strict
expect_code 3
expect_err "ehr: warning: high allergy conflict: amoxicillin against allergy Penicillin ($WALLERGY): same class (penicillins)
ehr: error: refused to record the medication (--strict): it conflicts with a recorded allergy"
expect_out ""
run record list --type MedicationRequest --patient W2 --format csv
expect_out "type,id,date,code,display,value,status"

# Without --date a record is dated when it is recorded, so the rule counts a
# blood pressure taken just now (it used to be stored undated, and the
# patient stayed due). A condition stays undated.
patient --given Di --family Delta --birth-date 1970-04-04 --gender male --mrn D4 >/dev/null
run care due --patient D4 --rule blood-pressure-screening --format csv
expect_code 3
run record add --patient D4 --type blood-pressure --systolic 118 --diastolic 76
expect_code 0
BP=$OUT
case "$ERR" in
  "ehr: dated "????-??-??T??:??:??"Z, the time of recording (--date gives another)") ;;
  *) fail "record add without --date: stderr $ERR" ;;
esac
run record show --patient D4 --type Observation --format ndjson
# Dated when recorded: at most a few seconds before the write (a sanitizer
# build can take over a second between the two).
[ "$(jq -r 'select(.resourceType == "Observation") | ((.meta.lastUpdated[0:19] + "Z" | fromdateiso8601) - (.effectiveDateTime | fromdateiso8601)) as $d | ($d >= 0 and $d <= 5)' <<<"$OUT")" = true ] ||
  fail "the blood pressure is not dated at the time of recording: $OUT"
run care due --patient D4 --rule blood-pressure-screening --format csv
expect_code 0
expect_err "ehr: nobody is due on $(date -u +%F)"
run care due --patient D4 --rule blood-pressure-screening --all --format csv
expect_out_contains ",blood-pressure-screening,2021,satisfied,,$(date -u +%F),$BP,"
run record add --patient D4 --type condition --code 44054006 --display "Diabetes mellitus type 2"
expect_code 0
expect_err ""
run record show --patient D4 --type Condition --format ndjson
case "$OUT" in *onsetDateTime*) fail "a condition was given an onset: $OUT" ;; esac

# QA finding care 13: a patient without a birth date was left out without a
# word ("nobody is due", exit 0); now each rule is listed as not evaluated.
printf '%s' '{"resourceType":"Patient","name":[{"family":"Nobirth","given":["Nb"]}],"gender":"male","identifier":[{"system":"urn:ehr:mrn","value":"NB"}]}' >nobirth.json
NB=$(add --json nobirth.json | cut -d/ -f2)
run care due --as-of 2026-06-01 --patient NB --rule blood-pressure-screening --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$NB,\"Nobirth, Nb\",,blood-pressure-screening,2021,not-evaluated,,,,,no birth date"

# QA finding care 13, second half: a patient neither female nor male was not
# applicable to a sex-specific rule without a word.
OT=$(patient --given Ola --family Other --birth-date 1970-01-01 --gender other --mrn OT1)
run care due --as-of 2026-06-01 --patient OT1 --rule breast-cancer-screening --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$OT,\"Other, Ola\",56,breast-cancer-screening,2024,not-evaluated,,,,,sex other: the rule is for female patients"

# QA finding care 11: a positive FIT counted as screening done; it calls for
# a follow-up colonoscopy, which then satisfies the rule.
FT=$(patient --given Fay --family Fitpos --birth-date 1960-01-01 --gender female --mrn FT1)
printf '%s' '{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29771-3"}]},"effectiveDateTime":"2026-01-10","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004","display":"Positive"}]}}' >fit.json
FIT=$(add --patient FT1 --json fit.json)
run care due --as-of 2026-06-01 --patient FT1 --rule colorectal-cancer-screening --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail
$FT,\"Fitpos, Fay\",66,colorectal-cancer-screening,2021,due,2026-01-10,2026-01-10,$FIT,FIT (positive),positive FIT 2026-01-10: a follow-up is due (a repeat does not count)"
COL=$(add --patient FT1 --type procedure --code 73761001 --display Colonoscopy --date 2026-02-01)
run care due --as-of 2026-06-01 --patient FT1 --rule colorectal-cancer-screening --all --format csv
expect_code 0
expect_out_contains ",colorectal-cancer-screening,2021,satisfied,,2026-02-01,$COL,colonoscopy,"

# QA finding care 09, care due half: a nurse whose role may not read a
# labelled diabetes Condition got "nobody is due" and exit 0; the list is
# incomplete, and the exit code and a warning say so.
"$EHR" key new -o nu.key -q && "$EHR" user add nu --role nurse --new-key-file nu.key -q || fail "user add nu failed"
LB=$(patient --given Lab --family Elled --birth-date 1960-05-05 --gender female --mrn LB1)
# Patients off the nurse's care team are withheld whole: another team's, not
# an incomplete list (clinic-wide cron lists stay exit 0).
EHR_USER=nu EHR_KEY_FILE=nu.key run care due --as-of 2026-06-01 --rule hba1c-monitoring --format csv
expect_code 0
expect_err_contains "ehr: nobody is due on 2026-06-01
ehr: warning: "
"$EHR" patient team add LB1 nu -q || fail "team add failed"
printf '%s' '{"resourceType":"Condition","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"onsetDateTime":"2010-01-01"}' >eth.json
add --patient LB1 --json eth.json >/dev/null
EHR_USER=nu EHR_KEY_FILE=nu.key run care due --as-of 2026-06-01 --rule hba1c-monitoring --format csv
expect_code 3
expect_out "patient,name,age,rule,version,status,due_since,last_date,last,last_what,detail"
# (the other patients, off the nurse's care team, are withheld whole: counted
# in the last warning, but they do not make the list incomplete)
expect_err_contains "ehr: warning: records the rules read were withheld from you for 1 patient ($LB): their results may be wrong, listed or not
ehr: nobody is due on 2026-06-01 in the records you may read
ehr: warning: "
# The physician sees the Condition: due, exit 3 for the finding, no warning.
run care due --as-of 2026-06-01 --patient LB1 --rule hba1c-monitoring --format csv
expect_code 3
expect_out_contains "$LB,\"Elled, Lab\",66,hba1c-monitoring,2025,due,"
expect_err ""

finish
