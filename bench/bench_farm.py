#!/usr/bin/env python3
"""bench_farm.py - farm runtime benchmark on loopback (not a test).

1. Per-hop overhead for 25 KB and 400 KB tensors with no compute: relay
   nodes run a model made only of `flatten` layers (a copy).  A chain of 1
   relay (initial -> r1 -> initial, 2 hops) and of 4 relays (5 hops) are
   timed with one frame in flight; per hop = (L4 - L1) / 3.
2. Loopback farm IPS vs single-device IPS: AlexNet farm-5 and VGG16 farm-9
   (every node a process with 1 compute thread) against `mchair predict`
   (all cores).  On one machine the nodes share its cores, so this measures
   the runtime's overhead, not a real farm's speed-up.
3. Memory: each node's peak RSS (VmHWM) against its task's weights + 64 MB,
   and a relay node's peak RSS after 1,000 and after 10,000 more frames.

Prints a table and writes JSON (--json).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "farm"))
import farmlib  # noqa: E402


def run_initial(mchair, farm, work, repeat, window=None, extra=()):
    rep = os.path.join(work, "initial.json")
    cmd = [mchair, "initial", "--farm", farm, "--repeat", str(repeat), "--quiet", "--json", rep,
           "--timeout", "300"] + list(extra)
    if window:
        cmd += ["--window", str(window)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError("initial failed:\n" + r.stdout + r.stderr)
    return json.load(open(rep))


def relay_farm(work, floats, relays):
    model = os.path.join(work, "relay-%d.model" % floats)
    with open(model, "w") as f:
        f.write("model relay\ninput 1 1 %d\n" % floats)
        for i in range(relays):
            f.write("flatten r%d\n" % (i + 1))
    ports = farmlib.free_ports(relays + 1)
    farm = os.path.join(work, "relay-%d-%d.json" % (floats, relays))
    js = {"model": model, "tasks": [{"name": "r%d" % (i + 1), "layers": ["r%d" % (i + 1)] * 2} for i in range(relays)],
          "node": {"initial": ["127.0.0.1:%d" % ports[0]]}}
    layout = {}
    for i in range(relays):
        js["node"]["r%d" % (i + 1)] = ["127.0.0.1:%d" % ports[i + 1]]
        layout["r%d" % (i + 1)] = [ports[i + 1]]
    json.dump(js, open(farm, "w"))
    return farm, layout


def bench_hops(a, work, out):
    rows = []
    for label, floats in (("25 KB", 6400), ("400 KB", 102400)):
        lat = {}
        for relays in (1, 4):
            farm, layout = relay_farm(work, floats, relays)
            farmlib.start_farm(a.mchair, farm, layout, work)
            run_initial(a.mchair, farm, work, 20, window=1)  # warm-up: connections, handshakes
            js = run_initial(a.mchair, farm, work, a.hop_frames, window=1)
            lat[relays] = js["mean_s"]
            farmlib.stop_all()
        per_hop = (lat[4] - lat[1]) / 3
        rows.append({"tensor": label, "bytes": floats * 4, "chain1_s": lat[1], "chain4_s": lat[4],
                     "per_hop_s": per_hop})
        print("hop %-6s  1 relay (2 hops) %.3f ms, 4 relays (5 hops) %.3f ms -> per hop %.3f ms" %
              (label, lat[1] * 1e3, lat[4] * 1e3, per_hop * 1e3), flush=True)
    out["hops"] = rows


def node_weights_mb(log_path):
    txt = open(log_path, errors="replace").read()
    i = txt.find("weights ")
    return float(txt[i + 8:].split()[0]) if i >= 0 else 0.0


def bench_farms(a, work, out):
    rows = []
    for model, devices, frames in (("alexnet", 5, a.alexnet_frames), ("vgg16", 9, a.vgg_frames)):
        sd = os.path.join(work, "single.json")
        subprocess.run([a.mchair, "predict", "--model", model, "--repeat", str(frames), "--quiet", "--json", sd],
                       check=True, capture_output=True, timeout=3600)
        single = json.load(open(sd))
        init_port = farmlib.free_ports(1)[0]
        farm = os.path.join(work, "%s-%d.json" % (model, devices))
        layout = farmlib.farm_file(farm, model, devices, init_port)
        procs = farmlib.start_farm(a.mchair, farm, layout, work)
        run_initial(a.mchair, farm, work, 2)  # warm-up
        js = run_initial(a.mchair, farm, work, frames)
        mem = []
        for p in procs:
            w = node_weights_mb(p.log_path)
            rss = farmlib.rss_kb(p.pid) / 1024.0 * 1.048576  # kB -> MB (1e6 bytes)
            name = os.path.basename(p.log_path)[5:-4]
            mem.append({"node": name, "weights_mb": w, "peak_rss_mb": rss, "under_weights_plus_64mb": rss <= w + 64})
        farmlib.stop_all()
        row = {"model": model, "farm": "farm-%d" % devices, "frames": frames,
               "farm_ips": js["ips"], "farm_throughput_ips": js["throughput_ips"], "farm_mean_s": js["mean_s"],
               "single_ips": single["ips"], "single_throughput_ips": single["throughput_ips"],
               "task_mean_s": js["task_mean_s"], "nodes": mem}
        rows.append(row)
        print("%s %s: farm IPS %.2f (throughput %.2f/s) vs single-device IPS %.2f (throughput %.2f/s)" %
              (model, row["farm"], row["farm_ips"], row["farm_throughput_ips"], row["single_ips"],
               row["single_throughput_ips"]), flush=True)
        for m in mem:
            print("   node %-22s weights %7.1f MB  peak RSS %7.1f MB  %s" %
                  (m["node"], m["weights_mb"], m["peak_rss_mb"], "ok" if m["under_weights_plus_64mb"] else "OVER"))
    out["farms"] = rows


def bench_rss_growth(a, work, out):
    farm, layout = relay_farm(work, 6400, 1)
    procs = farmlib.start_farm(a.mchair, farm, layout, work)
    run_initial(a.mchair, farm, work, 1000)
    r1 = farmlib.rss_kb(procs[0].pid)
    t0 = time.time()
    run_initial(a.mchair, farm, work, a.rss_frames)
    dt = time.time() - t0
    r2 = farmlib.rss_kb(procs[0].pid)
    farmlib.stop_all()
    out["rss_growth"] = {"after_1000_kb": r1, "after_more_kb": r2, "more_frames": a.rss_frames,
                         "seconds": dt}
    print("relay node peak RSS: %.1f MB after 1,000 frames, %.1f MB after %d more (%.1f s)" %
          (r1 / 1024, r2 / 1024, a.rss_frames, dt), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", default=os.path.join(os.path.dirname(__file__), "..", "build", "mchair"))
    ap.add_argument("--json", default="bench_farm.json")
    ap.add_argument("--hop-frames", type=int, default=200)
    ap.add_argument("--alexnet-frames", type=int, default=30)
    ap.add_argument("--vgg-frames", type=int, default=6)
    ap.add_argument("--rss-frames", type=int, default=10000)
    ap.add_argument("--skip", default="", help="comma list of hops,farms,rss to skip")
    a = ap.parse_args()
    a.mchair = os.path.abspath(a.mchair)
    work = tempfile.mkdtemp(prefix="mchair-bench-")
    out = {"machine": os.uname().nodename, "cores": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                         time.gmtime())}
    skip = set(a.skip.split(","))
    try:
        if "hops" not in skip:
            bench_hops(a, work, out)
        if "farms" not in skip:
            bench_farms(a, work, out)
        if "rss" not in skip:
            bench_rss_growth(a, work, out)
    finally:
        farmlib.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)
    print("\n%-28s %12s" % ("measure", "value"))
    for h in out.get("hops", []):
        print("%-28s %9.3f ms" % ("per hop, " + h["tensor"], h["per_hop_s"] * 1e3))
    for r in out.get("farms", []):
        print("%-28s %9.2f IPS" % ("%s %s farm" % (r["model"], r["farm"]), r["farm_ips"]))
        print("%-28s %9.2f IPS" % ("%s single device" % r["model"], r["single_ips"]))
    if "rss_growth" in out:
        g = out["rss_growth"]
        print("%-28s %9.1f MB" % ("relay RSS after 1k frames", g["after_1000_kb"] / 1024))
        print("%-28s %9.1f MB" % ("relay RSS after +%dk" % (g["more_frames"] // 1000), g["after_more_kb"] / 1024))
    print("wrote %s" % a.json)


if __name__ == "__main__":
    sys.exit(main())
