# Executor (src/exec, issue 4): the engine version that keys the on-disk
# module cache, and the executor benchmark.
#
#   ctest -R exec/                        unit, limits, cache, concurrency
#   cmake --build B --target bench-exec   builds and runs bench/exec_bench
#
# The cache key includes the project version and the commit, so a file
# written by another build is never looked up (and the file header and the
# engine's own build id are checked anyway).

execute_process(
  COMMAND git -C ${CMAKE_SOURCE_DIR} rev-parse --short=12 HEAD
  OUTPUT_VARIABLE TW_EXEC_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET RESULT_VARIABLE TW_EXEC_GIT_RC)
if(NOT TW_EXEC_GIT_RC EQUAL 0 OR TW_EXEC_GIT_SHA STREQUAL "")
  set(TW_EXEC_GIT_SHA "unknown")
endif()
set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/exec/cache.c APPEND
  PROPERTY COMPILE_DEFINITIONS
    TW_EXEC_ENGINE_VERSION="${PROJECT_VERSION}+${TW_EXEC_GIT_SHA}")

# Benchmark: not a test (no timed assertions); prints p50/p99 latencies.
add_executable(exec_bench EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/bench/exec_bench.c)
target_include_directories(exec_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(exec_bench PRIVATE tensorwasm)
add_custom_target(bench-exec
  COMMAND exec_bench
  DEPENDS exec_bench
  USES_TERMINAL
  COMMENT "exec_bench: spawn + call + terminate latency")
