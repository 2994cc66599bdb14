# aarch64-linux-gnu.cmake - CMake toolchain for the Raspberry Pi's ISA with
# Debian's cross compiler and arm64 multiarch libraries:
#   apt-get install gcc-aarch64-linux-gnu qemu-user \
#     libopenblas-dev:arm64 libopenblas-openmp-dev:arm64 check:arm64
#   (after `dpkg --add-architecture arm64`; scripts/install-deps.sh does it)
# Used by cmake/aarch64/CMakeLists.txt (the engine-only cross build that
# the top-level build runs for the `aarch64_*` tests, cmake/aarch64.cmake),
# and usable on its own:
#   cmake -S cmake/aarch64 -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Multiarch: arm64 libraries in /usr/lib/aarch64-linux-gnu, headers shared
# in /usr/include; pkg-config must see only the arm64 .pc files.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# Run the test binaries through qemu's user-mode emulator (ctest prefixes
# every test whose command is a target with this).
find_program(MC_QEMU_AARCH64 qemu-aarch64)
if(MC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MC_QEMU_AARCH64})
endif()
