#!/usr/bin/env python3
"""The paper's two-stream systems (Musical Chair section 5.1, Figures 14b and 18)
as loopback farms on this machine: 4 devices (half-size dense), 5, 8, 10 and 12,
each system three farm files (spatial, temporal, head) from the built-in
presets (`mchair plan --model twostream --system N --out DIR`,
src/farm/twostream_system.c) run by `mchair initial --model twostream[-half]
--farm S,T,H` (docs/twostream.md).

The presets are our reading of the figures (devices counted without the
recording device, which reads the camera, computes the optical flow and, here,
keeps the windows):
    4   spatial 1, temporal 1, pyramid 1, dense 4096-4096-51 1
    5   spatial 1, temporal 1, pyramid 1, fc1 1, fc2+fc3 1
    8   spatial 1, temporal 1, pyramid 1, fc1 split by outputs on 2, fc2 on 2, fc3 1
    10  as 8 with spatial and temporal on 2 replicas each
    12  as 8 with spatial and temporal on 3 replicas each
The one-device system (tasks loaded in turn by one `mchair node --farm S,T,H`)
is run on the emulated farm by bench_twostream_emu.py, with the same presets.

Every node is a process on this machine's cores, so IPS and latency here say
how the layouts behave on one shared host, not what Raspberry Pis would do.
Prints a table (IPS: scored frames per second from the first scores to the last,
i.e. once the windows are full) and writes JSON.

With --planned MIB the systems are the planner's instead (`mchair plan --model
twostream --devices N --mem MIB` on the rpi3 device model's profiles; 4 devices:
twostream-half), to compare with the paper's layouts.  Each row also gives the
system's IPS predicted on rpi3 profiles (the smallest of its three farms',
`mchair plan --evaluate`).

Usage: bench_twostream_farms.py --mchair build/mchair [--systems 4,5,8,10,12] [--frames 60]
       [--fps 0] [--device-model rpi3] [--planned 700] [--out bench/results/twostream-farms.json]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "farm"))
import farmlib as fl  # noqa: E402



def rpi3_profiles(mchair, work):
    """Profiles of the graphs on the rpi3 device model (instant: computed, not measured)."""
    out = {}
    for g in ("spatial", "temporal", "head", "half-head"):
        out[g] = os.path.join(work, "rpi3-%s.prof.json" % g)
        if not os.path.exists(out[g]):
            subprocess.run([mchair, "profile", "--model", "twostream-" + g, "--device-model", "rpi3", "--out", out[g]],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def system_files(mchair, devices, d, work, planned_mem=None):
    """The system's three farm files, its model and {file: layout}: the
    built-in preset (`mchair plan --system N`) or, with planned_mem, the
    planner's system of N devices (`mchair plan --model M --devices N --mem
    planned_mem` on rpi3 profiles); and its predicted IPS on rpi3 profiles
    (the smallest of the graphs', `plan --evaluate` for a preset)."""
    model = "twostream-half" if devices == 4 else "twostream"
    base = fl.consecutive_ports(devices + 3)
    prof = rpi3_profiles(mchair, work)
    gp = [prof["spatial"], prof["temporal"], prof["half-head" if model == "twostream-half" else "head"]]
    cmd = [mchair, "plan", "--model", model, "--out", d, "--port", str(base), "--initial-port", str(base + devices)]
    if planned_mem:
        cmd += ["--devices", str(devices), "--mem", str(planned_mem), "--profile", ",".join(gp)]
    else:
        cmd += ["--system", str(devices)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if p.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stdout))
    files, pred = [], []
    for g, name in enumerate(("spatial", "temporal", "head")):
        path = os.path.join(d, "system-%d" % devices if planned_mem else "", name + ".json")
        if not os.path.exists(path):
            raise RuntimeError("system %d does not fit: %s" % (devices, p.stdout))
        node = json.load(open(path))["node"]
        files.append((path, {t: [int(a.rsplit(":", 1)[1]) for a in v] for t, v in node.items() if t != "initial"}))
        e = subprocess.run([mchair, "plan", "--evaluate", path, "--profile", gp[g]], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, check=True)
        pred.append(json.loads(e.stdout)["predicted_ips"])
    return model, files, min(pred)


def run_system(mchair, devices, frames, fps, work, devmodel=None, planned_mem=None):
    d = os.path.join(work, "sys%d" % devices)
    os.makedirs(d)
    model, files, predicted = system_files(mchair, devices, d, work, planned_mem)
    procs = []
    for g, (path, layout) in enumerate(files):
        extra = ("--device-model", devmodel) if devmodel else ()
        procs += fl.start_farm(mchair, path, layout, d, seed=1 + g, extra=extra)
    rep = os.path.join(d, "report.json")
    cmd = [mchair, "initial", "--model", model, "--farm", ",".join(f for f, _ in files), "--repeat", str(frames),
           "--json", rep, "--quiet"]
    if fps > 0:
        cmd += ["--fps", str(fps)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1800)
    for q in procs:
        fl.stop(q)
    if p.returncode:
        raise RuntimeError("system %d: %s" % (devices, p.stdout[-2000:]))
    r = json.load(open(rep))
    r["devices"] = devices
    r["processes"] = len(procs)
    r["predicted_ips_rpi3"] = predicted
    r["layout"] = {os.path.basename(f): {t: len(v) for t, v in lay.items()} for f, lay in files}
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--systems", default="4,5,8,10,12")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--fps", type=float, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--device-model", default=None,
                    help="nodes pad their compute to this device model (rpi3: Raspberry Pi 3 compute and memory "
                         "times, docs/emu/device-model.md); links stay loopback")
    ap.add_argument("--planned", type=float, default=None, metavar="MIB",
                    help="run the planner's systems (mchair plan --model M --devices N --mem MIB on the rpi3 device "
                         "model's profiles) instead of the paper's presets")
    a = ap.parse_args()
    load = os.getloadavg()
    work = tempfile.mkdtemp(prefix="mchair-ts-systems-")
    rows = []
    try:
        for n in [int(x) for x in a.systems.split(",")]:
            rows.append(run_system(a.mchair, n, a.frames, a.fps, work, a.device_model, a.planned))
    finally:
        fl.finish(work, [])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print("processor %s, %d cores; load average before %.2f %.2f %.2f, after %.2f %.2f %.2f; nodes: %s; systems: %s"
          % ((cpu, os.cpu_count()) + load + os.getloadavg() + (a.device_model or "host speed",
             "planned, %g MiB a device" % a.planned if a.planned else "the paper's (presets)")))
    print("%-8s %-15s %9s %8s %10s %16s %9s %14s  %s" % ("devices", "model", "processes", "scored", "IPS",
                                                        "mean latency ms", "skipped", "pred.IPS rpi3", "devices a task"))
    for r in rows:
        lay = " | ".join("%s %s" % (f.split(".")[0], ",".join("%s:%d" % kv for kv in v.items()))
                         for f, v in r["layout"].items())
        print("%-8d %-15s %9d %8d %10.2f %16.1f %9d %14.2f  %s" % (r["devices"], r["model"], r["processes"],
                                                                 r["scored"], r["steady_ips"],
                                                                 1e3 * r["mean_latency_s"], r["skipped_vectors"],
                                                                 r["predicted_ips_rpi3"], lay))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"processor": cpu, "cores": os.cpu_count(), "load_before": load, "load_after": os.getloadavg(),
                       "machine": platform.node(), "frames": a.frames, "fps": a.fps, "device_model": a.device_model,
                       "planned_mem_mib": a.planned,
                       "systems": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
