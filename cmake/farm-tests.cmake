# Farm runtime: MD5 for the Avro IPC handshake (OpenSSL libcrypto) and the
# multi-process farm tests (tests/farm/).  Included from the top CMakeLists
# after the mchair_engine and mchair targets exist.
mc_require_pkg(CRYPTO libcrypto libssl-dev)
target_include_directories(mchair_engine PUBLIC ${CRYPTO_INCLUDE_DIRS})
target_link_libraries(mchair_engine PUBLIC ${CRYPTO_LINK_LIBRARIES})

if(MC_TESTS)
  # Multi-process farm tests on loopback ports (tests/farm/farm_test.py).
  set(_farm_test ${CMAKE_SOURCE_DIR}/tests/farm/farm_test.py)
  foreach(_t "correct;alexnet;5" "correct;alexnet;6" "interop" "faults" "unreachable")
    string(REPLACE ";" "_" _n "${_t}")
    add_test(NAME farm_${_n} COMMAND ${MC_PYTHON} ${_farm_test} ${_t} --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_${_n} PROPERTIES LABELS "farm" TIMEOUT 300)
  endforeach()
  # AlexNet farm-5 with every address IPv6 ([::1]:port): skipped (77) without ::1
  add_test(NAME farm_correct_alexnet_5_ipv6 COMMAND ${MC_PYTHON} ${_farm_test} correct alexnet 5 --ipv6
           --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(farm_correct_alexnet_5_ipv6 PROPERTIES LABELS "farm" TIMEOUT 300 SKIP_RETURN_CODE 77)
  # Every split method through loopback farms (small model files and AlexNet
  # layers), and the planner round trip (profile -> plan --out -> farm-N).
  foreach(_t "methods" "plan" "failover" "tune")
    add_test(NAME farm_${_t} COMMAND ${MC_PYTHON} ${_farm_test} ${_t} --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_${_t} PROPERTIES LABELS "farm" TIMEOUT 300)
  endforeach()
  # initial --video with two streams (a Y4M and a folder of PNGs): every
  # result equals predict on its stream's frame, decoded independently.
  add_test(NAME farm_video_streams COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/video_test.py
           --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(farm_video_streams PROPERTIES LABELS "farm" TIMEOUT 300)
  # The two-stream model on three farms, windows at the initial device
  # (tests/farm/twostream_test.py): scores equal the single-device pipeline's;
  # order: the presets with a slowed replica (results out of order); plan: the
  # planner's share of devices between the graphs, its files run; system: the
  # paper's systems from `plan --system N` (no farm run); window: the head's
  # windowed first task fed by hand (reorder, skips, refusals); refuse: a
  # windowed task on two replicas.  The farm cases again with --windows node
  # (farm_twostream_<case>_node): the windows in the head farm's first task.
  foreach(_t correct streams drop order plan system window refuse)
    add_test(NAME farm_twostream_${_t} COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/twostream_test.py ${_t}
             --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_twostream_${_t} PROPERTIES LABELS "farm" TIMEOUT 600)
  endforeach()
  foreach(_t correct streams drop order)
    add_test(NAME farm_twostream_${_t}_node COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/twostream_test.py
             ${_t} --windows node --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_twostream_${_t}_node PROPERTIES LABELS "farm" TIMEOUT 600)
  endforeach()
  # The one-device system (tests/farm/inturn_test.py): every task of the three
  # farms on one node with a memory budget under their sum; it reloads, and
  # every score still equals the pipeline's.  About 5 s.
  add_test(NAME farm_twostream_inturn COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/inturn_test.py correct
           --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(farm_twostream_inturn PROPERTIES LABELS "farm" TIMEOUT 300)
  # The journal's graph models on farms from `mchair plan` (profile, plan with
  # split tasks inside residual blocks, run): every result equals predict.
  foreach(_m resnet50 xception c3d)
    add_test(NAME farm_graph_${_m} COMMAND ${MC_PYTHON} ${_farm_test} graph ${_m} --repeat 2
             --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_graph_${_m} PROPERTIES LABELS "farm" TIMEOUT 600)
  endforeach()
  # Smaller activations on the wire (tests/farm/wire_test.py, docs/wire.md):
  # f16 and int8 links within their bounds of predict, a float32-only peer
  # (Python avro.ipc) never gets anything else, a farm planned with
  # --wire auto runs as planned.  A few seconds each.
  foreach(_t links plan peer)
    add_test(NAME farm_wire_${_t} COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/wire_test.py ${_t}
             --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_wire_${_t} PROPERTIES LABELS "farm" TIMEOUT 300)
  endforeach()
  # The dynamic farm (tests/farm/dynamic_test.py): a master, nodes that join,
  # leave, come back, slow down or flap, while a stream runs.
  set(_dyn_test ${CMAKE_SOURCE_DIR}/tests/farm/dynamic_test.py)
  foreach(_t kill two rejoin join slow flap wire)
    add_test(NAME farm_dynamic_${_t} COMMAND ${MC_PYTHON} ${_dyn_test} ${_t} --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_dynamic_${_t} PROPERTIES LABELS "farm;dynamic" TIMEOUT 600)
  endforeach()
  # VGG16 farms: heavy on a small machine (8 and 10 node processes), few frames.
  add_test(NAME farm_correct_vgg16_9 COMMAND ${MC_PYTHON} ${_farm_test} correct vgg16 9 --repeat 2
           --mchair $<TARGET_FILE:mchair>)
  add_test(NAME farm_correct_vgg16_11 COMMAND ${MC_PYTHON} ${_farm_test} correct vgg16 11 --repeat 3
           --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(farm_correct_vgg16_9 farm_correct_vgg16_11 PROPERTIES LABELS "farm;heavy" TIMEOUT 1200)
  # Memory and backpressure (tests/farm/farm_mem_test.py): every node's peak RSS
  # within its weights + 64 MiB, no RSS growth over 10,000 frames, drops under
  # a slow last task.
  set(_mem_test ${CMAKE_SOURCE_DIR}/tests/farm/farm_mem_test.py)
  foreach(_t "bound;alexnet;5;--repeat;50" "bound;alexnet;6;--repeat;50" "soak" "backpressure;--repeat;600"
             "overload;--repeat;100")
    list(GET _t 0 _w)
    if(_w STREQUAL "bound")
      list(GET _t 1 _m)
      list(GET _t 2 _d)
      set(_n farm_memory_${_m}_${_d})
    else()
      set(_n farm_${_w})
    endif()
    add_test(NAME ${_n} COMMAND ${MC_PYTHON} ${_mem_test} ${_t} --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(${_n} PROPERTIES LABELS "farm" TIMEOUT 300)
  endforeach()
  # The soak with a farm key and encrypted bodies (every request sealed and opened).
  add_test(NAME farm_soak_key COMMAND ${MC_PYTHON} ${_mem_test} soak --key --mchair $<TARGET_FILE:mchair>)
  set_tests_properties(farm_soak_key PROPERTIES LABELS "farm" TIMEOUT 300)
  # Security (tests/farm/security_test.py): 1,000 connections held by one host
  # while a farm streams (open and keyed), forged requests refused and counted
  # while frames are served (clear and encrypted), a keyed dynamic farm.
  set(_sec_test ${CMAKE_SOURCE_DIR}/tests/farm/security_test.py)
  foreach(_t "exhaust" "exhaust;--key" "forge" "forge;--encrypt" "dynamic")
    string(REPLACE ";--" "_" _n "${_t}")
    add_test(NAME farm_security_${_n} COMMAND ${MC_PYTHON} ${_sec_test} ${_t} --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_security_${_n} PROPERTIES LABELS "farm;security" TIMEOUT 300)
  endforeach()
  # The farm tests once more with every process sanitized (this build is the
  # ASan/UBSan one): leak or error reports of any node or initial fail them.
  # The two-stream drop case runs sanitized once, with --windows node: initial
  # still keeps its rings and builds the windows there (to count skips), so
  # that run covers the --windows initial code too (CI time).
  if(MC_SANITIZE)
    foreach(_t alexnet5 methods rejoin twostream_node twostream_window inturn)
      add_test(NAME farm_sanitized_${_t} COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/sanitized_test.py ${_t}
               --mchair $<TARGET_FILE:mchair>)
      set_tests_properties(farm_sanitized_${_t} PROPERTIES LABELS "sanitize;farm" TIMEOUT 900)
    endforeach()
  endif()
  # ThreadSanitizer (the build-tsan build): the farm runtime's threads in
  # node, sender, HTTP, membership, master and initial, in multi-process
  # scenarios; any race a process reports fails the test.
  if(MC_TSAN)
    foreach(_t alexnet5 failover kill twostream_node inturn)
      add_test(NAME farm_tsan_${_t} COMMAND ${MC_PYTHON} ${CMAKE_SOURCE_DIR}/tests/farm/sanitized_test.py ${_t}
               --sanitizer tsan --mchair $<TARGET_FILE:mchair>)
      set_tests_properties(farm_tsan_${_t} PROPERTIES LABELS "tsan;farm" TIMEOUT 900)
    endforeach()
  endif()
  # The graph models on the farms of farm_graph_* (split tasks inside residual
  # blocks; C3D's conv chains streamed a few frames at a time), a few frames.
  foreach(_m resnet50 xception c3d)
    add_test(NAME farm_memory_graph_${_m} COMMAND ${MC_PYTHON} ${_mem_test} graph ${_m} --repeat 3
             --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_memory_graph_${_m} PROPERTIES LABELS "farm" TIMEOUT 600)
  endforeach()
  foreach(_d 9 11)
    add_test(NAME farm_memory_vgg16_${_d} COMMAND ${MC_PYTHON} ${_mem_test} bound vgg16 ${_d} --repeat 4
             --mchair $<TARGET_FILE:mchair>)
    set_tests_properties(farm_memory_vgg16_${_d} PROPERTIES LABELS "farm;heavy" TIMEOUT 1200)
  endforeach()
endif()
