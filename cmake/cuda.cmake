# cuda.cmake - the CUDA/cuDNN backend (included by the top-level CMakeLists).
#
# MC_CUDA=AUTO (default) builds the backend when the CUDA toolkit, cuBLAS and
# cuDNN are all found and falls back to the stub otherwise; ON makes a missing
# piece a configure error; OFF always uses the stub.  Finding the toolkit
# needs no GPU: the backend is compiled and linked everywhere and only checks
# for a device at run time (mc_backend_cuda_create).
#
# Layout: src/backend/backend_cuda.c (the backend, C, cuDNN + cuBLAS calls)
# and src/backend/cuda/*.cu (the kernels, one twin per src/ops/*.c that needs
# one, compiled by nvcc with its own flags) form the plugin libmchair_cuda.so,
# which links libmchair.so and the CUDA libraries.  The engine loads it with
# dlopen only when a GPU backend is asked for (backend_cuda_loader.c): linked
# into every process, cuBLAS/cuDNN cost 60-160 MB of resident memory even in
# CPU-only runs, which a 1 GB device and VGG16's 700 MB budget cannot spare.
#
# Outputs: MC_CUDA_ENABLED (TRUE when built), MC_HAVE_CUDA compile definition
# on mchair_engine (PUBLIC, so tests see it), the `mchair_cuda` plugin, and the
# `check_gpu` executable plus the `gpu-test` target (tests/gpu/, not in ctest).

set(MC_CUDA_ENABLED FALSE)
# The top-level glob puts every src/backend/*.c into mchair_engine; the CUDA
# backend goes back in below only when CUDA is found (else the stub links).
get_target_property(_mc_engine_sources mchair_engine SOURCES)
list(FILTER _mc_engine_sources EXCLUDE REGEX "/backend_cuda\\.c$")
set_property(TARGET mchair_engine PROPERTY SOURCES ${_mc_engine_sources})
set_property(CACHE MC_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${MC_CUDA}" _mc_cuda_mode)
if(NOT _mc_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "MC_CUDA must be AUTO, ON or OFF (got '${MC_CUDA}')")
endif()

macro(_mc_cuda_missing what)
  if(_mc_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "MC_CUDA=ON but ${what}")
  endif()
  message(STATUS "CUDA backend: not built (${what}); `--device gpu` will report that. "
                 "Install the CUDA toolkit and cuDNN, or pass -DCUDAToolkit_ROOT=... / -DCUDNN_ROOT=...")
  return()
endmacro()

if(_mc_cuda_mode STREQUAL "OFF")
  message(STATUS "CUDA backend: disabled (MC_CUDA=OFF)")
  return()
endif()

# Toolkit: a default install is found via nvcc on PATH or /usr/local/cuda.
if(NOT CUDAToolkit_ROOT AND NOT DEFINED ENV{CUDAToolkit_ROOT} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND)
  _mc_cuda_missing("the CUDA toolkit was not found")
endif()
if(NOT TARGET CUDA::cublas)
  _mc_cuda_missing("cuBLAS was not found in the CUDA toolkit at ${CUDAToolkit_LIBRARY_DIR}")
endif()

# cuDNN: header cudnn.h and library libcudnn, in the toolkit or elsewhere.
set(CUDNN_ROOT "" CACHE PATH "Where cuDNN is installed (searched before the CUDA toolkit)")
find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES include include/x86_64-linux-gnu)
find_library(CUDNN_LIBRARY cudnn
  HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  _mc_cuda_missing("cuDNN was not found (cudnn.h: ${CUDNN_INCLUDE_DIR}, libcudnn: ${CUDNN_LIBRARY})")
endif()
file(STRINGS "${CUDNN_INCLUDE_DIR}/cudnn_version.h" _mc_cudnn_major REGEX "^#define CUDNN_MAJOR [0-9]+")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _mc_cudnn_major "${_mc_cudnn_major}")
if(_mc_cudnn_major AND _mc_cudnn_major LESS 8)
  _mc_cuda_missing("cuDNN ${_mc_cudnn_major} at ${CUDNN_INCLUDE_DIR} is too old (need 8 or newer)")
endif()

# Architectures: real code for Turing/Ampere/Hopper, plus PTX of the newest
# so later GPUs JIT-compile it.  (CUDA 13 dropped sm_70; older toolkits get it.)
if(NOT CMAKE_CUDA_ARCHITECTURES)
  if(CUDAToolkit_VERSION VERSION_LESS 13.0)
    set(CMAKE_CUDA_ARCHITECTURES 70-real 75-real 80-real 90-real 90-virtual)
  else()
    set(CMAKE_CUDA_ARCHITECTURES 75-real 80-real 90-real 90-virtual)
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER)
  set(CMAKE_CUDA_COMPILER "${CUDAToolkit_NVCC_EXECUTABLE}")
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  _mc_cuda_missing("no working CUDA compiler (nvcc) was found")
endif()
enable_language(CUDA)
# Executables keep linking with the C compiler (the sanitizer and other C
# link options stay valid); cudart and friends are linked explicitly below.
set(CMAKE_CUDA_LINKER_PREFERENCE_PROPAGATES FALSE)

file(GLOB MC_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
add_library(mchair_cuda_kernels OBJECT ${MC_CUDA_SOURCES})
target_include_directories(mchair_cuda_kernels PRIVATE ${CMAKE_SOURCE_DIR}/src)
# Replace the C-only directory options (-Wall -Wextra, sanitizers) that nvcc
# does not understand: warnings go to the host compiler through -Xcompiler.
set_property(TARGET mchair_cuda_kernels PROPERTY COMPILE_OPTIONS
  "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>")
set_target_properties(mchair_cuda_kernels PROPERTIES
  CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON POSITION_INDEPENDENT_CODE ON)
target_compile_options(mchair_cuda_kernels PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcudafe=--display_error_number --expt-relaxed-constexpr>)

add_library(mchair_cuda MODULE ${CMAKE_SOURCE_DIR}/src/backend/backend_cuda.c
  $<TARGET_OBJECTS:mchair_cuda_kernels>)
set_target_properties(mchair_cuda PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# CUDA headers are system headers for our C code (no warnings from them).
target_include_directories(mchair_cuda SYSTEM PRIVATE ${CUDNN_INCLUDE_DIR})
target_compile_definitions(mchair_engine PUBLIC MC_HAVE_CUDA=1)
# nvcc objects carry C++ runtime references (new/delete, guards): libstdc++.
target_link_libraries(mchair_cuda PRIVATE mchair_engine CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY} stdc++)
# Building the CLI builds the plugin it may load.
add_dependencies(mchair_engine mchair_cuda_kernels)

set(MC_CUDA_ENABLED TRUE)
message(STATUS "CUDA backend: built (CUDA ${CUDAToolkit_VERSION}, cuDNN ${_mc_cudnn_major}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")

# The GPU test: not a ctest test (the default suite needs no GPU).
# `cmake --build build --target gpu-test` or scripts/test-gpu.sh runs it.
# check_gpu is built with everything else so that it always compiles.
if(MC_TESTS AND EXISTS ${CMAKE_SOURCE_DIR}/tests/gpu/check_gpu.c)
  pkg_check_modules(CHECK check)
  add_executable(check_gpu ${CMAKE_SOURCE_DIR}/tests/gpu/check_gpu.c
    ${CMAKE_SOURCE_DIR}/tests/testutil.c)
  target_include_directories(check_gpu PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CHECK_INCLUDE_DIRS})
  target_link_libraries(check_gpu PRIVATE mchair_engine CUDA::cudart ${CHECK_LINK_LIBRARIES})
  add_dependencies(check_gpu mchair_cuda)
  target_compile_definitions(check_gpu PRIVATE MC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_custom_target(gpu-test COMMAND check_gpu DEPENDS check_gpu USES_TERMINAL
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    COMMENT "GPU vs CPU: every op case, AlexNet and VGG16 (needs a GPU)")
endif()
