# CPU benchmark suite (bench/run-cpu, bench/cpu/*.c).  Convenience targets
# only: neither is part of ALL nor registered with ctest, so benchmarks cost
# `make test` nothing.
#
#   ninja -C build bench-cpu         build the CLI, then run the whole suite
#                                    against it (native vs ours vs node)
#   ninja -C build bench-cpu-build   only compile the programs (native + wasm)
#
# Binaries go to <build>/bench.  Options for the runner (best of N, one
# program, --callgrind) are easier given to bench/run-cpu directly.
find_program(TW_BENCH_PYTHON3 python3)
if(TW_BENCH_PYTHON3)
  add_custom_target(bench-cpu
    COMMAND ${CMAKE_COMMAND} -E env TW_CLI=$<TARGET_FILE:tensor-wasm>
            ${TW_BENCH_PYTHON3} ${CMAKE_SOURCE_DIR}/bench/run-cpu
            --build-dir ${CMAKE_BINARY_DIR}/bench
    USES_TERMINAL
    COMMENT "CPU suite: native vs tensor-wasm vs node (bench/run-cpu)")
  add_dependencies(bench-cpu tensor-wasm)
  add_custom_target(bench-cpu-build
    COMMAND ${TW_BENCH_PYTHON3} ${CMAKE_SOURCE_DIR}/bench/run-cpu
            --build-dir ${CMAKE_BINARY_DIR}/bench --build-only
    USES_TERMINAL
    COMMENT "CPU suite: compiling bench/cpu programs")
endif()
