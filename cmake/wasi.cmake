# WASI guests: C programs compiled with clang for wasm32-wasi against the
# Debian wasi-libc sysroot, for examples/ and for the tests in tests/wasi.
#
#   examples/*.c            -> ${CMAKE_BINARY_DIR}/examples/<name>.wasm
#                              (+ a native build <name>-native for examples
#                              that must behave the same natively)
#   tests/wasi/guests/*.c   -> ${CMAKE_BINARY_DIR}/tests/wasi/<name>.wasm
#   tests/wasi/guests/*.wat -> the same, with wat2wasm
#
# The sysroot is /usr/share/wasi-sysroot when present (the upstream layout);
# Debian's wasi-libc installs into clang's default wasm32-wasi paths
# (/usr/include/wasm32-wasi, /usr/lib/wasm32-wasi), which need no flag.

find_program(TW_WASI_CLANG NAMES clang clang-14 REQUIRED)
if(EXISTS /usr/share/wasi-sysroot)
  set(TW_WASI_SYSROOT_DEFAULT /usr/share/wasi-sysroot)
else()
  set(TW_WASI_SYSROOT_DEFAULT "")
endif()
set(TW_WASI_SYSROOT "${TW_WASI_SYSROOT_DEFAULT}" CACHE PATH
    "wasi-libc sysroot for guests (empty: clang's default wasm32-wasi paths)")
set(TW_WASI_CFLAGS --target=wasm32-wasi -O2 -Wall -Wextra -Werror)
if(TW_WASI_SYSROOT)
  list(APPEND TW_WASI_CFLAGS --sysroot=${TW_WASI_SYSROOT})
endif()

# tw_wasi_guest(<out.wasm> <source.c>): one guest module.
function(tw_wasi_guest out src)
  get_filename_component(dir ${out} DIRECTORY)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${TW_WASI_CLANG} ${TW_WASI_CFLAGS} ${src} -o ${out}
    DEPENDS ${src}
    COMMENT "clang --target=wasm32-wasi ${src}"
    VERBATIM)
endfunction()

# Examples.
file(GLOB TW_WASI_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/examples/*.c)
set(TW_WASI_EXAMPLE_OUTS)
foreach(src ${TW_WASI_EXAMPLES})
  get_filename_component(stem ${src} NAME_WE)
  set(out ${CMAKE_BINARY_DIR}/examples/${stem}.wasm)
  tw_wasi_guest(${out} ${src})
  list(APPEND TW_WASI_EXAMPLE_OUTS ${out})
endforeach()
add_custom_target(wasi_examples ALL DEPENDS ${TW_WASI_EXAMPLE_OUTS})

# The interpreter example also builds natively, so tests can check that it
# behaves the same inside and outside the sandbox.
add_executable(calc-native ${CMAKE_SOURCE_DIR}/examples/calc.c)
set_target_properties(calc-native PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
target_link_libraries(calc-native PRIVATE m)

# Test guests.
file(GLOB TW_WASI_TEST_GUESTS CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/tests/wasi/guests/*.c)
set(TW_WASI_TEST_OUTS)
foreach(src ${TW_WASI_TEST_GUESTS})
  get_filename_component(stem ${src} NAME_WE)
  set(out ${CMAKE_BINARY_DIR}/tests/wasi/${stem}.wasm)
  tw_wasi_guest(${out} ${src})
  list(APPEND TW_WASI_TEST_OUTS ${out})
endforeach()
file(GLOB TW_WASI_TEST_WATS CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/tests/wasi/guests/*.wat)
foreach(wat ${TW_WASI_TEST_WATS})
  get_filename_component(stem ${wat} NAME_WE)
  set(out ${CMAKE_BINARY_DIR}/tests/wasi/${stem}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/tests/wasi
    COMMAND ${WAT2WASM} ${wat} -o ${out}
    DEPENDS ${wat}
    COMMENT "wat2wasm tests/wasi/guests/${stem}.wat"
    VERBATIM)
  list(APPEND TW_WASI_TEST_OUTS ${out})
endforeach()
add_custom_target(wasi_test_guests ALL DEPENDS ${TW_WASI_TEST_OUTS})

# The unit tests load those guests and run the CLI.
foreach(t wasi_test_wasi wasi_test_sandbox wasi_test_cli wasi_test_examples)
  if(TARGET ${t})
    add_dependencies(${t} wasi_test_guests wasi_examples tensor-wasm calc-native)
    target_compile_definitions(${t} PRIVATE
      TW_CLI_PATH="$<TARGET_FILE:tensor-wasm>")
  endif()
endforeach()
