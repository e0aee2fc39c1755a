// Reading input documents: a FHIR resource given as --json FILE or --json -
// (stdin), or a text file such as a policy.
#ifndef EHR_CLI_JSON_INPUT_H_
#define EHR_CLI_JSON_INPUT_H_

#include <string>

#include "context.h"

namespace ehr::cli {

// Reads and parses the JSON document in `path` ("-" = stdin).
// Errors: kNoInput (missing file); kInvalidData "FILE: line L, column C: ..."
// (stdin is named "<stdin>").
Result<Json> read_json_input(Context& ctx, const std::string& path);

// Reads the text in `path` ("-" = stdin). Errors: kNoInput "cannot read
// FILE" (also ": it is a directory").
Result<std::string> read_text_input(Context& ctx, const std::string& path);

}  // namespace ehr::cli

#endif  // EHR_CLI_JSON_INPUT_H_
