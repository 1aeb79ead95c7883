# Cluster backend of the registry (issue 13): NATS JetStream.
#
#   ctest -R store/test_nats        registry behaviour on a real nats-server
#                                   (started by the test on a free loopback
#                                   port, store in a temporary directory)
#
# Without nats-server the test prints SKIPPED and exits 77, which ctest
# reports as skipped, never as passed.  The server is looked up here and
# handed over in TW_NATS_SERVER (Debian installs it in /usr/sbin, which is
# not on every PATH); the test also searches PATH itself.

find_program(TW_NATS_SERVER nats-server PATHS /usr/sbin /usr/local/sbin)

foreach(t store/test_nats store/test_nats_traceparent)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES
      SKIP_RETURN_CODE 77
      LABELS "unit;store;cluster"
      TIMEOUT 300)
    if(TW_NATS_SERVER)
      set_property(TEST ${t} APPEND PROPERTY
        ENVIRONMENT "TW_NATS_SERVER=${TW_NATS_SERVER}")
    endif()
  endif()
endforeach()

# ---- the gateway in cluster mode (issue 13, gateway side) -----------------
#
#   ctest -R cluster/             three `tensor-wasm serve --cluster` nodes
#                                 on one nats-server, loopback only
#   ctest -R cluster/test_cluster_trace   one trace across two nodes at the
#                                 OTLP receiver (needs the otlp_receiver
#                                 fixture: npm ci)
#
# The tests run the real binary (TW_BUILD_DIR/tensor-wasm) and the calc
# guest of the gateway tests, so both are built first.
foreach(t cluster_test_cluster cluster_test_cluster_trace)
  if(TARGET ${t})
    add_dependencies(${t} tensor-wasm api_test_guests)
  endif()
endforeach()
foreach(t cluster/test_cluster cluster/test_cluster_trace)
  if(TEST ${t})
    set(env "")
    if(TW_NATS_SERVER)
      list(APPEND env "TW_NATS_SERVER=${TW_NATS_SERVER}")
    endif()
    set_tests_properties(${t} PROPERTIES
      SKIP_RETURN_CODE 77
      LABELS "cluster;integration"
      TIMEOUT 180
      ENVIRONMENT "${env}")
  endif()
endforeach()
if(TEST cluster/test_cluster_trace)
  find_program(TW_NODE node)
  set_property(TEST cluster/test_cluster_trace APPEND PROPERTY ENVIRONMENT
    "TW_NODE=${TW_NODE}" "TW_OTLP_RECEIVER_DIR=${CMAKE_BINARY_DIR}/otlp-receiver")
  set_tests_properties(cluster/test_cluster_trace PROPERTIES
    FIXTURES_REQUIRED otlp_receiver)
endif()

# Async job throughput with 1 and 3 nodes (not a test: timings).
#   cmake --build B --target bench-cluster
add_custom_target(bench-cluster
  COMMAND ${CMAKE_SOURCE_DIR}/bench/cluster/run ${CMAKE_BINARY_DIR}
  DEPENDS tensor-wasm api_test_guests
  USES_TERMINAL
  COMMENT "bench/cluster/run: async job throughput, 1 and 3 nodes")
