# Emulated-farm tests (docs/emulated-farm.md).  Included from the top
# CMakeLists after the mchair target exists:  include(tests/emu/emu-tests.cmake)
# emu_farm, emu_small_farm and check_emulate_farm need root, network
# namespaces and cgroup v1: where the machine has none they exit 77 and ctest
# shows them skipped, with the reason (scripts/skipped.py fails the run if
# this machine does have what the reason names); they make namespaces and
# cgroups named after their pid, so they run serially.
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
  add_test(NAME check_emulate_farm COMMAND check_emulate --farm)
  set_tests_properties(emu_farm emu_small_farm check_emulate_farm PROPERTIES LABELS "emu" RUN_SERIAL TRUE TIMEOUT 300
                       SKIP_RETURN_CODE 77)
  set_tests_properties(emu_experiment_plot PROPERTIES LABELS "emu" TIMEOUT 300)
endif()
