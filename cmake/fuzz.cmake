# Fuzzing (issue 12): libFuzzer targets, their corpus replay, and the
# differential-test driver.
#
#   ctest -R fuzz/                    replay fuzz/regress/<t> and fuzz/corpus/<t>
#                                     through every target (any compiler)
#   scripts/fuzz TARGET|all SECONDS   libFuzzer runs (clang, build-fuzz/)
#   scripts/difftest N                N random modules, ours vs Node.js
#
# Targets: fuzz/<t>.c, each defining LLVMFuzzerTestOneInput.  With
# -DTW_FUZZ=ON (clang only) each also becomes a libFuzzer binary
# fuzz-<t>, and the library is built with coverage instrumentation
# (-fsanitize=fuzzer-no-link).  Configure that build with -DTW_SANITIZE=ON
# as well (scripts/fuzz does) so that the fuzzers run under ASan + UBSan
# and every other program in that tree still links.
option(TW_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)

set(TW_FUZZ_TARGETS decode run wasi_path traceparent filter blob auth route jsonargs
    cuda_args snapshot)
set(TW_FUZZ_DIR ${CMAKE_SOURCE_DIR}/fuzz)

foreach(t ${TW_FUZZ_TARGETS})
  # Replay driver: part of the normal build and of `make test`.
  add_executable(fuzz-replay-${t} ${TW_FUZZ_DIR}/replay.c ${TW_FUZZ_DIR}/${t}.c)
  target_include_directories(fuzz-replay-${t} PRIVATE
    ${TW_FUZZ_DIR} ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(fuzz-replay-${t} PRIVATE tensorwasm)
  add_test(NAME fuzz/replay_${t}
           COMMAND fuzz-replay-${t} ${TW_FUZZ_DIR}/regress/${t}
                   ${TW_FUZZ_DIR}/corpus/${t})
  set_tests_properties(fuzz/replay_${t} PROPERTIES LABELS "fuzz" TIMEOUT 600)
endforeach()

# Our side of scripts/difftest, and the blob target's seed maker.
add_executable(tw-difftest ${TW_FUZZ_DIR}/difftest.c)
target_include_directories(tw-difftest PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(tw-difftest PRIVATE tensorwasm)
add_executable(tw-fuzz-mkblob ${TW_FUZZ_DIR}/mkblob.c)
target_link_libraries(tw-fuzz-mkblob PRIVATE tensorwasm)

# A short differential run in every `make test` (a few seconds): keeps the
# two halves of scripts/difftest in step.  Needs node, wasm-opt, python3.
find_program(TW_FUZZ_NODE node)
find_program(TW_FUZZ_WASM_OPT wasm-opt)
find_program(TW_FUZZ_PYTHON3 python3)
if(TW_FUZZ_NODE AND TW_FUZZ_WASM_OPT AND TW_FUZZ_PYTHON3)
  add_test(NAME fuzz/difftest_smoke
           COMMAND ${TW_FUZZ_PYTHON3} ${CMAKE_SOURCE_DIR}/scripts/difftest 25
                   --fresh --batch 25 --out ${CMAKE_BINARY_DIR}/difftest-smoke)
  set_tests_properties(fuzz/difftest_smoke PROPERTIES LABELS "fuzz" TIMEOUT 300
    ENVIRONMENT "TW_DIFFTEST=$<TARGET_FILE:tw-difftest>;NODE=${TW_FUZZ_NODE};WASM_OPT=${TW_FUZZ_WASM_OPT}")
endif()

if(TW_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TW_FUZZ needs clang (libFuzzer): "
                        "configure with -DCMAKE_C_COMPILER=clang")
  endif()
  if(NOT TW_SANITIZE)
    message(WARNING "TW_FUZZ without TW_SANITIZE: fuzzers run without "
                    "ASan/UBSan, and programs other than fuzz-* may not link")
  endif()
  foreach(lib tensorwasm_engine tensorwasm)
    target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
  endforeach()
  set(TW_FUZZ_BINARIES)
  foreach(t ${TW_FUZZ_TARGETS})
    add_executable(fuzz-${t} ${TW_FUZZ_DIR}/${t}.c)
    target_include_directories(fuzz-${t} PRIVATE
      ${TW_FUZZ_DIR} ${CMAKE_SOURCE_DIR}/src)
    target_compile_options(fuzz-${t} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz-${t} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz-${t} PRIVATE tensorwasm)
    list(APPEND TW_FUZZ_BINARIES fuzz-${t})
  endforeach()
  add_custom_target(fuzz DEPENDS ${TW_FUZZ_BINARIES} tw-difftest tw-fuzz-mkblob)
endif()
