# Tracing and OTLP export (issue 5): test fixture for the OTLP receiver and
# the span-cost benchmark.
#
#   ctest -R otlp/            unit + integration tests (the receiver fixture
#                             runs `npm ci` once into <build>/otlp-receiver)
#   cmake --build B --target bench-trace    builds and runs bench/trace_bench
#
# The integration test speaks to a real receiver written against
# OpenTelemetry's published protobuf definitions (tests/otlp/receiver).

find_program(TW_NODE node)
find_program(TW_NPM npm)
set(TW_OTLP_RECEIVER_DIR ${CMAKE_BINARY_DIR}/otlp-receiver)

# Without npm the setup fails with a clear message (never a silent skip).
add_test(NAME otlp/receiver_setup
  COMMAND ${CMAKE_COMMAND}
    -DSRC=${CMAKE_SOURCE_DIR}/tests/otlp/receiver
    -DDST=${TW_OTLP_RECEIVER_DIR} -DNPM=${TW_NPM}
    -P ${CMAKE_SOURCE_DIR}/tests/otlp/receiver/setup.cmake)
set_tests_properties(otlp/receiver_setup PROPERTIES
  FIXTURES_SETUP otlp_receiver LABELS "otlp" TIMEOUT 600)

if(TEST otlp/test_otlp_export)
  set_tests_properties(otlp/test_otlp_export PROPERTIES
    FIXTURES_REQUIRED otlp_receiver
    ENVIRONMENT "TW_NODE=${TW_NODE};TW_OTLP_RECEIVER_DIR=${TW_OTLP_RECEIVER_DIR}"
    LABELS "otlp;integration")
endif()

# Benchmark: not a test (no timed assertions); run by hand or via the
# bench-trace target.  Prints ns per span for each configuration.
add_executable(trace_bench EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/bench/trace_bench.c)
target_include_directories(trace_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(trace_bench PRIVATE tensorwasm)
add_custom_target(bench-trace
  COMMAND trace_bench
  DEPENDS trace_bench
  USES_TERMINAL
  COMMENT "trace_bench: cost per span")
