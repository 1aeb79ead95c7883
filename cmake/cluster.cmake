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
