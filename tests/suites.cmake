# Writes OUT: one ctest test per gtest suite of TEST_BINARY (run by tests/run_suite.sh), from its
# --gtest_list_tests. Run after each link of the test binary (tests/CMakeLists.txt).
# Listing is not a test: LeakSanitizer stays off for it (a sanitized binary built outside
# scripts/sanitize.sh has no suppressions for the libraries' start-up allocations).
execute_process(COMMAND "${CMAKE_COMMAND}" -E env ASAN_OPTIONS=detect_leaks=0 "${TEST_BINARY}" --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE rc
                TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TEST_BINARY} --gtest_list_tests failed (${rc}):\n${listing}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
foreach(line IN LISTS lines)
  # Suite lines start in column 0 and end with "." (a typed or parameterised suite may carry a
  # "  # TypeParam = ..." comment); test lines are indented.
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
    string(APPEND script "add_test([=[gtest.${suite}]=] bash [=[${RUNNER}]=] [=[${TEST_BINARY}]=] [=[${suite}.*]=])\n"
                         "set_tests_properties([=[gtest.${suite}]=] PROPERTIES TIMEOUT 2400 SKIP_RETURN_CODE 77)\n")
  endif()
endforeach()
file(WRITE "${OUT}" "${script}")
