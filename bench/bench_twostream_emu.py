#!/usr/bin/env python3
"""Musical Chair's two-stream experiment (section 5.1, Figures 19-21) on the
emulated farm: the paper's systems of 1, 4, 5, 8, 10 and 12 Raspberry Pi 3s
(`mchair farm up --device-model rpi3`: one network namespace per device, 62
Mbit/s tbf links, every node padding its compute to the rpi3 device model),
each measured for IPS, end-to-end latency split into compute, reloading and
communication (with waiting), and static and dynamic energy per inference.

Layouts: the paper's systems as built-in presets (`mchair plan --model
twostream --system N`, src/farm/twostream_system.c; bench_twostream_farms.py
runs the same on loopback); devices counted without the recording device, which is device 0
(`mchair initial --model twostream[-half]`: camera, optical flow, windows).
The one-device system is the 5-device system's tasks (spatial, temporal,
pyramid, fc1, fc2+fc3) all on device 1: one `mchair node --farm S,T,H
--listen IP --device-model rpi3` that holds them within the model's memory
budget (610 MiB, two copies of each weight counted) and loads them in turn;
each reload takes the model's load time (src/devmodel/rpi3.json "load": 20
MB/s, a labelled assumption) and is reported by the node (--stats).

Per system (root, since it brings the farm up):
  1. a closed-loop run (--frames F; the one-device system --frames-one F1):
     IPS = (scored - 1) / (last scores - first scores), as initial reports it;
  2. (systems > 1) a paced run at 0.8 x that IPS (--paced-frames P): the mean
     latency of a frame (its send to the spatial farm -> its scores) without
     the closed loop's queueing; the one-device system's latency is its
     closed-loop run's (pacing it below 0.05 frames/s would take hours).
  Latency split: compute = the path's per-frame compute (the slower of the
  spatial and temporal CNNs, which run side by side, + the head's tasks; a
  split task's parts in parallel: their mean; the one-device system: the sum
  of all, done in turn), measured by
  the nodes (--stats: seconds inside the task, padded to the model); reloading
  = the reload seconds per scored frame (nodes' --stats); communication (and
  waiting) = the measured latency less both.
  Energy per inference (DESIGN.md section 6; J = W x s): static = devices x
  idle W / IPS; dynamic = (busy W - idle W) x the devices' busy seconds per
  inference (every task's compute per frame, all parts, + reloads per scored
  frame); total = static + dynamic.  Idle and busy power per device: the
  paper's own Raspberry Pi 3 figures, 1.3 W idle and 6.5 W at 100%
  utilization (section 4.1, measured with a USB multimeter), overridable
  (--idle-w, --busy-w).  The recording device is not counted (as the
  devices are not).

Reference points from the paper's text (its figures' bars are not in the
text): the 12-device system has 500x the IPS and uses 1/90 of the energy per
inference of the one-device system; systems of more than 5 devices beat the
Jetson TX2 (1.9x its GPU, 5x its CPU): no TX2 here, so only the ratio between
our systems is compared.

Writes bench/results/twostream-emu.json, plots (bench/results/twostream-emu-
{ips,latency,energy}.png, like Figures 19, 20, 21) and CK experiment entries
experiment/mchair-emu-twostream-{single-device-cpu,farm-N-nodes} (--ck).

Usage (root): bench_twostream_emu.py --mchair build/mchair [--systems 1,4,5,8,10,12] [--frames 60]
              [--frames-one 40] [--paced-frames 50] [--ck] [--plot-only RESULTS.json]
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
EMU_DIR = os.path.join(REPO, "scripts", "emu")
sys.path.insert(0, HERE)

DEVICE_ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
IDLE_W, BUSY_W = 1.3, 6.5  # Musical Chair section 4.1: one Pi 3, idle and at 100% utilization
PAPER = {"ips_ratio_12_vs_1": 500.0, "energy_ratio_1_vs_12": 90.0,
         "text": "section 5.1: 'in comparison with the one-device system, Musical Chair achieves a 90x energy "
                 "savings and a speedup 500x for IPS'; 'systems larger than five devices always perform better "
                 "than the TX2 (speed up of 1.9x over TX2-GPU and 5x over TX2-CPU)'"}
NODE_PORT, INITIAL_PORT = 12345, 9997
PRESET_PORT, PRESET_INITIAL = 20000, 21000  # placeholders of `plan --system`, mapped onto the farm
SEED = 1


def emu_farmlib():
    """scripts/emu/farmlib.py under its own name (tests/farm/farmlib.py is 'farmlib' here)."""
    spec = importlib.util.spec_from_file_location("emu_farmlib", os.path.join(EMU_DIR, "farmlib.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def preset_files(mchair, n, work):
    """System n's three farm files from the built-in presets (`mchair plan --model
    twostream --system N`: src/farm/twostream_system.c), on placeholder loopback
    ports: device k (1..n) at PRESET_PORT + k - 1, graph g's initial at
    PRESET_INITIAL + g. Returns (model, [parsed file per graph])."""
    d = os.path.join(work, "preset-%d" % n)
    r = subprocess.run([mchair, "plan", "--model", "twostream-half" if n == 4 else "twostream", "--system", str(n), "--out", d, "--host", "127.0.0.1",
                        "--port", str(PRESET_PORT), "--initial-port", str(PRESET_INITIAL)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode:
        raise RuntimeError("mchair plan --system %d: %s" % (n, r.stdout))
    files = [json.load(open(os.path.join(d, g + ".json"))) for g in ("spatial", "temporal", "head")]
    return files[0]["system"]["model"], files


def farm_files(mchair, n, addrs, work):
    """Three farm files for system n on the farm's addresses (device 0: initial;
    device k of the preset on the farm's device k; the one-device system: the
    5-device system's tasks, each on its own port of device 1); returns
    (model, paths, nodes: [(device, "ip:port", graph index, task, part)])."""
    model, files = preset_files(mchair, 5 if n == 1 else n, work)
    paths, nodes, port = [], [], NODE_PORT
    for g, f in enumerate(files):
        parts = {t["name"]: t.get("parts", 1) for t in f["tasks"]}
        node = {"initial": ["%s:%d" % (addrs[0], INITIAL_PORT + g)]}
        for t in f["tasks"]:
            name = t["name"]
            node[name] = []
            for k, a in enumerate(f["node"][name]):
                dev = int(a.rsplit(":", 1)[1]) - PRESET_PORT + 1
                if n == 1:  # one device: every task on its own port of device 1
                    dev, a = 1, "%s:%d" % (addrs[1], port)
                    port += 1
                else:
                    a = "%s:%d" % (addrs[dev], NODE_PORT)
                node[name].append(a)
                nodes.append((dev, a, g, name, k % parts[name]))
        path = os.path.join(work, "sys%d-g%d.json" % (n, g))
        with open(path, "w") as out:
            json.dump({"model": f["model"], "tasks": f["tasks"], "node": node}, out, indent=1)
        paths.append(path)
    devices = {dev for dev, _, _, _, _ in nodes}
    if n > 1 and devices != set(range(1, n + 1)):
        raise RuntimeError("system %d: the preset's tasks are on devices %s" % (n, sorted(devices)))
    return model, paths, nodes


def wait_log(path, want, proc, timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("node exited (%s): %s" % (proc.returncode, open(path).read()[-2000:]))
        if os.path.exists(path) and open(path, errors="replace").read().count("listening on") >= want:
            return
        time.sleep(0.2)
    raise RuntimeError("%s: no 'listening on' after %.0f s" % (path, timeout))


def run_once(farm, mchair, n, work, tag, frames, fps):
    """Starts system n's nodes, runs initial in device 0, stops the nodes; returns the report and stats."""
    addrs = farm.addresses()
    model, paths, nodes = farm_files(mchair, n, addrs, work)
    logs, stats = [], []
    if n == 1:
        st = os.path.join(work, "%s-device.stats.json" % tag)
        log = os.path.join(work, "%s-device.log" % tag)
        p = farm.popen(1, [mchair, "node", "--farm", ",".join(paths), "--listen", addrs[1], "--device-model", "rpi3",
                           "--threads", "1", "--seed", str(SEED), "--stats", st], stdout=open(log, "w"),
                       stderr=subprocess.STDOUT, env=DEVICE_ENV)
        wait_log(log, len(nodes), p)
        stats.append(st)
        logs.append(log)
    else:
        started = []
        for i, (dev, a, g, name, part) in enumerate(nodes):
            st = os.path.join(work, "%s-n%d.stats.json" % (tag, i))
            log = os.path.join(work, "%s-n%d.log" % (tag, i))
            p = farm.popen(dev, [mchair, "node", "--farm", paths[g], "--listen", a, "--device-model", "rpi3",
                                 "--threads", "1", "--seed", str(SEED + g), "--stats", st], stdout=open(log, "w"),
                           stderr=subprocess.STDOUT, env=DEVICE_ENV)
            started.append((log, p))
            stats.append(st)
            logs.append(log)
        for log, p in started:
            wait_log(log, 1, p)
    rep = os.path.join(work, "%s-report.json" % tag)
    cmd = [mchair, "initial", "--model", model, "--farm", ",".join(paths), "--repeat", str(frames), "--json", rep,
           "--quiet", "--timeout", "900"]
    if fps > 0:
        cmd += ["--fps", "%.4f" % fps]
    t0 = time.time()
    r = farm.run(0, cmd, timeout=3600, env=DEVICE_ENV)
    wall = time.time() - t0
    farm.stop_all()  # SIGTERM: the nodes write --stats as they stop
    time.sleep(0.5)
    if r.returncode:
        raise RuntimeError("system %d (%s): initial exited %d: %s" % (n, tag, r.returncode, (r.stdout + r.stderr)[-2000:]))
    out = json.load(open(rep))
    out["run_s"] = wall
    out["command"] = " ".join(cmd)
    node_stats = []
    for i, st in enumerate(stats):
        s = json.load(open(st))
        for t in s["tasks"]:
            if n == 1:  # the device's tasks: their graph from their farm file
                t.update(device=1, graph=paths.index(t["farm"]), part=0)
            else:
                dev, a, g, name, part = nodes[i]
                t.update(device=dev, graph=g, part=part)
        node_stats.append(s)
    out["nodes"] = node_stats
    return model, paths, nodes, out


def analyse(n, closed, paced, idle_w, busy_w):
    """IPS, latency split and energy per inference of system n from its runs."""
    tasks = [t for s in closed["nodes"] for t in s["tasks"]]
    per = {}  # (graph, task) -> [per-frame compute of each part/replica]
    for t in tasks:
        if t["computed"]:
            per.setdefault((t["graph"], t["task"]), []).append((t["part"], t["compute_s"] / t["computed"]))
    graph_compute = [0.0, 0.0, 0.0]
    busy_per_frame = 0.0
    for (g, _), vals in per.items():
        parts = {}
        for part, v in vals:  # replicas of a part: one of them computes a frame (their mean)
            parts.setdefault(part, []).append(v)
        means = [sum(v) / len(v) for v in parts.values()]
        graph_compute[g] += sum(means) / len(means)  # parts in parallel
        busy_per_frame += sum(means)                 # every part works on every frame
    # the spatial and temporal CNNs run side by side, then the head; one device does all in turn
    path_compute = sum(graph_compute) if n == 1 else max(graph_compute[0], graph_compute[1]) + graph_compute[2]
    scored = max(closed["scored"], 1)
    reload_total = sum(t["reload_s"] for t in tasks)
    reloads = sum(t["reloads"] for t in tasks)
    reload_per = reload_total / scored
    lat_run = paced if paced else closed
    latency = lat_run["mean_latency_s"]
    ips = closed["steady_ips"]
    static = n * idle_w / ips if ips > 0 else float("nan")
    dynamic = (busy_w - idle_w) * (busy_per_frame + reload_per)
    return {"devices": n, "ips": ips, "scored": closed["scored"], "frames": closed["frames"],
            "latency_s": latency, "latency_from": "paced" if paced else "closed loop",
            "paced_fps": paced.get("fps") if paced else None,
            "compute_s": path_compute, "reload_s": reload_per if not paced else 0.0,
            "reload_per_scored_s": reload_per, "reloads": reloads, "reload_total_s": reload_total,
            "comm_wait_s": latency - path_compute - (reload_per if not paced else 0.0),
            "busy_s_per_inference": busy_per_frame + reload_per,
            "energy_static_j": static, "energy_dynamic_j": dynamic, "energy_total_j": static + dynamic}


def stacked(plt, rows, layers, ylabel, title, path, labels=False):
    """One log-scale figure of stacked bars per system: layers = [(label, values, colour)]."""
    fig, ax = plt.subplots(figsize=(6, 4))
    x = list(range(len(rows)))
    bottom = [0.0] * len(rows)
    for label, vals, colour in layers:
        ax.bar(x, vals, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5 * min(v for v in layers[0][1] if v > 0))
    ax.set_xticks(x)
    ax.set_xticklabels(["%d" % r["devices"] for r in rows])
    ax.set_xlabel("devices (emulated Raspberry Pi 3, rpi3 device model)")
    ax.set_ylabel(ylabel)
    if len(layers) > 1:
        ax.legend(fontsize=8)
    if labels:
        for i, v in enumerate(bottom):
            ax.text(i, v, "%.3g" % v, ha="center", va="bottom", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot(rows, outdir):
    """Figures 19, 20 and 21 of the paper: IPS, the latency split, energy per inference."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figures (the data is in the JSON)")
        return []
    r = ratios(rows)
    ips_t = "IPS: 12 vs 1 device %.0fx here; paper 500x" % r["ips_ratio_12_vs_1"] if r else "IPS"
    en_t = "Energy: 1 vs 12 devices %.0fx here; paper 90x" % r["energy_ratio_1_vs_12"] if r else "Energy"
    col = lambda k: [x[k] for x in rows]  # noqa: E731
    return [
        stacked(plt, rows, [("IPS", col("ips"), "tab:blue")], "inferences per second (log)", ips_t,
                os.path.join(outdir, "twostream-emu-ips.png"), labels=True),
        stacked(plt, rows, [("compute", col("compute_s"), "tab:green"), ("reloading", col("reload_s"), "tab:red"),
                            ("communication and waiting", [max(v, 0) for v in col("comm_wait_s")], "tab:gray")],
                "end-to-end latency of a frame, s (log)", "Latency split (like the paper's Figure 20)",
                os.path.join(outdir, "twostream-emu-latency.png")),
        stacked(plt, rows, [("static", col("energy_static_j"), "tab:orange"),
                            ("dynamic", col("energy_dynamic_j"), "tab:purple")],
                "energy per inference, J (log)", en_t, os.path.join(outdir, "twostream-emu-energy.png")),
    ]


def table(rows):
    lines = ["| devices | model | frames (scored) | IPS | latency s | compute s | reloading s | comm. + waiting s "
             "| reloads | static J | dynamic J | total J |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| %d | %s | %d (%d) | %.4g | %.3g%s | %.3g | %.3g | %.3g | %d | %.3g | %.3g | %.3g |" % (
            r["devices"], r["model"], r["frames"], r["scored"], r["ips"], r["latency_s"],
            "" if r["latency_from"] == "paced" else " (closed loop)", r["compute_s"], r["reload_s"],
            r["comm_wait_s"], r["reloads"], r["energy_static_j"], r["energy_dynamic_j"], r["energy_total_j"]))
    return "\n".join(lines)


def ratios(rows):
    by = {r["devices"]: r for r in rows}
    out = {}
    if 1 in by and 12 in by:
        out["ips_ratio_12_vs_1"] = by[12]["ips"] / by[1]["ips"]
        out["energy_ratio_1_vs_12"] = by[1]["energy_total_j"] / by[12]["energy_total_j"]
    return out


def record_ck(results, out):
    """CK experiment entries (module experiment) in this repository, as the mchair-emu-* ones."""
    saved = sys.modules.pop("farmlib", None)
    sys.path.insert(0, EMU_DIR)
    try:
        import experiment as emx  # noqa: E402  (CKRecorder: CK_REPOS with this repository as 'mchair')
    finally:
        sys.path.remove(EMU_DIR)
        if saved is not None:
            sys.modules["farmlib"] = saved
    rec = emx.CKRecorder(out, repo_uoa="mchair")
    paths = {}
    for r in results["systems"]:
        n = r["devices"]
        uoa = "mchair-emu-twostream-%s" % ("single-device-cpu" if n == 1 else "farm-%d-nodes" % n)
        meta = {"model": r["model"], "algorithm": "two-stream action recognition (Musical Chair section 2.3.1)",
                "farm": "emulated farm: %d task device%s of the rpi3 device model + the recording device, 62 Mbit/s"
                        % (n, "s" if n > 1 else ""),
                "plat_name": "emulated Raspberry Pi 3 (mchair farm --device-model rpi3) on %s" % results["machine"],
                "platform_species": "embedded", "farm_layout": r["layout"], "devices": r["devices_map"],
                "farm_system": "the one-device system (tasks loaded in turn)" if n == 1 else
                               "the paper's %d-device system (preset: mchair plan --model twostream --system N)" % n,
                "emulation": {"tool": "mchair farm (network namespaces, tc tbf links, cgroup v1 cpu/memory)",
                              "device_model": "rpi3", "link_rate_bps": 62000000, "threads_per_device": 1,
                              "host_load_before": r["load_before"], "host_load_after": r["load_after"]},
                "power_w": {"idle": results["idle_w"], "busy": results["busy_w"],
                            "source": "Musical Chair section 4.1 (one Raspberry Pi 3)"},
                "experiment": {"script": "bench/bench_twostream_emu.py", "started": results["started"],
                               "frames": r["frames"], "scored": r["scored"]}}
        ch = {"run": {"execution_time": 1.0 / r["ips"] if r["ips"] > 0 else None, "ips": r["ips"],
                      "latency_s": r["latency_s"], "latency_compute_s": r["compute_s"],
                      "latency_reload_s": r["reload_s"], "latency_comm_wait_s": r["comm_wait_s"],
                      "reloads": r["reloads"], "energy_static_j": r["energy_static_j"],
                      "energy_dynamic_j": r["energy_dynamic_j"], "energy_total_j": r["energy_total_j"],
                      "repeat": r["frames"], "return_code": 0, "run_success": "yes", "run_success_bool": True}}
        ld = rec.ck.access({"action": "load", "module_uoa": "experiment", "data_uoa": uoa, "repo_uoa": "mchair"})
        if ld["return"] == 0:
            rec.access({"action": "rm", "module_uoa": "experiment", "data_uoa": uoa, "repo_uoa": "mchair",
                        "force": "yes"})
        rec.access({"action": "add", "module_uoa": "experiment", "experiment_uoa": uoa,
                    "experiment_repo_uoa": "mchair", "sort_keys": "yes",
                    "dict": {"meta": meta, "tags": ["mchair-emu", "emulated-farm", "twostream", "musical-chair"],
                             "features": {"emulation": meta["emulation"]},
                             "choices": {"repeat": r["frames"], "target": "emulated-farm-%d" % n,
                                         "env": {"OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}},
                             "characteristics": ch,
                             "pipeline": {"emulated": "yes", "script": "bench/bench_twostream_emu.py",
                                          "commands": r["commands"]}}})
        paths[uoa] = rec.access({"action": "load", "module_uoa": "experiment", "data_uoa": uoa,
                                 "repo_uoa": "mchair"})["path"]
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--systems", default="1,4,5,8,10,12")
    ap.add_argument("--frames", type=int, default=60, help="closed-loop frames of a system > 1")
    ap.add_argument("--frames-one", type=int, default=40, help="frames of the one-device system (34 fill the windows)")
    ap.add_argument("--paced-frames", type=int, default=50, help="frames of the paced run (0: none)")
    ap.add_argument("--idle-w", type=float, default=IDLE_W)
    ap.add_argument("--busy-w", type=float, default=BUSY_W)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "twostream-emu.json"))
    ap.add_argument("--ck", action="store_true", help="record CK experiment entries in experiment/")
    ap.add_argument("--plot-only", default=None, help="a results JSON: plot and print it, run nothing")
    a = ap.parse_args()
    outdir = os.path.dirname(os.path.abspath(a.out))
    if a.plot_only:
        results = json.load(open(a.plot_only))
        print(table(results["systems"]))
        plot(results["systems"], outdir)
        if a.ck:
            print(record_ck(results, tempfile.mkdtemp(prefix="mchair-ts-ck-")))
        return 0
    mchair = os.path.abspath(a.mchair)
    fl = emu_farmlib()
    work = tempfile.mkdtemp(prefix="mchair-ts-emu-")
    farm = fl.Farm(mchair, "tsemu")
    systems = [int(x) for x in a.systems.split(",")]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    results = {"started": datetime.datetime.utcnow().isoformat() + "Z", "machine": "%s (%s, %d cores)" % (
        platform.node(), cpu, os.cpu_count()), "idle_w": a.idle_w, "busy_w": a.busy_w, "paper": PAPER,
        "device_model": "rpi3", "systems": []}
    try:
        farm.up(13, device_model="rpi3")
        results["farm"] = {k: farm.state.get(k) for k in ("devices", "link", "mem_mb", "device_model")}
        for n in systems:
            load0 = os.getloadavg()
            frames = a.frames_one if n == 1 else a.frames
            model, paths, nodes, closed = run_once(farm, mchair, n, work, "sys%d-closed" % n, frames, 0)
            paced = None
            if n > 1 and a.paced_frames and closed["steady_ips"] > 0:
                fps = 0.8 * closed["steady_ips"]
                _, _, _, paced = run_once(farm, mchair, n, work, "sys%d-paced" % n, a.paced_frames, fps)
                paced["fps"] = fps
            row = analyse(n, closed, paced, a.idle_w, a.busy_w)
            row.update(model=model, load_before=load0, load_after=os.getloadavg(),
                       layout=[json.load(open(p)) for p in paths],
                       devices_map={"initial": farm.addresses()[0],
                                    "tasks": [[d, addr, g, name, part] for d, addr, g, name, part in nodes]},
                       commands=[closed["command"]] + ([paced["command"]] if paced else []),
                       closed=closed, paced=paced)
            results["systems"].append(row)
            print("system %d: IPS %.4g, latency %.3g s (compute %.3g, reloading %.3g), %d reloads, energy %.3g J"
                  % (n, row["ips"], row["latency_s"], row["compute_s"], row["reload_s"], row["reloads"],
                     row["energy_total_j"]), flush=True)
            with open(a.out, "w") as f:  # what is done so far
                json.dump(results, f, indent=1)
    finally:
        try:
            farm.down()
        except Exception as e:  # noqa: BLE001 (report, keep the results)
            print("farm down: %s" % e)
    results["ratios"] = ratios(results["systems"])
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print("processor %s; %s; power %.1f W idle, %.1f W busy per device" % (cpu, "rpi3 device model", a.idle_w,
                                                                           a.busy_w))
    print(table(results["systems"]))
    print("ratios here: %s; the paper: 500x IPS (12 vs 1), 90x energy (1 vs 12)" % results["ratios"])
    plot(results["systems"], outdir)
    print("farm files, node logs and --stats of every run: %s (kept)" % work)
    if a.ck:
        for k, v in record_ck(results, work).items():
            print("CK entry %s: %s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
