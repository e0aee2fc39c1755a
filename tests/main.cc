// The one doctest runner for every unit and in-process CLI test (ehr_tests).
// Run one area with `ehr_tests -ts=<suite>`; see doctest's --help.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
