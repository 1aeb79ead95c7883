# Snapshots (src/snapshot, issue 9): the engine version written into every
# snapshot, the CLI test's extra sources, and the warm-start benchmark.
#
#   ctest -R snapshot/                          capture, restore, corruption,
#                                               envelope, CLI
#   cmake --build B --target bench-snapshot     builds and runs
#                                               bench/snapshot_bench
#
# A snapshot holds guest state only, so it is tied to the release
# (PROJECT_VERSION), not to the commit.

set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/snapshot/error.c APPEND
  PROPERTY COMPILE_DEFINITIONS
    TW_SNAPSHOT_ENGINE_VERSION="${PROJECT_VERSION}")

# The CLI test links the `snapshot` command itself (src/cli is not in the
# library).
if(TARGET snapshot_test_cli)
  target_sources(snapshot_test_cli PRIVATE
    ${CMAKE_SOURCE_DIR}/src/cli/snapshot.c
    ${CMAKE_SOURCE_DIR}/src/cli/values.c)
  target_include_directories(snapshot_test_cli PRIVATE
    ${CMAKE_SOURCE_DIR}/src/cli)
endif()

# Benchmark: not a test (no timed assertions); prints p50/p99 latencies.
add_executable(snapshot_bench EXCLUDE_FROM_ALL
  ${CMAKE_SOURCE_DIR}/bench/snapshot_bench.c)
target_include_directories(snapshot_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(snapshot_bench PRIVATE tensorwasm)
add_custom_target(bench-snapshot
  COMMAND snapshot_bench
  DEPENDS snapshot_bench
  USES_TERMINAL
  COMMENT "snapshot_bench: cold vs warm spawn")
