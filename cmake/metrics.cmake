# Metrics (src/core/metrics*.c): build identity for tensor_wasm_build_info,
# the promtool exposition check, and the metrics benchmark.
#
#   ctest -R metrics                          unit, threads, promtool, live tests
#   cmake --build B --target bench-metrics    builds and runs bench/metrics_bench

# Build identity, fixed at configure time (re-run cmake to refresh the sha).
execute_process(
  COMMAND git -C ${CMAKE_SOURCE_DIR} rev-parse --short=12 HEAD
  OUTPUT_VARIABLE TW_METRICS_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET RESULT_VARIABLE TW_METRICS_GIT_RC)
if(NOT TW_METRICS_GIT_RC EQUAL 0 OR TW_METRICS_GIT_SHA STREQUAL "")
  set(TW_METRICS_GIT_SHA "unknown")
endif()
if(CMAKE_BUILD_TYPE)
  string(TOLOWER "${CMAKE_BUILD_TYPE}" TW_METRICS_PROFILE)
else()
  set(TW_METRICS_PROFILE "unknown")
endif()
if(CMAKE_C_LIBRARY_ARCHITECTURE)
  set(TW_METRICS_TARGET "${CMAKE_C_LIBRARY_ARCHITECTURE}")
else()
  set(TW_METRICS_TARGET "${CMAKE_SYSTEM_PROCESSOR}-${CMAKE_SYSTEM_NAME}")
endif()
set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/core/metrics_catalog.c APPEND
  PROPERTY COMPILE_DEFINITIONS
    TW_BUILD_VERSION="${PROJECT_VERSION}"
    TW_BUILD_GIT_SHA="${TW_METRICS_GIT_SHA}"
    TW_BUILD_COMPILER="${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION}"
    TW_BUILD_PROFILE="${TW_METRICS_PROFILE}"
    TW_BUILD_TARGET="${TW_METRICS_TARGET}")

# The catalogue's exposition is checked by promtool when it is installed
# (Debian package `prometheus`).  Without it the test exits 77, which ctest
# reports as skipped -- never as a pass.
find_program(TW_PROMTOOL promtool)
if(TW_PROMTOOL)
  set(TW_PROMTOOL_PATH "${TW_PROMTOOL}")
else()
  set(TW_PROMTOOL_PATH "")
  message(WARNING "promtool not found; core/test_metrics_promtool will be skipped")
endif()
if(TARGET core_test_metrics_promtool)
  target_compile_definitions(core_test_metrics_promtool PRIVATE
    TW_PROMTOOL="${TW_PROMTOOL_PATH}")
  set_tests_properties(core/test_metrics_promtool PROPERTIES
    SKIP_RETURN_CODE 77)
endif()

# The live gateway test: promtool on a scrape, a real Prometheus server
# scraping the gateway and evaluating docs/dashboards/tensor-wasm-slo-rules.yml,
# and every metric name of the dashboard and docs/SLO.md in a scrape after
# a workload that includes GPU work on the fake driver (cmake/gpu.cmake).
# Without promtool or prometheus it exits 77 (skipped).
find_program(TW_PROMETHEUS prometheus)
if(TW_PROMETHEUS)
  set(TW_PROMETHEUS_PATH "${TW_PROMETHEUS}")
else()
  set(TW_PROMETHEUS_PATH "")
  message(WARNING "prometheus not found; api/test_metrics_live will be skipped")
endif()
if(TARGET api_test_metrics_live)
  add_dependencies(api_test_metrics_live api_test_guests gpu_guests fakecuda)
  target_compile_definitions(api_test_metrics_live PRIVATE
    TW_PROMTOOL="${TW_PROMTOOL_PATH}" TW_PROMETHEUS="${TW_PROMETHEUS_PATH}"
    TW_FAKE_CUDA_PATH="$<TARGET_FILE:fakecuda>" TW_WAT2WASM="${WAT2WASM}")
  set_tests_properties(api/test_metrics_live PROPERTIES
    SKIP_RETURN_CODE 77
    ENVIRONMENT "TW_CUDA_LIBRARY=$<TARGET_FILE:fakecuda>"
    LABELS "unit;api;integration")
endif()

# Benchmark: not a test and not in ALL; run by hand or via bench-metrics.
# Prints ns per counter add and histogram observe, 1 and N threads.
add_executable(metrics_bench EXCLUDE_FROM_ALL
  ${CMAKE_SOURCE_DIR}/bench/metrics_bench.c)
target_include_directories(metrics_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(metrics_bench PRIVATE tensorwasm)
add_custom_target(bench-metrics
  COMMAND metrics_bench
  DEPENDS metrics_bench
  USES_TERMINAL
  COMMENT "metrics_bench: ns per metric update")
