#!/usr/bin/env python3
"""The two-stream one-device system (docs/twostream.md, "The one-device
system"): every task of the three farms (spatial CNN, temporal CNN, the
half-size head as pyramid + dense) on ONE `mchair node --farm S,T,H --listen
127.0.0.1 --mem MB`, with a memory budget smaller than the tasks' weights
together, so that the device loads tasks in turn.

  correct  every frame's scores from frame 34 on equal `mchair predict --model
           twostream-half` on the same video and seed (max rel err <= 1e-4);
           the device's --stats say it reloaded (reloads > 0, each reload
           timed > 0 s, tasks evicted), its tasks together exceed the budget,
           and every task computed the frames it had to (38 spatial, 28
           temporal, 4 + 4 head).  With no budget (--mem 0) the same run
           reloads nothing: the reloads come from the budget.

Usage: inturn_test.py correct --mchair build/mchair [--sanitized]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import farmlib as fl  # noqa: E402
from twostream_test import FIRST, SEED, TOL, pipeline_scores, rel, write_y4m  # noqa: E402

FRAMES = 38
BUDGET_MB = 200  # spatial 52.7 + temporal 53.0 MiB fit together; the dense 4096-4096-51 (184.6 MiB) evicts both


def farm_files(work):
    """Three farm files, every task on 127.0.0.1 (its own port); returns paths and task ports."""
    ports = fl.free_ports(7)
    specs = [("s.json", "twostream-spatial", [("spatial", ["conv1s", "fc1s"])]),
             ("t.json", "twostream-temporal", [("temporal", ["conv1t", "fc1t"])]),
             ("h.json", "twostream-half-head", [("pyr", ["pyramid_s", "pyramid"]), ("dense", ["fc1", "fc3"])])]
    paths, task_ports, k = [], [], 0
    for name, model, tasks in specs:
        node = {"initial": ["127.0.0.1:%d" % ports[k]]}
        k += 1
        for t, _ in tasks:
            node[t] = ["127.0.0.1:%d" % ports[k]]
            task_ports.append(ports[k])
            k += 1
        path = os.path.join(work, name)
        with open(path, "w") as f:
            json.dump({"model": model, "tasks": [{"name": t, "layers": l} for t, l in tasks], "node": node}, f)
        paths.append(path)
    return paths, task_ports


def run_device(a, work, paths, ports, video, mem, tag):
    stats = os.path.join(work, "stats-%s.json" % tag)
    log = os.path.join(work, "device-%s.log" % tag)
    dev = fl.start([a.mchair, "node", "--farm", ",".join(paths), "--listen", "127.0.0.1", "--mem", str(mem),
                    "--seed", str(SEED), "--threads", "2", "--stats", stats], log)
    for p in ports:
        fl.wait_port(p, dev)
    outs = os.path.join(work, "out-" + tag)
    rep = os.path.join(work, "report-%s.json" % tag)
    p = subprocess.run([a.mchair, "initial", "--model", "twostream-half", "--farm", ",".join(paths), "--video", video,
                        "--repeat", str(FRAMES), "--outputs", outs, "--quiet", "--json", rep],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    print(p.stdout.strip())
    fl.stop(dev)
    print(open(log).read().strip()[-3000:])
    st = json.load(open(stats)) if os.path.exists(stats) else None
    return p.returncode, outs, st, json.load(open(rep)) if os.path.exists(rep) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=("correct",))
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--sanitized", action="store_true",
                    help="sanitized builds (sanitized_test.py): the run with a budget only, its scores present but not "
                         "compared with predict's (the release build's test compares them)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mchair-inturn-")
    failures = []
    try:
        video = os.path.join(work, "a.y4m")
        write_y4m(video, FRAMES, 0.0)
        paths, ports = farm_files(work)
        ref = None if a.sanitized else pipeline_scores(a.mchair, video, FRAMES, work, "ref")[1]
        worst = 0.0
        for tag, mem in (("budget", BUDGET_MB), ("unbounded", 0))[:1 if a.sanitized else 2]:
            rc, outs, st, rep = run_device(a, work, paths, ports, video, mem, tag)
            if rc:
                failures.append("%s: initial exited %d" % (tag, rc))
            for k, f in enumerate(range(FIRST, FRAMES)):
                path = os.path.join(outs, "s0_f%d.f32" % f)
                if not os.path.exists(path):
                    failures.append("%s: frame %d: no scores" % (tag, f))
                    continue
                if ref is None:
                    continue
                e = rel(np.fromfile(path, np.float32), ref[k])
                worst = max(worst, e)
                if not e <= TOL:
                    failures.append("%s: frame %d: max rel err %.3g" % (tag, f, e))
            if st is None or rep is None:
                failures.append("%s: the device wrote no --stats or initial no --json" % tag)
                continue
            # every reload travels with the frame that waited for it (mc.r.<task>) to initial's report
            seen = sum(rep[g]["reloads"] for g in ("spatial", "temporal", "head"))
            seen_s = sum(rep[g]["reload_s"] for g in ("spatial", "temporal", "head"))
            print("%s: initial saw %d reloads, %.3f s; the device made %d, %.3f s" % (tag, seen, seen_s, st["reloads"],
                                                                                   st["reload_s"]))
            if seen != st["reloads"] or abs(seen_s - st["reload_s"]) > 1e-5 * max(1, seen) + 1e-3 * st["reload_s"]:
                failures.append("%s: initial's report counts %d reloads (%.4f s), the device %d (%.4f s)"
                                % (tag, seen, seen_s, st["reloads"], st["reload_s"]))
            tasks = {t["task"]: t for t in st["tasks"]}
            want = {"spatial": FRAMES, "temporal": FRAMES - 10, "pyr": FRAMES - FIRST, "dense": FRAMES - FIRST}
            if sorted(tasks) != sorted(want):
                failures.append("%s: the device held tasks %s, not %s" % (tag, sorted(tasks), sorted(want)))
                continue
            for t, n in want.items():
                if tasks[t]["computed"] != n:
                    failures.append("%s: task %s computed %d frames, not %d" % (tag, t, tasks[t]["computed"], n))
            total = sum(t["mib"] for t in st["tasks"])
            print("%s: budget %.0f MiB, tasks %.1f MiB together, %d reloads in %.3f s"
                  % (tag, st["budget_mib"], total, st["reloads"], st["reload_s"]))
            if tag == "budget":
                if not total > BUDGET_MB:
                    failures.append("the tasks (%.1f MiB) fit the budget: nothing to load in turn" % total)
                if not st["reloads"] > 0:
                    failures.append("a budget of %d MiB for %.1f MiB of tasks, and no reload" % (BUDGET_MB, total))
                for t in st["tasks"]:
                    if t["reloads"] and not t["reload_s"] > 0:
                        failures.append("task %s reloaded %d times in no time" % (t["task"], t["reloads"]))
                if not tasks["dense"]["reloads"] > 0 or not tasks["spatial"]["evictions"] > 0:
                    failures.append("the dense task was not reloaded or the spatial one not evicted")
            elif st["reloads"] != 0:
                failures.append("without a budget the device reloaded %d times" % st["reloads"])
        print("correct: max rel err %.3g over %d frames, %s" % (worst, FRAMES - FIRST, "with a budget, not compared" if a.sanitized else "with a budget and without"))
    finally:
        rc = fl.finish(work, failures)
    for f in failures:
        print("FAIL: " + f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
