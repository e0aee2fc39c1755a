#!/usr/bin/env bash
# Interrupted and killed runs, and databases that cannot be written (QA
# findings, ops sweep 8): an import stopped by SIGINT or SIGTERM exits 130,
# rolls back and leaves no --rejects or --report temporary (plaintext rows);
# temporaries of a killed import, backup or init are removed by the next run;
# neither a backup nor an init leaves a partial file at its path; a read-only database is
# exit 74 naming the cause, not 70 "internal error".
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"
new_clinic clinic.db
export EHR_USER=svc EHR_KEY_FILE=svc.key

patient() {  # ID BIRTHDATE
  printf '{"resourceType":"Patient","id":"%s","name":[{"family":"Quill%s","given":["Ann"]}],"birthDate":"%s"}\n' "$1" "$1" "$2"
}
count_patients() { "$EHR" patient list --limit 0 --format ndjson 2>/dev/null | grep -c '"Patient"'; }

# --- an import interrupted by SIGINT or SIGTERM ----------------------------------
# The import reads a pipe: it waits there until told to stop, deterministically.
# (-q: the error alone; without it a hint says to run the import again.)
for sig in INT TERM HUP; do  # HUP: a dropped ssh session (QA finding ops 05)
  rm -f feed.fifo; mkfifo feed.fifo; mkdir -p rej; rm -f rej/*
  "$EHR" import - --format ndjson --on-error continue --rejects rej/rejects.ndjson \
    --report rej/report.json -q <feed.fifo >/dev/null 2>err.txt &
  pid=$!
  exec 3>feed.fifo
  patient p-$sig-1 1950-13-45 >&3   # rejected: a bad birth date
  patient p-$sig-2 1950-01-02 >&3
  for _ in $(seq 50); do ls rej | grep -q 'rejects.ndjson.tmp-' && break; sleep 0.1; done
  ls rej | grep -q 'rejects.ndjson.tmp-' || fail "SIG$sig: no temporary of --rejects while the import runs"
  sleep 0.3
  kill -$sig $pid
  sleep 0.3
  patient p-$sig-3 1950-01-03 >&3   # the import polls its flag before each record
  exec 3>&-
  wait $pid; rc=$?
  [ "$rc" = 130 ] || fail "SIG$sig: import exit $rc, expected 130 ($(cat err.txt))"
  [ "$(cat err.txt)" = "ehr: error: import interrupted; its open transaction was rolled back" ] ||
    fail "SIG$sig: import stderr: $(cat err.txt)"
  [ -z "$(ls -A rej)" ] || fail "SIG$sig: an interrupted import left $(ls -A rej | tr '\n' ' ')"
done
[ "$(count_patients)" = 0 ] || fail "an interrupted import committed its open transaction"

# --- temporaries of a killed import (SIGKILL) ------------------------------------
# A killed run's temporary is removed by the next run to the same file; the
# run says so (not with -q).
patient p-k-1 1950-13-45 >feed.ndjson
patient p-k-2 1950-01-02 >>feed.ndjson
echo '{"leftover":"plaintext"}' >rej/rejects.ndjson.tmp-0badc0de
run import feed.ndjson --on-error continue --rejects rej/rejects.ndjson
expect_code 3
expect_err_contains "ehr: removed rej/rejects.ndjson.tmp-0badc0de, left by an import that did not finish"
[ "$(ls -A rej)" = rejects.ndjson ] || fail "after a complete import rej/ holds $(ls -A rej | tr '\n' ' ')"

# --- backups -------------------------------------------------------------------------
# A killed backup's temporary (hidden, beside the target) goes at the next
# backup to that name; the target itself never holds a partial copy.
: >.bk.db.tmp-12345678; : >.bk.db.tmp-12345678-journal
run db backup --to bk.db
expect_code 0
expect_err_contains "ehr: removed .bk.db.tmp-12345678, left by a backup or init that did not finish"
[ "$(ls -A | grep 'bk\.db')" = bk.db ] || fail "after a backup: $(ls -A | grep 'bk\.db' | tr '\n' ' ')"
run --db bk.db db check -q
expect_code 0
run db backup --to bk.db
expect_code 73
expect_err "ehr: error: bk.db: already exists"
[ "$(ls -A | grep 'bk\.db')" = bk.db ] || fail "a refused backup left $(ls -A | grep 'bk\.db' | tr '\n' ' ')"

# --- a full disk (when a tmpfs can be mounted: root, outside most containers) ----------
# The error names the database; the summary says the import ended by an
# error and counts only what was committed before it (QA finding: it said
# "imported 1 file ... 0 records").
mkdir full
if mount -t tmpfs -o size=3m tmpfs full 2>/dev/null; then
  "$EHR" key new -o full/a.key -q; "$EHR" key new -o full/f.key -q
  "$EHR" --db full/f.db init --admin adm --role admin --key-file full/a.key -q
  "$EHR" --db full/f.db --user adm --key-file full/a.key user add feeder --role service --new-key-file full/f.key -q
  seq 4000 | awk '{printf "{\"resourceType\":\"Patient\",\"id\":\"full-%d\",\"name\":[{\"family\":\"Quill%d\",\"given\":[\"Ann\"]}],\"birthDate\":\"1950-01-02\"}\n", $1, $1}' >big.ndjson
  run --db full/f.db --user feeder --key-file full/f.key import big.ndjson
  expect_code 74
  ERR=$(sed -E 's/\(([0-9.]+) MB\) in [0-9]+\.[0-9] s/(M MB) in T s/' <<<"$ERR")
  expect_err "ehr: import ended by an error in 1 file (M MB) in T s; committed before it: 0 records, 0 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected
ehr: error: $(pwd -P)/full/f.db: the disk is full"
  # With --report on the same full disk, the report's own write error must
  # not hide the summary and the database's error (QA finding ops 02).
  run --db full/f.db --user feeder --key-file full/f.key import --report full/report.json big.ndjson
  expect_code 74
  expect_err_contains "ehr: import ended by an error in 1 file"
  expect_err_contains "ehr: error: $(pwd -P)/full/f.db: the disk is full"
  umount full
else
  echo "SKIP (part): cannot mount a tmpfs here; the full-disk import is not tested"
fi

# --- init ---------------------------------------------------------------------------------
# ehr init builds the database under a hidden temporary and moves it into
# place whole: killed at any moment it leaves either nothing at the path or
# a database that opens, and the next init removes what a killed one left.
# (QA finding: killed in its first milliseconds it left a file no secret
# opened, which a new init refused as existing, 73.)
"$EHR" key new -o adm.key -q
: >.fresh.db.tmp-0badc0de; : >.fresh.db.tmp-0badc0de-journal
run --db fresh.db init --admin adm --key-file adm.key
expect_code 0
expect_err "ehr: removed .fresh.db.tmp-0badc0de, left by an init or backup that did not finish
ehr: created fresh.db with administrator adm (roles: admin; key-file slot)"
[ -z "$(ls -A | grep '^\.fresh\.db')" ] || fail "init left $(ls -A | grep '^\.fresh\.db' | tr '\n' ' ')"
for delay in 0.002 0.005 0.008 0.012 0.016 0.02 0.03 0.05; do
  rm -f killed.db killed.db-wal killed.db-shm
  "$EHR" --db killed.db init --admin adm --key-file adm.key -q & pid=$!
  sleep "$delay"; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if [ -e killed.db ]; then
    "$EHR" --db killed.db --user adm --key-file adm.key db check -q >/dev/null ||
      fail "init killed after ${delay}s left a killed.db that does not pass db check"
  else
    "$EHR" --db killed.db init --admin adm --key-file adm.key -q ||
      fail "init killed after ${delay}s: a new init failed"
    [ -z "$(ls -A | grep '^\.killed\.db')" ] || fail "a new init left $(ls -A | grep '^\.killed\.db' | tr '\n' ' ')"
  fi
done

# --- a database that cannot be written ------------------------------------------------
# Every command writes (the WAL and -shm beside the file; an audit entry), so
# a read-only file is exit 74 naming the cause, with what to do.
mkdir ro; cp bk.db svc.key ro/; chmod 0400 ro/bk.db
as_other() {  # root may write a 0400 file: run as nobody then
  if [ "$(id -u)" = 0 ]; then
    chown -R 65534 ro; chmod 755 "$E2E_TMP"
    setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$EHR" "$@"
  else
    "$EHR" "$@"
  fi
}
for c in "db info" "db check" "patient list"; do
  ERR=$(as_other --db ro/bk.db --user svc --key-file ro/svc.key $c 2>&1 >/dev/null); CODE=$?
  expect_code 74
  expect_err "ehr: error: ro/bk.db: the database is read-only (the file is not writable)
ehr: hint: ehr writes an audit entry for every command and keeps a -wal and -shm beside the database, so even db info and db check need write access; to inspect a read-only backup, copy it somewhere writable"
done
chmod 0600 ro/bk.db; chmod 0555 ro
ERR=$(as_other --db ro/bk.db --user svc --key-file ro/svc.key db info 2>&1 >/dev/null); CODE=$?
expect_code 74
expect_err_contains "ehr: error: ro/bk.db: the database is read-only (its directory is not writable, and ehr keeps a -wal and a -shm file beside it)"
chmod 0755 ro
# QA finding ops 03: a -wal left by one run as root (sudo) made every command
# of the database's owner fail with "unable to open database file" (66) or a
# bare "read-only", naming neither the file nor the cause.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chown -R 65534 ro; : >ro/bk.db-wal; chmod 0644 ro/bk.db-wal  # root's, readable
  ERR=$(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$EHR" --db ro/bk.db --user svc --key-file ro/svc.key db info 2>&1 >/dev/null); CODE=$?
  expect_code 74
  expect_err_contains "ehr: error: ro/bk.db: the database is read-only (ro/bk.db-wal is not writable by this user (owner uid 0, mode 0644); it may have been left by a run as another user: give it back to the database's owner)"
  chmod 0600 ro/bk.db-wal  # root's, unreadable
  ERR=$(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$EHR" --db ro/bk.db --user svc --key-file ro/svc.key patient list 2>&1 >/dev/null); CODE=$?
  expect_code 74
  expect_err_contains "(ro/bk.db-wal is not writable by this user (owner uid 0, mode 0600);"
  rm -f ro/bk.db-wal
else
  echo "SKIP (one check): a -wal of another user needs root to make"
fi

finish
