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
unset EHR_DB EHR_USER EHR_FORMAT EHR_COLOR EHR_KEY_FILE EHR_PASSPHRASE_FILE EHR_KDF EHR_CONFIG EHR_CARE_RULES NO_COLOR

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
