# Helpers for the end-to-end tests in tests/e2e/*.sh, which run the real ehr
# binary ($EHR) as a user would. Source this file; each check prints what
# differs and makes the test fail at exit.
set -u
: "${EHR:?EHR must name the ehr binary}"
: "${EHR_SOURCE_DIR:?EHR_SOURCE_DIR must name the source tree}"
E2E_FAILURES=0
E2E_TMP=$(mktemp -d)
trap 'rm -rf "$E2E_TMP"' EXIT
export HOME="$E2E_TMP/home" XDG_CONFIG_HOME="$E2E_TMP/config"
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
unset EHR_DB EHR_USER EHR_FORMAT EHR_COLOR EHR_KEY_FILE EHR_PASSPHRASE_FILE EHR_KDF EHR_CONFIG EHR_CARE_RULES EHR_MATCHING NO_COLOR

# run ARGS...: runs ehr, capturing stdout, stderr and the exit code in
# $OUT, $ERR and $CODE.
run() {
  "$EHR" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
  CODE=$?
  OUT=$(cat "$E2E_TMP/out")
  ERR=$(cat "$E2E_TMP/err")
}

fail() {
  echo "FAIL: $*" >&2
  E2E_FAILURES=$((E2E_FAILURES + 1))
}

expect_code() {  # expected
  [ "$CODE" = "$1" ] || fail "exit code $CODE, expected $1 (stderr: $ERR)"
}
expect_out() {  # exact stdout
  [ "$OUT" = "$1" ] || fail "stdout differs:"$'\n'"--- got"$'\n'"$OUT"$'\n'"--- expected"$'\n'"$1"
}
expect_err() {  # exact stderr
  [ "$ERR" = "$1" ] || fail "stderr differs:"$'\n'"--- got"$'\n'"$ERR"$'\n'"--- expected"$'\n'"$1"
}
expect_out_contains() {
  case "$OUT" in *"$1"*) ;; *) fail "stdout lacks '$1':"$'\n'"$OUT" ;; esac
}
expect_err_contains() {
  case "$ERR" in *"$1"*) ;; *) fail "stderr lacks '$1':"$'\n'"$ERR" ;; esac
}

# skip_unless_shared_data: exits 77 (CTest's skip) when ../shared/data is absent.
shared_data() { echo "$EHR_SOURCE_DIR/../shared/data"; }
skip_unless_shared_data() {
  if [ ! -d "$(shared_data)" ]; then
    echo "SKIP: $(shared_data) is absent (a fresh clone has no ../shared); this test needs it"
    exit 77
  fi
}

finish() {
  if [ "$E2E_FAILURES" -gt 0 ]; then
    echo "$E2E_FAILURES check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

# new_clinic DB: in $E2E_TMP, a new database DB with the admin "admin"
# (admin.key) and the service user "svc" (svc.key, the role that imports and
# exports); leaves EHR_DB=DB, EHR_USER=admin, EHR_KEY_FILE=admin.key and
# NO_COLOR set, and the working directory $E2E_TMP.
new_clinic() {
  cd "$E2E_TMP" || exit 1
  export EHR_DB=$1 EHR_USER=admin EHR_KEY_FILE=admin.key NO_COLOR=1
  "$EHR" key new -o admin.key -q && "$EHR" init -q || fail "init failed"
  "$EHR" key new -o svc.key -q && "$EHR" user add svc --role service --new-key-file svc.key -q || fail "user add failed"
}
