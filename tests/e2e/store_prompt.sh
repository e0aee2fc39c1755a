#!/usr/bin/env bash
# Passphrases typed at a terminal (through script(1)'s pseudo-terminal):
# asked twice when set, never echoed, mismatches refused.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_KDF=interactive NO_COLOR=1
command -v script >/dev/null || { echo "SKIP: script(1) is not installed"; exit 77; }

script -qec "'$EHR' --user bob --db p.db init" /dev/null <<< $'pass phrase 1\npass phrase 1\n' > tty.log 2>&1
code=$?
[ "$code" = 0 ] || fail "init at a terminal exited $code: $(cat tty.log)"
grep -q "new passphrase for bob: " tty.log || fail "no prompt: $(cat tty.log)"
grep -q "repeat new passphrase for bob: " tty.log || fail "no confirmation prompt: $(cat tty.log)"
printf 'pass phrase 1\n' > p.pw
run --db p.db --user bob --passphrase-file p.pw key list --format csv
expect_code 0
expect_out_contains "0,bob,passphrase,initial"

script -qec "'$EHR' --user bob --db q.db init" /dev/null <<< $'one\ntwo\n' > tty2.log 2>&1
code=$?
[ "$code" = 65 ] || fail "mismatched passphrases exited $code"
grep -q "ehr: error: the passphrases do not match" tty2.log || fail "no mismatch error: $(cat tty2.log)"
[ ! -e q.db ] || fail "a refused init left q.db behind"

# The prompt names the administrator being created, not --user (QA finding:
# `init --admin alice` run as root asked for "passphrase for root").
script -qec "'$EHR' --user root --db a.db init --admin alice" /dev/null <<< $'pass phrase 2\npass phrase 2\n' > tty4.log 2>&1
code=$?
[ "$code" = 0 ] || fail "init --admin at a terminal exited $code: $(cat tty4.log)"
grep -q "new passphrase for alice: " tty4.log || fail "init --admin alice prompt: $(cat tty4.log)"
! grep -q "for root" tty4.log || fail "init --admin alice prompted for root: $(cat tty4.log)"

# Opening prompts once.
script -qec "'$EHR' --user bob --db p.db key list --format csv" /dev/null <<< $'pass phrase 1\n' > tty3.log 2>&1
grep -q "0,bob,passphrase,initial" tty3.log || fail "prompted open failed: $(cat tty3.log)"
finish
