#!/usr/bin/env bash
# The encrypted database from the command line: init, info, check, key slots,
# backup, rotate-key; wrong secrets, missing files, refusals, file modes, and
# no plaintext on disk.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
cd "$E2E_TMP"
export EHR_KDF=interactive

printf 'correct horse battery staple\n' > admin.pw
printf 'wrong horse\n' > wrong.pw
chmod 600 admin.pw wrong.pw  # secrets, as an admin keeps them (others' read is warned of)

# key new: 0600, 64 hex digits, never overwrites, never to a terminal.
run key new -o svc.key
expect_code 0
[ "$(stat -c %a svc.key)" = 600 ] || fail "svc.key mode $(stat -c %a svc.key)"
grep -Eq '^[0-9a-f]{64}$' svc.key || fail "svc.key is not 64 hex digits"
cp svc.key svc.key.orig
run key new -o svc.key
expect_code 73
expect_err "ehr: error: svc.key already exists"
cmp -s svc.key svc.key.orig || fail "key new changed an existing key file"

# init: 0600 even with a permissive umask; refuses to overwrite.
umask 022
run --db clinic.db --user alice init --passphrase-file admin.pw --recovery-code
expect_code 0
[ "$(stat -c %a clinic.db)" = 600 ] || fail "clinic.db mode $(stat -c %a clinic.db)"
echo "$OUT" | grep -Eq '^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$' || fail "recovery code shape: $OUT"
printf '%s\n' "$OUT" > recovery.txt
chmod 600 recovery.txt
expect_err "ehr: the line above is a recovery code: it opens this database as alice; store it offline, it is not shown again
ehr: created clinic.db with administrator alice (roles: admin; passphrase slot, kdf interactive)"
# The recovery-code slot is in the file before it reaches its path (it was
# added after: an init killed between the two left a database without the
# code asked for), and the first audit entry names both slots.
run --db clinic.db --user alice --passphrase-file admin.pw audit show --action user-add --format ndjson
expect_code 0
[ "$(jq -r .detail <<<"$OUT")" = "user alice roles admin slot 0, recovery-code slot 1 (ehr init)" ] ||
  fail "init's audit entry: $OUT"
run --db clinic.db --user alice init --passphrase-file admin.pw
expect_code 73
expect_err "ehr: error: clinic.db: already exists"

# init checks the first administrator's name as user add does, before it asks
# for a secret or creates a file (it used to take any name).
run --db bad.db init --admin 'Dr Who!' --key-file svc.key
expect_code 64
expect_out ""
expect_err "ehr: error: user name must be 1-32 of a-z, 0-9, '.', '-', '_'"
run --db bad.db init --admin "$(printf 'x%.0s' {1..33})" --passphrase-file admin.pw
expect_code 64
expect_err "ehr: error: user name must be 1-32 of a-z, 0-9, '.', '-', '_'"
run --db bad.db --user Dr.Who --no-input init
expect_code 64
expect_err "ehr: error: user name must be 1-32 of a-z, 0-9, '.', '-', '_'
ehr: hint: name the first administrator with --admin NAME"
[ -z "$(ls bad.db* 2>/dev/null)" ] || fail "init with a bad name left $(ls bad.db*)"

export EHR_DB=clinic.db EHR_USER=alice

# info and key list, every format parses; no key material.
run --passphrase-file admin.pw db info --format json
expect_code 0
expect_out_contains '"cipher": "xchacha20-poly1305"'
expect_out_contains '"page_size": 4096'
expect_out_contains '"reserve": 48'
run --passphrase-file admin.pw key list --format csv
expect_out "slot,user,type,label,kdf,opslimit,memlimit_mib,current
0,alice,passphrase,initial,argon2id,2,64,true
1,alice,recovery-code,recovery code,none,,,false"

# A slot for a user who does not exist is refused; a service user with a
# key file is made by user add, and opens as svc with it.
run --passphrase-file admin.pw key add --for svc --new-key-file svc.key --label cron
expect_code 1
expect_err "ehr: error: no user svc"
run --passphrase-file admin.pw user add svc --role service --new-key-file svc.key --label cron
expect_code 0
expect_err "ehr: added user svc (roles: service) with key slot 2"
run --user svc --key-file svc.key key list --format ndjson
expect_code 0
expect_out_contains '{"slot":2,"user":"svc","type":"key-file","label":"cron","kdf":"none","opslimit":null,"memlimit_mib":null,"current":true}'
# The key file does not open alice's slots.
run --key-file svc.key key list
expect_code 77

# Wrong secret: exit 77 before SQLite touches anything (T6 from the outside);
# only the journal of failed opens beside the database grows, by one line.
db_files() { ls clinic.db clinic.db-wal clinic.db-shm clinic.db-journal 2>/dev/null; }
sha_before=$(sha256sum $(db_files))
mtime_before=$(stat -c %Y.%y $(db_files))
journal_before=$(cat clinic.db.failed-opens 2>/dev/null | wc -l)
run --passphrase-file wrong.pw db info
expect_code 77
expect_out ""
expect_err "ehr: error: wrong passphrase or key
ehr: hint: check --user, and --key-file or --passphrase-file (or EHR_KEY_FILE, EHR_PASSPHRASE_FILE)"
[ "$(sha256sum $(db_files))" = "$sha_before" ] || fail "a wrong passphrase changed the files"
[ "$(stat -c %Y.%y $(db_files))" = "$mtime_before" ] || fail "a wrong passphrase changed an mtime"
[ ! -e clinic.db-shm ] || fail "a wrong passphrase created clinic.db-shm"
[ "$(wc -l < clinic.db.failed-opens)" = $((journal_before + 1)) ] || fail "journal: $(cat clinic.db.failed-opens)"
tail -n 1 clinic.db.failed-opens | grep -Eq '^[0-9TZ:.-]{24} alice wrong-secret$' || fail "journal: $(cat clinic.db.failed-opens)"
run --user mallory --passphrase-file admin.pw db info
expect_code 77

# Secret sources: none with --no-input is a usage error; both files too.
run --no-input db info
expect_code 64
expect_err_contains "ehr: error: a passphrase is needed and --no-input forbids prompting"
# A new user's, a new slot's or a new passphrase without its file: the error
# names the options of that command (it used to name --key-file and
# --passphrase-file, which hold the caller's secret).
run --passphrase-file admin.pw --no-input user add carl --role nurse
expect_code 64
expect_out ""
expect_err "ehr: error: a new passphrase is needed and --no-input forbids prompting; use --new-key-file or --new-passphrase-file"
run --passphrase-file admin.pw --no-input key add --label spare
expect_code 64
expect_err "ehr: error: a new passphrase is needed and --no-input forbids prompting; use --new-key-file or --new-passphrase-file"
run --passphrase-file admin.pw --no-input user enable svc
expect_code 64
expect_err "ehr: error: a new passphrase is needed and --no-input forbids prompting; use --new-key-file or --new-passphrase-file"
run --passphrase-file admin.pw --no-input key passwd
expect_code 64
expect_err "ehr: error: a new passphrase is needed and --no-input forbids prompting; use --new-passphrase-file"
run --passphrase-file admin.pw user show carl
expect_code 1
run --key-file svc.key --passphrase-file admin.pw db info
expect_code 64
run --key-file no-such.key db info
expect_code 66
expect_err_contains "ehr: error: cannot read key file no-such.key"
printf 'not a key\n' > bad.key
run --key-file bad.key db info
expect_code 65
expect_err "ehr: error: key file bad.key is not a key: expected 64 hexadecimal digits or 32 bytes (make one with 'ehr key new -o FILE')"

# A key file others can read still opens (a cron job relies on it), with a
# warning naming who can read it and the fix.
cp svc.key open.key && chmod 644 open.key
run --user svc --key-file open.key key list --format csv
expect_code 0
expect_err "ehr: warning: open.key can be read by every user (mode 0644): anyone who can read it opens the database as this user; chmod 600 open.key"
chmod 640 open.key
run --user svc --key-file open.key -q key list --format csv
expect_err "ehr: warning: open.key can be read by its group (mode 0640): anyone who can read it opens the database as this user; chmod 600 open.key"
rm open.key

# Missing database.
run --db missing.db --passphrase-file admin.pw db info
expect_code 66
expect_err "ehr: error: missing.db: no such file
ehr: hint: create a database with 'ehr init --db missing.db', or name one with --db or EHR_DB"

# A symbolic link to the database (current.db -> clinic.db) opens the file it
# names; the WAL sits beside that file, not beside the link.
ln -s clinic.db current.db
run --db current.db --passphrase-file admin.pw key list --format csv
expect_code 0
expect_out_contains "0,alice,passphrase,initial,argon2id,2,64,true"
[ ! -e current.db-wal ] || fail "a WAL was made beside the link"
rm current.db

# Recovery code opens; passwd changes the passphrase; the old one stops working.
run --recovery --passphrase-file recovery.txt key list --format csv
expect_code 0
expect_out_contains "1,alice,recovery-code,recovery code,none,,,true"
printf 'a new passphrase\n' > new.pw
chmod 600 new.pw
run --passphrase-file admin.pw key passwd --new-passphrase-file new.pw
expect_code 0
run --passphrase-file admin.pw db info
expect_code 77
run --passphrase-file new.pw db check --format csv
expect_code 0
expect_out_contains ",true,"

# Remove a slot; the last slot can never be removed.
run --passphrase-file new.pw key remove 2
expect_code 0
run --user svc --key-file svc.key db info
expect_code 77
run --passphrase-file new.pw key remove 9
expect_code 64

# Backup: still encrypted, opens with the same secret, never overwrites.
run --passphrase-file new.pw db backup --to backup.db
expect_code 0
run --db backup.db --passphrase-file new.pw db check
expect_code 0
run --passphrase-file new.pw db backup --to backup.db
expect_code 73

# rotate-key: new file id, same secrets.
old_id=$("$EHR" --passphrase-file new.pw db info --format ndjson | sed 's/.*"file_id":"\([0-9a-f]*\)".*/\1/')
run --passphrase-file new.pw db rotate-key
expect_code 0
new_id=$("$EHR" --passphrase-file new.pw db info --format ndjson | sed 's/.*"file_id":"\([0-9a-f]*\)".*/\1/')
[ -n "$new_id" ] && [ "$old_id" != "$new_id" ] || fail "rotate-key kept file id $old_id"
run --recovery --passphrase-file recovery.txt db check
expect_code 0

# A rotate-key killed before its rename (SIGKILL, a power cut) leaves its
# copy, which the key slots of its time open: db check names it, the next
# rotate-key removes it with its side files and nothing else (QA finding:
# they stayed for good).
cp backup.db clinic.db.rotate-0123456789abcdef
: > clinic.db.rotate-0123456789abcdef-journal
: > clinic.db.rotate-0123456789abcdef-wal
: > clinic.db.rotate-0123456789abcdef.keep
run --passphrase-file new.pw db check -q
expect_code 0
expect_err "ehr: warning: clinic.db.rotate-0123456789abcdef: a copy left by a rotate-key that did not finish; it opens with the key slots it had then ('ehr db rotate-key' removes it)"
run --passphrase-file new.pw db check --format ndjson -q
expect_out_contains '"rotation_leftovers":["clinic.db.rotate-0123456789abcdef"]'
run --passphrase-file new.pw db rotate-key
expect_code 0
expect_err "ehr: removed clinic.db.rotate-0123456789abcdef, left by a rotate-key that did not finish
ehr: rotated the data key of clinic.db; every key slot still opens it"
[ "$(ls clinic.db.rotate-*)" = clinic.db.rotate-0123456789abcdef.keep ] || fail "rotate-key left or removed: $(ls clinic.db.rotate-*)"
rm clinic.db.rotate-0123456789abcdef.keep

# Between commands the WAL stays beside the database (each command's audit
# entry is appended to it) and the -shm does not; a backup is one file.
run --passphrase-file new.pw audit show --limit 1
expect_code 0
[ -s clinic.db-wal ] || fail "no WAL beside clinic.db after a command"
[ ! -e clinic.db-shm ] || fail "clinic.db-shm left behind"
[ ! -e backup.db-wal ] && [ ! -e backup.db-shm ] || fail "a checked backup left a WAL or -shm"

# Nothing on disk is plaintext SQLite, and no secret is on disk in the clear.
for f in clinic.db* backup.db*; do
  if grep -aq "SQLite format 3" "$f"; then fail "$f contains a plaintext SQLite header"; fi
  if grep -aq "correct horse" "$f"; then fail "$f contains the passphrase"; fi
done

finish
