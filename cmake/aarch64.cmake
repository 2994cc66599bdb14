# aarch64.cmake - the engine's unit suites for the farm's real devices
# (Raspberry Pi: aarch64), cross-compiled and run under qemu-aarch64 as the
# ctest tests aarch64_check_ops, aarch64_check_net, aarch64_check_model,
# aarch64_check_wire and aarch64_check_cpu_blas (included by the top-level CMakeLists); tests tagged
# "heavy" (a whole ResNet50 several times) stay in the native run only.
#
# The cross build is its own CMake project (cmake/aarch64/CMakeLists.txt:
# the engine only, see why there) built with cmake/aarch64-linux-gnu.cmake
# as an ExternalProject step of the native build, into build/aarch64/.
# Without the cross compiler, the arm64 libraries or qemu (installed by
# scripts/install-deps.sh) the tests are still registered and report
# themselves skipped.  Not part of sanitizer builds (-DMC_SANITIZE=ON).
# Timings under qemu mean nothing; correctness does.  Cost on 2 cores:
# about 40 s of build and 45 s of tests.
option(MC_AARCH64 "Cross-build the engine for aarch64 and run its suites under qemu" ON)
if(NOT MC_AARCH64 OR MC_SANITIZE OR MC_FUZZ OR NOT MC_TESTS OR CMAKE_CROSSCOMPILING)
  return()
endif()
set(MC_AARCH64_TESTS check_ops check_net check_model check_cpu_blas check_wire)
find_program(MC_AARCH64_GCC aarch64-linux-gnu-gcc)
find_program(MC_QEMU_AARCH64 qemu-aarch64)
set(_why "")
if(NOT MC_AARCH64_GCC)
  set(_why "aarch64-linux-gnu-gcc not found (Debian package gcc-aarch64-linux-gnu)")
elseif(NOT MC_QEMU_AARCH64)
  set(_why "qemu-aarch64 not found (Debian package qemu-user)")
elseif(NOT EXISTS /usr/lib/aarch64-linux-gnu/openblas-openmp/pkgconfig/openblas.pc
       OR NOT EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig/check.pc)
  set(_why "arm64 OpenBLAS/Check not installed (libopenblas-openmp-dev:arm64, check:arm64)")
endif()
if(_why)
  message(STATUS "aarch64 tests: skipped: ${_why}; scripts/install-deps.sh installs what they need")
  foreach(t ${MC_AARCH64_TESTS})
    add_test(NAME aarch64_${t} COMMAND sh -c "echo 'skipped: ${_why}'; exit 77")
    set_tests_properties(aarch64_${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  return()
endif()
include(ExternalProject)
set(MC_AARCH64_DIR ${CMAKE_BINARY_DIR}/aarch64)
ExternalProject_Add(mchair_aarch64
  SOURCE_DIR ${CMAKE_SOURCE_DIR}/cmake/aarch64
  BINARY_DIR ${MC_AARCH64_DIR}
  CMAKE_ARGS -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release
  BUILD_ALWAYS TRUE # the sources live outside its folder: let its own build decide what is stale
  INSTALL_COMMAND ""
  TEST_COMMAND "")
foreach(t ${MC_AARCH64_TESTS})
  add_test(NAME aarch64_${t} COMMAND ${MC_QEMU_AARCH64} ${MC_AARCH64_DIR}/${t})
  set_tests_properties(aarch64_${t} PROPERTIES TIMEOUT 600
    ENVIRONMENT "CK_DEFAULT_TIMEOUT=600;OMP_NUM_THREADS=2;CK_EXCLUDE_TAGS=heavy")
endforeach()
