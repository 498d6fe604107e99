# Checks that each layer includes only itself and the layers below it
# (CMakeLists.txt, "the library, in three layers"):
#
#   pipeline/  (ground)   nothing of config/, actors/, app/; no CAF, no toml++
#   config/               nothing of actors/, app/; no CAF
#   actors/   (runtime)   nothing of app/; no toml++
#
# The build already rejects a quoted include of a higher layer in a file it
# compiles; this also covers headers no source includes yet, and the system
# headers (CAF, toml++) that no include path can hide.
#
# With COMPILER, INCLUDES and FILES (both "|"-separated), it also checks
# that no header FILES include, directly or not, is CAF's or toml++'s: the
# examples, a program that runs pipelines and a plugin, must not need them.
#
#   cmake -DSOURCE_DIR=<pixline's tree> [-DCOMPILER=c++ -DINCLUDES=a|b
#         -DFILES=x.cpp|y.cpp] -P cmake/check-layers.cmake

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "give -DSOURCE_DIR=<pixline's source tree>")
endif()

set(forbidden_pipeline "\"(config|actors|app)/" "<caf/" "<toml\\+\\+/")
set(forbidden_config "\"(actors|app)/" "<caf/")
set(forbidden_actors "\"app/" "<toml\\+\\+/")

set(problems "")
set(checked 0)
foreach(layer pipeline config actors)
  file(GLOB_RECURSE files LIST_DIRECTORIES false
       "${SOURCE_DIR}/${layer}/*.hpp" "${SOURCE_DIR}/${layer}/*.cpp")
  foreach(file IN LISTS files)
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS includes)
      foreach(pattern IN LISTS forbidden_${layer})
        if(line MATCHES "#[ \t]*include[ \t]*${pattern}")
          file(RELATIVE_PATH where "${SOURCE_DIR}" "${file}")
          string(APPEND problems "\n  ${where}: ${line}")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "no source files found under ${SOURCE_DIR}")
endif()
if(FILES)
  string(REPLACE "|" ";" includes "${INCLUDES}")
  list(FILTER includes EXCLUDE REGEX "^$")
  list(REMOVE_DUPLICATES includes)
  list(TRANSFORM includes PREPEND "-I")
  string(REPLACE "|" ";" files "${FILES}")
  foreach(file IN LISTS files)
    execute_process(
      COMMAND ${COMPILER} -std=c++20 -M ${includes} -DPIXLINE_VERSION="0" ${file}
      OUTPUT_VARIABLE deps ERROR_VARIABLE errors RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${file} does not compile:\n${errors}")
    endif()
    string(REGEX MATCHALL "[^ \\\n]*/(caf|toml\\+\\+)/[^ \\\n]*" bad "${deps}")
    list(LENGTH bad found)
    if(found GREATER 0)
      list(GET bad 0 first)
      file(RELATIVE_PATH where "${SOURCE_DIR}" "${file}")
      string(APPEND problems
             "\n  ${where} includes ${found} CAF or toml++ headers, e.g. ${first}")
    endif()
  endforeach()
endif()

if(problems)
  message(FATAL_ERROR "includes against the layers (a layer includes only "
                      "itself and the layers below it):${problems}")
endif()
message(STATUS "${checked} files include only their own and lower layers")
