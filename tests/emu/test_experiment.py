#!/usr/bin/env python3
"""test_experiment.py - scripts/emu/experiment.py's plotting and table, and farmlib's layouts.

Needs no root and no farm: it writes a results file with made-up latencies
(input data, not expected output), runs `experiment.py plot` on it and checks
that the figures are real PNG/SVG files and that the table and summary hold
the latencies, IPS, energies and speedups computed from that input and from
the ReQuEST records in ../shared/request-results.  It also checks that every
layout needs exactly its number of devices and yields a contract farm file.

Then `experiment.py record` on made-up results (again input data) must make
one real CK experiment entry per successful run, with the CK kernel of this
Python, in a temporary CK_REPOS: the entry's flat point has every run
characteristic key of the ReQuEST records (accuracy aside), its meta every
ReQuEST meta key plus model, farm layout, devices and emulation parameters,
with the values of the input; no entry for the failed run; a second record
replaces an entry instead of adding a point; `ck zip local:experiment:*`
packs the entries; without CK_REPOS the entries go to OUT/ck-repos, where
ck-env is registered; an unknown --ck-repo is an error naming it.
"""
import glob
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts", "emu")
sys.path.insert(0, SCRIPTS)
import experiment  # noqa: E402
import farmlib  # noqa: E402

INPUT = {("alexnet", 1): 0.5, ("alexnet", 4): 0.3, ("alexnet", 5): 0.2, ("alexnet", 6): 0.16,
         ("vgg16", 8): 1.5, ("vgg16", 9): 1.2, ("vgg16", 11): 0.4}
FAILED = ("vgg16", 10)  # the planner's VGG16 farm-10: failed
# The planner's runs (made-up latencies and farm files, input data): AlexNet farm-5 = 4 task devices.
PLAN_INPUT = {("alexnet", 5): 0.125, ("vgg16", 11): 0.5}


def plan_file(model, n, addresses):
    """A farm file as `mchair plan` writes it (loopback addresses, a plan object), placed on addresses."""
    if model == "alexnet":
        tasks = [{"name": "block1", "layers": ["conv1", "fc3"]}]
        node = {"initial": ["127.0.0.1:9999"], "block1": ["127.0.0.1:%d" % (12345 + i) for i in range(n - 1)]}
    else:
        tasks = [{"name": "block1", "layers": ["block1_conv1", "flatten"]},
                 {"name": "block2", "layers": ["fc1", "fc1"], "method": "fc_output", "parts": 2},
                 {"name": "block3", "layers": ["fc2", "predictions"]}]
        node = {"initial": ["127.0.0.1:9999"], "block1": ["127.0.0.1:%d" % (12345 + i) for i in range(n - 4)],
                "block2": ["127.0.0.1:%d" % (12345 + n - 4 + i) for i in range(2)],
                "block3": ["127.0.0.1:%d" % (12345 + n - 2)]}
    devices = [{"address": a, "task": t} for t, v in node.items() if t != "initial" for a in v]
    ff = {"model": model, "tasks": tasks, "node": node,
          "plan": {"n_devices": n - 1, "devices_used": n - 1, "predicted_ips": 7.5, "latency_s": 0.5,
                   "bottleneck": "block1", "max_memory_bytes": 195424640, "devices": devices}}
    return experiment.plan_farm_file(ff, addresses)

failed = []


def check(ok, what, detail=""):
    print("%s: %s%s" % ("PASS" if ok else "FAIL", what, (" (%s)" % detail) if detail else ""), flush=True)
    if not ok:
        failed.append(what)


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b))


# ---- CK experiment entries ------------------------------------------------------
CK_INPUT = {("alexnet", 1): (0.52, 0.52, 3), ("alexnet", 5): (0.21, 0.93, 6), ("vgg16", 11): (0.47, 3.9, 4)}
FARM_STATE = {"name": "exp", "devices": 11, "preset": "rpi3", "mem_mb": 1024,
              "addresses": ["10.77.0.%d" % (k + 1) for k in range(11)],
              "cpu": {"fraction": 0.0437, "cfs_period_us": 23000, "cfs_quota_us": 1005},
              "link": {"rate_bps": 62000000, "burst_bytes": 77500, "latency": "50ms"},
              "calibration": {"unlimited_s": 0.021, "target_s": 0.525, "verified_s": 0.51}}


def flat_point(path):
    flats = [f for f in glob.glob(os.path.join(path, "ckp-*.flat.json")) if not f.endswith(".features_flat.json")]
    if len(flats) != 1:
        return None, len(flats)
    with open(flats[0]) as f:
        return json.load(f), 1


def ck_cli(env, cwd, *args):
    return subprocess.run([sys.executable, "-c", "import sys, ck.kernel as k; sys.exit(k.cli())"] + list(args),
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def check_ck(ref_dir):
    try:
        import ck.kernel  # noqa: F401
    except ImportError as e:
        check(False, "the CK kernel is importable by this Python (pip install 'ck>=2.6,<3')", str(e))
        return
    ref_keys = set()
    ref_meta = set()
    for d in glob.glob(os.path.join(ref_dir, "experiment", "*")):
        flat, _ = flat_point(d)
        ref_keys |= {k for k in flat if k.startswith("##characteristics#run#") and "#accuracy_" not in k}
        with open(os.path.join(d, ".cm", "meta.json")) as f:
            ref_meta |= set(json.load(f)["meta"])
    check(len(ref_keys) > 50 and "##characteristics#run#execution_time#mean" in ref_keys,
          "the ReQuEST records' run characteristic keys are read", "%d keys" % len(ref_keys))
    runs = []
    for (m, n), (t, cls, frames) in sorted(CK_INPUT.items()):
        run = {"model": m, "devices": n, "ok": True, "execution_time": t, "frames": frames, "wall_s": frames * t + 0.1}
        if n > 1:
            run["timer"] = {"execution_time": t, "execution_time_classify": cls}
        runs.append(run)
    runs.append({"model": FAILED[0], "devices": FAILED[1], "system": "planner", "ok": False,
                 "error": "made-up failure"})
    plan_ff = plan_file("alexnet", 5, FARM_STATE["addresses"][:5])
    runs.append({"model": "alexnet", "devices": 5, "system": "planner", "ok": True, "execution_time": 0.13,
                 "frames": 6, "wall_s": 0.9, "timer": {"execution_time": 0.13, "execution_time_classify": 0.5},
                 "farm": plan_ff})
    results = {"mode": "full", "started": "2026-11-22T11:00:00Z", "farm": FARM_STATE, "runs": runs,
               "plans": {"alexnet": {"slowdown": 24.3, "link": "0.000132129,0.001", "mem_mb": 1024,
                                     "commands": ["mchair profile ...", "mchair plan ..."]}}}
    script = os.path.join(SCRIPTS, "experiment.py")
    with tempfile.TemporaryDirectory() as tmp:
        rpath = os.path.join(tmp, "results.json")
        with open(rpath, "w") as f:
            json.dump(results, f)
        repos = os.path.join(tmp, "repos")
        env = dict(os.environ, CK_REPOS=repos)
        exp = os.path.join(repos, "local", "experiment")
        for attempt in (1, 2):
            r = subprocess.run([sys.executable, script, "record", "--results", rpath], env=env, capture_output=True,
                               text=True, timeout=120)
            check(r.returncode == 0 and ("CK_REPOS=%s," % repos) in r.stdout and "4 recorded" in r.stdout,
                  "record (%s time) adds the 4 successful runs to CK_REPOS's local repository and says where"
                  % ("first" if attempt == 1 else "second"), (r.stdout + r.stderr)[-1500:])
        names = sorted(os.listdir(exp)) if os.path.isdir(exp) else []
        want = sorted(["mchair-emu-alexnet-single-device-cpu", "mchair-emu-alexnet-farm-5-nodes",
                       "mchair-emu-vgg16-farm-11-nodes", "mchair-emu-alexnet-planner-farm-5-nodes"])
        check([x for x in names if x != ".cm"] == want, "one entry per successful run, none for the failed one",
              ", ".join(names))
        for (m, n), (t, cls, frames) in sorted(CK_INPUT.items()):
            uoa = "mchair-emu-%s-%s" % (m, "single-device-cpu" if n == 1 else "farm-%d-nodes" % n)
            path = os.path.join(exp, uoa)
            if not os.path.isdir(path):
                continue
            flat, npoints = flat_point(path)
            check(npoints == 1, "%s has exactly one point after two records (replaced, not appended)" % uoa,
                  "%d points" % npoints)
            if flat is None:
                continue
            missing = sorted(ref_keys - set(flat))
            check(not missing, "%s has every run characteristic key of the ReQuEST records" % uoa,
                  ", ".join(missing[:8]))
            cmd_key = "benchmark-%s-%s" % (m, "single-device-cpu" if n == 1 else "farm-%d-nodes" % n)
            check(close(flat["##characteristics#run#execution_time#mean"], t)
                  and close(flat["##characteristics#run#execution_time_classify#mean"], cls)
                  and close(flat["##characteristics#run#inference_latency#mean"], cls)
                  and close(flat["##characteristics#run#energy_per_inference_j#mean"], 6.5 * n * cls)
                  and flat["##characteristics#run#repeat#all"] == [frames]
                  and flat["##characteristics#run#run_success#all"] == ["yes"]
                  and flat["##choices#cmd_key#min"] == cmd_key,
                  "%s holds the input's time per inference, latency, frames and cmd_key" % uoa,
                  "execution_time#mean %r" % flat.get("##characteristics#run#execution_time#mean"))
            with open(os.path.join(path, ".cm", "meta.json")) as f:
                entry = json.load(f)
            meta = entry["meta"]
            check(not (ref_meta - set(meta)), "%s's meta has every ReQuEST meta key" % uoa,
                  ", ".join(sorted(ref_meta - set(meta))))
            if n > 1:
                ff = farmlib.farm_file(m, farmlib.LAYOUTS[(m, n)], FARM_STATE["addresses"][:n])
                layout_ok = meta.get("farm_layout") == ff["tasks"] and meta.get("devices") == ff["node"]
            else:
                layout_ok = meta.get("devices") == {"predict": ["10.77.0.1"]}
            emu = meta.get("emulation", {})
            check(meta.get("model") == m and meta.get("farm_devices") == n and layout_ok
                  and close(emu.get("cpu_fraction"), 0.0437) and emu.get("cfs_quota_us") == 1005
                  and emu.get("cfs_period_us") == 23000 and emu.get("link_rate_bps") == 62000000
                  and emu.get("mem_mb") == 1024 and emu.get("calibration") == FARM_STATE["calibration"]
                  and close(meta.get("platform_peak_power"), 6.5 * n)
                  and "request-asplos18" in entry.get("tags", []) and cmd_key in entry.get("tags", []),
                  "%s's meta names the model, farm layout, devices and emulation (CPU quota, link rate)" % uoa,
                  json.dumps({k: meta.get(k) for k in ("model", "farm_devices", "devices", "emulation")})[:600])
        ppath = os.path.join(exp, "mchair-emu-alexnet-planner-farm-5-nodes")
        flat, npoints = flat_point(ppath) if os.path.isdir(ppath) else (None, 0)
        meta = json.load(open(os.path.join(ppath, ".cm", "meta.json"))) if os.path.isdir(ppath) else {}
        m = meta.get("meta", {})
        check(flat is not None and npoints == 1 and close(flat["##characteristics#run#execution_time#mean"], 0.13)
              and flat["##choices#cmd_key#min"] == "benchmark-alexnet-farm-5-nodes"
              and m.get("farm_layout") == plan_ff["tasks"] and m.get("devices") == plan_ff["node"]
              and m.get("farm_system", "").startswith("the planner")
              and m.get("emulation", {}).get("plan", {}).get("predicted_ips") == 7.5
              and close(m.get("emulation", {}).get("plan", {}).get("inputs", {}).get("slowdown"), 24.3)
              and "planner" in meta.get("tags", []),
              "the planner's farm-5 is its own entry (mchair-emu-alexnet-planner-farm-5-nodes) with the plan's "
              "tasks, devices, prediction and inputs, next to the artifact's farm-5",
              json.dumps({k: m.get(k) for k in ("farm_layout", "devices", "farm_system")})[:600])
        zdir = os.path.join(tmp, "zip")
        os.makedirs(zdir)
        r = ck_cli(env, zdir, "zip", "local:experiment:*")
        zpath = os.path.join(zdir, "ckr-local.zip")
        packed = zipfile.ZipFile(zpath).namelist() if os.path.isfile(zpath) else []
        check(r.returncode == 0 and all("experiment/%s/.cm/meta.json" % u in packed for u in want)
              and sum(1 for x in packed if x.endswith(".flat.json") and "features" not in x) == 4,
              "`ck zip local:experiment:*` packs the four entries", (r.stdout + r.stderr)[-800:])
        # without CK_REPOS: our own under --out, with ck-env registered
        env2 = {k: v for k, v in os.environ.items() if k != "CK_REPOS"}
        env2["HOME"] = tmp  # the default CK folder must not be used
        out = os.path.join(tmp, "out")
        r = subprocess.run([sys.executable, script, "record", "--results", rpath, "--out", out], env=env2,
                           capture_output=True, text=True, timeout=120)
        own = os.path.join(out, "ck-repos")
        check(r.returncode == 0 and "CK_REPOS=%s, made here" % own in r.stdout
              and len(glob.glob(os.path.join(own, "local", "experiment", "mchair-emu-*"))) == 4
              and not os.path.exists(os.path.join(tmp, "CK")),
              "without CK_REPOS the entries go to OUT/ck-repos, and the output says so", (r.stdout + r.stderr)[-800:])
        r = ck_cli(dict(env2, CK_REPOS=own), tmp, "list", "repo:*")
        check(r.returncode == 0 and {"ck-env", "mchair"} <= set(r.stdout.split()),
              "that CK_REPOS has ck-env and this repository registered", r.stdout.strip())
        r = subprocess.run([sys.executable, script, "record", "--results", rpath, "--ck-repo", "no-such-repo"],
                           env=env, capture_output=True, text=True, timeout=120)
        check(r.returncode != 0 and "no-such-repo" in r.stderr, "an unknown --ck-repo is an error naming it",
              (r.stdout + r.stderr)[-500:])


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

    # the planner's inputs and farm files on the emulated farm
    ff = plan_file("vgg16", 11, addrs := ["10.77.0.%d" % (k + 1) for k in range(11)])
    used = [a for t, v in ff["node"].items() if t != "initial" for a in v]
    check(ff["node"]["initial"] == ["10.77.0.1:9999"] and used == ["10.77.0.%d:12345" % k for k in range(2, 12)]
          and [d["address"] for d in ff["plan"]["devices"]] == used,
          "a plan's loopback addresses move onto devices 1.. (initial on device 0), in plan.devices order",
          json.dumps(ff["node"]))
    try:
        plan_file("vgg16", 11, addrs[:10])
        check(False, "a plan on too few devices is refused")
    except ValueError as e:
        check("the farm has 10" in str(e), "a plan on too few devices is refused", str(e))
    prof = {"model": "alexnet", "layers": [{"name": "conv1", "latency_s": 0.002, "splits": [
        {"method": "conv_channel", "parts": 2, "latency_s": 0.001}]}, {"name": "fc1", "latency_s": 0.004}]}
    sp = experiment.scale_profile(prof, 25.0)
    check(close(sp["layers"][0]["latency_s"], 0.05) and close(sp["layers"][0]["splits"][0]["latency_s"], 0.025)
          and close(sp["layers"][1]["latency_s"], 0.1) and close(prof["layers"][0]["latency_s"], 0.002),
          "scale_profile multiplies every layer and split latency (and leaves its input alone)", json.dumps(sp))
    f, _ = experiment.slowdown(FARM_STATE)
    check(close(f, 0.51 / 0.021), "the slowdown is the calibration's verified / unlimited latency", str(f))
    check(close(experiment.PLAN_LINK[0], 8 * 1024 / 62e6), "the plan's link is 62 Mbit/s in s per kB")

    results = {"mode": "test", "runs": [{"model": m, "devices": n, "ok": True, "execution_time": t}
                                        for (m, n), t in sorted(INPUT.items())]}
    results["runs"].append({"model": FAILED[0], "devices": FAILED[1], "system": "planner", "ok": False,
                            "error": "made-up failure"})
    addrs11 = ["10.77.0.%d" % (k + 1) for k in range(11)]
    for (m, n), t in sorted(PLAN_INPUT.items()):
        ff = plan_file(m, n, addrs11[:n])
        results["runs"].append({"model": m, "devices": n, "system": "planner", "ok": True, "execution_time": t,
                                "farm": ff, "report": {"mean_s": 1.0, "task_mean_s": {
                                    t["name"]: 0.3 * (i + 1) for i, t in enumerate(ff["tasks"])}}})
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
        p5, a5 = rows.get(("alexnet", "planner", 5), {}), rows[("alexnet", "rpi", 5)]
        check(close(p5.get("ours", {}).get("ips"), 1 / 0.125) and close(p5["ours"]["total_j"], 5 * 6.5 * 0.125)
              and close(a5["ours"]["ips"], 1 / 0.2) and p5.get("tasks") == "conv1..fc3 x4"
              and p5.get("label") == "planner\nfarm-5" and p5.get("plan", {}).get("predicted_ips") == 7.5,
              "the planner's AlexNet farm-5 is its own system next to the artifact's farm-5 (IPS, energy at RPi "
              "power, tasks, prediction)", json.dumps(p5))
        order = [(x["system"], x["devices"]) for x in summary["systems"] if x["model"] == "alexnet"]
        check(order.index(("planner", 5)) == order.index(("rpi", 5)) + 1, "the plan's bar follows the layout's",
              str(order))
        p10 = rows.get(("vgg16", "planner", 10), {})
        check("ours" not in p10 and p10.get("ours_error") == "made-up failure", "a failed plan run draws no bar",
              json.dumps(p10))
        v11 = rows.get(("vgg16", "planner", 11), {})
        check(v11.get("tasks") == "block1_conv1..flatten x7 | fc1 fc_output/2 | fc2..predictions"
              and v11.get("measured_bottleneck", {}).get("task") == "block3",
              "a plan's tasks are described with replicas and splits; the measured bottleneck is the task with "
              "the longest compute per replica", json.dumps(v11))
        row_p5 = "| alexnet 5 devices (4 task devices) | 0.200 s | 0.125 s | %.2f | %.2f | 7.500 IPS | conv1..fc3 x4 |" % (
            0.125 / 0.2, 0.2 / 0.125)
        row_p11 = "| vgg16 11 devices (10 task devices) | 0.400 s | 0.500 s | %.2f | %.2f |" % (0.5 / 0.4, 0.4 / 0.5)
        row_p10 = "| vgg16 10 devices (9 task devices) | n/a | not run | n/a | n/a |"
        check(row_p5 in table and row_p11 in table and row_p10 in table,
              "the table compares planner and artifact on the same devices, as ratios", "\n" + table)
        pva = [x for x in summary["ratios"] if "planner_vs_artifact" in x]
        check(len(pva) == 1 and any(close(x["time_ratio"], 0.625) for x in pva[0]["planner_vs_artifact"]),
              "summary.json has the planner vs artifact ratios", json.dumps(pva)[:500])
        r1 = rows[("alexnet", "rpi", 1)]
        check(close(r1["request"]["execution_time"], ref["alexnet-rpi-cpu"]["execution_time"]) and
              close(r1["ours"]["execution_time"], 0.5), "RPi x1 has our bar and the record's bar")
        check(all(not math.isnan(v) for x in summary["systems"] for src in ("ours", "request") if src in x
                  for v in x[src].values()), "no NaN in the summary")
    check_ck(ref_dir)
    print("%d checks failed: %s" % (len(failed), "; ".join(failed)) if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
