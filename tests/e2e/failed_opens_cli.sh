#!/usr/bin/env bash
# Failed opens from the command line: every command that authenticates the
# caller against the database journals a refused secret in DB.failed-opens,
# the commands that open it without a session (db info, db check, key list,
# db recover) too, and so for a disabled user whose old key still opens the
# file; the next command with a session moves each line into the trail as a
# login-failed entry. (Before the fix those four commands journalled nothing
# and let a disabled user in.)
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
new_clinic clinic.db
"$EHR" key new -o wrong.key -q
J=clinic.db.failed-opens
lines() { if [ -e "$J" ]; then wc -l < "$J"; else echo 0; fi; }

# Each refused open appends exactly one line, whatever the command; the
# database files stay as they were and db recover saves nothing.
sums=$(sha256sum clinic.db clinic.db-wal)
n=0
for c in "db info" "db check" "key list" "db recover" "user list" "db backup --to b.db" \
         "db rotate-key" "key add --new-key-file wrong.key" "key passwd --new-passphrase-file x"; do
  # shellcheck disable=SC2086
  run --key-file wrong.key $c
  expect_code 77
  expect_out ""
  expect_err "ehr: error: wrong passphrase or key
ehr: hint: check --user, and --key-file or --passphrase-file (or EHR_KEY_FILE, EHR_PASSPHRASE_FILE)"
  n=$((n + 1))
  [ "$(lines)" = "$n" ] || fail "$c: $(lines) journal lines, expected $n"
done
grep -Evq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z admin wrong-secret$' "$J" && fail "journal: $(cat "$J")"
[ "$(stat -c %a "$J")" = 600 ] || fail "journal mode $(stat -c %a "$J")"
[ "$(sha256sum clinic.db clinic.db-wal)" = "$sums" ] || fail "a refused open changed the database files"
ls -d clinic.db.recover-* >/dev/null 2>&1 && fail "db recover with a wrong key saved copies"
[ ! -e b.db ] || fail "db backup with a wrong key wrote b.db"

# A user without a slot, through a command without a session.
run --user mallory db check
expect_code 77
tail -n 1 "$J" | grep -Eq ' mallory wrong-secret$' || fail "journal: $(tail -n 1 "$J")"

# The session-less commands leave the journal for the next session, which
# records every line once.
run db info -q
expect_code 0
run key list -q
expect_code 0
[ "$(lines)" = 10 ] || fail "db info or key list took the journal: $(lines) lines left"
run audit show --action login-failed --format csv
expect_code 0
[ "$(lines)" = 0 ] || fail "journal not emptied: $(cat "$J")"
[ "$(printf '%s\n' "$OUT" | grep -c ',login-failed,')" = 10 ] || fail "login-failed entries:"$'\n'"$OUT"
[ "$(printf '%s\n' "$OUT" | grep ',login-failed,' | grep -c ',admin,')" = 9 ] || fail "admin's entries:"$'\n'"$OUT"
expect_out_contains ',mallory,'
expect_out_contains 'wrong-secret'

# A disabled user whose old key still opens the file (its header put back
# from a copy made before the disabling) is refused by the session-less
# commands too, and journalled there (a session records it directly).
dd if=clinic.db of=header.old bs=4096 count=1 status=none
run user disable svc -q
expect_code 0
run --user svc --key-file svc.key db info
expect_code 77
dd if=header.old of=clinic.db bs=4096 count=1 conv=notrunc status=none
for c in "db info" "db check" "key list" "db recover"; do
  # shellcheck disable=SC2086
  run --user svc --key-file svc.key $c
  expect_code 77
  expect_out ""
  expect_err "ehr: error: user svc is disabled
ehr: hint: check --user, and --key-file or --passphrase-file (or EHR_KEY_FILE, EHR_PASSPHRASE_FILE)"
done
[ "$(grep -c ' svc user-disabled$' "$J")" = 4 ] || fail "journal: $(cat "$J")"
ls -d clinic.db.recover-* >/dev/null 2>&1 && fail "db recover by a disabled user saved copies"
run --user svc --key-file svc.key user show
expect_code 77
expect_err_contains "ehr: error: user svc is disabled"
run audit show --action login-failed --format csv
expect_code 0
[ "$(printf '%s\n' "$OUT" | grep ',svc,' | grep -c 'user-disabled')" = 4 ] || fail "svc's journalled entries:"$'\n'"$OUT"
[ "$(printf '%s\n' "$OUT" | grep ',svc,' | grep -c 'user is disabled')" = 1 ] || fail "svc's direct entry:"$'\n'"$OUT"
run audit verify -q
expect_code 0
finish
