#!/usr/bin/env bash
# scripts/check-layers passes on this tree and catches each kind of violation.
. "$EHR_SOURCE_DIR/tests/support/e2e.sh"

"$EHR_SOURCE_DIR/scripts/check-layers" >"$E2E_TMP/layers" 2>&1 || fail "check-layers fails on the tree: $(cat "$E2E_TMP/layers")"

t="$E2E_TMP/tree"
mkdir -p "$t/core/src" "$t/core/include/ehr" "$t/cli"
printf '#include <CLI/CLI.hpp>\n' > "$t/core/src/a.cc"
printf 'void f() { std::cout << 1; }\n' > "$t/core/src/b.cc"
printf '#include <sqlite3.h>\n' > "$t/core/src/records.cc"
printf '#include <fmt/format.h>\n' > "$t/core/include/ehr/x.h"
printf '#include "../core/src/store_header.h"\n' > "$t/cli/cmd_x.cc"
out=$("$EHR_SOURCE_DIR/scripts/check-layers" "$t")
code=$?
[ "$code" = 1 ] || fail "check-layers exit $code on a bad tree, expected 1"
for want in "core must not use CLI11: core/src/a.cc" "core must not print or exit: core/src/b.cc" \
            "core/src/records.cc includes sqlite3" "public headers must not include third-party libraries: core/include/ehr/x.h" \
            "cli must not include core's private headers: cli/cmd_x.cc"; do
  case "$out" in *"$want"*) ;; *) fail "check-layers did not report '$want':"$'\n'"$out" ;; esac
done
finish
