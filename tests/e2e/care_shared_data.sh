#!/usr/bin/env bash
# ehr care over the Synthea R4 bundles of ../shared/data (12 patients): their
# bundles go in with one `ehr import` of their directory, then `ehr care due
# --as-of 2020-05-01` (each shipped rule named) must list exactly what the
# data says, worked out by hand below. Skips when the data or jq is absent.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
skip_unless_shared_data
if ! command -v jq >/dev/null 2>&1; then
  echo "SKIP: jq is not installed; this test needs it to read the bundles"
  exit 77
fi
cd "$E2E_TMP"
export EHR_DB=synthea.db EHR_USER=admin EHR_KEY_FILE=admin.key NO_COLOR=1
"$EHR" key new -o admin.key -q && "$EHR" init -q || fail "init failed"
"$EHR" key new -o alice.key -q && "$EHR" user add alice --role physician --new-key-file alice.key -q || fail "user add alice failed"
"$EHR" key new -o svc.key -q && "$EHR" user add svc --role service --new-key-file svc.key -q || fail "user add svc failed"

data="$(shared_data)/fhir-bundles/synthea-r4"
# The bundles go in as a site would load them: one `ehr import` of the directory.
EHR_USER=svc EHR_KEY_FILE=svc.key "$EHR" import --quiet --report load.json "$data" 2>load.err ||
  fail "import: $(cat load.err)"
[ "$(jq '.total.rejected' load.json)" = 0 ] || fail "import rejected records: $(jq -c .total load.json)"
[ "$(jq '.types.Patient.created' load.json)" = 12 ] || fail "import did not create 12 patients: $(jq -c .types load.json)"
jq -r '.entry[]?.resource | select(.resourceType == "Patient") | .id' "$data"/*.json > patients.txt
[ "$(wc -l < patients.txt)" = 12 ] || fail "expected 12 patients in the bundles"
# Alice, a physician, joins every patient's care team (the admin does that).
for p in $(cat patients.txt); do
  "$EHR" patient team add "$p" alice -q || fail "team add $p failed"
done
export EHR_USER=alice EHR_KEY_FILE=alice.key

id_of() {  # family name -> patient id
  "$EHR" patient find --name "$1" --format csv | awk -F, 'NR == 2 { print $1 }'
}
ALETA=$(id_of Wintheiser); BERNIE=$(id_of Smitham); CARMELO=$(id_of Streich)
CATHERYN=$(id_of Macejkovic); CHRISTINIA=$(id_of Medhurst); DARCY=$(id_of Schmidt)
DWAIN=$(id_of McGlynn); FANNIE=$(id_of Waelchi)

# By hand, on 2020-05-01 (flu season from 2019-08-01), from the bundles:
#  Wintheiser, Aleta  F 1971-04-05 (49)  BP 2019-04-29: a year and 2 days ago, overdue;
#      no mammogram, no colonoscopy: due; last flu 2019-04-29 (last season): overdue;
#      prediabetes only: no HbA1c rule
#  Smitham, Bernie    M 1989-02-03 (31)  BP 2019-06-07 within 3 years; flu 2019-06-07: overdue
#  Streich, Carmelo   M 1996-03-13 (24)  BP 2018-05-16 within 3 years; flu 2018-05-16: overdue
#  Macejkovic, Catheryn F 2018-12-14 (1) first flu season, one dose 2019-08-23: dose 2 due
#      from 2019-09-20 (PCV13 only: no adult pneumococcal rule at 1)
#  Medhurst, Christinia F 1969-11-09 (50) BP and flu 2019-11-10 current; no mammogram,
#      no colonoscopy: due
#  Schmidt, Darcy     F 1966-01-30 (54)  colonoscopy 2016-01-31, flu and BP 2020-02-23
#      current; no mammogram: due
#  McGlynn, Dwain     M 1992-04-08 (28)  BP 2017-06-14 within 3 years; flu 2017-06-14: overdue
#  Up to date or outside every rule: Brekke (15), Adams (51: colonoscopy 2019, flu and BP
#      2020), Leuschke (17), Waelchi (3 days old), Herman (64: colonoscopy 2015, flu
#      and BP 2019-08-26; pneumococcal from 65)
# The records end in 2020, before the shipped versions took effect (the 2016 breast rule
# would be the one in effect): every shipped default is named, so it is evaluated as of then.
ALL="--rule blood-pressure-screening@2021 --rule breast-cancer-screening@2024 --rule colorectal-cancer-screening@2021
  --rule hba1c-monitoring@2025 --rule influenza-vaccine@2025-26 --rule pneumococcal-vaccine@2022"
# shellcheck disable=SC2086
run care due --as-of 2020-05-01 $ALL --format csv
expect_code 3
rows=$(printf '%s\n' "$OUT" | tail -n +2 | cut -d, -f1,4-10 | sed 's/,[^,]*$//')
expected="$CATHERYN,1,influenza-vaccine,2025-26,due,2019-09-20,2019-08-23
$DWAIN,28,influenza-vaccine,2025-26,overdue,2019-08-01,2017-06-14
$CHRISTINIA,50,breast-cancer-screening,2024,due,,
$CHRISTINIA,50,colorectal-cancer-screening,2021,due,,
$DARCY,54,breast-cancer-screening,2024,due,,
$BERNIE,31,influenza-vaccine,2025-26,overdue,2019-08-01,2019-06-07
$CARMELO,24,influenza-vaccine,2025-26,overdue,2019-08-01,2018-05-16
$ALETA,49,blood-pressure-screening,2021,overdue,2020-04-30,2019-04-29
$ALETA,49,breast-cancer-screening,2024,due,,
$ALETA,49,colorectal-cancer-screening,2021,due,,
$ALETA,49,influenza-vaccine,2025-26,overdue,2019-08-01,2019-04-29"
[ "$rows" = "$expected" ] || fail "care due differs:"$'\n'"--- got"$'\n'"$rows"$'\n'"--- expected"$'\n'"$expected"
[ "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" = 11 ] || fail "not 11 rows"
[ "$(printf '%s\n' "$OUT" | tail -n +2 | cut -d, -f1 | sort -u | wc -l)" = 7 ] || fail "not 7 patients"

# One year on, Herman turns 65 (pneumococcal due) and Aleta's last-season flu stays overdue.
run care due --as-of 2021-06-06 --rule pneumococcal-vaccine@2022 --format csv
expect_code 3
expect_out_contains ",pneumococcal-vaccine,2022,due,"
[ "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" = 1 ] || fail "pneumococcal: not one row: $OUT"

# care check: Aleta's latest labs (2019-04-29): glucose 90.45 mg/dL, sodium 140.38,
# potassium 4.34 mmol/L, calcium 9.9 mg/dL are normal; HbA1c 5.95 % is high (>= 5.7).
run care check --patient "$ALETA" --format csv
expect_code 3
[ "$(printf '%s\n' "$OUT" | tail -n +2 | cut -d, -f1,2,4,5,7)" = "lab,abnormal,Hemoglobin A1c/Hemoglobin.total in Blood,5.95 % H,2019-04-29" ] ||
  fail "care check of Aleta: $OUT"
run care check --patient "$FANNIE" --format csv
expect_code 0

finish
