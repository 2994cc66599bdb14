#!/usr/bin/env python3
"""test_experiment.py - scripts/emu/experiment.py's plotting and table, and farmlib's layouts.

Needs no root and no farm: it writes a results file with made-up latencies
(input data, not expected output), runs `experiment.py plot` on it and checks
that the figures are real PNG/SVG files and that the table and summary hold
the latencies, IPS, energies and speedups computed from that input and from
the ReQuEST records in ../shared/request-results.  It also checks that every
layout needs exactly its number of devices and yields a contract farm file.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts", "emu")
sys.path.insert(0, SCRIPTS)
import experiment  # noqa: E402
import farmlib  # noqa: E402

INPUT = {("alexnet", 1): 0.5, ("alexnet", 4): 0.3, ("alexnet", 5): 0.2, ("alexnet", 6): 0.16,
         ("vgg16", 8): 1.5, ("vgg16", 9): 1.2, ("vgg16", 11): 0.4}
FAILED = ("vgg16", 10)

failed = []


def check(ok, what, detail=""):
    print("%s: %s%s" % ("PASS" if ok else "FAIL", what, (" (%s)" % detail) if detail else ""), flush=True)
    if not ok:
        failed.append(what)


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b))


def main():
    ref_dir = experiment.find_reference_dir()
    check(ref_dir is not None, "the ReQuEST records are found", str(ref_dir))
    ref = experiment.load_reference(ref_dir)
    check(len(ref) == 6, "all six ReQuEST records load", ", ".join(sorted(ref)))
    check(abs(ref["alexnet-rpi-cpu"]["execution_time"] - 0.525) < 0.001 and
          abs(ref["alexnet-farm-5-nodes"]["execution_time"] - 0.185) < 0.001 and
          abs(ref["vgg16-farm-9-nodes"]["execution_time"] - 1.29) < 0.01 and
          abs(ref["vgg16-farm-11-nodes"]["execution_time"] - 0.41) < 0.01,
          "the records hold the paper's numbers (0.525, 0.185, 1.29, 0.41 s)",
          ", ".join("%s %.4f" % (k, v["execution_time"]) for k, v in sorted(ref.items())))

    for (model, n), tasks in sorted(farmlib.LAYOUTS.items()):
        addrs = ["10.77.0.%d" % (k + 1) for k in range(n)]
        ff = farmlib.farm_file(model, tasks, addrs)
        used = [a for v in ff["node"].values() for a in v]
        check(farmlib.layout_devices(tasks) == n and len(used) == n and len(set(used)) == n
              and ff["node"]["initial"] == ["10.77.0.1:9999"]
              and [t["name"] for t in ff["tasks"]] == [k for k in ff["node"] if k != "initial"],
              "layout %s farm-%d places initial and its tasks on exactly %d devices" % (model, n, n))
    try:
        farmlib.farm_file("vgg16", farmlib.LAYOUTS[("vgg16", 11)], ["10.77.0.1"] * 10)
        check(False, "a layout on too few devices is refused")
    except ValueError as e:
        check("needs 11 devices" in str(e), "a layout on too few devices is refused", str(e))

    results = {"mode": "test", "runs": [{"model": m, "devices": n, "ok": True, "execution_time": t}
                                        for (m, n), t in sorted(INPUT.items())]}
    results["runs"].append({"model": FAILED[0], "devices": FAILED[1], "ok": False, "error": "made-up failure"})
    with tempfile.TemporaryDirectory() as tmp:
        rpath = os.path.join(tmp, "results.json")
        with open(rpath, "w") as f:
            json.dump(results, f)
        figs = os.path.join(tmp, "figs")
        r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "experiment.py"), "plot", "--results", rpath,
                            "--figures", figs], capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, "experiment.py plot runs on a results file", r.stderr.strip()[-500:])
        for name in ("ips", "energy"):
            with open(os.path.join(figs, name + ".png"), "rb") as f:
                head = f.read(8)
            check(head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(os.path.join(figs, name + ".png")) > 5000,
                  "%s.png is a PNG image" % name)
            root = ET.parse(os.path.join(figs, name + ".svg")).getroot()
            check(root.tag.endswith("svg"), "%s.svg is an SVG document" % name)
        table = open(os.path.join(figs, "table.md")).read()
        s_alex = 0.5 / 0.2
        p_alex = ref["alexnet-rpi-cpu"]["execution_time"] / ref["alexnet-farm-5-nodes"]["execution_time"]
        s_vgg = 1.2 / 0.4
        p_vgg = ref["vgg16-farm-9-nodes"]["execution_time"] / ref["vgg16-farm-11-nodes"]["execution_time"]
        row_a = "| alexnet speedup 5 over 1 devices | %.2fx | %.2fx | %.2f |" % (s_alex, p_alex, s_alex / p_alex)
        row_v = "| vgg16 speedup 11 over 9 devices | %.2fx | %.2fx | %.2f |" % (s_vgg, p_vgg, s_vgg / p_vgg)
        check(row_a in table and row_v in table, "the table has both speedups, ours and the paper's, as ratios",
              "\n" + table)
        summary = json.load(open(os.path.join(figs, "summary.json")))
        rows = {(x["model"], x["system"], x["devices"]): x for x in summary["systems"]}
        f5 = rows[("alexnet", "rpi", 5)]
        check(close(f5["ours"]["ips"], 1 / 0.2) and close(f5["ours"]["static_j"], 5 * 1.3 * 0.2)
              and close(f5["ours"]["dynamic_j"], 5 * (6.5 - 1.3) * 0.2)
              and close(f5["ours"]["total_j"], f5["ours"]["static_j"] + f5["ours"]["dynamic_j"]),
              "AlexNet farm-5: IPS and energy = devices x power x latency, dynamic = total - static",
              json.dumps(f5["ours"]))
        t2 = rows[("vgg16", "tx2", 1)]
        tt = ref["vgg16-tx2-cpu"]["execution_time"]
        check("ours" not in t2 and close(t2["request"]["static_j"], 5 * tt) and close(t2["request"]["dynamic_j"], 10 * tt),
              "TX2 is a reference bar only, at 5 W idle and 15 W busy", json.dumps(t2))
        check(("vgg16", "rpi", 10) not in rows or "ours" not in rows[("vgg16", "rpi", 10)],
              "a failed run draws no bar")
        r1 = rows[("alexnet", "rpi", 1)]
        check(close(r1["request"]["execution_time"], ref["alexnet-rpi-cpu"]["execution_time"]) and
              close(r1["ours"]["execution_time"], 0.5), "RPi x1 has our bar and the record's bar")
        check(all(not math.isnan(v) for x in summary["systems"] for src in ("ours", "request") if src in x
                  for v in x[src].values()), "no NaN in the summary")
    print("%d checks failed: %s" % (len(failed), "; ".join(failed)) if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
