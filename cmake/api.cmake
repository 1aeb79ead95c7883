# HTTP gateway (issue 6): test guests, the serve helper for the crash test,
# and the OTLP receiver fixture for the span test.
#
#   ctest -R api/                 every gateway test
#   ctest -R api/test_spans   64 concurrent invoke-async, real receiver
#   ctest -R api/test_crash   kill -9 mid-run, restart, nothing lost
#
# This part is included before trace.cmake (parts go in name order), so
# the receiver's variables are computed here the same way trace.cmake does.

find_program(WAT2WASM wat2wasm REQUIRED)
file(GLOB TW_API_GUEST_WATS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/api/guests/*.wat)
set(TW_API_GUEST_OUTS)
foreach(wat ${TW_API_GUEST_WATS})
  get_filename_component(stem ${wat} NAME_WE)
  set(out ${CMAKE_BINARY_DIR}/tests/api/${stem}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/tests/api
    COMMAND ${WAT2WASM} ${wat} -o ${out}
    DEPENDS ${wat}
    COMMENT "wat2wasm tests/api/guests/${stem}.wat"
    VERBATIM)
  list(APPEND TW_API_GUEST_OUTS ${out})
endforeach()
add_custom_target(api_test_guests ALL DEPENDS ${TW_API_GUEST_OUTS})

# The `serve` subcommand as its own small program (src/cli/serve.c with a
# two-line main), so the crash test runs the real serve code in a process
# it can kill -9.
add_executable(tw-serve-test
  ${CMAKE_SOURCE_DIR}/tests/api/serve_main.c
  ${CMAKE_SOURCE_DIR}/src/cli/serve.c
  ${CMAKE_SOURCE_DIR}/src/cli/values.c)
target_include_directories(tw-serve-test PRIVATE ${CMAKE_SOURCE_DIR}/src/cli)
target_link_libraries(tw-serve-test PRIVATE tensorwasm)

foreach(t api_test_http api_test_invoke api_test_spans api_test_crash)
  if(TARGET ${t})
    add_dependencies(${t} api_test_guests)
  endif()
endforeach()

if(TARGET api_test_crash)
  add_dependencies(api_test_crash tw-serve-test)
  target_compile_definitions(api_test_crash PRIVATE
    TW_SERVE_PATH="$<TARGET_FILE:tw-serve-test>")
endif()

find_program(TW_NODE node)
if(TEST api/test_spans)
  set_tests_properties(api/test_spans PROPERTIES
    FIXTURES_REQUIRED otlp_receiver
    ENVIRONMENT "TW_NODE=${TW_NODE};TW_OTLP_RECEIVER_DIR=${CMAKE_BINARY_DIR}/otlp-receiver"
    LABELS "unit;api;integration")
endif()

# ---- gateway operations (issue 7): rate limits, audit, edge, CLI client ----
#
#   ctest -R 'api/test_ops|cli/test_client'
#
# The ops tests run `serve` (tw-serve-test) as a child process to show that
# it honours each environment variable; the client test runs the real
# `tensor-wasm` binary against it.
foreach(t api_test_ops_limits api_test_ops_audit api_test_ops_edge cli_test_client)
  if(TARGET ${t})
    add_dependencies(${t} api_test_guests tw-serve-test tensor-wasm)
    target_compile_definitions(${t} PRIVATE
      TW_SERVE_PATH="$<TARGET_FILE:tw-serve-test>"
      TW_CLI_PATH="$<TARGET_FILE:tensor-wasm>")
  endif()
endforeach()
if(TARGET cli_test_client)
  target_include_directories(cli_test_client PRIVATE ${CMAKE_SOURCE_DIR}/tests/api)
endif()

# ---- snapshots through the gateway (issue 9) ----
#
#   ctest -R 'api/test_snapshot|cli/test_client'
foreach(t api_test_snapshot)
  if(TARGET ${t})
    add_dependencies(${t} api_test_guests)
  endif()
endforeach()
# `snapshot save|restore` are client commands: the snapshot CLI test links
# the client too.
if(TARGET snapshot_test_cli)
  target_sources(snapshot_test_cli PRIVATE ${CMAKE_SOURCE_DIR}/src/cli/client.c)
endif()
