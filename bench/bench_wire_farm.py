#!/usr/bin/env python3
"""bench_wire_farm.py - the artifact's farms on the emulated farm (docs/emulated-farm.md: one network
namespace per device, 62 Mbit/s links, devices of the rpi3 device model) with every link between
tasks in f32, f16 and int8 (docs/wire.md).  Not a test; needs root (mchair farm).

For each layout (scripts/emu/farmlib.LAYOUTS) and encoding, and for the planner's plans (--plans
vgg16:10: `mchair profile --device-model rpi3`, then `mchair plan --wire f32|f16|int8|auto` for that
many devices, initial included, as scripts/emu/experiment.py plans): nodes with --device-model rpi3 in
devices 1.., initial in device 0 sending FRAMES frames closed-loop (--window W); prints IPS
(throughput) and the median latency per frame from initial's JSON report, against f32 in the same
run, and writes JSON.

    sudo python3 bench/bench_wire_farm.py [--layouts alexnet:5,vgg16:9,vgg16:11] [--plans vgg16:10]
        [--frames 12]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "scripts", "emu"))
import farmlib  # noqa: E402
from experiment import plan_farm_file  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
WAIT_PY = ("import socket,sys,time\nd=time.time()+float(sys.argv[1])\nt=sys.argv[2:]\n"
           "while t and time.time()<d:\n l=[]\n for a in t:\n  h,p=a.rsplit(':',1)\n  try:\n"
           "   socket.create_connection((h,int(p)),timeout=1).close()\n  except OSError:\n   l.append(a)\n"
           " t=l\n if t: time.sleep(0.2)\nsys.exit(1 if t else 0)\n")


def run_one(farm, mchair, model, n, wire, frames, window, out, ff=None):
    if ff is None:
        ff = farmlib.farm_file(model, farmlib.LAYOUTS[(model, n)], farm.addresses())
        for t in ff["tasks"][:-1]:
            if wire != "f32":
                t["wire"] = wire
    path = os.path.join(out, "farm-%s-%d-%s.json" % (model, n, wire))
    with open(path, "w") as f:
        json.dump(ff, f, indent=1)
    addrs = [a for t, v in ff["node"].items() if t != "initial" for a in v]
    logs = []
    try:
        pool = farm.addresses()
        for a in addrs:
            k = pool.index(a.rsplit(":", 1)[0])  # the device whose address it is
            log = open(os.path.join(out, "node-%s-%d-%s-%d.log" % (model, n, wire, k)), "w")
            logs.append(log)
            farm.popen(k, [mchair, "node", "--farm", path, "--listen", a, "--threads", "1", "--device-model", "rpi3"],
                       unlimited=True, stdout=log, stderr=subprocess.STDOUT, env=ENV)
        r = farm.run("hub", [sys.executable, "-c", WAIT_PY, "900"] + addrs, timeout=920)  # 9 VGG16 nodes load slowly on a loaded host
        if r.returncode:
            return {"ok": False, "error": "nodes not listening"}
        rep = os.path.join(out, "initial-%s-%d-%s.json" % (model, n, wire))
        base = [mchair, "initial", "--farm", path, "--listen", ff["node"]["initial"][0], "--timeout", "300"]
        farm.run(0, base + ["--repeat", "2"], timeout=600, env=ENV)  # warm-up (the first frames go as f32)
        t0 = time.time()
        r = farm.run(0, base + ["--repeat", str(frames), "--window", str(window), "--json", rep], timeout=1200,
                     env=ENV)
        wall = time.time() - t0
        if r.returncode or not os.path.exists(rep):
            return {"ok": False, "error": "initial exited %d: %s" % (r.returncode, r.stderr[-300:])}
        js = json.load(open(rep))
        lat = sorted(x for x in js.get("latency_s", []) if x is not None)
        return {"ok": True, "ips": js.get("throughput_ips"), "latency_median_s": lat[len(lat) // 2] if lat else None,
                "done": js.get("done"), "lost": len(js.get("lost", [])), "wall_s": round(wall, 1),
                "task_mean_s": js.get("task_mean_s")}
    finally:
        farm.stop_all()
        for log in logs:
            log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", default=os.path.join(REPO, "build", "mchair"))
    ap.add_argument("--layouts", default="alexnet:5,vgg16:9,vgg16:11")
    ap.add_argument("--wires", default="f32,f16,int8")
    ap.add_argument("--plans", default="")
    ap.add_argument("--wire-budget", default="0.05")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--out", default="/tmp/bench-wire-farm")
    ap.add_argument("--json", default=os.path.join(REPO, "bench", "results", "wire-farm.json"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    load0 = os.getloadavg()
    for lay in [x for x in a.plans.split(",") if x]:
        model, n = lay.split(":")
        n = int(n)
        prof = os.path.join(a.out, "profile-%s-rpi3.json" % model)
        subprocess.run([a.mchair, "profile", "--model", model, "--device-model", "rpi3", "--out", prof], check=True,
                       capture_output=True, timeout=600)
        mem = str(int(json.load(open(prof))["plan_mem_mb"]))
        farm = farmlib.Farm(a.mchair, "wirebench")
        farm.up(n, device_model="rpi3")
        try:
            for wire in a.wires.split(",") + ["auto"]:
                pdir = os.path.join(a.out, "plan-%s-%s" % (model, wire))
                subprocess.run([a.mchair, "plan", "--model", model, "--devices", str(n - 1), "--mem", mem,
                                "--profile", prof, "--wire", wire, "--wire-budget", a.wire_budget, "--out", pdir],
                               check=True, capture_output=True, timeout=120)
                pf = json.load(open(os.path.join(pdir, "farm-%d.json" % (n - 1))))
                ff = plan_farm_file(pf, farm.addresses())
                r = run_one(farm, a.mchair, model, n, wire, a.frames, a.window, a.out, ff=ff)
                r.update(model=model, devices=n, wire=wire, system="plan",
                         tasks=["%s%s" % (t["name"], "" if t.get("wire", "f32") == "f32" else " >" + t["wire"])
                                for t in pf["tasks"]],
                         predicted_ips=pf["plan"]["predicted_ips"])
                rows.append(r)
                print(json.dumps(r), flush=True)
        finally:
            farm.down()
    for lay in [x for x in a.layouts.split(",") if x]:
        model, n = lay.split(":")
        n = int(n)
        farm = farmlib.Farm(a.mchair, "wirebench")
        farm.up(farmlib.layout_devices(farmlib.LAYOUTS[(model, n)]), device_model="rpi3")
        try:
            for wire in a.wires.split(","):
                r = run_one(farm, a.mchair, model, n, wire, a.frames, a.window, a.out)
                r.update(model=model, devices=n, wire=wire, system="artifact")
                rows.append(r)
                print(json.dumps(r), flush=True)
        finally:
            farm.down()
    print("\n%-8s %-8s %7s %5s %8s %9s %12s %9s" % ("model", "farm", "devices", "wire", "IPS", "vs f32", "latency (s)",
                                                  "vs f32"))
    for r in rows:
        base = next((x for x in rows if x["model"] == r["model"] and x["devices"] == r["devices"] and
                     x["system"] == r["system"] and x["wire"] == "f32" and x.get("ok")), None)
        if not r.get("ok"):
            print("%-8s %-8s %7d %5s  failed: %s" % (r["model"], r["system"], r["devices"], r["wire"], r.get("error")))
            continue
        print("%-8s %-8s %7d %5s %8.3f %8.2fx %12.3f %8.2fx" % (
            r["model"], r["system"], r["devices"], r["wire"], r["ips"], r["ips"] / base["ips"] if base else float("nan"),
            r["latency_median_s"], r["latency_median_s"] / base["latency_median_s"] if base else float("nan")))
    meta = {"loadavg_before": [round(v, 2) for v in load0], "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "frames": a.frames, "window": a.window, "device_model": "rpi3", "link": "62 Mbit/s (rpi3 preset)"}
    print("load average %.2f before, %.2f after" % (load0[0], meta["loadavg_after"][0]))
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print("wrote %s" % a.json)


if __name__ == "__main__":
    sys.exit(main())
