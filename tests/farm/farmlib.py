"""farmlib.py - helpers for the multi-process farm tests and the benchmark.

Starts `mchair node` processes on loopback ports, each in its own process
group with a parent-death signal, and stops every one of them on exit, on
failure and on SIGTERM/SIGINT (atexit + signal handlers).  Nothing here talks
to anything but 127.0.0.1.
"""
import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

_procs = []


def _pdeathsig():
    # The child gets SIGKILL if the driver dies (even by SIGKILL).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start(cmd, log_path=None, env=None):
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e.setdefault("OPENBLAS_NUM_THREADS", "1")
    if env:
        e.update(env)
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=e, start_new_session=True,
                         preexec_fn=_pdeathsig)
    p.log_path = log_path
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=5.0):
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    return p.returncode


def finish(work, failures, keep=False):
    """End of a test script: stops every process it started, prints the node
    logs if something failed, removes the work folder (unless keep), prints
    the count and returns the exit status."""
    stop_all()
    if failures:
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print("---- %s" % name)
                print(open(os.path.join(work, name), errors="replace").read()[-3000:])
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


def stop_all():
    while _procs:
        stop(_procs.pop())


atexit.register(stop_all)


def _on_signal(sig, frame):
    stop_all()
    sys.exit(128 + sig)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


_handed = set()

# The host the farm tests put their processes on: loopback IPv4, or "::1"
# (farm_test.py --ipv6: farm files with [::1]:port addresses).
HOST = "127.0.0.1"


def hostport(port, host=None):
    """"127.0.0.1:port" or "[::1]:port" (the farm-file and --listen form)."""
    h = host or HOST
    return ("[%s]:%d" if ":" in h else "%s:%d") % (h, port)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_ports(n):
    """n loopback ports free now, never one this process handed out before
    (a port handed to a node that has not bound it yet is free again for the
    system: two nodes on one port made a farm of four out of five)."""
    socks, ports = [], []
    while len(ports) < n:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        p = s.getsockname()[1]
        if p not in _handed:
            _handed.add(p)
            ports.append(p)
    for s in socks:
        s.close()
    return ports


def consecutive_ports(n):
    """The first of n consecutive loopback ports free now, below the ephemeral
    range, none handed out before (farm files that number devices from a base
    port: `mchair plan --port P`)."""
    import random
    for _ in range(500):
        base = random.randrange(20000, 32000 - n)
        if any(p in _handed for p in range(base, base + n)):
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _handed.update(range(base, base + n))
        return base
    raise RuntimeError("no %d consecutive free loopback ports" % n)


def wait_port(port, proc=None, timeout=120.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            log = open(proc.log_path, errors="replace").read() if proc.log_path else ""
            raise RuntimeError("process exited (rc %s) before listening on %d:\n%s" % (proc.returncode, port, log))
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d after %.0f s" % (port, timeout))


# Task names and address counts of the built-in presets (farm.c).
PRESETS = {
    ("alexnet", 4): [("block1", 1), ("block2", 1), ("block3", 1)],
    ("alexnet", 5): [("block1", 1), ("block2", 2), ("block3", 1)],
    ("alexnet", 6): [("block1", 2), ("block2", 2), ("block3", 1)],
    ("vgg16", 8): [("block1", 1), ("block234", 2), ("block5", 1), ("fc1", 2), ("fc2", 1)],
    ("vgg16", 9): [("block1", 1), ("block234", 3), ("block5", 1), ("fc1", 2), ("fc2", 1)],
    ("vgg16", 11): [("block12345", 7), ("fc1", 2), ("fc2", 1)],
}


def farm_file(path, model, devices, initial_port, skip_model=False):
    """Writes the artifact-style farm file (with its trailing commas) and
    returns {task: [ports]} for the preset."""
    tasks = PRESETS[(model, devices)]
    ports = free_ports(sum(n for _, n in tasks))
    layout, k = {}, 0
    for name, n in tasks:
        layout[name] = ports[k:k + n]
        k += n
    lines = ['{', '  "node": {', '    "initial": ["%s",],' % hostport(initial_port)]
    for name, ps in layout.items():
        lines.append('    "%s": [%s],' % (name, ", ".join('"%s"' % hostport(p) for p in ps) + ","))
    lines.append('  },')
    if not skip_model:
        lines.append('  "model": "%s",' % model)
    lines.append('}')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return layout


def start_node(mchair, farm, port, log_path, seed=1, threads=1, extra=(), wait=True):
    """One `mchair node` of `farm` on HOST:port; waits until it listens."""
    cmd = [mchair, "node", "--farm", farm, "--listen", hostport(port), "--seed", str(seed),
           "--threads", str(threads)] + list(extra)
    p = start(cmd, log_path)
    if wait:
        wait_port(port, p)
    return p


def start_farm(mchair, farm, layout, workdir, seed=1, skip=(), extra=()):
    """Starts one node process per address, except tasks named in skip and
    addresses given there as "task#index"."""
    procs = []
    for name, ports in layout.items():
        if name in skip:
            continue
        for i, p in enumerate(ports):
            if "%s#%d" % (name, i) in skip:
                continue
            procs.append((p, start_node(mchair, farm, p, os.path.join(workdir, "node-%s-%d.log" % (name, p)),
                                        seed=seed, extra=extra, wait=False)))
    for p, proc in procs:
        wait_port(p, proc)
    return [proc for _, proc in procs]


# ---------------------------------------------------------------- farms of the graph models

# The journal's graph models on farms from `mchair plan`.  A plan splits a
# layer when it does not fit the memory budget; the profile is this machine's
# with the weights of the layers named in "over" raised above the budget (a
# device with less memory, as a profile of another device may say) and only
# the split methods named there kept for them, so that the plan splits the
# layers the journal splits: a ResNet block's 3x3 convolution (spatial) and
# its last 1x1 (filter), both inside the block where its input passes them by;
# an Xception middle-flow separable convolution by channels (block C); C3D's
# heaviest 3-D convolution (conv2, filter splitting), and fc6, which is over
# 128 MiB by itself.
GRAPH_CASES = {
    # model: (--mem MiB, --devices, --splits, {layer: methods kept}, layers the plan must split);
    # the farm is the plan for the fewest devices that has one
    "resnet50": (48, 12, "2,4", {"conv3_block2_2_conv": ["conv_spatial"], "conv4_block3_3_conv": ["conv_filter"]},
                 ["conv3_block2_2_conv", "conv4_block3_3_conv"]),
    "xception": (48, 12, "2", {"block7_sepconv2": ["conv_channel"]}, ["block7_sepconv2"]),
    # C3D: fc6 (128 MiB of weights) splits by itself.  conv2 is not forced to split: a
    # conv_filter part's output is a 25.7 MB partial sum taken before relu and pool2,
    # which no node holding it (the parts, the merge) can keep within weights + 64 MiB
    # (docs/farm.md, "Farms of graphs"); cuts where at most pool2's 3.2 MB crosses can.
    "c3d": (128, 10, "2", {}, ["fc6"]),
}


def plan_graph_farm(mchair, model, work):
    """Profiles `model` here, raises the layers of GRAPH_CASES over the budget,
    plans and returns (farm file path, its JSON, what the planner printed);
    (None, None, message) when no plan was written."""
    mem, devices, splits, over, _ = GRAPH_CASES[model]
    prof = os.path.join(work, "profile.json")
    r = subprocess.run([mchair, "profile", "--model", model, "--out", prof, "--threads", "1", "--repeat", "1",
                        "--splits", splits], capture_output=True, text=True, timeout=600)
    if r.returncode:
        return None, None, "mchair profile: " + r.stderr[-800:]
    js = json.load(open(prof))
    for layer in js["layers"]:
        if layer["name"] in over:
            layer["weight_bytes"] = layer["memory_bytes"] = 2 * mem * (1 << 20)
            layer["splits"] = [x for x in layer["splits"] if x["method"] in over[layer["name"]]]
    json.dump(js, open(prof, "w"))
    out = os.path.join(work, "plan")
    ports = free_ports(2)
    r = subprocess.run([mchair, "plan", "--model", model, "--devices", str(devices), "--mem", str(mem),
                        "--profile", prof, "--out", out, "--port", str(consecutive_ports(devices)),
                        "--initial-port", str(ports[1]), "--link", "0.00001,0.0002"],
                       capture_output=True, text=True, timeout=120)
    sizes = [n for n in range(1, devices + 1) if os.path.exists(os.path.join(out, "farm-%d.json" % n))]
    if r.returncode or not sizes:
        return None, None, "mchair plan (rc %d): %s" % (r.returncode, r.stderr[-800:])
    farm = os.path.join(out, "farm-%d.json" % sizes[0])
    js = json.load(open(farm))
    # every address on a port free now (the planner numbered them from a base
    # that another process on a shared machine may hold)
    n = sum(len(v) for v in js["node"].values())
    fresh = iter(free_ports(n))
    js["node"] = {t: ["127.0.0.1:%d" % next(fresh) for _ in v] for t, v in js["node"].items()}
    json.dump(js, open(farm, "w"), indent=1)
    return farm, js, r.stderr


def farm_layout(js):
    """{task: [ports]} of a farm file's JSON."""
    return {t: [int(x.rsplit(":", 1)[1]) for x in addrs] for t, addrs in js["node"].items() if t != "initial"}


def farm_desc(js):
    return " | ".join("%s..%s %s%s x%d" % (t["layers"][0], t["layers"][1], t.get("method", "data"),
                                           "/%d" % t["parts"] if "parts" in t else "",
                                           len(js["node"][t["name"]]) // t.get("parts", 1)) for t in js["tasks"])


def protocol_text():
    here = os.path.dirname(os.path.abspath(__file__))
    return open(os.path.join(here, "image.avpr")).read()


def rss_kb(pid):
    """Peak RSS (VmHWM) of a live process in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
