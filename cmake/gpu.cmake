# wasi:cuda (src/gpu, issue 10): the fake CUDA driver for CPU-only tests,
# test guests, the example guest and its runner, the PTX check and the
# benchmark.
#
#   ctest -R gpu/                        every GPU test (fake driver, no driver)
#   cmake --build B --target bench-gpu   builds and runs bench/gpu_bench
#   scripts/gpu-check                    the same on a machine with a GPU
#
# Nothing here needs CUDA: the runtime opens libcuda.so.1 with dlopen, and
# the tests point TW_CUDA_LIBRARY at libfakecuda.so (or at a path that does
# not exist, for the no-driver path).

# Script mode: embed examples/gpu/kernels.ptx in a C header for the guest.
#   cmake -DTW_GPU_EMBED_IN=x.ptx -DTW_GPU_EMBED_OUT=x.h -P cmake/gpu.cmake
if(TW_GPU_EMBED_IN)
  file(READ ${TW_GPU_EMBED_IN} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n  " bytes "${bytes}")
  file(WRITE ${TW_GPU_EMBED_OUT}
    "/* Generated from examples/gpu/kernels.ptx by cmake/gpu.cmake. */\n"
    "static const unsigned char kernels_ptx[] = {\n  ${bytes}0x00};\n")
  return()
endif()

set(TW_GPU_OUT ${CMAKE_BINARY_DIR}/tests/gpu)
set(TW_GPU_EXAMPLES_OUT ${CMAKE_BINARY_DIR}/examples/gpu)
set(TW_GPU_PTX ${CMAKE_SOURCE_DIR}/examples/gpu/kernels.ptx)

# ---- the fake driver ---------------------------------------------------------

add_library(fakecuda SHARED ${CMAKE_SOURCE_DIR}/tests/gpu/fake_cuda.c)
set_target_properties(fakecuda PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${TW_GPU_OUT}
  C_VISIBILITY_PRESET hidden)
set(TW_FAKE_CUDA $<TARGET_FILE:fakecuda>)
# A path where no driver is, for the no-driver tests.
set(TW_NO_CUDA ${TW_GPU_OUT}/no-such-dir/libcuda.so.1)

# ---- guests --------------------------------------------------------------------

# The WASI guest toolchain (cmake/wasi.cmake is included after this file,
# so its settings are repeated here rather than relied on).
find_program(TW_WASI_CLANG NAMES clang clang-14 REQUIRED)
set(TW_GPU_GUEST_CFLAGS --target=wasm32-wasi -O2 -Wall -Wextra -Werror)
if(EXISTS /usr/share/wasi-sysroot)
  list(APPEND TW_GPU_GUEST_CFLAGS --sysroot=/usr/share/wasi-sysroot)
endif()

set(TW_GPU_PTX_H ${TW_GPU_EXAMPLES_OUT}/kernels_ptx.h)
add_custom_command(
  OUTPUT ${TW_GPU_PTX_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TW_GPU_EXAMPLES_OUT}
  COMMAND ${CMAKE_COMMAND} -DTW_GPU_EMBED_IN=${TW_GPU_PTX}
          -DTW_GPU_EMBED_OUT=${TW_GPU_PTX_H}
          -P ${CMAKE_SOURCE_DIR}/cmake/gpu.cmake
  DEPENDS ${TW_GPU_PTX} ${CMAKE_SOURCE_DIR}/cmake/gpu.cmake
  COMMENT "embed examples/gpu/kernels.ptx"
  VERBATIM)

set(TW_GPU_DEMO ${TW_GPU_EXAMPLES_OUT}/gpu_demo.wasm)
add_custom_command(
  OUTPUT ${TW_GPU_DEMO}
  COMMAND ${TW_WASI_CLANG} ${TW_GPU_GUEST_CFLAGS} -I${TW_GPU_EXAMPLES_OUT}
          ${CMAKE_SOURCE_DIR}/examples/gpu/gpu_demo.c -o ${TW_GPU_DEMO}
  DEPENDS ${CMAKE_SOURCE_DIR}/examples/gpu/gpu_demo.c ${TW_GPU_PTX_H}
  COMMENT "clang --target=wasm32-wasi examples/gpu/gpu_demo.c"
  VERBATIM)

file(GLOB TW_GPU_TEST_WATS CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/tests/gpu/guests/*.wat)
set(TW_GPU_GUEST_OUTS ${TW_GPU_DEMO})
foreach(wat ${TW_GPU_TEST_WATS})
  get_filename_component(stem ${wat} NAME_WE)
  set(out ${TW_GPU_OUT}/${stem}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TW_GPU_OUT}
    COMMAND ${WAT2WASM} ${wat} -o ${out}
    DEPENDS ${wat}
    COMMENT "wat2wasm tests/gpu/guests/${stem}.wat"
    VERBATIM)
  list(APPEND TW_GPU_GUEST_OUTS ${out})
endforeach()
add_custom_target(gpu_guests ALL DEPENDS ${TW_GPU_GUEST_OUTS})

# ---- the example runner ----------------------------------------------------------

# Runs a guest with WASI and wasi:cuda linked (the CLI's `run` links WASI
# only, for now).
add_executable(tw-gpu-run ${CMAKE_SOURCE_DIR}/examples/gpu/gpu_run.c)
set_target_properties(tw-gpu-run PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${TW_GPU_EXAMPLES_OUT})
target_link_libraries(tw-gpu-run PRIVATE tensorwasm)
add_dependencies(tw-gpu-run gpu_guests)

# ---- tests ---------------------------------------------------------------------------

foreach(t gpu_test_abi gpu_test_nodriver gpu_test_fake gpu_test_lost
          gpu_test_device)
  if(TARGET ${t})
    add_dependencies(${t} gpu_guests fakecuda)
    target_compile_definitions(${t} PRIVATE
      TW_FAKE_CUDA_PATH="${TW_FAKE_CUDA}" TW_NO_CUDA_PATH="${TW_NO_CUDA}")
  endif()
endforeach()
# test_device is the real-GPU test of scripts/gpu-check; here it runs on
# the fake driver (and reports skipped, exit 77, when no device is usable).
foreach(t gpu/test_fake gpu/test_lost gpu/test_device)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES
      ENVIRONMENT "TW_CUDA_LIBRARY=${TW_FAKE_CUDA}" SKIP_RETURN_CODE 77)
  endif()
endforeach()
if(TEST gpu/test_nodriver)
  set_tests_properties(gpu/test_nodriver PROPERTIES
    ENVIRONMENT "TW_CUDA_LIBRARY=${TW_NO_CUDA}")
endif()

# The example guest, through the runner: CPU fallback when the capability
# is not granted and when there is no driver; the GPU path on the fake one.
add_test(NAME gpu/example_not_granted
  COMMAND tw-gpu-run --no-gpu ${TW_GPU_DEMO})
add_test(NAME gpu/example_no_driver COMMAND tw-gpu-run ${TW_GPU_DEMO})
add_test(NAME gpu/example_fake_driver
  COMMAND tw-gpu-run ${TW_GPU_DEMO} --require-gpu)
set_tests_properties(gpu/example_not_granted PROPERTIES LABELS "gpu"
  PASS_REGULAR_EXPRESSION "vec_add n=4096: cpu ok.*NotAvailable.*matmul 64x64: cpu ok")
set_tests_properties(gpu/example_no_driver PROPERTIES LABELS "gpu"
  ENVIRONMENT "TW_CUDA_LIBRARY=${TW_NO_CUDA}"
  PASS_REGULAR_EXPRESSION "vec_add n=4096: cpu ok[^\n]*cannot load")
set_tests_properties(gpu/example_fake_driver PROPERTIES LABELS "gpu"
  ENVIRONMENT "TW_CUDA_LIBRARY=${TW_FAKE_CUDA}"
  PASS_REGULAR_EXPRESSION "vec_add n=4096: gpu ok.*matmul 64x64: gpu ok")

# The committed PTX must assemble (ptxas ships with the CUDA toolkit; the
# check runs where it is installed and is reported as skipped elsewhere).
find_program(TW_PTXAS ptxas HINTS /usr/local/cuda/bin)
if(TW_PTXAS)
  add_test(NAME gpu/ptx_assembles
    COMMAND ${TW_PTXAS} -arch=sm_75 ${TW_GPU_PTX} -o ${TW_GPU_OUT}/kernels.cubin)
else()
  add_test(NAME gpu/ptx_assembles COMMAND ${CMAKE_COMMAND} -E echo
    "ptxas not found: skipped")
  set_tests_properties(gpu/ptx_assembles PROPERTIES
    SKIP_REGULAR_EXPRESSION "skipped")
endif()
set_tests_properties(gpu/ptx_assembles PROPERTIES LABELS "gpu")

# ---- benchmark -----------------------------------------------------------------------

# Not a test (no timed assertions): launch overhead through wasi_cuda vs
# the same launch from C.  Uses the real driver unless TW_CUDA_LIBRARY
# names another (the fake one proves the harness on CPU-only machines).
add_executable(gpu_bench EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/bench/gpu_bench.c)
target_include_directories(gpu_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_definitions(gpu_bench PRIVATE
  TW_SOURCE_DIR="${CMAKE_SOURCE_DIR}" TW_BUILD_DIR="${CMAKE_BINARY_DIR}")
target_link_libraries(gpu_bench PRIVATE tensorwasm)
add_dependencies(gpu_bench gpu_guests)
add_custom_target(bench-gpu
  COMMAND gpu_bench
  DEPENDS gpu_bench
  USES_TERMINAL
  COMMENT "gpu_bench: wasi_cuda launch overhead vs native")
