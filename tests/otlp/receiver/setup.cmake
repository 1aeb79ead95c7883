# Prepares the OTLP test receiver in the build tree (run by the
# otlp/receiver_setup test fixture):
#   cmake -DSRC=<tests/otlp/receiver> -DDST=<build>/otlp-receiver -DNPM=<npm> -P setup.cmake
# Copies the receiver and its lockfile, then installs the pinned packages
# with `npm ci`, skipped when the lockfile is unchanged since the last
# successful install.
foreach(var SRC DST NPM)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "setup.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NPM MATCHES "NOTFOUND$")
  message(FATAL_ERROR "otlp receiver: npm not found; install nodejs and npm "
          "(scripts/bootstrap does)")
endif()
file(MAKE_DIRECTORY "${DST}")
foreach(f package.json package-lock.json receiver.js)
  configure_file("${SRC}/${f}" "${DST}/${f}" COPYONLY)
endforeach()

set(stamp "${DST}/.installed-lock")
if(EXISTS "${stamp}" AND EXISTS "${DST}/node_modules/@grpc/grpc-js")
  file(READ "${stamp}" old)
  file(READ "${DST}/package-lock.json" new)
  if(old STREQUAL new)
    message(STATUS "otlp receiver: packages up to date")
    return()
  endif()
endif()

# --ignore-scripts: the only install script (protobufjs) is a version
# notice; nothing we use needs it.
execute_process(
  COMMAND "${NPM}" ci --no-audit --no-fund --ignore-scripts
  WORKING_DIRECTORY "${DST}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "otlp receiver: `npm ci` failed (${rc}); the OTLP "
          "integration test needs the npm registry or a warm npm cache")
endif()
file(COPY_FILE "${DST}/package-lock.json" "${stamp}")
