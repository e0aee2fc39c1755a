#!/usr/bin/env bash
# The audit chain from the shell: verify an intact trail (0), checkpoints
# appended to a file and checked later, a forged or foreign checkpoint (65,
# first bad entry named), failed opens recorded at the next open, and the
# audit-read permission.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_DB=clinic.db EHR_USER=alice EHR_KEY_FILE=alice.key NO_COLOR=1
for k in alice andy bob sign other; do "$EHR" key new -o $k.key -q || fail "key new $k"; done
"$EHR" init --role physician -q || fail "init failed"
run user add andy --role auditor --new-key-file andy.key -q
run user add bob --role nurse --new-key-file bob.key -q
run patient add --given Ann --family Audit --mrn M1
expect_code 0
run record show --patient M1 --format ndjson
expect_code 0

run --user andy --key-file andy.key audit verify --format json
expect_code 0
expect_out_contains '"ok": true'
expect_out_contains '"entries": 5'
expect_err "ehr: no checkpoint given: a truncated or rewritten trail shows only against one (ehr audit checkpoint)"

# A checkpoint appended to a file, then checked after more entries.
run --user andy --key-file andy.key audit checkpoint --signing-key sign.key -o checkpoints.log
expect_code 0
expect_out ""
expect_err "ehr: checkpoint of entry 7 appended to checkpoints.log"
[ "$(stat -c %a checkpoints.log)" = 600 ] || fail "checkpoint file mode $(stat -c %a checkpoints.log)"
grep -Eq '^ehr-audit-checkpoint v1 trail=[0-9a-f]{32} seq=7 head=[0-9a-f]{64} time=[0-9TZ:.-]{24} key=[0-9a-f]{64} sig=[0-9a-f]{128}$' checkpoints.log \
  || fail "checkpoint line: $(cat checkpoints.log)"
run --user andy --key-file andy.key audit checkpoint --signing-key sign.key
expect_code 0
printf 'Nov 25 10:00:00 host ehr-audit: %s\n' "$OUT" >> syslog.txt
echo "Nov 25 10:00:01 host cron: unrelated" >> syslog.txt
run record show --patient M1 --format ndjson
expect_code 0
run --user andy --key-file andy.key audit verify --checkpoint checkpoints.log --checkpoint syslog.txt -q
expect_code 0
expect_out_contains '"checkpoints_checked": 2'
KEY=$(sed -E 's/.* key=([0-9a-f]+) .*/\1/' checkpoints.log)
run --user andy --key-file andy.key audit verify --checkpoint checkpoints.log --signer "$KEY" -q
expect_code 0

# A forged checkpoint (another head) and one signed by another key.
sed -E 's/head=[0-9a-f]{8}/head=00000000/' checkpoints.log > forged.log
run --user andy --key-file andy.key audit verify --checkpoint forged.log -q
expect_code 65
expect_out_contains '"ok": false'
expect_out_contains '"first_bad_seq": null'
CPTIME=$(sed -E 's/.* time=([^ ]+) .*/\1/' checkpoints.log)
expect_err "ehr: error: audit trail not verified: checkpoint seq=7 time=$CPTIME: its signature does not verify"
run --user andy --key-file andy.key audit checkpoint --signing-key other.key -o other.log -q
expect_code 0
run --user andy --key-file andy.key audit verify --checkpoint other.log --signer "$KEY" -q
expect_code 65
expect_err_contains ": signed by key "
echo "ehr-audit-checkpoint v1 trail=zz" > bad.log
run --user andy --key-file andy.key audit verify --checkpoint bad.log
expect_code 65
expect_err "ehr: error: bad.log:1: checkpoint field trail: not 32 hex digits"
run --user andy --key-file andy.key audit verify --checkpoint missing.log
expect_code 66
run --user andy --key-file andy.key audit checkpoint --signing-key nothere.key
expect_code 66
expect_out ""

# A failed open waits beside the database; the next open records it.
run --user andy --key-file bob.key audit verify
expect_code 77
[ -s clinic.db.failed-opens ] || fail "no failed-open journal"
grep -Eq '^[0-9TZ:.-]{24} andy wrong-secret$' clinic.db.failed-opens || fail "journal: $(cat clinic.db.failed-opens)"
run --user andy --key-file andy.key audit verify -q
expect_code 0
[ ! -s clinic.db.failed-opens ] || fail "journal not emptied: $(cat clinic.db.failed-opens)"

# Only auditors and admins read the trail.
run --user bob --key-file bob.key audit verify
expect_code 77
expect_out ""
expect_err "ehr: error: access denied: user bob (roles: nurse) may not audit-read AuditEvent: no role of the user allows audit-read on AuditEvent"
run audit verify -q
expect_code 0
finish
