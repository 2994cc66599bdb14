#!/usr/bin/env python3
"""experiment.py - the ReQuEST IoT-farm experiments on the emulated farm, and their figures.

    experiment.py run    --mchair build/mchair [--mode quick|full] [--out DIR] [--figures DIR] [--ck-repo UOA]
    experiment.py record --results DIR/results.json [--ck-repo UOA] [--out DIR]
    experiment.py plot   --results DIR/results.json [--figures DIR]

`run` (root) brings up an 11-device emulated farm of Raspberry Pi 3s: by
default (--emulation model) devices of the device model rpi3
(src/devmodel/rpi3.json: every process pads its compute to the model's time
for its layers, 62 Mbit/s links, 1 GB per device, no CPU quota); with
--emulation quota the older rpi3 preset instead (a CPU quota calibrated here
so that single-thread AlexNet takes 0.525 s on one device).  It runs AlexNet on 1 device
(`mchair predict` in device 0) and on the artifact's 4-, 5- and 6-device
layouts, and VGG16 on the artifact's 8-, 9- and 11-device layouts
(scripts/emu/farmlib.py LAYOUTS; `mchair node` in devices 1.., `mchair
initial` in device 0), and the planner's plans for AlexNet on 4, 5, 6 and
VGG16 on 10, 11 devices (n - 1 task devices; model: `mchair profile
--device-model rpi3`, `mchair plan --mem <the model's budget>`; quota:
`mchair profile --threads 1` on the host, every latency scaled by the
calibration's slowdown, `mchair plan --mem 1024 --link 8*1024/62e6,0.001`;
addresses moved onto the devices),
writes DIR/results.json, records each successful run as a CK experiment entry
(mchair-emu-MODEL-single-device-cpu / mchair-emu-MODEL-farm-N-nodes /
mchair-emu-MODEL-planner-farm-N-nodes, replaced when run again) in
CK_REPOS's repository --ck-repo (default local), or, when
CK_REPOS is not set, in DIR/ck-repos (made here, with ck-env registered), and
then plots.  `record` does the CK part alone for an existing results file.
quick mode: few frames, no run starts after 140 s and every run ends by
170 s (<= 3 min in all); full mode: more frames, 18/19 min.  A farm run's
time per inference is the artifact's: (last result - first result) /
(results - 1) at the initial node (ck_run.timer_keys); each run also records
the device model's prediction for its tasks and the host's load average
before and after it (the machine is shared: --wait-load waits for a quiet
moment before each run).

`plot` needs only a results file: it draws IPS per system and energy per
inference (static + dynamic) with the original ReQuEST records as reference
bars and each plan next to the layout with its number of devices (PNG and
SVG), and writes table.md (ours vs the paper, and planner vs artifact, as
ratios) and summary.json.

Energy follows the artifact: power x latency per inference, a Raspberry Pi
1.3 W idle / 6.5 W busy per device, a Jetson TX2 5 W / 15 W; static = idle
power x latency, dynamic = total - static, for every device of the farm
(initial included).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import farmlib  # noqa: E402

# Every farm process is single-threaded, as the rpi3 calibration is: with more
# threads than the quota's share of a CPU, OpenMP/OpenBLAS workers spin and
# wait for each other (measured: a node's conv1..flatten went from 0.017 s to
# 0.083 s per frame without these, on the shared 2-core machine).
DEVICE_ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
POWER_W = {"rpi": (1.3, 6.5), "tx2": (5.0, 15.0)}  # (idle, busy) per device
PAPER = {  # the numbers the issue asks us to compare with (seconds per inference)
    ("alexnet", 1): 0.525, ("alexnet", 5): 0.185, ("vgg16", 9): 1.29, ("vgg16", 11): 0.41,
}
# (model, devices, system): "artifact" = the artifact's layout (farmlib.LAYOUTS), "planner" = the plan of
# `mchair plan` for devices - 1 task devices (the initial is not a task device), "single" = mchair predict.
CONFIGS = [("alexnet", 1, "single"), ("alexnet", 4, "artifact"), ("alexnet", 5, "artifact"),
           ("alexnet", 6, "artifact"), ("alexnet", 4, "planner"), ("alexnet", 5, "planner"),
           ("alexnet", 6, "planner"), ("vgg16", 8, "artifact"), ("vgg16", 9, "artifact"),
           ("vgg16", 11, "artifact"), ("vgg16", 10, "planner"), ("vgg16", 11, "planner")]
# Run order: the pairs the paper compares first, then the planner's AlexNet farm-5 (a quick run
# reaches it) and VGG16 farm-10, so that a run that reaches its budget still fills the table.
RUN_ORDER = [("alexnet", 1, "single"), ("alexnet", 5, "artifact"), ("alexnet", 5, "planner"),
             ("vgg16", 9, "artifact"), ("vgg16", 11, "artifact"), ("vgg16", 10, "planner"),
             ("alexnet", 4, "artifact"), ("alexnet", 6, "artifact"), ("alexnet", 4, "planner"),
             ("alexnet", 6, "planner"), ("vgg16", 8, "artifact"), ("vgg16", 11, "planner")]
# The planner's inputs for the emulated device: the host profile (--threads 1, unlimited) scaled by
# the rpi3 calibration's slowdown, the emulated link (62 Mbit/s: 8 * 1024 / 62e6 s per kB, ~1 ms
# per message) and the device memory (MiB).
PLAN_LINK = (8 * 1024 / 62e6, 0.001)
PLAN_MEM_MB = 1024
# Per farm run: warm-up frames, then (full) a steady stream of steady_frames, then A.7's protocol:
# stat_repeat frames sent at once (the ReQuEST records' STAT_REPEAT was 10) timed as initial.py timed
# them.  No run starts after budget_s, every run ends by deadline_s.
MODES = {
    "quick": {"stat_repeat": {"alexnet": 5, "vgg16": 3}, "steady_frames": None, "warmup": 0, "single_repeat": 3,
              "budget_s": 140, "deadline_s": 170, "calib_repeat": 4, "profile_repeat": 1},
    "full": {"stat_repeat": {"alexnet": 10, "vgg16": 10}, "steady_frames": {"alexnet": 40, "vgg16": 24}, "warmup": 2,
             "single_repeat": 10, "budget_s": 1080, "deadline_s": 1140, "calib_repeat": 10, "profile_repeat": 3},
}
with open(os.path.join(HERE, "paper.json")) as _f:
    PAPER_FIGURES = json.load(_f)  # the artifact paper's figure values and what the records are
REQUEST_PREFIX = "ck-request-asplos18-iot-farm-benchmark-"
REQUEST_REPORT = os.path.join(REPO, "script", "request-report")  # records.py reads ReQuEST records


# ---- reference records -----------------------------------------------------------
def find_reference_dir():
    for d in (os.environ.get("MCHAIR_REQUEST_RESULTS"), os.path.join(REPO, "..", "shared", "request-results"),
              os.path.join(REPO, "..", "..", "shared", "request-results"), "/work/shared/request-results"):
        if d and os.path.isdir(os.path.join(d, "experiment")):
            return os.path.abspath(d)
    return None


def load_reference(root, say=True):
    """The reference records of root, keyed by record name without ck-request-asplos18-iot-farm-benchmark-:
    every experiment entry is read and labelled from its own meta by script/request-report/records.py;
    the ones this comparison has a row for (CPU runs of AlexNet or VGG16 on a Raspberry Pi or a Jetson TX2,
    not ours) are used, the others skipped, and (say) stderr lists both with the reason."""
    out = {}
    if not root:
        return out
    sys.path.insert(0, REQUEST_REPORT)
    import records  # noqa: E402
    used, skipped = records.load([root])
    skipped = [(n, w) for _r, n, w in skipped]
    for r in used:
        plat = r["platform"].lower()
        system = "rpi" if "raspberry" in plat else "tx2" if "tx2" in plat else None
        if r["emulated"] or (r["library"] or "").startswith("mchair"):
            skipped.append((r["name"], "a record of ours (%s), not a reference" % r["label"]))
        elif system is None or r["device"] != "cpu" or r["model"] not in ("alexnet", "vgg16"):
            skipped.append((r["name"], "%s: the emulated comparison has rows for AlexNet and VGG16 on RPi farms and "
                            "the TX2 CPU only (script/request-report/report.py plots every record)" % r["label"]))
        else:
            short = r["name"][len(REQUEST_PREFIX):] if r["name"].startswith(REQUEST_PREFIX) else r["name"]
            out[short] = {"model": r["model"], "system": system, "devices": r["devices"],
                          "execution_time": r["latency_s"], "label": r["label"],
                          "record": os.path.relpath(os.path.join(r["path"], r["point"] + ".flat.json"), root)}
    if say:
        print("reference records in %s: used %d (%s); skipped %d%s" % (
            root, len(out), ", ".join(sorted(out)), len(skipped),
            "".join("\n  %s: %s" % x for x in skipped)), file=sys.stderr)
    return out


# ---- energy -----------------------------------------------------------------------
def energy(system, devices, seconds):
    idle, busy = POWER_W[system]
    static = devices * idle * seconds
    total = devices * busy * seconds
    return {"static_j": static, "dynamic_j": total - static, "total_j": total}


def system_label(system, devices):
    if system == "tx2":
        return "TX2 CPU"
    if system == "planner":
        return "planner\nfarm-%d" % devices
    return "RPi x1" if devices == 1 else "farm-%d" % devices


def run_system(run):
    """"single", "artifact" or "planner" (results files before the planner have no "system")."""
    return run.get("system") or ("single" if run["devices"] == 1 else "artifact")


def devmodel_args(args):
    """--device-model P for every process in a device, when the devices are a device model's."""
    return ["--device-model", args.device_model] if getattr(args, "emulation", "quota") == "model" else []


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def wait_for_load(limit, most_s):
    """Waits (at most most_s) until the 1-minute load average is below limit; returns the load then."""
    t0 = time.time()
    while True:
        la = loadavg()
        if not la or la[0] < limit or time.time() - t0 >= most_s:
            return la, time.time() - t0
        time.sleep(5)


def modeled(args, model, ff, n):
    """The device model's prediction for a run: each task's time on one device (its layers as one
    process, a split task the part a device holds, plus its messages: devmodel.h), per replica, and
    the pipeline's period.  One device (`predict`) has no messages."""
    import calibrate  # noqa: E402  (scripts/emu; `mchair devmodel` does the arithmetic)
    m = calibrate.Modeler(args.mchair, args.device_model)
    if n == 1:
        t = m.seconds(model)
        return {"tasks": [{"task": "whole model", "seconds": t, "replicas": 1}], "period_s": t}
    dm = m.query(model, None, None)["device_model"]
    link = dm["link"]["mbit_s"] * 1e6
    period = 224 * 224 * 3 * 8 / link if link > 0 else 0  # the initial's frame on its link
    layout = []
    for t in ff.get("tasks", []):
        parts = int(t.get("parts", 1))
        method = t["method"] if t.get("method") else "data"
        reps = max(1, len(ff["node"].get(t["name"], [])) // max(1, parts))
        layout.append((t["name"], t["layers"][0], t["layers"][1], method, parts, reps))
    tasks = []
    for i, (name, first, last, method, parts, reps) in enumerate(layout):
        split = "%s/%d" % (method, parts) if method != "data" else None
        q = m.query(model, first, last, split)
        mb, mc = calibrate.task_messages(m, model, layout, i, q)
        msg = calibrate.messages_s(dm, mb, mc)
        sec = q["total"]["total_s"] + msg
        tasks.append({"task": name, "seconds": sec, "messages_s": msg, "replicas": reps})
        period = max(period, sec / reps)
    return {"tasks": tasks, "period_s": period}


def task_over_model(run):
    """Per task: the compute time per frame the initial's report measured (host compute + padding) over
    the model's; above 1 where the host was slower than the modeled device (the floor did not hold)."""
    mod = {t["task"]: t["seconds"] for t in (run.get("modeled") or {}).get("tasks", [])}
    if run.get("devices") == 1:
        dm = (run.get("report") or {}).get("device_model") or {}
        return {"whole model": run["execution_time"] / dm["modeled_s"]} if dm.get("modeled_s") else {}
    means = (run.get("report") or {}).get("task_mean_s") or {}
    return {k: v / mod[k] for k, v in means.items() if k in mod and mod[k] > 0 and isinstance(v, (int, float))}


def run_name(run):
    """alexnet-5 (artifact layout or single device), alexnet-planner-5 (the planner's plan)."""
    if run_system(run) == "planner":
        return "%s-planner-%d" % (run["model"], run["devices"])
    return "%s-%d" % (run["model"], run["devices"])


def tasks_desc(ff):
    """conv1..flatten x2 | fc1 fc_output/2 | fc2..fc3: the tasks of a farm file, replicas counted."""
    out = []
    for t in ff.get("tasks", []):
        first, last = t["layers"]
        d = first if first == last else "%s..%s" % (first, last)
        parts = int(t.get("parts", 1))
        if t.get("method"):
            d += " %s/%d" % (t["method"], parts)
        replicas = len(ff.get("node", {}).get(t["name"], [])) // max(1, parts)
        if replicas > 1:
            d += " x%d" % replicas
        out.append(d)
    return " | ".join(out)


def measured_bottleneck(run):
    """The task with the longest per-frame compute per replica, from the initial's report."""
    means = (run.get("report") or {}).get("task_mean_s")
    ff = run.get("farm") or {}
    if not isinstance(means, dict) or not means:
        return None
    per = {}
    for t in ff.get("tasks", []):
        if isinstance(means.get(t["name"]), (int, float)):
            parts = int(t.get("parts", 1))
            per[t["name"]] = means[t["name"]] / max(1, len(ff.get("node", {}).get(t["name"], [])) // max(1, parts))
    if not per:
        return None
    name = max(per, key=per.get)
    return {"task": name, "s_per_frame_per_replica": per[name], "task_mean_s": means[name]}


# ---- plotting ----------------------------------------------------------------------
def summarize(results, reference):
    """Per model, the systems in order with our and the reference latency, IPS and energy."""
    rows = []

    def key(r):  # artifact layouts and single device are the "rpi" rows, plans the "planner" rows
        return (r["model"], r["devices"], "planner" if run_system(r) == "planner" else "rpi")

    ours = {key(r): r for r in results.get("runs", []) if r.get("ok")}
    errors = {key(r): r.get("error", "") for r in results.get("runs", []) if not r.get("ok")}
    for model in ("alexnet", "vgg16"):
        keys = sorted({n for (m, n, _) in CONFIGS if m == model} |
                      {v["devices"] for v in reference.values() if v["model"] == model and v["system"] == "rpi"})
        # each plan right after the artifact layout with the same number of devices
        systems = [(s, n) for n in keys for s in ("rpi", "planner")] + [("tx2", 1)]
        for system, n in systems:
            row = {"model": model, "system": system, "devices": n, "label": system_label(system, n)}
            power = "rpi" if system == "planner" else system
            run = ours.get((model, n, system))
            if run is not None:
                t = run["execution_time"]
                row["ours"] = {"execution_time": t, "ips": 1.0 / t, **energy(power, n, t)}
                st = (run.get("steady") or {}).get("execution_time")
                if isinstance(st, (int, float)) and st > 0:
                    row["ours"]["steady_s"] = st
                if run.get("farm"):
                    row["tasks"] = tasks_desc(run["farm"])
                    plan = run["farm"].get("plan")
                    if isinstance(plan, dict):
                        row["plan"] = {k: plan.get(k) for k in ("n_devices", "devices_used", "predicted_ips",
                                                                "latency_s", "bottleneck", "max_memory_bytes")}
                    mb = measured_bottleneck(run)
                    if mb:
                        row["measured_bottleneck"] = mb
            ref = [v for v in reference.values() if v["model"] == model and v["system"] == system
                   and v["devices"] == n]
            if ref:
                t = ref[0]["execution_time"]
                row["request"] = {"execution_time": t, "ips": 1.0 / t, **energy(system, n, t)}
            if (model, n, system) in errors:
                row["ours_error"] = errors[(model, n, system)]
            if "ours" in row or "request" in row or "ours_error" in row:
                rows.append(row)
    return rows


def ratio_table(rows):
    """Markdown: ours vs the paper for AlexNet 5 over 1 device and VGG16 11 over 9."""
    def lat(model, n, src, system="rpi"):
        for r in rows:
            if r["model"] == model and r["system"] == system and r["devices"] == n and src in r:
                return r[src]["execution_time"]
        return None

    def fmt(x, unit=" s"):
        return "%.3f%s" % (x, unit) if x is not None else "n/a"

    lines = ["| comparison | ours (emulated) | paper (ReQuEST record) | ours / paper |",
             "| --- | --- | --- | --- |"]
    out = []
    for model, a, b in (("alexnet", 1, 5), ("vgg16", 9, 11)):
        oa, ob = lat(model, a, "ours"), lat(model, b, "ours")
        pa, pb = lat(model, a, "request"), lat(model, b, "request")
        pa = pa if pa is not None else PAPER[(model, a)]
        pb = pb if pb is not None else PAPER[(model, b)]
        for n, o, p in ((a, oa, pa), (b, ob, pb)):
            lines.append("| %s %d device%s, s per inference | %s | %s | %s |" % (
                model, n, "s" if n > 1 else "", fmt(o), fmt(p), "%.2f" % (o / p) if o else "n/a"))
        so = oa / ob if oa and ob else None
        sp = pa / pb
        lines.append("| %s speedup %d over %d devices | %s | %.2fx | %s |" % (
            model, b, a, "%.2fx" % so if so else "n/a", sp, "%.2f" % (so / sp) if so else "n/a"))
        out.append({"model": model, "from": a, "to": b, "ours": [oa, ob], "paper": [pa, pb],
                    "speedup_ours": so, "speedup_paper": sp})
    # the planner's plans against the artifact's layouts on the same farm (both measured here)
    lines += ["", "| planner vs artifact (same devices, emulated) | artifact layout | planner's plan | "
              "planner / artifact, s per inference | planner / artifact, IPS | planner predicted | planner tasks |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    planner = []
    for r in rows:
        if r["system"] != "planner":
            continue
        model, n = r["model"], r["devices"]
        art, pl = lat(model, n, "ours"), lat(model, n, "ours", "planner")
        pred = (r.get("plan") or {}).get("predicted_ips")
        lines.append("| %s %d devices (%d task devices) | %s | %s | %s | %s | %s | %s |" % (
            model, n, n - 1, fmt(art), fmt(pl) if pl else "not run" if "ours_error" in r else "n/a",
            "%.2f" % (pl / art) if art and pl else "n/a", "%.2f" % (art / pl) if art and pl else "n/a",
            "%.3f IPS" % pred if isinstance(pred, (int, float)) else "n/a", r.get("tasks", "")))
        planner.append({"model": model, "devices": n, "artifact": art, "planner": pl,
                        "time_ratio": pl / art if art and pl else None, "ips_ratio": art / pl if art and pl else None,
                        "predicted_ips": pred, "tasks": r.get("tasks")})
    out.append({"planner_vs_artifact": planner})
    return "\n".join(lines) + "\n", out


TARGET = 0.25  # the issue's: every artifact layout and speedup within 25% of the paper's


def paper_table(results, reference):
    """Markdown and data: every run against the papers, scripts/emu/paper.json: ours by A.7's protocol
    (STAT_REPEAT frames at once, initial.py's timer) against the ReQuEST record, our steady stream
    against the artifact paper's figure bar; the device model's prediction; the host's load."""
    ours = {(r["model"], r["devices"], run_system(r)): r for r in results.get("runs", []) if r.get("ok")}
    figs = PAPER_FIGURES["layouts"]

    def rec(model, n):
        for v in reference.values():
            if v["model"] == model and v["system"] == "rpi" and v["devices"] == n:
                return v["execution_time"]
        return (figs.get("%s-%d" % (model, n)) or {}).get("request")

    def fig(model, n):
        return (figs.get("%s-%d" % (model, n)) or {}).get("figure")

    def f3(x):
        return "%.3f" % x if isinstance(x, (int, float)) else "n/a"

    def ratio(a, b):
        return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None

    def steady(r):
        if not r:
            return None
        st = r.get("steady") or {}
        return st.get("execution_time", r["execution_time"] if r["devices"] == 1 else None)

    def verdict(x):
        return "" if x is None else "%.2f%s" % (x, "" if abs(x - 1) <= TARGET else " **(outside 25%)**")

    lines = ["| system | ours, A.7 protocol | ours, steady stream | device model | ReQuEST record | A.7 / record | "
             "artifact paper's figure | steady / figure | host load before, after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    data = []
    for (model, n, system) in CONFIGS:
        r = ours.get((model, n, system))
        if r is None:
            continue
        pr = (r.get("modeled") or {}).get("period_s")
        sd = steady(r)
        rq, fg = (rec(model, n), fig(model, n)) if system != "planner" else (None, None)
        a, b = ratio(r["execution_time"], rq), ratio(sd, fg)
        la = ", ".join("%.1f" % x[0] for x in (r.get("load_before"), r.get("load_after")) if x)
        label = ("%s %d device%s" % (model, n, "s" if n > 1 else "")) + (" (planner: %s)" % tasks_desc(r["farm"])
                                                                          if system == "planner" else "")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, f3(r["execution_time"]), f3(sd), f3(pr), f3(rq), verdict(a), f3(fg), verdict(b), la or "n/a"))
        data.append({"model": model, "devices": n, "system": system, "ours": r["execution_time"], "steady": sd,
                     "modeled": pr, "request": rq, "figure": fg, "ours_over_request": a, "steady_over_figure": b,
                     "load_before": r.get("load_before"), "load_after": r.get("load_after")})
    lines += ["", "| speedup | ours, A.7 protocol | ours, steady | device model | ReQuEST records | A.7 / records | "
              "artifact paper | steady / paper |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, a, b, text in (("alexnet", 1, 5, None), ("alexnet", 1, 6, None), ("alexnet", 1, 4, None),
                              ("vgg16", 9, 11, 2.3), ("vgg16", 8, 11, None)):
        ra, rb = ours.get((model, a, "single" if a == 1 else "artifact")), ours.get((model, b, "artifact"))
        so = ratio(ra["execution_time"], rb["execution_time"]) if ra and rb else None
        ss = ratio(steady(ra), steady(rb))
        sm = ratio(((ra or {}).get("modeled") or {}).get("period_s"), ((rb or {}).get("modeled") or {}).get("period_s"))
        sr = ratio(rec(model, a), rec(model, b))
        sp = text or ratio(rec(model, a) if a == 1 else fig(model, a), fig(model, b))
        x, y = ratio(so, sr), ratio(ss, sp)

        def fx(v):
            return "%.2fx" % v if v else "n/a"
        lines.append("| %s %d over %d devices | %s | %s | %s | %s | %s | %s | %s |" % (
            model, b, a, fx(so), fx(ss), fx(sm), fx(sr), verdict(x),
            "%.2fx%s" % (sp, " (text)" if text else " (record / figure)" if a == 1 else " (figure)") if sp else "n/a",
            verdict(y)))
        data.append({"speedup": "%s %d over %d" % (model, b, a), "ours": so, "steady": ss, "modeled": sm,
                     "request": sr, "paper": sp, "ours_over_request": x, "steady_over_paper": y})
    return "\n".join(lines) + "\n", data


def mark_missing(ax, rows, offset):
    """Writes "not run" where a configured run of ours has no result."""
    for i, r in enumerate(rows):
        if r["system"] in ("rpi", "planner") and "ours" not in r:
            ax.text(i + offset, 0, "not\nrun", ha="center", va="bottom", fontsize=7, color="#aa3333")


def plot(results, reference, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    rows = summarize(results, reference)
    farm = results.get("farm") or {}
    note = "emulated farm, %s mode" % results.get("mode", "?")
    if farm.get("device_model") and farm.get("link"):
        note += ": device model %s (compute padded to it), %.0f Mbit/s links" % (
            farm["device_model"].get("name"), farm["link"]["rate_bps"] / 1e6)
    elif farm.get("cpu") and farm.get("link"):
        note += ": %.4f CPU per device (rpi3 calibration), %.0f Mbit/s links" % (
            farm["cpu"]["fraction"], farm["link"]["rate_bps"] / 1e6)
    models = [m for m in ("alexnet", "vgg16") if any(r["model"] == m for r in rows)]
    files = []
    # IPS per system
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        rs = [r for r in rows if r["model"] == model]
        x = range(len(rs))
        w = 0.38
        ours = [r["ours"]["ips"] if "ours" in r and r["system"] != "planner" else 0 for r in rs]
        plans = [r["ours"]["ips"] if "ours" in r and r["system"] == "planner" else 0 for r in rs]
        ref = [r["request"]["ips"] if "request" in r else 0 for r in rs]
        ax.bar([i - w / 2 for i in x], ours, w, label="emulated farm (ours, A.7: 10 frames at once), artifact layout",
               color="#3a7dc9")
        if any(r["system"] == "planner" for r in rs):
            ax.bar([i - w / 2 for i in x], plans, w, label="emulated farm (ours), planner's plan", color="#e0892c")
        ax.bar([i + w / 2 for i in x], ref, w, label="ReQuEST record", color="#bbbbbb", edgecolor="#555555",
               hatch="//")
        # the artifact paper's figure bars (scripts/emu/paper.json), and our steady stream, as markers
        figx = [(i + w / 2, 1.0 / PAPER_FIGURES["layouts"]["%s-%d" % (model, r["devices"])]["figure"]) for i, r in
                enumerate(rs) if r["system"] == "rpi" and
                (PAPER_FIGURES["layouts"].get("%s-%d" % (model, r["devices"])) or {}).get("figure")]
        if figx:
            ax.plot([a for a, _ in figx], [b for _, b in figx], "D", color="#333333", markersize=6,
                    label="artifact paper's figure (Fig. 5a/6a)")
        steady = [(i - w / 2, 1.0 / r["ours"]["steady_s"]) for i, r in enumerate(rs) if r.get("ours", {}).get("steady_s")]
        if steady:
            ax.plot([a for a, _ in steady], [b for _, b in steady], "o", color="#111111", markersize=5, mfc="white",
                    label="ours, steady stream")
        mark_missing(ax, rs, -w / 2)
        ax.set_xticks(list(x))
        ax.set_xticklabels([r["label"] for r in rs], fontsize=8)
        ax.set_ylabel("inferences per second (1 / s per inference)")
        ax.set_title({"alexnet": "AlexNet", "vgg16": "VGG16"}[model])
        ax.legend(fontsize=8, loc="upper left")  # the farms with the most IPS are on the right
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    for ext in ("png", "svg"):
        p = os.path.join(outdir, "ips." + ext)
        fig.savefig(p, dpi=120)
        files.append(p)
    plt.close(fig)
    # energy per inference, static + dynamic
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        rs = [r for r in rows if r["model"] == model]
        w = 0.38
        series = [(-w / 2, "ours", "#3a7dc9", None, "ours", "rpi"),
                  (w / 2, "request", "#bbbbbb", "//", "ReQuEST", None)]
        if any(r["system"] == "planner" for r in rs):
            series.insert(1, (-w / 2, "ours", "#e0892c", None, "planner", "planner"))
        for off, src, color, hatch, name, only in series:
            def has(r):
                return src in r and (only is None or (r["system"] == "planner") == (only == "planner"))
            st = [r[src]["static_j"] if has(r) else 0 for r in rs]
            dy = [r[src]["dynamic_j"] if has(r) else 0 for r in rs]
            xs = [i + off for i in range(len(rs))]
            ax.bar(xs, st, w, color=color, alpha=0.55, hatch=hatch, edgecolor="#333333",
                   label="%s: static" % name)
            ax.bar(xs, dy, w, bottom=st, color=color, hatch=hatch, edgecolor="#333333", label="%s: dynamic" % name)
        mark_missing(ax, rs, -w / 2)
        ax.set_xticks(list(range(len(rs))))
        ax.set_xticklabels([r["label"] for r in rs], fontsize=8)
        ax.set_ylabel("energy per inference (J)")
        ax.set_title("%s (RPi 1.3/6.5 W, TX2 5/15 W)" % {"alexnet": "AlexNet", "vgg16": "VGG16"}[model])
        ax.legend(fontsize=7)
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    for ext in ("png", "svg"):
        p = os.path.join(outdir, "energy." + ext)
        fig.savefig(p, dpi=120)
        files.append(p)
    plt.close(fig)
    table, ratios = ratio_table(rows)
    ptable, pdata = paper_table(results, reference)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(table)
        f.write("\nAgainst the papers (ours: the artifact's timer; the ReQuEST record and the artifact paper's "
                "figure, scripts/emu/paper.json):\n\n" + ptable)
    table += "\n" + ptable
    summary = {"systems": rows, "ratios": ratios, "papers": pdata, "power_w": POWER_W,
               "figures": [os.path.basename(p) for p in files]}
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary, table


# ---- running -----------------------------------------------------------------------
WAIT_PY = """
import socket, sys, time
deadline = time.time() + float(sys.argv[1])
todo = sys.argv[2:]
while todo and time.time() < deadline:
    left = []
    for a in todo:
        h, p = a.rsplit(":", 1)
        try:
            socket.create_connection((h, int(p)), timeout=1).close()
        except OSError:
            left.append(a)
    todo = left
    if todo: time.sleep(0.2)
print(" ".join(todo))
sys.exit(1 if todo else 0)
"""


def netns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def run_single(farm, args, mode, outdir, deadline):
    rep = os.path.join(outdir, "alexnet-1.predict.json")
    r = farm.run(0, [args.mchair, "predict", "--model", "alexnet", "--threads", "1", "--repeat",
                     str(mode["single_repeat"]), "--warmup", "1", "--quiet", "--json", rep] + devmodel_args(args),
                 timeout=max(5, deadline - time.time()), env=DEVICE_ENV)
    if r.returncode != 0:
        return {"ok": False, "error": "predict exited %d: %s" % (r.returncode, r.stderr.strip()[-500:])}
    with open(rep) as f:
        p = json.load(f)
    return {"ok": True, "execution_time": p["mean_s"], "median_s": p["median_s"], "frames": p["repeat"],
            "command": "mchair predict --model alexnet --threads 1 --repeat %d --warmup 1%s (device 0)" % (
                p["repeat"], "".join(" " + a for a in devmodel_args(args))),
            "report": p}


def plan_farm_file(plan_ff, addresses, node_port=12345, initial_port=9999):
    """The planner's farm file with its (loopback) addresses moved onto the emulated devices: the
    initial on device 0, the plan's devices (plan.devices, in order; else the node addresses in
    order of appearance) on devices 1, 2, ..."""
    node = plan_ff["node"]
    plan = plan_ff.get("plan") or {}
    order = [d["address"] for d in plan.get("devices", []) if isinstance(d, dict) and d.get("address")]
    for task, addrs in node.items():
        if task != "initial":
            order += [a for a in addrs if a not in order]
    if len(order) + 1 > len(addresses):
        raise ValueError("the plan uses %d devices and an initial, the farm has %d" % (len(order), len(addresses)))
    where = {a: "%s:%d" % (addresses[i + 1], node_port) for i, a in enumerate(order)}
    out = json.loads(json.dumps(plan_ff))
    out["node"] = {t: (["%s:%d" % (addresses[0], initial_port)] if t == "initial" else [where[a] for a in addrs])
                   for t, addrs in node.items()}
    for d in (out.get("plan") or {}).get("devices", []):
        if isinstance(d, dict) and d.get("address") in where:
            d["address"] = where[d["address"]]
    return out


def run_farm(farm, args, mode, outdir, model, n, deadline, ff=None, tag=None):
    """Runs farm file ff (default: the artifact's layout for n devices) on devices 0..n-1."""
    try:
        if ff is None:
            ff = farmlib.farm_file(model, farmlib.LAYOUTS[(model, n)], farm.addresses()[:n])
        return run_farm_timed(farm, args, mode, outdir, model, n, deadline, ff, tag or "%s-%d" % (model, n))
    except subprocess.TimeoutExpired as e:
        return {"ok": False, "error": "timed out (%s mode budget): %s" % (args.mode, " ".join(e.cmd[-8:]))}
    finally:
        farm.kill_in_devices(list(range(n)) + ["hub"])


def initial_run(farm, base, extra, outdir, tag, timeout):
    """One `mchair initial` run in device 0; its time per inference by the artifact's timer (last result -
    first result) / (results - 1), as the ReQuEST records measured it (ck_run.timer_keys)."""
    rep = os.path.join(outdir, "%s.initial.json" % tag)
    timer = os.path.join(outdir, "%s.tmp-ck-timer.json" % tag)
    t0 = time.time()
    r = farm.run(0, base + extra + ["--json", rep, "--timer", timer], timeout=timeout, env=DEVICE_ENV)
    wall = time.time() - t0
    if r.returncode != 0 or not os.path.exists(timer):
        return {"ok": False, "error": "initial exited %d: %s" % (r.returncode, r.stderr.strip()[-500:])}
    with open(timer) as f:
        t = json.load(f)
    report = None
    if os.path.exists(rep):
        with open(rep) as f:
            report = json.load(f)
    per, per_note = t["execution_time"], "the mchair timer: 1 / throughput"
    if report:
        sys.path.insert(0, os.path.join(REPO, "program", "request-iot-benchmark"))
        import ck_run  # noqa: E402
        try:
            per = ck_run.timer_keys(report, "farm", rep)["execution_time"]
            per_note = "the artifact's timer: (last result - first result) / (results - 1)"
        except ck_run.Fail as e:
            per_note = "the mchair timer (artifact timer failed: %s)" % e
    return {"ok": True, "execution_time": per, "execution_time_is": per_note, "throughput_s": t["execution_time"],
            "wall_s": wall, "timer": t, "report": report, "stdout_tail": r.stdout[-2000:]}


def run_farm_timed(farm, args, mode, outdir, model, n, deadline, ff, tag):
    def left(cap):
        return max(5, min(cap, deadline - time.time()))

    addrs = farm.addresses()[:n]
    used = {a for t, v in ff["node"].items() if t != "initial" for a in v}
    nodes = [k for k in range(1, n) if "%s:12345" % addrs[k] in used]  # a plan may leave a device idle
    path = os.path.join(outdir, "farm-%s.json" % tag)
    with open(path, "w") as f:
        json.dump(ff, f, indent=1)
    logs = []
    try:
        # Nodes start outside the CPU quota (loading weights is not what a
        # Pi measures), then join their device's cgroups once they listen.
        for k in nodes:
            log = open(os.path.join(outdir, "logs", "%s-node%d.log" % (tag, k)), "w")
            logs.append(log)
            farm.popen(k, [args.mchair, "node", "--farm", path, "--listen", "%s:12345" % addrs[k], "--threads", "1"] +
                       devmodel_args(args), unlimited=True, stdout=log, stderr=subprocess.STDOUT, env=DEVICE_ENV)
        r = farm.run("hub", [sys.executable, "-c", WAIT_PY, "120"] + ["%s:12345" % addrs[k] for k in nodes],
                     timeout=left(150))
        if r.returncode != 0:
            return {"ok": False, "error": "nodes not listening after 120 s: %s" % r.stdout.strip(), "farm_file": path}
        for k in nodes:
            pids = netns_pids("mc-%s-d%d" % (farm.name, k))
            if pids:
                farm.attach(k, pids)
        base = [args.mchair, "initial", "--farm", path, "--listen", "%s:9999" % addrs[0]]
        if mode["warmup"]:
            r = farm.run(0, base + ["--repeat", str(mode["warmup"])], timeout=left(600), env=DEVICE_ENV)
            if r.returncode != 0:
                return {"ok": False, "error": "warm-up initial exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]),
                        "farm_file": path}
        commands = ["mchair node --farm %s --listen ADDR:12345 --threads 1%s (devices %s)" % (
            os.path.basename(path), "".join(" " + a for a in devmodel_args(args)), ",".join(str(k) for k in nodes))]
        steady = None
        if mode.get("steady_frames"):  # the steady stream: what the farm sustains
            frames = mode["steady_frames"][model]
            got = initial_run(farm, base, ["--repeat", str(frames)], outdir, tag + ".steady", left(900))
            if not got.get("ok"):
                return dict(got, farm_file=path)
            steady = got
            commands.append(" ".join(["mchair"] + base[1:] + ["--repeat", str(frames)]) + " (device 0)")
        # A.7's protocol: STAT_REPEAT frames sent at once, the artifact's timer (the ReQuEST records' number)
        frames = mode["stat_repeat"][model]
        extra = ["--repeat", str(frames), "--window", str(frames)]
        got = initial_run(farm, base, extra, outdir, tag, left(900))
        if not got.get("ok"):
            return dict(got, farm_file=path)
        commands.append(" ".join(["mchair"] + base[1:] + extra) + " (device 0)")
        got.update(frames=frames, farm_file=path, layout=ff["tasks"], farm=ff, commands=commands,
                   protocol="A.7: %d frames sent at once (--window %d), no warm-up between" % (frames, frames))
        if steady:
            got["steady"] = {k: steady[k] for k in ("execution_time", "execution_time_is", "throughput_s", "frames",
                                                    "wall_s", "report") if k in steady}
        return got
    finally:
        farm.stop_all()
        for log in logs:
            log.close()


# ---- the planner's plans ------------------------------------------------------------
def slowdown(state):
    """The emulated device's slowdown over the host: calibrated single-device AlexNet latency in the
    quota (verified, else the target) / unlimited single-thread latency (farm state's calibration)."""
    cal = (state or {}).get("calibration") or {}
    emulated = cal.get("verified_s") or cal.get("target_s")
    if not emulated or not cal.get("unlimited_s"):
        raise ValueError("the farm state has no rpi3 calibration (unlimited_s, verified_s/target_s): %r" % cal)
    return float(emulated) / float(cal["unlimited_s"]), cal


def scale_profile(profile, factor):
    """Every latency of a profile (layers and their split parts) times factor."""
    out = json.loads(json.dumps(profile))
    for layer in out.get("layers", []):
        layer["latency_s"] *= factor
        for sp in layer.get("splits", []):
            sp["latency_s"] *= factor
    return out


def make_plans(args, mode, outdir, model, task_devices, state, deadline):
    """Profiles `model` on the host (single thread, unlimited), scales the profile to the emulated
    device, and plans 1..task_devices task devices; returns what was done and the plan folder."""
    if getattr(args, "emulation", "quota") == "model":
        return make_plans_model(args, outdir, model, task_devices, deadline)
    factor, cal = slowdown(state)
    pdir = os.path.join(outdir, "plans", model)
    os.makedirs(pdir, exist_ok=True)
    host = os.path.join(pdir, "profile-host.json")
    t0 = time.time()
    cmd = [args.mchair, "profile", "--model", model, "--threads", "1", "--repeat", str(mode["profile_repeat"]),
           "--out", host]
    r = subprocess.run(cmd, capture_output=True, text=True, env=DEVICE_ENV,
                       timeout=max(5, deadline - time.time()))
    if r.returncode != 0:
        raise RuntimeError("mchair profile exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    profile_s = time.time() - t0
    with open(host) as f:
        prof = json.load(f)
    scaled = os.path.join(pdir, "profile-rpi3.json")
    with open(scaled, "w") as f:
        json.dump(scale_profile(prof, factor), f, indent=1)
    link = "%.6g,%.6g" % PLAN_LINK
    pcmd = [args.mchair, "plan", "--model", model, "--devices", str(task_devices), "--mem", str(PLAN_MEM_MB),
            "--profile", scaled, "--link", link, "--out", pdir]
    r = subprocess.run(pcmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("mchair plan exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    host_sum = sum(l["latency_s"] for l in prof.get("layers", []))
    return {"dir": pdir, "slowdown": factor, "calibration": cal, "profile_s": profile_s,
            "profile_sum_s": host_sum, "scaled_sum_s": host_sum * factor, "link": link, "mem_mb": PLAN_MEM_MB,
            "commands": [" ".join(["mchair"] + cmd[1:]) + " (host, unlimited)",
                         "every latency_s x %.2f -> %s" % (factor, os.path.basename(scaled)),
                         " ".join(["mchair"] + pcmd[1:])],
            "table": r.stderr.strip()}


def make_plans_model(args, outdir, model, task_devices, deadline):
    """The planner's inputs from the device model: `mchair profile --device-model` (the emulated
    device's latencies, memory and link), `mchair plan --mem` the model's budget per device."""
    pdir = os.path.join(outdir, "plans", model)
    os.makedirs(pdir, exist_ok=True)
    prof_path = os.path.join(pdir, "profile-%s.json" % os.path.basename(args.device_model).replace(".json", ""))
    t0 = time.time()
    cmd = [args.mchair, "profile", "--model", model, "--device-model", args.device_model, "--out", prof_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=max(5, deadline - time.time()))
    if r.returncode != 0:
        raise RuntimeError("mchair profile exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    profile_s = time.time() - t0
    with open(prof_path) as f:
        prof = json.load(f)
    mem = int(prof["plan_mem_mb"])
    pcmd = [args.mchair, "plan", "--model", model, "--devices", str(task_devices), "--mem", str(mem),
            "--profile", prof_path, "--out", pdir]
    r = subprocess.run(pcmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("mchair plan exited %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    total = sum(l["latency_s"] for l in prof.get("layers", []))
    link = prof.get("link") or {}
    return {"dir": pdir, "device_model": args.device_model, "slowdown": None, "profile_s": profile_s,
            "profile_sum_s": total, "scaled_sum_s": total,
            "link": "%.6g s/byte, %.6g s per message (the profile's)" % (link.get("a_s_per_byte", 0), link.get("b_s", 0)),
            "mem_mb": mem,
            "commands": [" ".join(["mchair"] + cmd[1:]), " ".join(["mchair"] + pcmd[1:])],
            "table": r.stderr.strip()}


def run_planner(farm, args, mode, outdir, model, n, deadline, plans):
    """Runs the planner's plan for n - 1 task devices (n devices with the initial)."""
    info = plans.get(model)
    if info is None or "error" in info:
        return {"ok": False, "error": "no plan: %s" % (info or {}).get("error", "planning not done")}
    path = os.path.join(info["dir"], "farm-%d.json" % (n - 1))
    if not os.path.exists(path):
        return {"ok": False, "error": "the planner made no plan for %d task devices (%s)" % (n - 1, path)}
    with open(path) as f:
        ff = plan_farm_file(json.load(f), farm.addresses()[:n])
    run = run_farm(farm, args, mode, outdir, model, n, deadline, ff, "%s-planner-%d" % (model, n))
    run.update(farm=ff, plan_file=path)
    return run


# ---- CK experiment entries --------------------------------------------------------
BENCH_DIR = os.path.join(REPO, "script", "benchmark-request-iot-farm")


def find_ck_env():
    for d in (os.environ.get("MCHAIR_CK_ENV"), os.path.join(REPO, "..", "shared", "ck-env"),
              os.path.join(REPO, "..", "..", "shared", "ck-env"), "/work/shared/ck-env"):
        if d and os.path.isdir(os.path.join(d, "os")):
            return os.path.abspath(d)
    return None


class CKRecorder:
    """Records runs as CK experiment entries with the CK kernel's Python API (module experiment,
    action add), with the meta and derived characteristics of
    script/benchmark-request-iot-farm/benchmarking.py (imported, not copied).

    CK_REPOS set: entries go to its repository `repo_uoa` (default local).  Not set: a CK_REPOS
    of our own, OUT/ck-repos, with ck-env (../shared/ck-env, offline, as tests/ck/test_ck.py
    registers it) and this repository registered, so that `ck` works on it afterwards."""

    def __init__(self, out, repo_uoa="local"):
        self.repo_uoa = repo_uoa
        self.own = not os.environ.get("CK_REPOS")
        if self.own:
            os.environ["CK_REPOS"] = os.path.join(os.path.abspath(out), "ck-repos")
            os.makedirs(os.environ["CK_REPOS"], exist_ok=True)
        self.repos = os.environ["CK_REPOS"]
        sys.path.insert(0, BENCH_DIR)
        import benchmarking  # noqa: E402  (imports ck.kernel; CK_REPOS must be set first)
        import ck.kernel
        self.bm, self.ck = benchmarking, ck.kernel
        if self.own:
            self.register_repos()
        r = self.ck.access({"action": "load", "module_uoa": "repo", "data_uoa": repo_uoa})
        if r["return"] > 0 and repo_uoa != "local":
            raise RuntimeError("CK repository %s is not registered in CK_REPOS=%s: %s" % (
                repo_uoa, self.repos, r.get("error", "")))

    def access(self, i):
        r = self.ck.access(dict(i, out=""))
        if r["return"] > 0:
            raise RuntimeError("ck %s %s:%s failed: %s" % (i["action"], i["module_uoa"], i.get("data_uoa", ""),
                                                          r.get("error", "")))
        return r

    def register_repos(self):
        ck_env = find_ck_env()
        todo = [("ck-web", None)] if ck_env else []  # ck-env depends on ck-web: a local placeholder
        todo += [("ck-env", ck_env)] if ck_env else []
        todo += [("mchair", REPO)]
        for name, path in todo:
            if self.ck.access({"action": "load", "module_uoa": "repo", "data_uoa": name})["return"] == 0:
                continue
            i = {"action": "add", "module_uoa": "repo", "data_uoa": name, "quiet": "yes"}
            if path:
                i["path"] = path
            self.access(i)
        if not ck_env:
            print("experiment: warning: ck-env not found (../shared/ck-env or MCHAIR_CK_ENV); the entries are "
                  "recorded, but `ck run` on CK_REPOS=%s needs `ck pull repo:ck-env`" % self.repos, file=sys.stderr)

    @staticmethod
    def names(model, n, system="artifact"):
        """The ReQuEST cmd_key and the entry's name (mchair-emu-alexnet-planner-farm-5-nodes for a plan)."""
        what = "single-device-cpu" if n == 1 else "farm-%d-nodes" % n
        return ("benchmark-%s-%s" % (model, what),
                "mchair-emu-%s-%s%s" % (model, "planner-" if system == "planner" else "", what))

    def record(self, run, results):
        """Adds (replaces) the entry of one successful run; returns its path."""
        model, n, system = run["model"], run["devices"], run_system(run)
        cmd_key, uoa = self.names(model, n, system)
        key = self.bm.parse_cmd_key(cmd_key)
        state = results.get("farm") or {}
        addrs = state.get("addresses") or [d["address"] for d in state.get("device", [])] or \
            ["10.77.0.%d" % (k + 1) for k in range(n)]
        if n > 1:
            if system == "planner" and not run.get("farm"):
                raise KeyError("planner run %s has no farm file" % run_name(run))
            ff = run.get("farm") or farmlib.farm_file(model, farmlib.LAYOUTS[(model, n)], addrs[:n])
            layout = ff["tasks"]
            node = ff["node"]
        else:
            ff = {}
            layout = [{"name": "predict", "model": model, "note": "whole model, mchair predict --threads 1"}]
            node = {"predict": [addrs[0]]}
        frames = int(run.get("frames") or 1)
        args = argparse.Namespace(cmd_key=cmd_key, devices=n, device_price=self.bm.RPI_PRICE_USD,
                                  device_busy_power=self.bm.RPI_BUSY_W, device_idle_power=self.bm.RPI_IDLE_W,
                                  price_date=self.bm.RPI_PRICE_DATE)
        meta, tags, features = self.bm.entry_meta(args, key, ff, "", REPO)
        cpu, link = state.get("cpu") or {}, state.get("link") or {}
        emulation = {"tool": "mchair farm (network namespaces, tc tbf links, cgroup v1 cpu/memory)",
                     "preset": state.get("preset", ""), "farm_devices_up": state.get("devices", 0),
                     "cpu_fraction": cpu.get("fraction", 0.0), "cfs_quota_us": cpu.get("cfs_quota_us", 0),
                     "cfs_period_us": cpu.get("cfs_period_us", 0), "link_rate_bps": link.get("rate_bps", 0),
                     "link_burst_bytes": link.get("burst_bytes", 0), "link_latency": link.get("latency", ""),
                     "mem_mb": state.get("mem_mb", 0), "calibration": state.get("calibration") or {},
                     "threads_per_device": 1}
        dmod = state.get("device_model") or {}
        if dmod:  # devices of a device model: compute padded to its time (src/devmodel)
            emulation["device_model"] = dmod.get("name", "")
            emulation["device_model_source"] = dmod.get("source", "")
            if isinstance(run.get("modeled"), dict) and "period_s" in run["modeled"]:
                emulation["modeled_s_per_inference"] = run["modeled"]["period_s"]
        for k in ("load_before", "load_after"):
            if run.get(k):
                emulation["host_" + k] = run[k]
        if system == "planner":
            emulation["plan"] = {k: v for k, v in (ff.get("plan") or {}).items() if k in (
                "n_devices", "devices_used", "predicted_ips", "latency_s", "bottleneck", "max_memory_bytes")}
            emulation["plan"]["inputs"] = {k: v for k, v in ((results.get("plans") or {}).get(model) or {}).items()
                                           if k in ("slowdown", "link", "mem_mb", "commands")}
        host = meta["plat_name"]
        meta.update({
            "model": model,
            "farm": ("emulated farm: %d device%s (%s), %s and %.0f Mbit/s per device%s" % (
                n, "s" if n > 1 else "", "device model %s" % dmod.get("name") if dmod else
                "rpi3 preset" if state.get("preset") == "rpi3" else "mchair farm",
                "compute padded to the device model" if dmod else "%.4f CPU" % emulation["cpu_fraction"],
                emulation["link_rate_bps"] / 1e6, "; Avro over HTTP, mchair" if n > 1 else "")),
            "plat_name": "emulated Raspberry Pi 3 (mchair farm %s) on %s" % (
                "--device-model %s" % dmod.get("source") if dmod else "--preset rpi3", host),
            "platform_species": "embedded",
            "farm_layout": layout,
            "farm_system": {"single": "single device (mchair predict)", "artifact": "the artifact's layout",
                            "planner": "the planner's plan (mchair plan)"}[system],
            "devices": node,
            "emulation": emulation,
            "experiment": {"script": "scripts/emu/experiment.py", "mode": results.get("mode", ""),
                           "started": results.get("started", ""), "frames": frames,
                           "warmup": MODES.get(results.get("mode"), {}).get("warmup", 0)},
        })
        if run.get("load_before"):  # the host's load when the run started, not when it is recorded
            meta["host_load_average"] = [round(x, 2) for x in run["load_before"]]
        features["emulation"] = {k: v for k, v in emulation.items() if k not in ("calibration", "plan")}
        features["emulation"]["host"] = host
        rep = run.get("report")
        if isinstance(rep, dict) and isinstance(rep.get("mean_s"), (int, float)):
            # the CK timer as program:request-iot-benchmark writes it (ck_run.py): the artifact's meaning
            # (seconds per inference over the run; farm: time between results), our figures as mchair_* keys
            sys.path.insert(0, os.path.join(REPO, "program", "request-iot-benchmark"))
            import ck_run  # noqa: E402
            try:
                timer = ck_run.timer_keys(rep, "single" if n == 1 else "farm", "the report of run %s" % run_name(run))
            except ck_run.Fail as e:
                raise RuntimeError(str(e))
        else:
            timer = run.get("timer") or {"execution_time": run["execution_time"],
                                         "execution_time_classify": run["execution_time"]}
        measured_s = run.get("wall_s") or frames * run["execution_time"]
        characteristics = {"run": {
            "execution_time": timer["execution_time"],
            "execution_time_classify": timer.get("execution_time_classify", timer["execution_time"]),
            "total_execution_time": measured_s, "execution_time_with_module": run.get("run_s") or measured_s,
            "repeat": frames, "return_code": 0, "run_success": "yes", "run_success_bool": True}}
        characteristics["run"].update({k: v for k, v in timer.items() if k.startswith("mchair_")})
        choices = {"cmd_key": cmd_key, "data_uoa": "request-iot-benchmark", "module_uoa": "program",
                   "repeat": frames, "target": "emulated-farm-%d" % n, "cpu_freq": "max",
                   "env": {"STAT_REPEAT": frames, "OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
                   "device_cfg": {"access_type": "avro" if n > 1 else "host",
                                  "remote_params": {"avro_config": {"node": node}}}}
        pipeline = {"emulated": "yes", "script": "scripts/emu/experiment.py run --mode %s" % results.get("mode", ""),
                    "commands": run.get("commands") or [run.get("command", "")], "farm_file": ff}
        r = self.ck.access({"action": "load", "module_uoa": "experiment", "data_uoa": uoa,
                            "repo_uoa": self.repo_uoa})
        if r["return"] == 0:  # a re-run replaces the entry of the same run
            self.access({"action": "rm", "module_uoa": "experiment", "data_uoa": uoa, "repo_uoa": self.repo_uoa,
                         "force": "yes"})
        self.access({"action": "add", "module_uoa": "experiment", "experiment_uoa": uoa,
                     "experiment_repo_uoa": self.repo_uoa, "sort_keys": "yes",
                     "dict": {"meta": meta, "tags": tags + ["emulated-farm", "mchair-emu"] + (["planner"] if system == "planner" else []), "features": features,
                              "choices": choices, "characteristics": characteristics, "pipeline": pipeline}})
        path = self.access({"action": "load", "module_uoa": "experiment", "data_uoa": uoa,
                            "repo_uoa": self.repo_uoa})["path"]
        r = self.bm.add_derived(path, meta, key, frames)
        if r["return"] > 0:
            raise RuntimeError("adding the ReQuEST characteristics to %s failed: %s" % (path, r.get("error", "")))
        return path


def record_all(recorder, results):
    """Records every successful run; returns {"repos", "repo_uoa", "entries", "errors"}."""
    info = {"repos": recorder.repos, "repo_uoa": recorder.repo_uoa, "own_repos": recorder.own,
            "entries": {}, "errors": {}}
    for run in results.get("runs", []):
        if not run.get("ok"):
            continue
        name = run_name(run)
        try:
            info["entries"][name] = recorder.record(run, results)
        except (RuntimeError, KeyError, ValueError) as e:
            info["errors"][name] = str(e)
    return info


def run_detail(run):
    """What the initial's report adds: mean end-to-end latency and per-task means."""
    rep = run.get("report") or {}
    tasks = rep.get("task_mean_s")
    if not run.get("ok") or not isinstance(tasks, dict):
        return ""
    return " (initial: mean end-to-end latency %s s; task means %s)" % (
        "%.3f" % rep["mean_s"] if isinstance(rep.get("mean_s"), (int, float)) else "?",
        ", ".join("%s %.3f s" % (k, v) for k, v in tasks.items() if isinstance(v, (int, float))))


def cmd_run(args):
    mode = MODES[args.mode]
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    t_start = time.time()
    farm = farmlib.Farm(args.mchair, args.name)
    results = {"mode": args.mode, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
               "emulation": {"mode": args.emulation,
                             "device_model": args.device_model if args.emulation == "model" else None},
               "host": {"cpus": os.cpu_count(), "load_at_start": loadavg()}}
    recorder = CKRecorder(out, args.ck_repo)  # before the farm: a CK problem stops us here
    ck_info = {"repos": recorder.repos, "repo_uoa": recorder.repo_uoa, "own_repos": recorder.own,
               "entries": {}, "errors": {}}
    results["ck"] = ck_info
    have_runtime = farmlib.mchair_has(args.mchair, "node") and farmlib.mchair_has(args.mchair, "initial")
    try:
        if args.emulation == "model":
            farm.up(max(n for _, n, _ in CONFIGS), device_model=args.device_model)
        else:
            farm.up(max(n for _, n, _ in CONFIGS), preset="rpi3", calib_repeat=mode["calib_repeat"])
        print(farm.output, end="", flush=True)
        results["farm"] = farm.state
        plans = results["plans"] = {}
        waited_total = 0.0
        for model, n, system in RUN_ORDER:
            run = {"model": model, "devices": n, "system": system}
            if args.wait_load:
                la, waited = wait_for_load(args.wait_load, args.wait_load_s)
                waited_total += waited  # waiting for a quiet machine does not count against the budget
                if waited >= 1:
                    print("waited %.0f s for the load average to fall below %g: %s" % (waited, args.wait_load, la),
                          flush=True)
            run["load_before"] = loadavg()
            elapsed = time.time() - t_start
            deadline = t_start + waited_total + mode["deadline_s"]
            if elapsed - waited_total > mode["budget_s"]:
                run.update(ok=False, error="not started: %s mode budget of %d s used (%.0f s)" % (
                    args.mode, mode["budget_s"], elapsed))
            elif system == "single":
                run.update(run_single(farm, args, mode, out, deadline))
            elif not have_runtime:
                run.update(ok=False, error="this mchair has no `node`/`initial` command (farm-contract.md)")
            elif system == "planner":
                if model not in plans:
                    most = max(k for m, k, s in CONFIGS if m == model and s == "planner") - 1
                    try:
                        plans[model] = make_plans(args, mode, out, model, most, farm.state, deadline)
                        pl = plans[model]
                        if pl.get("slowdown"):
                            print("planner, %s: profile (host, 1 thread) %.1f s, sum of layers %.4f s x slowdown "
                                  "%.2f = %.3f s; link %s s/kB,s; %d MiB\n%s" % (
                                      model, pl["profile_s"], pl["profile_sum_s"], pl["slowdown"],
                                      pl["scaled_sum_s"], pl["link"], PLAN_MEM_MB, pl["table"]), flush=True)
                        else:
                            print("planner, %s: modeled profile (%s), sum of layers %.3f s; link %s; %d MiB per "
                                  "device\n%s" % (model, pl["device_model"], pl["profile_sum_s"], pl["link"],
                                                  pl["mem_mb"], pl["table"]), flush=True)
                    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as e:
                        plans[model] = {"error": str(e)}
                run.update(run_planner(farm, args, mode, out, model, n, deadline, plans))
            else:
                run.update(run_farm(farm, args, mode, out, model, n, deadline))
            run["elapsed_s"] = time.time() - t_start
            run["run_s"] = run["elapsed_s"] - elapsed
            run["load_after"] = loadavg()
            if args.emulation == "model" and (run.get("ok") or n == 1):
                try:
                    run["modeled"] = modeled(args, model, run.get("farm") or {}, n)
                    run["task_over_model"] = task_over_model(run)
                except (RuntimeError, ValueError, KeyError) as e:
                    run["modeled"] = {"error": str(e)}
            results["runs"].append(run)
            print("%-8s %2d devices%s: %s%s" % (model, n, " (planner)" if system == "planner" else "",
                                                "%.3f s per inference" % run["execution_time"]
                                                if run.get("ok") else "FAILED: " + run["error"], run_detail(run)),
                  flush=True)
            if run.get("ok") and run.get("farm"):
                print("  tasks: %s" % tasks_desc(run["farm"]), flush=True)
            if run.get("task_over_model"):
                print("  measured / modeled per task: %s; load %s -> %s" % (
                    ", ".join("%s %.3f" % kv for kv in run["task_over_model"].items()),
                    run.get("load_before"), run.get("load_after")), flush=True)
            if run.get("ok"):
                name = run_name(run)
                try:
                    ck_info["entries"][name] = recorder.record(run, results)
                    print("  CK experiment: %s" % ck_info["entries"][name], flush=True)
                except (RuntimeError, KeyError, ValueError) as e:
                    ck_info["errors"][name] = str(e)
                    print("  CK experiment NOT recorded: %s" % e, flush=True)
            with open(os.path.join(out, "results.json"), "w") as f:
                json.dump(results, f, indent=1)
    finally:
        farm.down()
    results["runs"].sort(key=lambda r: CONFIGS.index((r["model"], r["devices"], run_system(r))))
    results["total_s"] = time.time() - t_start
    results["host"]["load_at_end"] = loadavg()
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    summary, table = plot(results, load_reference(find_reference_dir()), args.figures or out)
    print(table)
    print("results: %s; figures: %s; %.0f s in all" % (os.path.join(out, "results.json"), args.figures or out,
                                                       results["total_s"]))
    print_ck(ck_info)
    return 0 if all(r.get("ok") for r in results["runs"]) and not ck_info["errors"] else 1


def print_ck(info):
    print("CK experiment entries (CK_REPOS=%s%s, repository %s): %d recorded%s" % (
        info["repos"], ", made here: CK_REPOS was not set" if info["own_repos"] else "", info["repo_uoa"],
        len(info["entries"]), ", %d failed" % len(info["errors"]) if info["errors"] else ""))
    for name, path in sorted(info["entries"].items()):
        print("  %s: %s" % (name, path))
    for name, err in sorted(info["errors"].items()):
        print("  %s: FAILED: %s" % (name, err))
    if info["entries"]:
        print("pack them: CK_REPOS=%s ck zip %s:experiment:*" % (info["repos"], info["repo_uoa"]))


def cmd_record(args):
    with open(args.results) as f:
        results = json.load(f)
    out = args.out or os.path.dirname(os.path.abspath(args.results))
    try:
        info = record_all(CKRecorder(out, args.ck_repo), results)
    except RuntimeError as e:
        print("experiment: %s" % e, file=sys.stderr)
        return 1
    print_ck(info)
    return 0 if info["entries"] and not info["errors"] else 1


def cmd_plot(args):
    with open(args.results) as f:
        results = json.load(f)
    ref_dir = args.reference or find_reference_dir()
    reference = load_reference(ref_dir)
    if not reference:
        print("warning: no ReQuEST records found (set --reference or MCHAIR_REQUEST_RESULTS)", file=sys.stderr)
    outdir = args.figures or os.path.dirname(os.path.abspath(args.results))
    summary, table = plot(results, reference, outdir)
    print(table)
    print("figures: %s" % ", ".join(os.path.join(outdir, f) for f in summary["figures"]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--mchair", default=os.path.join(REPO, "build", "mchair"))
    r.add_argument("--mode", choices=sorted(MODES), default="quick")
    r.add_argument("--out", default=os.path.join(REPO, "build", "emu-results"))
    r.add_argument("--figures", help="where the figures go (default: --out)")
    r.add_argument("--name", default="exp", help="farm name (default exp)")
    r.add_argument("--ck-repo", default="local", help="CK repository of the experiment entries (default local)")
    r.add_argument("--emulation", choices=("model", "quota"), default="model",
                   help="model: devices of --device-model, compute padded to its time (default); quota: the rpi3 "
                        "preset's calibrated CPU quota")
    r.add_argument("--device-model", default="rpi3", help="device model (built-in name or preset file; default rpi3)")
    r.add_argument("--wait-load", type=float, default=0,
                   help="before each run wait until the 1-minute load average is below this (0: do not wait)")
    r.add_argument("--wait-load-s", type=float, default=300, help="... for at most this long (default 300 s)")
    c = sub.add_parser("record", help="record the successful runs of a results file as CK experiment entries")
    c.add_argument("--results", required=True)
    c.add_argument("--ck-repo", default="local", help="CK repository of the entries (default local)")
    c.add_argument("--out", help="where CK_REPOS is made when it is not set (default: the results' folder)")
    p = sub.add_parser("plot")
    p.add_argument("--results", required=True)
    p.add_argument("--figures")
    p.add_argument("--reference", help="ReQuEST records folder (default ../shared/request-results)")
    args = ap.parse_args()
    # SIGTERM ends a run like ^C: the finally clauses stop the processes and bring the farm down
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    if args.cmd == "run":
        args.mchair = os.path.abspath(args.mchair)
        return cmd_run(args)
    if args.cmd == "record":
        return cmd_record(args)
    return cmd_plot(args)


if __name__ == "__main__":
    sys.exit(main())
