#!/usr/bin/env python3
"""farm_mem_test.py - memory and backpressure of farm nodes (registered in ctest).

  bound MODEL DEVICES   the built-in preset on loopback, a few frames: at the end
                        every node's peak RSS (VmHWM, /proc/PID/status) is at most
                        its task's weights (4 bytes x the parameters of its layer
                        range, or of its rows of an fc_output layer) + 64 MiB
  soak                  a tiny model (file) on a farm with an fc_output split:
                        10,000 frames; every node's VmRSS after 10,000 frames is
                        within 1 MiB of its VmRSS after 2,000 frames
  graph MODEL           resnet50, xception or c3d on the farm `mchair plan` writes
                        for farm_test.py graph (farmlib.GRAPH_CASES: split tasks
                        inside residual blocks), a few frames: every node's peak
                        RSS is at most its weights (every parameter of its layer
                        range and of the batchnorms folded into them, or its
                        part's share of a split layer) + 64 MiB
  backpressure          a slow last task fed at a high --rate: initial finishes,
                        every frame is done or dropped (none lost), frames were
                        dropped, and no node passes its memory bound
  overload              AlexNet farm-5: its capacity measured in closed loop,
                        then frames sent at twice that rate for a while: every
                        frame is done or dropped (dropped ones counted, none
                        lost), no node passes weights + 64 MiB at any time
                        (VmHWM); then a closed-loop phase completes every frame
                        with none dropped (the farm recovered)
  soak --key            the soak with a farm key and encrypted bodies (the
                        auth and crypto paths of every request)

Weights are computed here from the model text (the built-in models' text is
read from src/models/zoo.c, the same text the binary is built from), not
from anything the nodes print.  Every process started here is stopped at
exit, also on failure (farmlib).
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import farmlib  # noqa: E402
import onnx_model  # noqa: E402  (the independent parser of the model text)

MIB = 1 << 20
SLACK = 64 * MIB
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


# ---------------------------------------------------------------- models and weights

def builtin_text(name):
    """The text of a built-in model, from the C string in src/models/zoo.c."""
    src = open(os.path.join(HERE, "..", "..", "src", "models", "zoo.c")).read()
    m = re.search(r"static const char %s_text\[\] =(.*?);" % name, src, re.S)
    if not m:
        raise RuntimeError("zoo.c has no model %s" % name)
    return "".join(bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def out_dim(n, k, s, padding):
    return -(-n // s) if padding == "same" else (n - k) // s + 1


def layers_of(text):
    """[(name, kind, params, units, inputs)] of a model text; `inputs` is the
    flattened input count (for dense layers)."""
    shape, out = None, []
    for line in text.splitlines():
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        if line[0] == "input":
            shape = [int(v) for v in line[1:4]]
            continue
        if line[0] == "model":
            continue
        kind, name = line[0], line[1]
        kv = dict(t.split("=", 1) for t in line[2:])
        h, w, c = shape
        params, units, inputs = 0, 0, h * w * c
        if kind == "conv2d":
            k, s, f = int(kv["kernel"]), int(kv.get("stride", 1)), int(kv["filters"])
            params = k * k * c * f + f
            shape = [out_dim(h, k, s, kv.get("padding", "valid")), out_dim(w, k, s, kv.get("padding", "valid")), f]
        elif kind == "maxpool2d":
            p = int(kv.get("pool", 2))
            s = int(kv.get("stride", p))
            shape = [out_dim(h, p, s, kv.get("padding", "valid")), out_dim(w, p, s, kv.get("padding", "valid")), c]
        elif kind == "dense":
            units = int(kv["units"])
            params = inputs * units + units
            shape = [1, 1, units]
        elif kind == "flatten":
            shape = [1, 1, h * w * c]
        out.append((name, kind, params, units, inputs))
    return out


def task_weights(layers, first, last, parts=1, part=0):
    """Bytes of weights of layers first..last (inclusive), or of part `part`
    of `parts` of the rows of a single dense layer (rows [U*k/P, U*(k+1)/P))."""
    names = [l[0] for l in layers]
    i0, i1 = names.index(first), names.index(last)
    if parts > 1:
        _, _, _, units, inputs = layers[i0]
        rows = units * (part + 1) // parts - units * part // parts
        return 4 * (rows * inputs + rows)
    return 4 * sum(l[2] for l in layers[i0:i1 + 1])


# layer ranges and parts of the built-in presets (docs/farm.md)
RANGES = {
    "alexnet": {"block1": ("conv1", "flatten", 1), "block2": ("fc1", "fc1", 2), "block3": ("fc2", "fc3", 1)},
    "vgg16": {"block1": ("block1_conv1", "block1_pool", 1), "block234": ("block2_conv1", "block4_pool", 1),
              "block5": ("block5_conv1", "flatten", 1), "fc1": ("fc1", "fc1", 2), "fc2": ("fc2", "predictions", 1),
              "block12345": ("block1_conv1", "flatten", 1)},
}


def proc_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (key, pid))


def run_initial(a, farm, port, repeat, extra=(), timeout=300):
    rep = os.path.join(os.path.dirname(farm), "report-%d.json" % int(time.time() * 1000))
    t0 = time.time()
    r = farmlib.subprocess.run([a.mchair, "initial", "--farm", farm, "--repeat", str(repeat), "--quiet", "--json", rep,
                                "--listen", "127.0.0.1:%d" % port] + list(extra),
                               capture_output=True, text=True, timeout=timeout)
    dt = time.time() - t0
    print(r.stdout[-2000:] + r.stderr[-2000:], flush=True)
    js = json.load(open(rep)) if os.path.exists(rep) else None
    return r.returncode, js, dt


def check_bounds(nodes, what):
    """nodes: [(label, proc, weight bytes)]; checks VmHWM <= weights + 64 MiB."""
    print("%-24s %10s %10s %10s" % ("node", "weights", "VmHWM", "bound"))
    for label, p, wb in nodes:
        hwm = proc_kb(p.pid, "VmHWM") * 1024
        print("%-24s %7.1f MiB %7.1f MiB %7.1f MiB" % (label, wb / MIB, hwm / MIB, (wb + SLACK) / MIB))
        check(hwm <= wb + SLACK, "%s: node %s peak RSS %.1f MiB <= weights %.1f MiB + 64 MiB" %
              (what, label, hwm / MIB, wb / MIB))


# ---------------------------------------------------------------- bound

def test_bound(a, work):
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm.json")
    layout = farmlib.farm_file(farm, a.model, a.devices, init_port)
    procs = farmlib.start_farm(a.mchair, farm, layout, work)
    layers = layers_of(builtin_text(a.model))
    nodes, k = [], 0
    for name, ports in layout.items():
        first, last, parts = RANGES[a.model][name]
        for i, port in enumerate(ports):
            nodes.append(("%s#%d" % (name, i), procs[k], task_weights(layers, first, last, parts, i % parts)))
            k += 1
    rc, js, dt = run_initial(a, farm, init_port, a.repeat, ["--timeout", "600"], timeout=1200)
    check(rc == 0 and js and js["done"] == a.repeat, "%s farm-%d: initial gets all %d frames back (%.1f s)" %
          (a.model, a.devices, a.repeat, dt))
    check_bounds(nodes, "%s farm-%d" % (a.model, a.devices))


# ---------------------------------------------------------------- soak

TINY = """model tiny
input 32 32 3
conv2d c1 filters=8 kernel=3 padding=same act=relu
maxpool2d p1 pool=2 stride=2
flatten flat
dense fc1 units=64 act=relu
dense fc2 units=10 act=softmax
"""


def tiny_farm(work, model_text, tasks, counts):
    """A farm file for a model file: tasks [(name, first, last, method, parts)],
    counts {name: addresses}."""
    mpath = os.path.join(work, "model.mcm")
    open(mpath, "w").write(model_text)
    ports = farmlib.free_ports(1 + sum(counts.values()))
    init_port, k, layout = ports[0], 1, {}
    for name, *_ in tasks:
        layout[name] = ports[k:k + counts[name]]
        k += counts[name]
    doc = {"model": mpath,
           "tasks": [dict({"name": n, "layers": [f, l]}, **({"method": m, "parts": p} if p > 1 else {}))
                     for n, f, l, m, p in tasks],
           "node": dict({"initial": ["127.0.0.1:%d" % init_port]},
                        **{n: ["127.0.0.1:%d" % p for p in ps] for n, ps in layout.items()})}
    farm = os.path.join(work, "farm.json")
    json.dump(doc, open(farm, "w"), indent=1)
    return farm, layout, init_port


def key_args(a, work):
    """--key-file (and --encrypt) for every process, with --key."""
    if not a.key:
        return []
    path = os.path.join(work, "farm.key")
    with open(path, "w") as f:
        f.write(os.urandom(24).hex())
    os.chmod(path, 0o600)
    return ["--key-file", path, "--encrypt"]


def test_soak(a, work):
    tasks = [("t1", "c1", "flat", "data", 1), ("t2", "fc1", "fc1", "fc_output", 2), ("t3", "fc2", "fc2", "data", 1)]
    farm, layout, init_port = tiny_farm(work, TINY, tasks, {"t1": 1, "t2": 2, "t3": 1})
    keys = key_args(a, work)
    procs = farmlib.start_farm(a.mchair, farm, layout, work, extra=keys)
    labels = ["%s#%d" % (n, i) for n, ps in layout.items() for i in range(len(ps))]
    first, rest = 2000, a.soak - 2000
    rc, js, dt = run_initial(a, farm, init_port, first, ["--window", "8"] + keys)
    check(rc == 0 and js["done"] == first, "first %d frames done (%.1f s)" % (first, dt))
    rss1 = [proc_kb(p.pid, "VmRSS") for p in procs]
    rc, js, dt = run_initial(a, farm, init_port, rest, ["--window", "8"] + keys)
    check(rc == 0 and js["done"] == rest, "next %d frames done (%.1f s)" % (rest, dt))
    rss2 = [proc_kb(p.pid, "VmRSS") for p in procs]
    print("%-8s %12s %12s %10s" % ("node", "RSS@%d" % first, "RSS@%d" % a.soak, "growth"))
    for lab, r1, r2 in zip(labels, rss1, rss2):
        print("%-8s %9d kB %9d kB %7d kB" % (lab, r1, r2, r2 - r1))
        check(r2 - r1 <= 1024, "node %s: RSS after %d frames within 1 MiB of RSS after %d (%+d kB)" %
              (lab, a.soak, first, r2 - r1))


# ---------------------------------------------------------------- backpressure

# "slow" does ~4x the work of "fast" and takes ~15 ms a frame on one core: a
# deliberately slow last task for a source at 300 frames/s
SLOW = """model slow
input 96 96 3
conv2d c1 filters=32 kernel=3 padding=same act=relu
conv2d c2 filters=128 kernel=3 padding=same act=relu
maxpool2d p2 pool=4 stride=4
flatten flat
dense fc units=10 act=softmax
"""


def test_backpressure(a, work):
    tasks = [("fast", "c1", "c1", "data", 1), ("slow", "c2", "fc", "data", 1)]
    farm, layout, init_port = tiny_farm(work, SLOW, tasks, {"fast": 1, "slow": 1})
    procs = farmlib.start_farm(a.mchair, farm, layout, work)
    layers = layers_of(SLOW)
    nodes = [("fast#0", procs[0], task_weights(layers, "c1", "c1")),
             ("slow#0", procs[1], task_weights(layers, "c2", "fc"))]
    # The rate is 4x what this farm manages in closed loop (measured first),
    # so frames must drop on any machine, however fast (--rate is a floor).
    rc, js, dt = run_initial(a, farm, init_port, 40, ["--window", "2"], timeout=120)
    check(rc == 0 and js and js["done"] == 40, "closed loop: all 40 frames done")
    cap = js["throughput_ips"] if js and js.get("throughput_ips") else a.rate
    rate = max(a.rate, 4 * cap)
    n = max(a.repeat, int(rate * 2))
    print("capacity %.1f frames/s in closed loop; %d frames at %.1f/s" % (cap, n, rate), flush=True)
    rc, js, dt = run_initial(a, farm, init_port, n, ["--rate", "%.2f" % rate, "--timeout", "30"], timeout=120)
    check(js is not None, "initial wrote its report")
    if js is None:
        return
    dropped, lost = len(js.get("dropped", [])), len(js["lost"])
    check(rc == 0, "initial exits 0 (rc %d) in %.1f s: %d frames sent at %.0f/s" % (rc, dt, n, rate))
    check(dt < n / rate + 60, "nothing hangs: initial took %.1f s for %.1f s of frames" % (dt, n / rate))
    check(lost == 0, "no frame lost (%d)" % lost)
    check(dropped > 0, "frames were dropped under backpressure (%d of %d)" % (dropped, n))
    check(js["done"] > 0 and js["done"] + dropped == n,
          "every frame is done (%d) or dropped (%d)" % (js["done"], dropped))
    check_bounds(nodes, "backpressure")
    logs = "".join(open(os.path.join(work, f), errors="replace").read() for f in os.listdir(work) if f.endswith(".log"))
    check("busy" not in logs, "no node logged a busy refusal (the almost_full signal came first)")


# ---------------------------------------------------------------- overload

def test_overload(a, work):
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm.json")
    layout = farmlib.farm_file(farm, "alexnet", 5, init_port)
    keys = key_args(a, work)
    procs = farmlib.start_farm(a.mchair, farm, layout, work, extra=keys)
    layers = layers_of(builtin_text("alexnet"))
    nodes, k = [], 0
    for name, ports in layout.items():
        first, last, parts = RANGES["alexnet"][name]
        for i, port in enumerate(ports):
            nodes.append(("%s#%d" % (name, i), procs[k], task_weights(layers, first, last, parts, i % parts)))
            k += 1
    # capacity: closed loop, as many frames in flight as devices
    rc, js, dt = run_initial(a, farm, init_port, a.repeat, ["--window", "4"] + keys)
    check(rc == 0 and js and js["done"] == a.repeat, "closed loop: all %d frames done" % a.repeat)
    cap = js["throughput_ips"] if js else 10.0
    # twice the capacity for about `overload_s` seconds
    rate = 2 * cap
    n = int(rate * a.overload_s)
    rc, js, dt = run_initial(a, farm, init_port, n, ["--rate", "%.2f" % rate, "--timeout", "30"] + keys,
                             timeout=600)
    check(js is not None, "initial wrote its report")
    if js is None:
        return
    dropped, lost = len(js.get("dropped", [])), len(js["lost"])
    print("capacity %.1f frames/s; sent %d frames at %.1f/s: done %d (%.1f/s), dropped %d, lost %d" %
          (cap, n, rate, js["done"], js["throughput_ips"], dropped, lost), flush=True)
    check(rc == 0 and lost == 0, "at twice the capacity no frame is lost (%d; rc %d)" % (lost, rc))
    check(dropped > 0 and js["done"] + dropped == n,
          "frames were dropped and counted: done %d + dropped %d = %d sent" % (js["done"], dropped, n))
    check_bounds(nodes, "twice the capacity")
    # back to normal: a closed-loop phase completes every frame
    rc, js, dt = run_initial(a, farm, init_port, a.repeat, ["--window", "4"] + keys)
    check(rc == 0 and js and js["done"] == a.repeat and not js["dropped"] and not js["lost"],
          "after the overload, closed loop again: all %d frames done, none dropped or lost (%.1f frames/s)" %
          (a.repeat, js["throughput_ips"] if js else 0))
    check_bounds(nodes, "after the overload")


# ---------------------------------------------------------------- graph

def _n(shape):
    return int(np.prod(shape)) if shape else 0


def layer_params(L):
    """Parameters of a layer as a node allocates them (weight, bias even
    with bias=no (zero in memory), aux)."""
    ps = onnx_model.param_shapes(L)
    if not ps:
        return 0
    return _n(ps[0]) + L["out"][-1] * (L["op"] != "batchnorm") + (L["in"][-1] if L["op"] == "batchnorm" else 0) + \
        sum(_n(sh) for _, sh in onnx_model.aux_shapes(L))


def part_params(L, method, parts, k):
    """Parameters part k of a split of layer L holds (split.h)."""
    def cut(i, n, total):
        return i * total // n
    op, cin = L["op"], L["in"][-1]
    cout = L["out"][-1]
    taps = L["kh"] * L["kw"] * (L["kt"] if op == "conv3d" else 1)
    if method == "conv_spatial":
        return layer_params(L)
    if op == "dense":
        n_in = _n(L["in"])
        if method == "fc_output":
            r = cut(k + 1, parts, cout) - cut(k, parts, cout)
            return r * n_in + r
        c = cut(k + 1, parts, n_in) - cut(k, parts, n_in)
        return cout * c + cout
    if method == "conv_channel":
        if op == "dwconv2d":
            c = cut(k + 1, parts, cin) - cut(k, parts, cin)
            return taps * c * L["mult"] * 2
        f = cut(k + 1, parts, cout) - cut(k, parts, cout)
        if op == "sepconv2d":
            return taps * cin * L["mult"] + cin * L["mult"] * f + f
        return taps * cin * f + f
    c = cut(k + 1, parts, cin) - cut(k, parts, cin)  # conv_filter: every part allocates a bias (zero but part 0's)
    if op == "sepconv2d":
        return taps * c * L["mult"] + c * L["mult"] * cout + cout
    return taps * c * cout + cout


def graph_node_weights(layers, task, part):
    """Bytes of weights a node of farm-file task `task` holds after loading."""
    names = [L["name"] for L in layers]
    i0, i1 = names.index(task["layers"][0]), names.index(task["layers"][1])
    method = task.get("method", "data")
    if method != "data":  # the folded batchnorm's parameters are folded in, then freed
        parts = task["parts"] if "grid" not in task else task["grid"][0] * task["grid"][1]
        return 4 * part_params(layers[i0], method, parts, part)
    n = sum(layer_params(L) for L in layers[i0:i1 + 1])
    for L in layers[i0:i1 + 1]:  # batchnorms folded into the range's convolutions, wherever they lie
        bn = L.get("folded")
        if bn and names.index(bn) > i1:
            n += layer_params(layers[names.index(bn)])
    return 4 * n


def test_graph(a, work):
    farm, js, log = farmlib.plan_graph_farm(a.mchair, a.model, work)
    print(log)
    check(farm is not None, "%s: profile and plan write a farm file" % a.model)
    if not farm:
        return
    layout = farmlib.farm_layout(js)
    procs = farmlib.start_farm(a.mchair, farm, layout, work)
    _, _, layers = onnx_model.builtin_model(a.model)
    tasks = {t["name"]: t for t in js["tasks"]}
    nodes, k = [], 0
    for name, ports in layout.items():
        t = tasks[name]
        P = t.get("parts", 1)
        for i, _ in enumerate(ports):
            nodes.append(("%s#%d" % (name, i), procs[k], graph_node_weights(layers, t, i % P)))
            k += 1
    init_port = int(js["node"]["initial"][0].rsplit(":", 1)[1])
    rc, rep, dt = run_initial(a, farm, init_port, a.repeat, ["--timeout", "600"], timeout=1200)
    check(rc == 0 and rep and rep["done"] == a.repeat, "%s plan farm [%s]: initial gets all %d frames back (%.1f s)" %
          (a.model, farmlib.farm_desc(js), a.repeat, dt))
    check_bounds(nodes, "%s plan farm" % a.model)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["bound", "soak", "backpressure", "overload", "graph"])
    ap.add_argument("model", nargs="?", default="alexnet")
    ap.add_argument("devices", nargs="?", type=int, default=5)
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--soak", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--key", action="store_true", help="every process with a farm key and --encrypt")
    ap.add_argument("--overload-s", type=float, default=10.0, help="overload: seconds at twice the capacity")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mchair-farmmem-")
    try:
        {"bound": test_bound, "soak": test_soak, "backpressure": test_backpressure,
         "overload": test_overload, "graph": test_graph}[a.what](a, work)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        failures.append("exception: %s" % e)
    finally:
        status = farmlib.finish(work, failures, a.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
