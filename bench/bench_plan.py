#!/usr/bin/env python3
"""bench_plan.py - the planner's predictions against loopback farms where
every device has its own CPU budget (not a test).

Every device (each `mchair node` and the initial node) runs in its own cgroup
v1 CPU group (/sys/fs/cgroup/cpu/mchair-bench-<pid>-<i>, cfs_quota_us =
--quota * cfs_period_us) pinned with `taskset` to one core (cores in turn),
with --threads 1.  Under such a cap a device is CPU-bound, so its service
time is its CPU time per frame divided by the quota: the planner's model.

Per model (AlexNet, VGG16):
  1. link: a relay node (a model of one `flatten` layer) between initial and
     initial, both capped, at three tensor sizes; steady throughput T(d) of a
     closed loop gives the per-message cost t(d) = 1 / (2 T(d)) (each device
     receives and sends one message of d bytes per frame); least squares
     t = a*d + b (measured once, shared by both models);
  2. profile: `mchair profile --threads 1` inside a capped group (the same
     budget), the link (a, b) added to the profile;
  3. plans: `mchair plan --out DIR` for 1..N devices; hand-made farms (the
     artifact's farm-5 for AlexNet, farm-9 and farm-11 for VGG16, as explicit
     task files) predicted with `mchair plan --evaluate` on the same profile;
  4. measured: every farm run on capped loopback nodes; steady-state IPS =
     results per second after the first `window` results (so the pipeline
     fill does not count: tags go to replica tag mod R, so a run is a whole
     number of rounds of R frames and the first round is skipped), also
     1/mean latency (closed loop with devices+1 frames in flight, so it
     includes queueing).

Prints a table and writes JSON (--out).  Every cgroup it makes is removed at
exit, also on failure or SIGTERM; every process is stopped (farmlib).
"""
import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "farm"))
import farmlib  # noqa: E402

CG_ROOT = "/sys/fs/cgroup/cpu"
_cgroups = []


def cg_remove_all():
    farmlib.stop_all()
    while _cgroups:
        path = _cgroups.pop()
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)  # processes still leaving
        else:
            print("warning: could not remove cgroup %s" % path, file=sys.stderr)


atexit.register(cg_remove_all)


class Budget:
    """Capped CPU groups, one per device, cores in turn."""

    def __init__(self, quota, period_us):
        self.quota, self.period_us, self.n = quota, period_us, 0
        self.cores = sorted(os.sched_getaffinity(0))

    def wrap(self, cmd):
        path = os.path.join(CG_ROOT, "mchair-bench-%d-%d" % (os.getpid(), self.n))
        os.mkdir(path)
        _cgroups.append(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write(str(self.period_us))
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(max(1000, int(self.quota * self.period_us))))
        core = self.cores[self.n % len(self.cores)]
        self.n += 1
        return ["sh", "-c", 'echo $$ > "%s/cgroup.procs" && exec taskset -c %d "$@"' % (path, core), "sh"] + list(cmd)


def release(budget):
    cg_remove_all()
    budget.n = 0


def steady_ips(js, skip):
    """Results per second from result `skip` (0-based) to the last."""
    t = sorted(x for x in js.get("recv_s", []) if x is not None)
    if len(t) < skip + 2:
        return js["throughput_ips"]
    return (len(t) - skip) / (t[-1] - t[skip - 1]) if skip > 0 else (len(t) - 1) / (t[-1] - t[0])


def start_nodes(a, budget, farm, work, seed=1):
    js = json.load(open(farm))
    procs = []
    for task, addrs in js["node"].items():
        if task == "initial":
            continue
        for ad in addrs:
            port = int(ad.rsplit(":", 1)[1])
            cmd = budget.wrap([a.mchair, "node", "--farm", farm, "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                               "--seed", str(seed), "--quiet"])
            procs.append((port, farmlib.start(cmd, os.path.join(work, "node-%s-%d.log" % (task, port)))))
    for port, p in procs:
        farmlib.wait_port(port, p, timeout=600)
    return len(procs)


def run_initial(a, budget, farm, work, repeat, window):
    rep = os.path.join(work, "initial.json")
    if os.path.exists(rep):
        os.remove(rep)
    init_port = int(json.load(open(farm))["node"]["initial"][0].rsplit(":", 1)[1])
    cmd = budget.wrap([a.mchair, "initial", "--farm", farm, "--repeat", str(repeat), "--window", str(window),
                       "--quiet", "--json", rep, "--timeout", "600", "--listen", "127.0.0.1:%d" % init_port])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError("initial failed on %s:\n%s%s" % (farm, r.stdout, r.stderr))
    return json.load(open(rep))


def max_replicas(farm):
    js = json.load(open(farm))
    return max(len(js["node"][t["name"]]) // (t.get("parts", 1) if t.get("method", "data") != "data" else 1)
               for t in js["tasks"])


def measure_farm(a, budget, farm, work, min_frames, rounds):
    """Tags go to replica (tag mod R), so R replicas finish frames in rounds of
    R: the run is a whole number of rounds (at least `rounds`) and the first
    round (pipeline fill) is not counted."""
    r = max_replicas(farm)
    repeat = max(min_frames, rounds * r)
    repeat = (repeat + r - 1) // r * r
    devices = start_nodes(a, budget, farm, work)
    window = devices + 1
    try:
        js = run_initial(a, budget, farm, work, repeat, window)
    finally:
        release(budget)
    return {"steady_ips": steady_ips(js, r), "ips_1_over_mean": js["ips"], "frames": repeat,
            "counted_from_result": r, "throughput_ips": js["throughput_ips"], "mean_s": js["mean_s"],
            "done": js["done"], "task_mean_s": js["task_mean_s"], "devices": devices, "max_replicas": r}


# ---------------------------------------------------------------- link


def fit_link(a, budget, work):
    rows = []
    for nbytes in (16384, 200704, 602112):
        floats = nbytes // 4
        model = os.path.join(work, "relay-%d.mcm" % floats)
        with open(model, "w") as f:
            f.write("model relay\ninput 1 1 %d\nflatten r1\n" % floats)
        ports = farmlib.free_ports(2)
        farm = os.path.join(work, "relay-%d.json" % floats)
        json.dump({"model": model, "tasks": [{"name": "r1", "layers": ["r1", "r1"]}],
                   "node": {"initial": ["127.0.0.1:%d" % ports[0]], "r1": ["127.0.0.1:%d" % ports[1]]}},
                  open(farm, "w"))
        start_nodes(a, budget, farm, work)
        try:
            run_initial(a, budget, farm, work, 10, 4)  # warm-up: connections, handshakes
            js = run_initial(a, budget, farm, work, a.link_frames, 4)
        finally:
            release(budget)
        thr = steady_ips(js, 4)
        rows.append({"bytes": nbytes, "steady_ips": thr, "t_s": 1.0 / (2 * thr)})
        print("link: %7d B  relay throughput %.1f/s -> t(d) = %.2f ms" % (nbytes, thr, 1e3 / (2 * thr)), flush=True)
    d = np.array([r["bytes"] for r in rows], float)
    t = np.array([r["t_s"] for r in rows], float)
    A = np.vstack([d, np.ones_like(d)]).T
    (la, lb), *_ = np.linalg.lstsq(A, t, rcond=None)
    la, lb = max(float(la), 1e-12), max(float(lb), 0.0)
    print("link fit: t = %.3e s/B * d + %.4f s (%.4f s/kB)" % (la, lb, la * 1000), flush=True)
    return {"a_s_per_byte": la, "b_s": lb, "samples": rows}


# ---------------------------------------------------------------- hand-made farms

HAND = {
    "alexnet": {
        5: [("block1", "conv1", "flatten", None, 1), ("block2", "fc1", "fc1", "fc_output", 2),
            ("block3", "fc2", "fc3", None, 1)],
        6: [("block1", "conv1", "flatten", None, 2), ("block2", "fc1", "fc1", "fc_output", 2),
            ("block3", "fc2", "fc3", None, 1)],
    },
    "vgg16": {
        9: [("block1", "block1_conv1", "block1_pool", None, 1), ("block234", "block2_conv1", "block4_pool", None, 3),
            ("block5", "block5_conv1", "flatten", None, 1), ("fc1", "fc1", "fc1", "fc_output", 2),
            ("fc2", "fc2", "predictions", None, 1)],
        11: [("block12345", "block1_conv1", "flatten", None, 7), ("fc1", "fc1", "fc1", "fc_output", 2),
             ("fc2", "fc2", "predictions", None, 1)],
    },
}


def write_hand(path, model, spec, base_port, init_port):
    js = {"model": model, "tasks": [], "node": {"initial": ["127.0.0.1:%d" % init_port]}}
    port = base_port
    for name, first, last, method, n in spec:
        t = {"name": name, "layers": [first, last]}
        if method:
            t["method"], t["parts"] = method, n
        js["tasks"].append(t)
        js["node"][name] = ["127.0.0.1:%d" % (port + i) for i in range(n)]
        port += n
    json.dump(js, open(path, "w"), indent=1)


def evaluate(a, farm, prof, mem):
    r = subprocess.run([a.mchair, "plan", "--evaluate", farm, "--profile", prof, "--mem", str(mem)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("plan --evaluate %s: %s" % (farm, r.stderr))
    return json.loads(r.stdout)


def describe(farm):
    js = json.load(open(farm))
    out = []
    for t in js["tasks"]:
        n = len(js["node"][t["name"]])
        m = t.get("method", "data")
        parts = t.get("parts", 1) if m != "data" else 1
        s = "%s..%s" % tuple(t["layers"]) if t["layers"][0] != t["layers"][1] else t["layers"][0]
        if m != "data":
            s += " %s/%d" % (m, parts)
        if n // parts > 1:
            s += " x%d" % (n // parts)
        out.append(s)
    return " | ".join(out)


# ---------------------------------------------------------------- main


def bench_model(a, budget, work, model, link, cfg):
    print("\n== %s: profile under %.2f CPU" % (model, a.quota), flush=True)
    prof = os.path.join(work, "profile-%s.json" % model)
    t0 = time.time()
    r = subprocess.run(budget.wrap([a.mchair, "profile", "--model", model, "--threads", "1", "--repeat",
                                    str(a.profile_repeat), "--splits", "2,3,4", "--out", prof]),
                       capture_output=True, text=True)
    release(budget)
    if r.returncode != 0:
        raise RuntimeError("profile failed: " + r.stderr)
    print(r.stderr.strip(), "(%.0f s)" % (time.time() - t0), flush=True)
    pj = json.load(open(prof))
    pj["link"] = {"a_s_per_byte": link["a_s_per_byte"], "b_s": link["b_s"]}
    json.dump(pj, open(prof, "w"))
    out_dir = os.path.join(work, "plan-%s" % model)
    ports = farmlib.free_ports(1)
    base = 30000 + (os.getpid() % 500) * 20
    r = subprocess.run([a.mchair, "plan", "--model", model, "--devices", str(max(cfg["planner_n"])), "--mem",
                        str(cfg["mem"]), "--profile", prof, "--out", out_dir, "--port", str(base),
                        "--initial-port", str(ports[0])], capture_output=True, text=True)
    print(r.stderr, flush=True)
    if r.returncode != 0:
        raise RuntimeError("plan failed")
    rows = []
    farms = []
    for n in cfg["planner_n"]:
        f = os.path.join(out_dir, "farm-%d.json" % n)
        if os.path.exists(f):
            farms.append(("planner n=%d" % n, n, f, json.load(open(f))["plan"]["predicted_ips"]))
    for dev, spec in HAND[model].items():
        f = os.path.join(work, "hand-%s-%d.json" % (model, dev))
        write_hand(f, model, spec, base + 100, ports[0])
        farms.append(("hand farm-%d" % dev, dev - 1, f, evaluate(a, f, prof, cfg["mem"])["predicted_ips"]))
    for label, n, f, pred in farms:
        t0 = time.time()
        try:
            m = measure_farm(a, budget, f, work, cfg["repeat"], cfg["rounds"])
        except Exception as e:  # noqa: BLE001
            print("%s %s: FAILED %s" % (model, label, e), flush=True)
            rows.append({"model": model, "farm": label, "n": n, "tasks": describe(f), "predicted_ips": pred,
                         "error": str(e)[-2000:]})
            continue
        err = (pred - m["steady_ips"]) / m["steady_ips"]
        row = {"model": model, "farm": label, "n": n, "tasks": describe(f), "predicted_ips": pred,
               "measured": m, "pred_err": err}
        rows.append(row)
        print("%s %-14s n=%-2d pred %.3f  measured %.3f (1/mean %.3f)  err %+.0f%%  [%s] (%.0f s)" %
              (model, label, n, pred, m["steady_ips"], m["ips_1_over_mean"], 100 * err, row["tasks"],
               time.time() - t0), flush=True)
    return rows, pj


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                     "mchair"))
    ap.add_argument("--models", default="alexnet,vgg16")
    ap.add_argument("--quota", type=float, default=0.1, help="CPU per device (fraction of one core)")
    ap.add_argument("--period-us", type=int, default=10000)
    ap.add_argument("--profile-repeat", type=int, default=3)
    ap.add_argument("--link-frames", type=int, default=40)
    ap.add_argument("--repeat-alexnet", type=int, default=40, help="at least this many frames")
    ap.add_argument("--repeat-vgg16", type=int, default=8, help="at least this many frames")
    ap.add_argument("--rounds", type=int, default=4, help="at least this many rounds of the most replicated task")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "plan.json"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.mchair = os.path.abspath(a.mchair)
    cfgs = {"alexnet": {"mem": 96, "planner_n": [2, 4, 5], "repeat": a.repeat_alexnet, "rounds": a.rounds},
            "vgg16": {"mem": 256, "planner_n": [4, 8, 10], "repeat": a.repeat_vgg16, "rounds": a.rounds}}
    budget = Budget(a.quota, a.period_us)
    work = tempfile.mkdtemp(prefix="mchair-bench-plan-")
    out = {"quota_cpu": a.quota, "period_us": a.period_us, "load_before": os.getloadavg(), "rows": []}
    t_all = time.time()
    try:
        link = fit_link(a, budget, work)
        out["link"] = link
        for model in a.models.split(","):
            rows, _ = bench_model(a, budget, work, model, link, cfgs[model])
            out["rows"] += rows
    finally:
        cg_remove_all()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    out["seconds"] = time.time() - t_all

    print("\nPer device: %.2f CPU (cgroup v1 quota, period %d us), 1 thread, pinned; link t = %.3e s/B * d + %.4f s"
          % (a.quota, a.period_us, link["a_s_per_byte"], link["b_s"]))
    print("%-8s %-15s %3s %9s %9s %9s %7s  %s" % ("model", "farm", "n", "pred IPS", "meas IPS", "1/mean", "err",
                                                 "tasks"))
    for r in out["rows"]:
        if "error" in r:
            print("%-8s %-15s %3d %9.3f %9s %9s %7s  %s" % (r["model"], r["farm"], r["n"], r["predicted_ips"],
                                                         "failed", "", "", r["tasks"]))
            continue
        m = r["measured"]
        print("%-8s %-15s %3d %9.3f %9.3f %9.3f %+6.0f%%  %s" % (r["model"], r["farm"], r["n"], r["predicted_ips"],
                                                              m["steady_ips"], m["ips_1_over_mean"],
                                                              100 * r["pred_err"], r["tasks"]))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    json.dump(out, open(a.out, "w"), indent=1)
    print("wrote %s (%.0f s, load %s -> %s)" % (a.out, out["seconds"], out["load_before"], out["load_after"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
