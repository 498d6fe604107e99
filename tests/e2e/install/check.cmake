# Installs the pixline of BUILD_DIR into WORK_DIR/prefix and builds the
# project beside this file against it: find_package(pixline) finds every
# dependency the exported targets name, and the examples compile and link.
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -P check.cmake

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "give -D${var}=...")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR}
    --prefix ${WORK_DIR}/prefix)
if(NOT EXISTS ${WORK_DIR}/prefix/include/pixline/pipeline/stage.hpp)
  message(FATAL_ERROR "the install has no pipeline/stage.hpp")
endif()
run("configuring against the installed package" ${CMAKE_COMMAND}
    -S ${SOURCE_DIR}/tests/e2e/install -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DPIXLINE_EXAMPLES=${SOURCE_DIR}/examples)
run("building against the installed package" ${CMAKE_COMMAND}
    --build ${WORK_DIR}/build)
foreach(built custom_stage libpixelate.so)
  if(NOT EXISTS ${WORK_DIR}/build/${built})
    message(FATAL_ERROR "${built} was not built")
  endif()
endforeach()
message(STATUS "the installed package builds the examples")
