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

finish
