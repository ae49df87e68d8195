# Shared CMake helpers for seedforge targets.

# sf_library(NAME SOURCES ... [TORCH] [DEPS ...])
# A static library with the project's include root (src/) and warnings.
# TORCH links libtorch and reuses one precompiled <torch/torch.h>, which is
# what keeps a full build on two cores in minutes rather than tens of minutes.
function(sf_library name)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} Threads::Threads)
  if(ARG_TORCH)
    sf_use_torch(${name})
  endif()
endfunction()

# One target owns the torch precompiled header; all others reuse it.
if(SEEDFORGE_WITH_TORCH AND NOT TARGET sf_torch_pch)
  add_library(sf_torch_pch STATIC "${PROJECT_SOURCE_DIR}/cmake/torch_pch.cpp")
  target_link_libraries(sf_torch_pch PUBLIC ${TORCH_LIBRARIES})
  target_compile_options(sf_torch_pch PRIVATE -Wall -Wextra)
  target_precompile_headers(sf_torch_pch PRIVATE <torch/torch.h>)
endif()

function(sf_use_torch name)
  target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES})
  # Same flags as sf_torch_pch so that the precompiled header can be reused.
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_precompile_headers(${name} REUSE_FROM sf_torch_pch)
endfunction()

# sf_test(NAME SOURCES ... [TORCH] [DEPS ...] [LABELS ...] [TIMEOUT s])
# A GoogleTest executable registered as one CTest test. Tests find the data
# folder through SEEDFORGE_DATA (set here) and Python through SEEDFORGE_PYTHON.
function(sf_test name)
  cmake_parse_arguments(ARG "TORCH" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE "${PROJECT_SOURCE_DIR}/src" "${PROJECT_SOURCE_DIR}/tests")
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main Threads::Threads)
  if(ARG_TORCH)
    sf_use_torch(${name})
  endif()
  target_compile_definitions(${name} PRIVATE
    SEEDFORGE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SEEDFORGE_BINARY_DIR="${PROJECT_BINARY_DIR}"
    SEEDFORGE_PYTHON="${SEEDFORGE_PYTHON}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    # Tests run two at a time on two cores: OpenMP threads that spin while
    # waiting would steal the other test's core (measured: decode 10x slower).
    ENVIRONMENT "SEEDFORGE_DATA_DEFAULT=${SEEDFORGE_DEFAULT_DATA_DIR};STAGE1_BIN=${PROJECT_BINARY_DIR}/tools/stage1/stage1;OMP_WAIT_POLICY=PASSIVE;SEEDFORGE_CACHE=${PROJECT_BINARY_DIR}/test-cache"
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
endfunction()
