#!/usr/bin/env bash
# ehr key passwd changes the passphrase of the caller's slot and nothing
# else: opened with a key file or a recovery code it refuses (exit 65) and the
# slot keeps its secret. (Before the fix it turned a service's key-file slot
# into a passphrase slot, locking the service out.) A key file is replaced
# with key add and key remove instead.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
umask 077  # the secret files below, as an admin keeps them (others' read is warned of)
new_clinic clinic.db
export EHR_KDF=interactive
"$EHR" key new -o feed.key -q
run user add feed --role service --new-key-file feed.key
expect_code 0
expect_err "ehr: added user feed (roles: service) with key slot 2"
printf 'pw\n' > p.txt
# Runs ehr with a passphrase source instead of new_clinic's EHR_KEY_FILE.
run_pw() { EHR_KEY_FILE= run "$@"; }

# A key-file slot: refused before any new passphrase is read, nothing
# changed, nothing audited.
run --user feed --key-file feed.key key passwd --new-passphrase-file p.txt
expect_code 65
expect_out ""
expect_err "ehr: error: slot 2 opens with a key file, not a passphrase
ehr: hint: to replace a key file: 'ehr key new -o NEW.key', 'ehr key add --new-key-file NEW.key', then 'ehr key remove 2'"
run --user feed --no-input --key-file feed.key key passwd
expect_code 65
expect_err_contains "ehr: error: slot 2 opens with a key file, not a passphrase"
run --user feed --key-file feed.key db info
expect_code 0
run_pw --user feed --passphrase-file p.txt db info
expect_code 77
run --user feed --key-file feed.key key list --format csv
expect_out_contains "2,feed,key-file,initial,none,,,true"

# A recovery-code slot: refused too, and the code still opens.
run key add --recovery-code
expect_code 0
printf '%s\n' "$OUT" > recovery.txt
run_pw --recovery --passphrase-file recovery.txt key passwd --new-passphrase-file p.txt
expect_code 65
expect_out ""
expect_err "ehr: error: slot 3 opens with a recovery code, not a passphrase
ehr: hint: to set a new passphrase: 'ehr key add', then remove the old passphrase's slot with 'ehr key remove' (see 'ehr key list'); slot 3 keeps the recovery code"
run_pw --recovery --passphrase-file recovery.txt key list --format csv
expect_code 0
expect_out_contains "3,admin,recovery-code,recovery code,none,,,true"
run audit show --action key-passwd --format csv
expect_out "seq,time,user,roles,action,outcome,purpose,patients,resources,count,emergency,recipient,detail"

# What the hint says replaces a key file, as the service itself.
"$EHR" key new -o feed2.key -q
run --user feed --key-file feed.key key add --new-key-file feed2.key --label feed2
expect_code 0
expect_err "ehr: added key slot 4 for feed"
run --user feed --key-file feed2.key key remove 2
expect_code 0
run --user feed --key-file feed.key db info
expect_code 77
run --user feed --key-file feed2.key db info
expect_code 0

# A passphrase slot still changes, keeping its index, user and label.
run key add --new-passphrase-file p.txt --label laptop
expect_code 0
expect_err "ehr: added key slot 2 for admin"
printf 'a new passphrase\n' > new.txt
run_pw --passphrase-file p.txt key passwd --new-passphrase-file new.txt
expect_code 0
expect_err "ehr: changed the passphrase of admin"
run_pw --passphrase-file p.txt db info
expect_code 77
run_pw --passphrase-file new.txt key list --format csv
expect_out_contains "2,admin,passphrase,laptop,argon2id,2,64,true"
finish
