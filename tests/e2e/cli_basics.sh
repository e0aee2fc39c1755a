#!/usr/bin/env bash
# The real binary: usage errors, help, version, configuration errors.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"

run --bogus
expect_code 64
expect_out ""
expect_err "ehr: error: the following argument was not expected: --bogus
ehr: hint: run 'ehr --help' for usage"

run
expect_code 64
expect_err_contains "ehr: error: no command given"

run --version
expect_code 0
expect_out "ehr $(sed -n 's/^project(ehr VERSION \([0-9.]*\).*/\1/p' "$EHR_SOURCE_DIR/CMakeLists.txt")"

run --help
expect_code 0
expect_out_contains "Examples:"

# A broken config file: exit 78 naming the file and line, nothing on stdout.
mkdir -p "$XDG_CONFIG_HOME/ehr"
printf 'db: clinic.db\nformat: json\ncolour: never\n' > "$XDG_CONFIG_HOME/ehr/config.yaml"
run config show
expect_code 78
expect_out ""
expect_err "ehr: error: $XDG_CONFIG_HOME/ehr/config.yaml: line 3, column 1: unknown key \"colour\" (known keys: db, user, format, color, key_file, passphrase_file, mrn_system, kdf, care_rules, matching)"

printf 'db: [unclosed\n' > "$XDG_CONFIG_HOME/ehr/config.yaml"
run config show
expect_code 78
expect_err_contains "ehr: error: $XDG_CONFIG_HOME/ehr/config.yaml: line "

# A good one: values and origins; env beats file, flag beats env.
printf 'db: clinic.db\nformat: yaml\n' > "$XDG_CONFIG_HOME/ehr/config.yaml"
EHR_DB=/env.db run --format csv config show
expect_code 0
expect_out_contains "db,/env.db,env EHR_DB"
run --format csv config show
expect_out_contains "db,$XDG_CONFIG_HOME/ehr/clinic.db,file $XDG_CONFIG_HOME/ehr/config.yaml:1"
expect_out_contains "format,csv,flag --format"

# Output to a pipe defaults to JSON when no format is configured.
rm "$XDG_CONFIG_HOME/ehr/config.yaml"
run config show
expect_out_contains '"key": "db"'

# A default config path that cannot be checked ($HOME/.config of another
# user, not searchable): an error naming the path, exit 66, no abort. It used
# to die with an uncaught std::filesystem_error (exit 134). Root reads any
# directory, so the run drops to nobody with setpriv; skipped without it.
run_unprivileged() {  # ARGS...: as run, as uid/gid 65534 with a clean environment
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    env -i PATH="$PATH" HOME="$H" "$EHR" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
  CODE=$?
  OUT=$(cat "$E2E_TMP/out")
  ERR=$(cat "$E2E_TMP/err")
}
H=$(mktemp -d /tmp/ehr-e2e-home.XXXXXX)
chmod 755 "$H"
mkdir "$H/.config"
chmod 700 "$H/.config"
if [ "$(id -u)" != 0 ]; then
  # Not root: permissions apply to this user already.
  chmod 000 "$H/.config"
  HOME=$H XDG_CONFIG_HOME= run config show
  chmod 700 "$H/.config"
  expect_code 66
  expect_out ""
  expect_err "ehr: error: cannot read config file $H/.config/ehr/config.yaml: Permission denied"
elif ! command -v setpriv >/dev/null || ! setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null ||
     ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$EHR"; then
  echo "SKIP (one check): running as root without a setpriv that can drop to nobody and run $EHR"
else
  run_unprivileged config show
  expect_code 66
  expect_out ""
  expect_err "ehr: error: cannot read config file $H/.config/ehr/config.yaml: Permission denied"
  # --config names the file to use instead; /dev/null is none.
  run_unprivileged --config /dev/null --format csv config show
  expect_code 0
  expect_out_contains "format,csv,flag --format"
fi
rm -rf "$H"

# A command group's --help shows its own examples, not the top level's.
for noun in patient record user policy care audit db key config; do
  run $noun --help
  expect_code 0
  expect_out_contains "ehr $noun COMMAND --help shows each command's options and more examples."
  expect_out_contains "  man ehr-$noun"
  ex=$(printf '%s\n' "$OUT" | sed -n '/^Examples/,$p' | tail -n +2)
  printf '%s\n' "$ex" | grep -Ev "^  (ehr $noun |ehr key new -o [^ ]+ && ehr $noun |man ehr-$noun\$)" | grep -q . && fail "$noun --help examples: $ex"
done

# An empty value ("" from a script's unset variable) is refused by every
# option and argument that takes one (64), before any database is opened:
# never taken as no filter (export --group "" exported every patient), nor
# looked up as a record or file named "".
for args in "export --group" "export --since" "export --until" "export --job" "export --out" \
            "export --patient" "record show --patient" "record list --patient" "care due --patient" \
            "patient show" "record history" "patient find --name" "import --rejects x.csv --report" \
            "--db" "--user" "--key-file" "--purpose" "--recipient"; do
  # shellcheck disable=SC2086
  run $args ""
  expect_code 64
  expect_out ""
  name=${args##* }
  case "$name" in show | history) name=$( [ "$name" = show ] && echo PATIENT || echo RECORD) ;; esac
  expect_err "ehr: error: $name: must not be empty
ehr: hint: run 'ehr --help' for usage"
done

# Output that cannot be written (a full disk under a cron job's redirection,
# a closed stdout) is an I/O error (74), not a short listing with exit 0.
for redirect in full closed; do
  if [ $redirect = full ]; then "$EHR" config show >/dev/full 2>"$E2E_TMP/err.txt"; else "$EHR" config show >&- 2>"$E2E_TMP/err.txt"; fi
  code=$?
  [ $code = 74 ] || fail "config show with stdout $redirect: exit $code"
  [ "$(cat "$E2E_TMP/err.txt")" = "ehr: error: cannot write to standard output" ] || fail "stdout $redirect: $(cat "$E2E_TMP/err.txt")"
done
# --help and --version too (QA finding ops 07: they exited 0).
for args in --version --help "import --help"; do
  "$EHR" $args >/dev/full 2>"$E2E_TMP/err.txt"; code=$?
  [ $code = 74 ] || fail "$args >/dev/full: exit $code"
  grep -q "^ehr: error: cannot write to standard output" "$E2E_TMP/err.txt" || fail "$args >/dev/full: $(cat "$E2E_TMP/err.txt")"
done

finish
