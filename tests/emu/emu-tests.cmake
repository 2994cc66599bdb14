# Emulated-farm tests (docs/emulated-farm.md).  Included from the top
# CMakeLists after the mchair target exists:  include(tests/emu/emu-tests.cmake)
# emu_farm and emu_small_farm need root and network namespaces (they skip,
# saying why, only where the machine has no namespace support); they make
# namespaces and cgroups named after their pid, so they run serially.
if(MC_TESTS)
  set(_emu ${CMAKE_SOURCE_DIR}/tests/emu)
  add_test(NAME emu_farm COMMAND ${MC_PYTHON} ${_emu}/test_emu.py --mchair $<TARGET_FILE:mchair> --part farm)
  # Needs `mchair node` and `mchair initial` (farm-contract.md).
  add_test(NAME emu_small_farm COMMAND ${MC_PYTHON} ${_emu}/test_emu.py --mchair $<TARGET_FILE:mchair>
           --part small-farm)
  add_test(NAME emu_experiment_plot COMMAND ${MC_PYTHON} ${_emu}/test_experiment.py)
  # A node and predict under a device model take its time (loopback; no root).
  add_test(NAME emu_devmodel_node COMMAND ${MC_PYTHON} ${_emu}/test_devmodel.py --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(emu_devmodel_node PROPERTIES LABELS "emu" TIMEOUT 300)
  set_tests_properties(emu_farm emu_small_farm PROPERTIES LABELS "emu" RUN_SERIAL TRUE TIMEOUT 300)
  set_tests_properties(emu_experiment_plot PROPERTIES LABELS "emu" TIMEOUT 300)
endif()
