#!/usr/bin/env python3
"""calibrate.py - the device model (src/devmodel/rpi3.json) against what the papers measured on Pis.

    calibrate.py [--mchair build/mchair] [--preset src/devmodel/rpi3.json] [--out docs/emu] [--update]

1. Fit: the preset's "calibration.fit" anchors (measured times of layer ranges on one Pi) fix its
   free rates.  Anchors without "op" fix compute_gflops.default and the memory bandwidth (t = sum
   of flops / rate + bytes / bandwidth is linear in 1/rate and 1/bandwidth: two anchors, a 2x2
   solve; more, least squares; no measurement separates the bandwidth of weights from that of
   activations and patches, so weights_mb_s and tensors_mb_s get the same value), and, when an
   anchor is a farm task's time per frame with its "messages" (bytes and count), also
   messages.mb_s (t gains message bytes / rate + count x link.message_s); an anchor with
   "op" then fixes that op's rate.  The script
   compares the fit with the preset's numbers and, with --update, writes the fitted ones into it.
2. Checks: every other number the papers give for a Pi (per layer where the text gives one:
   C3D conv2's 18 s, the fc layers' minutes of swap, the Musical Chair dense layers, which layers
   are the heaviest) against the model, with the error of each.
3. The artifact's layouts: each task's modeled time (its layers as one process, a split task's
   part), the pipeline's period (the slowest task per replica, or a link), against the ReQuEST
   records and the artifact paper's figures.

Modeled times come from `mchair devmodel --json -` (src/cli/cmd_devmodel.c), so this script and the
nodes use one implementation of the model.  Writes OUT/calibration.md and OUT/calibration.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import farmlib  # noqa: E402

FRAME_BYTES = 224 * 224 * 3  # the artifact's uint8 frames


class Modeler:
    def __init__(self, mchair, preset):
        self.mchair, self.preset = mchair, preset
        self.cache = {}

    def query(self, model, frm=None, to=None, split=None):
        key = (model, frm, to, split)
        if key not in self.cache:
            cmd = [self.mchair, "devmodel", "--device-model", self.preset, "--model", model, "--json", "-"]
            if frm:
                cmd += ["--from", frm]
            if to:
                cmd += ["--to", to]
            if split:
                cmd += ["--split", split]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
            self.cache[key] = json.loads(r.stdout)
        return self.cache[key]

    def seconds(self, model, frm=None, to=None, split=None):
        return self.query(model, frm, to, split)["total"]["total_s"]


# ---- 1. fit ---------------------------------------------------------------------------------------
def fit(m, preset):
    anchors = preset["calibration"]["fit"]
    rows = []
    for a in anchors:
        q = m.query(a["model"], a["from"], a["to"])
        op = a.get("op")
        f_op = sum(l["flops"] for l in q["layers"] if op and l["op"] == op)
        f_rest = sum(l["flops"] for l in q["layers"] if not (op and l["op"] == op))
        b = sum(l["weight_bytes"] + l["tensor_bytes"] for l in q["layers"])
        swap = q["total"]["swap_s"]
        msg = a.get("messages", {})
        fixed = swap + msg.get("count", 0) * preset_value(preset, "link.message_s")
        rows.append(dict(a, f_op=f_op, f_rest=f_rest, bytes=b, swap=swap, msg_bytes=msg.get("bytes", 0), fixed=fixed))
    base = [r for r in rows if not r.get("op")]
    with_msgs = any(r["msg_bytes"] > 0 for r in base)
    unknowns = 3 if with_msgs else 2
    if len(base) < unknowns:
        raise ValueError("calibration.fit needs at least %d anchors without \"op\" (rate, bandwidth%s)" % (
            unknowns, ", messages rate" if with_msgs else ""))
    # least squares on x = 1/rate, y = 1/bandwidth (z = 1/messages rate): f x + b y (+ m z) = t - fixed
    A = np.array([[r["f_rest"], r["bytes"]] + ([r["msg_bytes"]] if with_msgs else []) for r in base], float)
    t = np.array([r["seconds"] - r["fixed"] for r in base], float)
    if np.linalg.matrix_rank(A) < unknowns:
        raise ValueError("calibration.fit: the anchors do not separate compute from memory%s" % (
            " and messages" if with_msgs else ""))
    sol = np.linalg.lstsq(A, t, rcond=None)[0]
    x, y = sol[0], sol[1]
    z = sol[2] if with_msgs else 0.0
    if x <= 0 or y <= 0 or (with_msgs and z <= 0):
        raise ValueError("calibration.fit: no positive rates fit the anchors (1/rate %g, 1/bw %g, 1/messages %g)"
                         % (x, y, z))
    out = {"compute_gflops.default": 1 / x / 1e9, "weights_mb_s": 1 / y / 1e6, "tensors_mb_s": 1 / y / 1e6}
    if with_msgs:
        out["messages.mb_s"] = 1 / z / 1e6
    for r in rows:
        if r.get("op"):
            left = r["seconds"] - r["fixed"] - r["f_rest"] * x - r["bytes"] * y - r["msg_bytes"] * z
            if left <= 0 or r["f_op"] <= 0:
                raise ValueError("calibration.fit: anchor %s leaves no time for its %s layers" % (r["what"], r["op"]))
            out["compute_gflops.%s" % r["op"]] = r["f_op"] / left / 1e9
    return out, rows


def preset_value(preset, dotted):
    node = preset
    for k in dotted.split("."):
        node = node[k]
    return node["value"] if isinstance(node, dict) else node


def set_preset_value(preset, dotted, v):
    node = preset
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[k]
    if isinstance(node[keys[-1]], dict):
        node[keys[-1]]["value"] = v
    else:
        node[keys[-1]] = v


# ---- 2. checks ------------------------------------------------------------------------------------
def tmp_model(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".model", delete=False)
    f.write(text)
    f.close()
    return f.name


def dense_model(name, units):
    return "model %s\ninput 1 1 7680\n%s" % (name, "".join(
        "dense d%d units=%d act=%s\n" % (i + 1, u, "softmax" if i == len(units) - 1 else "relu")
        for i, u in enumerate(units)))


def checks(m, preset):
    """Rows: what, modeled, paper, error (relative, for values) or verdict, source."""
    rows = []

    def value(what, modeled, paper, source, layer=""):
        rows.append({"what": what, "layer": layer, "modeled_s": modeled, "paper_s": paper,
                     "error": modeled / paper - 1, "kind": "value", "source": source})

    def verdict(what, modeled, paper_text, ok, source, layer="", modeled_text=None):
        rows.append({"what": what, "layer": layer, "modeled_s": modeled, "modeled_text": modeled_text,
                     "paper_text": paper_text, "ok": ok, "kind": "check", "source": source})

    value("AlexNet, whole model on one Pi (fit)", m.seconds("alexnet"), 0.5255, "request-alexnet-rpi",
          "conv1..fc3")
    # the farm anchors: a task's compute and its messages (preset "calibration.fit")
    for a in preset["calibration"]["fit"]:
        if "messages" in a:
            t = m.seconds(a["model"], a["from"], a["to"]) + messages_s(preset, a["messages"]["bytes"],
                                                                       a["messages"]["count"])
            value("%s (fit)" % a["what"], t, a["seconds"], a["source"], "%s..%s" % (a["from"], a["to"]))
    value("C3D conv2 on one Pi (fit)", m.seconds("c3d", "conv2", "conv2"), 18.0, "journal-c3d-conv2", "conv2")
    # fc layers in minutes (journal Fig. 13: measured during an inference of the whole model on one Pi)
    for model, fc in (("vgg16", "fc1"), ("vgg16", "fc2"), ("c3d", "fc6"), ("c3d", "fc7")):
        q = m.query(model)
        t = next(l for l in q["layers"] if l["name"] == fc)["total_s"]
        verdict("%s %s during a whole-model inference on one Pi: 'in order of minutes'" % (model.upper(), fc), t,
                "minutes (60-600 s)", 60 <= t <= 600, "journal-fc-minutes", fc)
    # VGG16: every layer but fc1 fits a Pi on its own (journal Fig. 17 text)
    vq = m.query("vgg16")
    over = []
    for l in vq["layers"]:
        if m.query("vgg16", l["name"], l["name"])["paged_mb_per_inference"] > 0:
            over.append(l["name"])
    verdict("VGG16: 'except for the first fc layer, we are able to run all other layers on a single RPi'", None,
            "only fc1 does not fit", over == ["fc1"], "journal-fig17-text", "each layer alone",
            modeled_text="layers that page alone: %s" % (", ".join(over) or "none"))
    verdict("VGG16 fc1 alone on one Pi", m.seconds("vgg16", "fc1", "fc1"), "does not fit (swaps)",
            m.query("vgg16", "fc1", "fc1")["paged_mb_per_inference"] > 0, "journal-fig17-text", "fc1")
    # VGG16: the second conv bounds the simple pipeline (one layer per device)
    convs = sorted(((l["total_s"], l["name"]) for l in vq["layers"] if l["op"] == "conv2d"), reverse=True)
    rank = [n for _, n in convs].index("block1_conv2") + 1
    verdict("VGG16: 'some layers have extremely long latencies ... (e.g., second conv)'",
            dict((n, t) for t, n in convs)["block1_conv2"], "block1_conv2 among the slowest layers", rank <= 3,
            "journal-fig17-text", "block1_conv2", modeled_text="rank %d of %d convolutions (slowest: %s %.2f s)" % (
                rank, len(convs), convs[0][1], convs[0][0]))
    # C3D: conv2 is the heaviest conv (journal: 'the second (heaviest) conv')
    cq = m.query("c3d")
    c3 = sorted(((l["total_s"], l["name"]) for l in cq["layers"] if l["op"] == "conv3d"), reverse=True)
    verdict("C3D: 'the second (heaviest) conv'", c3[0][0], "conv2 is the slowest conv", c3[0][1] == "conv2",
            "journal-c3d-conv2", c3[0][1], modeled_text="slowest conv: %s %.2f s" % (c3[0][1], c3[0][0]))
    # Xception: some convolutions outweigh the fc layer (journal Fig. 20 text)
    xq = m.query("xception")
    xc = max((l["total_s"], l["name"]) for l in xq["layers"] if l["op"] in ("conv2d", "sepconv2d"))
    xf = max((l["total_s"], l["name"]) for l in xq["layers"] if l["op"] == "dense")
    verdict("Xception: 'some conv are more compute intensive and resource hungry' than the fc layer", xc[0],
            "slowest conv > the fc layer", xc[0] > xf[0], "journal-fig20-text", xc[1],
            modeled_text="%s %.3f s vs %s %.3f s" % (xc[1], xc[0], xf[1], xf[0]))
    # Musical Chair dense layers (input 7680)
    half = tmp_model(dense_model("mc_dense_half", [4096, 4096, 51]))
    full = tmp_model(dense_model("mc_dense_full", [8192, 8192, 51]))
    try:
        t = m.seconds(half)
        verdict("Musical Chair: half-size dense layers 7680-4096-4096-51, 'more than 0.7 seconds'", t, "> 0.7 s",
                t > 0.7, "mc-dense-half", "d1..d3", modeled_text="%.3f s (%+.0f%% from 0.7 s)" % (t, 100 * (t / 0.7 - 1)))
        fq = m.query(full)
        verdict("Musical Chair: dense 7680-8192-8192-51 uses 'larger than 1 GB'", None, "> 1024 MiB",
                fq["footprint_mb"] > 1024, "mc-dense-1gb", "d1..d3",
                modeled_text="footprint %.0f MiB" % fq["footprint_mb"])
        first = None
        for units in range(8192, 14337, 512):
            p = tmp_model(dense_model("mc_fc_%d" % units, [units]))
            try:
                if m.query(p)["paged_mb_per_inference"] > 0:
                    first = units
                    break
            finally:
                os.unlink(p)
        verdict("Musical Chair: fc 7680 x N 'larger than 10,240 ... starts using the memory swap space'", None,
                "N > 10240", first is not None and 10240 < first <= 10240 + 512, "mc-fc-swap", "fc",
                modeled_text="pages from N = %s (steps of 512)" % first)
    finally:
        os.unlink(half)
        os.unlink(full)
    return rows


# ---- 3. the artifact's layouts ------------------------------------------------------------------------
def task_messages(m, model, tasks, i, q):
    """Bytes and count of task i's messages per frame, as a node pads them (src/farm/node_compute.c
    frame_messages_s): in, the uint8 frame (first task) or float32, one per part of a split
    predecessor; out, one per part of a split successor (each part's input: the whole tensor for
    the artifact's fc_output splits), else one."""
    name, first, last, method, parts, replicas = tasks[i]
    b = (1 if i == 0 else 4) * q["input_floats"]
    c = tasks[i - 1][4] if i > 0 and tasks[i - 1][3] != "data" else 1
    if i + 1 < len(tasks) and tasks[i + 1][3] != "data":
        nxt = tasks[i + 1]
        nq = m.query(model, nxt[1], nxt[2], "%s/%d" % (nxt[3], nxt[4]))
        b += nxt[4] * 4 * nq["input_floats"]
        c += nxt[4]
    else:
        b += 4 * q["output_floats"]
        c += 1
    return b, c


def messages_s(preset, nbytes, count):
    rate = preset_value(preset, "messages.mb_s") if "messages" in preset else 0
    if not rate:
        return 0.0
    return nbytes / (rate * 1e6) + count * preset_value(preset, "link.message_s")


def layouts(m, preset, paper):
    link_bps = preset_value(preset, "link.mbit_s") * 1e6
    out = []
    for (model, n), tasks in sorted(farmlib.LAYOUTS.items()) + [(("alexnet", 1), None)]:
        rows = []
        if tasks is None:
            t = m.seconds(model)
            rows.append({"task": "whole model", "replicas": 1, "seconds": t, "per_frame": t})
            period = t
        else:
            period = FRAME_BYTES * 8 / link_bps  # initial -> first task
            for i, (name, first, last, method, parts, replicas) in enumerate(tasks):
                split = "%s/%d" % (method, parts) if method != "data" else None
                q = m.query(model, first, last, split)
                mb, mc = task_messages(m, model, tasks, i, q)
                t = q["total"]["total_s"] + messages_s(preset, mb, mc)
                rows.append({"task": name, "layers": "%s..%s" % (first, last), "split": split,
                             "replicas": replicas, "seconds": t, "message_bytes": mb, "messages": mc,
                             "per_frame": t / replicas})
                period = max(period, t / replicas)
        p = paper["layouts"].get("%s-%d" % (model, n), {})
        out.append({"model": model, "devices": n, "tasks": rows, "period_s": period,
                    "request_s": p.get("request"), "figure_s": p.get("figure")})
    return out


# ---- report ----------------------------------------------------------------------------------------
def pct(x):
    return "%+.0f%%" % (100 * x)


def markdown(preset_path, preset, fitted, fit_rows, check_rows, layout_rows, per_layer):
    L = ["# Calibration of the device model `%s`" % preset["name"], "",
         "Written by `scripts/emu/calibrate.py` from `%s` (modeled times: `mchair devmodel`)." %
         os.path.relpath(preset_path, REPO), "",
         "## Fitted parameters", "",
         "| parameter | fitted | in the preset | anchors |", "| --- | --- | --- | --- |"]
    for k, v in fitted.items():
        L.append("| %s | %.4g | %.4g | %s |" % (k, v, preset_value(preset, k), "; ".join(
            "%s = %g s" % (r["what"], r["seconds"]) for r in fit_rows
            if (k.endswith("." + r["op"]) if r.get("op") else not k.startswith("compute_gflops.") or
                k.endswith(".default")))))
    L += ["", "## The model against the papers' measured values", "",
          "Values: error = model / paper - 1.  Checks: statements of the papers' text (their figures' bars are not",
          "in the text), pass or fail.  The rows marked (fit) are the fit's anchors.", "",
          "| what | layer(s) | model | paper | error / verdict | source |", "| --- | --- | --- | --- | --- | --- |"]
    for r in check_rows:
        if r["kind"] == "value":
            L.append("| %s | %s | %.3f s | %.3f s | %s | %s |" % (r["what"], r["layer"], r["modeled_s"], r["paper_s"],
                                                                 pct(r["error"]), r["source"]))
        else:
            mod = r.get("modeled_text") or ("%.3f s" % r["modeled_s"] if r["modeled_s"] is not None else "")
            L.append("| %s | %s | %s | %s | %s | %s |" % (r["what"], r["layer"], mod, r["paper_text"],
                                                         "pass" if r["ok"] else "**fail**", r["source"]))
    L += ["", "## The artifact's layouts as the model predicts them", "",
          "Per task: its layers as one process on one emulated Pi (a split task: the part a device holds);",
          "the period is the slowest task per replica (or the initial's 150 kB frame on the link).",
          "Paper: the ReQuEST record, and the artifact paper's figure (Fig. 5a/6a bar heights).", "",
          "| layout | tasks: modeled s per frame (replicas) | predicted s per inference | ReQuEST record | model / record |"
          " artifact figure | model / figure |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in layout_rows:
        tasks = ", ".join("%s %.3f%s" % (t["task"], t["seconds"], " (x%d)" % t["replicas"] if t["replicas"] > 1 else "")
                          for t in r["tasks"])
        rq, fg = r["request_s"], r["figure_s"]
        L.append("| %s %d | %s | %.3f | %s | %s | %s | %s |" % (
            r["model"], r["devices"], tasks, r["period_s"], "%.3f" % rq if rq else "n/a",
            "%.2f" % (r["period_s"] / rq) if rq else "", "%.3f" % fg if fg else "n/a",
            "%.2f" % (r["period_s"] / fg) if fg else ""))
    xq = [q for name, q in per_layer if name == "xception"]
    if xq:
        blocks = {}
        for l in xq[0]["layers"]:
            b = l["name"].split("_")[0] if l["name"].startswith("block") else l["name"]
            blocks[b] = blocks.get(b, 0) + l["total_s"]
        order = sorted(blocks, key=lambda b: int(b[5:]) if b[5:].isdigit() else 99)
        mid = sum(blocks.get("block%d" % k, 0) for k in range(5, 13))
        L += ["", "## Xception by block (journal Fig. 21)", "",
              "The journal measured Xception's latency per block on a Pi and says 'block C has the longest latency';",
              "its block letters are defined in its Fig. 6, which is not in the text.  The model per Keras block",
              "(entry flow 1-4, middle flow 5-12, exit flow 13-14), whole model %.2f s on one Pi:" %
              xq[0]["total"]["total_s"], "",
              "| block | model s |", "| --- | --- |"]
        L += ["| %s | %.3f |" % (b, blocks[b]) for b in order]
        L += ["| middle flow (blocks 5-12 together) | %.3f |" % mid]
    L += ["", "## Per layer", "",
          "The model's time of every layer of AlexNet, VGG16 and C3D run as the whole model on one Pi (swap of that",
          "process spread over the layers by weight).  The papers' per-layer figures (journal Figs. 13, 17, 18(a), 20)",
          "are bar charts whose values are not in the text; where the text gives a number it is in the table above.", ""]
    for model, q in per_layer:
        if model == "xception":
            continue  # by block above
        L += ["### %s (%.3f s per inference, footprint %.0f MiB, %.0f MB paged per inference)" % (
            model, q["total"]["total_s"], q["footprint_mb"], q["paged_mb_per_inference"]), "",
              "| layer | op | GFLOP | MB moved | compute s | memory s | swap s | total s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for l in q["layers"]:
            if l["total_s"] <= 0:
                continue
            L.append("| %s | %s | %.3f | %.1f | %.4f | %.4f | %.3f | %.4f |" % (
                l["name"], l["op"], l["flops"] / 1e9, (l["weight_bytes"] + l["tensor_bytes"]) / 1e6, l["compute_s"], l["memory_s"], l["swap_s"],
                l["total_s"]))
        L.append("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mchair", default=os.path.join(REPO, "build", "mchair"))
    ap.add_argument("--preset", default=os.path.join(REPO, "src", "devmodel", "rpi3.json"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "emu"))
    ap.add_argument("--update", action="store_true", help="write the fitted numbers into the preset file")
    ap.add_argument("--tolerance", type=float, default=0.01,
                    help="largest relative difference of preset and fit accepted (default 0.01)")
    args = ap.parse_args()
    with open(args.preset) as f:
        preset = json.load(f)
    with open(os.path.join(HERE, "paper.json")) as f:
        paper = json.load(f)
    m = Modeler(os.path.abspath(args.mchair), os.path.abspath(args.preset))
    fitted, fit_rows = fit(m, preset)
    off = {k: v / preset_value(preset, k) - 1 for k, v in fitted.items()}
    if args.update and any(abs(x) > 1e-4 for x in off.values()):
        for k, v in fitted.items():
            set_preset_value(preset, k, float("%.4g" % v))
        with open(args.preset, "w") as f:
            json.dump(preset, f, indent=2)
            f.write("\n")
        print("calibrate: wrote the fitted numbers into %s (rebuild mchair: presets are compiled in)" % args.preset)
        m = Modeler(os.path.abspath(args.mchair), os.path.abspath(args.preset))
        off = {k: 0.0 for k in fitted}
    check_rows = checks(m, preset)
    layout_rows = layouts(m, preset, paper)
    per_layer = [(name, m.query(name)) for name in ("alexnet", "vgg16", "c3d", "xception")]
    os.makedirs(args.out, exist_ok=True)
    md = markdown(args.preset, preset, fitted, fit_rows, check_rows, layout_rows, per_layer)
    with open(os.path.join(args.out, "calibration.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "calibration.json"), "w") as f:
        json.dump({"preset": os.path.relpath(args.preset, REPO), "fitted": fitted, "preset_off": off,
                   "fit": fit_rows, "checks": check_rows, "layouts": layout_rows}, f, indent=1)
    print(md.split("## Per layer")[0])
    bad = {k: x for k, x in off.items() if abs(x) > args.tolerance}
    if bad:
        print("calibrate: the preset differs from the fit: %s (run with --update)" % ", ".join(
            "%s %+.1f%%" % (k, 100 * x) for k, x in bad.items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
