#!/usr/bin/env python3
"""sanitized_test.py - farm tests with every process built with a sanitizer.

Runs one of the multi-process farm scenarios with the sanitized mchair
(nodes, initial and the master are all that binary) and fails when the
scenario fails or when any process reported anything: each process writes
its sanitizer report to its own file (*SAN_OPTIONS log_path) in a fresh
folder, so reports of nodes that the scenario stops are caught as well as
those of initial.  Processes that a scenario kills with SIGKILL on purpose
report nothing.
  --sanitizer asan (default): the build-asan build, ASan/UBSan with
             LeakSanitizer on;
  --sanitizer tsan: the build-tsan build (-DMC_TSAN=ON), ThreadSanitizer on
             the farm runtime's threads (node, sender, HTTP, membership,
             master, initial).  Every process runs OpenMP with one thread:
             libgomp is not built for ThreadSanitizer, and its barriers
             would be reported as races in every parallel loop (a library's,
             documented in docs/testing.md, not suppressed in our code).

  alexnet5   farm_test.py correct alexnet 5 (AlexNet farm-5, its fc1 split
             in two parts): results equal predict
  methods    farm_test.py methods: every split method (fc_output, fc_input,
             conv_channel, conv_filter, conv_spatial) through loopback farms
  rejoin     dynamic_test.py rejoin: a stream during which a node is killed
             and started again (it leaves and joins), nothing lost
  kill       dynamic_test.py kill at a tenth of its frames and rate
  failover   farm_test.py failover: replicas drop out and come back
  twostream  twostream_test.py drop: the two-stream model on three farms
             (initial's threads meet in the windows), a frame dropped
  twostream_node  the same with --windows node (the head's first task keeps
             the windows: node_window.c, its reorder buffer and refusals run
             in the compute thread)
  twostream_window  twostream_test.py window: the windowed task fed by hand
             (held frames, skips, refusals as losses)
  inturn     inturn_test.py correct --sanitized: the one-device system, every
             task's node a thread of one process sharing the device
             (node_pool.c), evicting and reloading (the scores' comparison
             with predict is the release test's)

Few frames: ASan farms are slow on two cores.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

SCENARIOS = {
    "alexnet5": ["farm_test.py", "correct", "alexnet", "5", "--repeat", "3"],
    "methods": ["farm_test.py", "methods"],
    "rejoin": ["dynamic_test.py", "rejoin"],
    "kill": ["dynamic_test.py", "kill", "--scale", "0.1"],
    "failover": ["farm_test.py", "failover"],
    "twostream": ["twostream_test.py", "drop"],
    "twostream_node": ["twostream_test.py", "drop", "--windows", "node"],
    "twostream_window": ["twostream_test.py", "window"],
    "inturn": ["inturn_test.py", "correct", "--sanitized"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=sorted(SCENARIOS))
    ap.add_argument("--mchair", required=True, help="an mchair built with -DMC_SANITIZE=ON (or -DMC_TSAN=ON)")
    ap.add_argument("--sanitizer", choices=["asan", "tsan"], default="asan")
    a = ap.parse_args()
    logs = tempfile.mkdtemp(prefix="mchair-sanitized-")
    env = dict(os.environ)
    if a.sanitizer == "asan":
        # every process of the farm: leaks on, reports into logs/ (one file per pid)
        env["ASAN_OPTIONS"] = "detect_leaks=1:halt_on_error=1:log_path=%s/asan" % logs
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % logs
        env["LSAN_OPTIONS"] = "exitcode=23"
    else:
        env["TSAN_OPTIONS"] = "halt_on_error=0:second_deadlock_stack=1:log_path=%s/tsan" % logs
        env["OMP_NUM_THREADS"] = "1"
        env["OMP_THREAD_LIMIT"] = "1"  # also over num_threads() clauses
    script, *args = SCENARIOS[a.what]
    cmd = [sys.executable, os.path.join(HERE, script)] + args + ["--mchair", a.mchair]
    print("running (sanitized): " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, env=env)
    reports = sorted(os.listdir(logs))
    for name in reports:
        print("---- sanitizer report %s" % name)
        print(open(os.path.join(logs, name), errors="replace").read()[-6000:])
    print("scenario %s: exit %d; %d sanitizer report(s)" % (a.what, rc, len(reports)))
    shutil.rmtree(logs, ignore_errors=True)
    return 0 if rc == 0 and not reports else 1


if __name__ == "__main__":
    sys.exit(main())
