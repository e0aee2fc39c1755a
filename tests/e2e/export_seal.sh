#!/usr/bin/env bash
# Encrypted hand-over (issue 8): ehr key new --recipient makes a facility's
# key pair; ehr --recipient FILE.pub export seals every file to it (no
# plaintext on disk, the disclosure names the key's label); import without
# the identity, with a changed byte, cut short or with a wrong signer fails
# loudly and imports nothing; with the identity the records arrive equal;
# a policy requiring encryption refuses plaintext unless --plaintext.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
command -v jq >/dev/null || { echo "SKIP: jq is not installed (scripts/setup installs it)"; exit 77; }
new_clinic clinic.db
export EHR_USER=svc EHR_KEY_FILE=svc.key

canon() {  # canonical resources of NDJSON on stdin, without what the database assigns
  jq -cS 'del(.meta.versionId, .meta.lastUpdated) | if .meta == {} then del(.meta) else . end' | sort
}

cat >data.ndjson <<'JSON'
{"resourceType":"Patient","id":"p1","name":[{"family":"Zebediah","given":["Quillon"]}],"gender":"female","birthDate":"1970-01-01"}
{"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}
JSON
run import --quiet data.ndjson
expect_code 0

# --- the receiving facility's key pair --------------------------------------------
run key new --recipient --label "St. Elsewhere Hospital" -o elsewhere
expect_code 0
expect_err "ehr: wrote the identity elsewhere (mode 0600, keep it secret) and the recipient key elsewhere.pub (label \"St. Elsewhere Hospital\"); give elsewhere.pub to the sender: ehr --recipient elsewhere.pub export ..."
[ "$(stat -c %a elsewhere)" = 600 ] || fail "identity mode $(stat -c %a elsewhere)"
grep -Eq '^ehr-recipient-v1 [0-9a-f]{64} St\. Elsewhere Hospital$' elsewhere.pub || fail "elsewhere.pub: $(cat elsewhere.pub)"
grep -Eq '^ehr-identity-v1 [0-9a-f]{64}$' elsewhere || fail "identity format"
KEY=$(awk '/^ehr-recipient-v1/ {print $2}' elsewhere.pub)
grep -q "public key $KEY" elsewhere || fail "the identity does not name its public key"
run key new --recipient -o elsewhere
expect_code 73
expect_err "ehr: error: elsewhere exists; a key file is never overwritten"
run key new --recipient -o other          # label: the file's name
expect_code 0
grep -Eq '^ehr-recipient-v1 [0-9a-f]{64} other$' other.pub || fail "other.pub: $(cat other.pub)"
run key new --label x -o plain.key
expect_code 64
expect_err "ehr: error: --label goes with --recipient"
"$EHR" key new -o sign.key -q && "$EHR" key new -o other-sign.key -q || fail "signing keys"

# --- a sealed export ----------------------------------------------------------------
run --recipient elsewhere.pub export --out sealed --sign sign.key
expect_code 0
SIGNER=$(sed -n 's/.*; signed with key \([0-9a-f]\{64\}\)$/\1/p' <<<"$ERR")
[ ${#SIGNER} = 64 ] || fail "no signer key printed: $ERR"
expect_err_contains "; sealed to St. Elsewhere Hospital (recipient key $KEY); signed with key $SIGNER"
[ "$(ls -A sealed | tr '\n' ' ')" = "Observation.001.ndjson.ehrenc Patient.001.ndjson.ehrenc Provenance.001.ndjson.ehrenc manifest.json.ehrenc " ] ||
  fail "files: $(ls -A sealed)"
for f in sealed/*; do
  [ "$(head -c 8 "$f")" = "EHR-SEAL" ] || fail "$f is not sealed"
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
done
grep -rl -e Zebediah -e Quillon -e Glucose -e "\"id\":\"p1\"" -e resourceType sealed && fail "plaintext in the sealed export"
# The disclosure names the key's label.
EHR_USER=admin EHR_KEY_FILE=admin.key run audit disclosures --patient p1 --format csv
expect_code 0
OUT=$(sed -E 's/^[0-9T:.Z-]+,/T,/' <<<"$OUT")
expect_out "date,recipient,what,purpose,excluded,user
T,St. Elsewhere Hospital,\"3 resources by bulk export (Observation 1, Patient 1, Provenance 1)\",treatment,true,svc"

# --- the receiving side -------------------------------------------------------------
export EHR_DB=recv.db EHR_USER=admin EHR_KEY_FILE=admin.key
"$EHR" init -q || fail "init recv failed"
"$EHR" user add svc --role service --new-key-file svc.key -q || fail "user add recv failed"
export EHR_USER=svc EHR_KEY_FILE=svc.key
count() { EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" audit show --action import --format csv 2>/dev/null | grep -c ',import,ok,'; }

run import sealed
expect_code 77
expect_err "ehr: error: sealed/Observation.001.ndjson.ehrenc: sealed to a recipient key; give its identity with --identity FILE
ehr: hint: sealed files open with the identity of the recipient key they were sealed to (the file 'ehr key new --recipient -o NAME' wrote as NAME)"
run import --identity other sealed
expect_code 77
expect_err "ehr: error: sealed/Observation.001.ndjson.ehrenc: sealed to another recipient key, not to the identity's ($(awk '/^ehr-recipient-v1/ {print $2}' other.pub))
ehr: hint: sealed files open with the identity of the recipient key they were sealed to (the file 'ehr key new --recipient -o NAME' wrote as NAME)"
run import --identity elsewhere.pub sealed
expect_code 65
expect_err "ehr: error: elsewhere.pub: not an ehr identity (expected a line \"ehr-identity-v1 KEY\"; make one with 'ehr key new --recipient -o NAME')"

# One changed byte in the middle of a chunk: the file fails, nothing of it is imported.
cp -r sealed bad
size=$(stat -c %s bad/Observation.001.ndjson.ehrenc)
# Flip every bit of one byte (writing a fixed byte left it unchanged one run in 256).
byte=$(od -An -tu1 -j $((size - 150)) -N1 bad/Observation.001.ndjson.ehrenc | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 255)))" | dd of=bad/Observation.001.ndjson.ehrenc bs=1 seek=$((size - 150)) conv=notrunc status=none
cmp -s sealed/Observation.001.ndjson.ehrenc bad/Observation.001.ndjson.ehrenc && fail "the byte did not change"
run import --identity elsewhere bad/Observation.001.ndjson.ehrenc
expect_code 65
expect_err "ehr: error: bad/Observation.001.ndjson.ehrenc: chunk 1 was changed or damaged (it does not authenticate)"
[ "$(count)" = 0 ] || fail "records imported from a changed file"
# Cut short: the final chunk is missing.
head -c 200 sealed/Observation.001.ndjson.ehrenc >cut.ndjson.ehrenc
run import --identity elsewhere cut.ndjson.ehrenc
expect_code 65
expect_err "ehr: error: cut.ndjson.ehrenc: truncated: the sealed data ends before its first chunk"
# A wrong signer: refused after the data is read, so the file's transaction rolls back.
run import --identity elsewhere --signer "$(printf '%064d' 0)" sealed/Observation.001.ndjson.ehrenc
expect_code 65
expect_err "ehr: error: sealed/Observation.001.ndjson.ehrenc: signed by key $SIGNER, not by the --signer key"
[ "$(count)" = 0 ] || fail "records imported from a file with the wrong signer"
run import --identity elsewhere --signer nothex sealed
expect_code 64
expect_err "ehr: error: --signer must be a public key of 64 lower-case hex digits (as ehr export --sign prints)"

# With the identity and the right signer: everything arrives, equal to the source.
run import --identity elsewhere --signer "$SIGNER" sealed
expect_code 0
expect_err_contains "imported"
# (read back through a plain export: the service role may export, not read)
EHR_DB=clinic.db "$EHR" export --quiet --plaintext --type Patient,Observation --out source
run export --quiet --type Patient,Observation --out received
expect_code 0
cat source/*.ndjson | canon >source.txt
cat received/*.ndjson | canon >received.txt
[ -s source.txt ] && cmp -s source.txt received.txt || fail "received records differ:"$'\n'"$(diff source.txt received.txt)"
# Sealed NDJSON on standard input.
run import --dry-run --identity elsewhere - <sealed/Patient.001.ndjson.ehrenc
expect_code 0

# An unsigned sealed export and --signer: refused.
export EHR_DB=clinic.db
run --recipient elsewhere.pub export --quiet --out unsigned
expect_code 0
EHR_DB=recv.db run import --identity elsewhere --signer "$SIGNER" unsigned/Patient.001.ndjson.ehrenc
expect_code 65
expect_err "ehr: error: unsigned/Patient.001.ndjson.ehrenc: not signed, but --signer requires a signature"

# A byte changed after the first chunk is found while the file is imported:
# the file is refused whole (nothing of it stays), it counts as one reject
# (rule seal) in the summary, the report and the rejects, and with
# --on-error continue the other files still go in, with exit 65.
for i in $(seq 1 1000); do
  printf '{"resourceType":"Patient","id":"big-%d","name":[{"family":"Bulkington"}],"gender":"other"}\n' "$i"
done >big.ndjson
"$EHR" import --quiet big.ndjson || fail "import of big.ndjson"
run --recipient elsewhere.pub export --quiet --type Patient --out big
expect_code 0
size=$(stat -c %s big/Patient.001.ndjson.ehrenc)
[ "$size" -gt 70000 ] || fail "big/Patient.001.ndjson.ehrenc has one chunk only ($size bytes)"
byte=$(od -An -tu1 -j $((size - 150)) -N1 big/Patient.001.ndjson.ehrenc | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 255)))" | dd of=big/Patient.001.ndjson.ehrenc bs=1 seek=$((size - 150)) conv=notrunc status=none
EHR_DB=recv.db run import --quiet --identity elsewhere --on-error continue --report big.json --rejects big-rejects.ndjson \
  big/Patient.001.ndjson.ehrenc data.ndjson
expect_code 65
expect_err "ehr: error: big/Patient.001.ndjson.ehrenc: chunk 3 was changed or damaged (it does not authenticate)
ehr: error: 1 file could not be read and was refused whole; the rest was imported"
[ "$(jq -c '[.exit, .total.rejected, [.files[] | [.refused, .rejected]]]' big.json)" = '[65,1,[[true,1],[false,0]]]' ] ||
  fail "report of a damaged sealed file: $(cat big.json)"
[ "$(jq -c '[.file, .outcome.issue[0].extension[0].valueCode]' big-rejects.ndjson)" = '["big/Patient.001.ndjson.ehrenc","seal"]' ] ||
  fail "rejects of a damaged sealed file: $(cat big-rejects.ndjson)"
EHR_DB=recv.db run export --quiet --type Patient --out recv-patients
grep -q big- recv-patients/Patient.001.ndjson && fail "records of a damaged sealed file were imported"
EHR_DB=recv.db run import --quiet --identity elsewhere big/Patient.001.ndjson.ehrenc
expect_code 65
expect_err "ehr: error: big/Patient.001.ndjson.ehrenc: chunk 3 was changed or damaged (it does not authenticate)
ehr: error: import stopped at the first rejected record; its transaction was rolled back"

# --- option errors ------------------------------------------------------------------
run --recipient missing.pub export --out x
expect_code 66
expect_err "ehr: error: --recipient missing.pub: no such file"
echo "hello" >junk.pub
run --recipient junk.pub export --out x
expect_code 65
expect_err "ehr: error: --recipient junk.pub: not an ehr recipient key (expected a line \"ehr-recipient-v1 KEY LABEL\"; make one with 'ehr key new --recipient -o NAME')"
run export --out x --sign sign.key
expect_code 64
expect_err "ehr: error: --sign needs a recipient key (--recipient FILE.pub): signatures are part of sealed files"
run --recipient elsewhere.pub export --out x --plaintext
expect_code 64
expect_err "ehr: error: --plaintext and a recipient key (--recipient FILE.pub) are mutually exclusive"
[ -e x ] && fail "x was created"

# --- a policy that requires encryption ------------------------------------------------
sed 's/export_requires_encryption: false/export_requires_encryption: true/' \
  "$EHR_SOURCE_DIR/schemas/policy/default.yaml" >strict.yaml
grep -q 'export_requires_encryption: true' strict.yaml || fail "strict.yaml"
EHR_USER=admin EHR_KEY_FILE=admin.key "$EHR" policy apply -q strict.yaml || fail "policy apply"
run export --out plain
expect_code 77
expect_err "ehr: error: access denied: the access policy requires exports to be encrypted: name a recipient key with --recipient FILE.pub, or give --plaintext to write plaintext anyway
ehr: hint: make the receiver's key pair with 'ehr key new --recipient -o NAME' and give them NAME.pub"
[ -e plain ] && fail "plain was created"
run export --quiet --out plain --plaintext
expect_code 0
[ -f plain/Patient.001.ndjson ] || fail "no plaintext export with --plaintext"
run --recipient elsewhere.pub export --quiet --out sealed2
expect_code 0
[ -f sealed2/Patient.001.ndjson.ehrenc ] || fail "no sealed export under the strict policy"
# A Bundle is never sealed: with a recipient key it is refused; under the
# strict policy it needs --plaintext like any plaintext export.
run --recipient elsewhere.pub export --format bundle --patient p1 -o p1.json
expect_code 64
expect_err "ehr: error: a Bundle is written in plaintext; to hand one patient over sealed, export the Bulk layout: ehr --recipient FILE.pub export --patient P --out DIR"
run export --format bundle --patient p1 -o p1.json
expect_code 77
expect_err_contains "ehr: error: access denied: the access policy requires exports to be encrypted"
[ -e p1.json ] && fail "p1.json was written"
run export --quiet --format bundle --patient p1 -o p1.json --plaintext
expect_code 0
[ "$(jq -r .entry[0].resource.resourceType p1.json)" = Patient ] || fail "no Bundle with --plaintext"
EHR_USER=admin EHR_KEY_FILE=admin.key run audit show --action export --format csv
expect_out_contains ",svc,service,export,denied,"
finish
