#!/usr/bin/env python3
"""bench_churn.py - the dynamic farm under churn on the emulated farm (not a test).

On `mchair farm up --device-model rpi3` (one network namespace per device,
the device model's link and memory, every process's compute padded to the
model's time: docs/emulated-farm.md; `--emulation quota` uses the older
calibrated CPU quota instead), for AlexNet on 6 task devices and VGG16 on 11:

  dynamic: `mchair initial --dynamic` in device 0 (its master plans from the
           device model's profile, `mchair profile --device-model`),
           nodes joining with `--master` in devices 1..n, a stream at 85% of
           the plan's predicted rate; at 1/4 of the run the device of a task
           that has no other device is killed (-9), at 1/2 a new node starts in
           the spare device n+1, at 3/4 one device gets slower (device
           model: `--test-slow-ms`, the plan's longest task time more per frame,
           switched on by SIGUSR1; quota: half its CPU share);
  static:  the same plan as a farm file, nodes with `--farm`, the same stream,
           the same kill and the same slowdown (nothing can join a static farm).

Per run it reports IPS over time (results per second, plotted like the
papers' figures), per event the detection delay (event - action), recovery_s
(event -> first result computed under the new table) and the time from the
action to results flowing again (the first result under the new table), and
frames done, dropped, lost and sent again.  Needs root (as `mchair farm`).

    sudo .venv/bin/python3 bench/bench_churn.py --mchair build/mchair \\
        [--models alexnet,vgg16] [--seconds 120] [--out bench/results/churn.json]
"""
import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "scripts", "emu"))
import farmlib  # noqa: E402
import experiment  # noqa: E402  (the emulated device's profile and link, as the experiment plans)

DEVICES = {"alexnet": 6, "vgg16": 11}
NODE_PORT, INIT_PORT = 12345, 9999


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def plans_for_model(mchair, model, n, dm, outdir):
    """The device model's profile (latencies, memory, link) and the plans for 1..n+1 devices."""
    pdir = os.path.join(outdir, "plans-" + model)
    os.makedirs(pdir, exist_ok=True)
    prof = os.path.join(pdir, "profile-%s.json" % dm)
    subprocess.run([mchair, "profile", "--model", model, "--device-model", dm, "--out", prof], check=True,
                   capture_output=True)
    mem = int(json.load(open(prof))["plan_mem_mb"])
    subprocess.run([mchair, "plan", "--model", model, "--devices", str(n + 1), "--mem", str(mem),
                    "--profile", prof, "--out", pdir], check=True, capture_output=True)
    plan = json.load(open(os.path.join(pdir, "farm-%d.json" % n)))
    return prof, None, plan, mem


def plans_for(mchair, model, n, state, outdir):
    """Host profile scaled to the emulated device, and the plans for 1..n+1 devices."""
    factor, _ = experiment.slowdown(state)
    pdir = os.path.join(outdir, "plans-" + model)
    os.makedirs(pdir, exist_ok=True)
    host = os.path.join(pdir, "profile-host.json")
    subprocess.run([mchair, "profile", "--model", model, "--threads", "1", "--repeat", "1", "--out", host],
                   check=True, capture_output=True, env=experiment.DEVICE_ENV)
    prof = experiment.scale_profile(json.load(open(host)), factor)
    scaled = os.path.join(pdir, "profile-rpi3.json")
    json.dump(prof, open(scaled, "w"), indent=1)
    link = "%.6g,%.6g" % experiment.PLAN_LINK
    subprocess.run([mchair, "plan", "--model", model, "--devices", str(n + 1), "--mem", str(experiment.PLAN_MEM_MB),
                    "--profile", scaled, "--link", link, "--out", pdir], check=True, capture_output=True)
    plan = json.load(open(os.path.join(pdir, "farm-%d.json" % n)))
    return scaled, link, plan, experiment.PLAN_MEM_MB


def node_task(log):
    task = None
    if os.path.exists(log):
        for line in open(log, errors="replace"):
            m = re.match(r"node (\S+): layers ", line)
            if m:
                task = m.group(1)
    return task


def results_seen(log):
    try:
        return len(re.findall(r"^inference \d+/\d+: ", open(log, errors="replace").read(), re.M))
    except OSError:
        return 0


def set_share(farm, device, fraction):
    """Scales a device's CPU share by `fraction` through its cgroup's period (the quota is often at
    the kernel's 1 ms minimum already); returns the old and new period."""
    cg = farm.cgroup(device, "cpu")
    period = int(open(os.path.join(cg, "cpu.cfs_period_us")).read())
    new = min(1000000, int(period / fraction))
    open(os.path.join(cg, "cpu.cfs_period_us"), "w").write(str(new))
    return period, new


def signal_nodes(farm, device, sig):
    """Sends sig to the processes in a device's namespace (the node; `farm exec` execs it)."""
    r = subprocess.run(["ip", "netns", "pids", "mc-%s-d%d" % (farm.name, device)], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), sig)
        except (ProcessLookupError, ValueError):
            pass


def run(farm, args, model, n, mode, scaled, link, plan, mem, outdir):
    """One run (mode "dynamic" or "static"); returns its measurements."""
    addrs = farm.addresses()
    tag = "%s-%s" % (model, mode)
    logs = os.path.join(outdir, "logs")
    os.makedirs(logs, exist_ok=True)
    rate = max(0.2, 0.85 * plan["plan"]["predicted_ips"])
    repeat = int(rate * args.seconds)
    rep = os.path.join(outdir, tag + ".json")
    ini_addr = "%s:%d" % (addrs[0], INIT_PORT)
    node_logs = {}
    # the slowed device takes the plan's longest task time more per frame (twice as slow there)
    slow_ms = max(50, int(1000.0 * max(t.get("compute_s", 0) for t in plan["plan"]["tasks"])))
    if mode == "dynamic":
        cmd = [args.mchair, "initial", "--dynamic", "--model", model, "--listen", ini_addr, "--devices", str(n),
               "--profile", scaled, "--mem", str(mem)] + (["--link", link] if link else [])
    else:
        ff = experiment.plan_farm_file(plan, addrs)
        path = os.path.join(outdir, tag + "-farm.json")
        json.dump(ff, open(path, "w"), indent=1)
        cmd = [args.mchair, "initial", "--farm", path, "--listen", ini_addr]
    cmd += ["--repeat", str(repeat), "--rate", "%.3f" % rate, "--json", rep, "--timeout", "120", "--wait", "600"]
    ilog_path = os.path.join(logs, tag + "-initial.log")
    ilog = open(ilog_path, "w")
    init = farm.popen(0, cmd, stdout=ilog, stderr=subprocess.STDOUT, env=experiment.DEVICE_ENV)

    def start_node(k):
        lp = os.path.join(logs, "%s-node%d.log" % (tag, k))
        node_logs[k] = lp
        argv = [args.mchair, "node", "--listen", "%s:%d" % (addrs[k], NODE_PORT), "--threads", "1"]
        argv += (["--master", ini_addr, "--mem", str(mem)] if mode == "dynamic" else ["--farm", path])
        if args.emulation == "model":
            argv += ["--device-model", args.device_model, "--test-slow-ms", "%d" % slow_ms]
        return farm.popen(k, argv, stdout=open(lp, "w"), stderr=subprocess.STDOUT, env=experiment.DEVICE_ENV)

    used = range(1, n + 1)
    if mode == "static":
        used = [k for k in used if any("%s:%d" % (addrs[k], NODE_PORT) in v for t, v in ff["node"].items()
                                       if t != "initial")]
    procs = {k: start_node(k) for k in used}
    actions = []
    t0 = time.time()
    while results_seen(ilog_path) < 3 and init.poll() is None and time.time() - t0 < 900:
        time.sleep(0.2)
    t_run = time.time()
    # 1/4: kill the device of a task that has no other device
    while time.time() - t_run < args.seconds / 4 and init.poll() is None:
        time.sleep(0.1)
    tasks = {k: node_task(node_logs[k]) for k in procs}
    alone = [k for k, t in tasks.items() if t and list(tasks.values()).count(t) == 1]
    victim = alone[0] if alone else sorted(procs)[-1]
    farm.kill_in_devices([victim])
    actions.append({"kind": "kill", "t_unix": time.time(), "device": victim, "task": tasks.get(victim)})
    print("  %s: killed device %d (%s)" % (tag, victim, tasks.get(victim)), flush=True)
    # 1/2: a new device (the spare) starts a node
    while time.time() - t_run < args.seconds / 2 and init.poll() is None:
        time.sleep(0.1)
    if mode == "dynamic":
        procs[n + 1] = start_node(n + 1)
        actions.append({"kind": "add", "t_unix": time.time(), "device": n + 1})
        print("  %s: started a node in device %d" % (tag, n + 1), flush=True)
    # 3/4: one device gets half its CPU quota
    while time.time() - t_run < 3 * args.seconds / 4 and init.poll() is None:
        time.sleep(0.1)
    alive = [k for k in procs if k != victim]
    slow = alive[0]
    if args.emulation == "model":
        signal_nodes(farm, slow, signal.SIGUSR1)
        old = None
        actions.append({"kind": "slow", "t_unix": time.time(), "device": slow, "slow_ms": slow_ms})
        print("  %s: device %d takes %d ms more per frame" % (tag, slow, slow_ms), flush=True)
    else:
        old, new = set_share(farm, slow, 0.5)
        actions.append({"kind": "slow", "t_unix": time.time(), "device": slow, "period_us": [old, new]})
        print("  %s: device %d gets half its CPU (cfs period %d -> %d us)" % (tag, slow, old, new), flush=True)
    try:
        init.wait(timeout=args.seconds * 3 + 600)
    except subprocess.TimeoutExpired:
        init.terminate()
        init.wait()
    if old is not None:
        open(os.path.join(farm.cgroup(slow, "cpu"), "cpu.cfs_period_us"), "w").write(str(old))  # back
    farm.stop_all()
    farm.kill_in_devices(list(range(0, n + 2)) + ["hub"])
    ilog.close()
    r = json.load(open(rep)) if os.path.exists(rep) else {}
    return summarize(r, actions, rate, repeat, tag)


def summarize(r, actions, rate, repeat, tag):
    t0 = r.get("t_first_unix", 0)
    recv = sorted(x for x in r.get("recv_s", []) if x is not None)
    span = int(recv[-1]) + 1 if recv else 0
    ips = [0] * span
    for x in recv:
        ips[int(x)] += 1
    evs = r.get("events", [])
    out_ev = []
    for a in actions:
        a_t = a["t_unix"] - t0
        ev = next((e for e in evs if e["t_s"] >= a_t - 0.5 and e["kind"] in
                   {"kill": ("leave",), "add": ("join",), "slow": ("rebalance",)}[a["kind"]]), None)
        row = {"action": a["kind"], "at_s": a_t, "device": a["device"]}
        if ev:
            row.update(event=ev["kind"], detect_s=ev["t_s"] - a_t, recovery_s=ev.get("recovery_s"),
                       flowing_s=(ev["t_s"] + ev["recovery_s"] - a_t) if ev.get("recovery_s") is not None else None,
                       epoch=ev["epoch"], moved=ev.get("moved"), why=ev.get("why"))
        # results in the 5 s before and the 5..15 s after (the new steady rate)
        before = sum(1 for x in recv if a_t - 5 <= x < a_t) / 5.0
        after = sum(1 for x in recv if a_t + 5 <= x < a_t + 15) / 10.0
        row.update(ips_before=before, ips_after=after)
        out_ev.append(row)
    return {"tag": tag, "rate": rate, "repeat": repeat, "done": r.get("done", 0), "dropped": len(r.get("dropped", [])),
            "lost": len(r.get("lost", [])), "reissued": r.get("reissued", 0), "ips_per_s": ips,
            "throughput": r.get("throughput_ips", 0), "events": evs, "actions": out_ev,
            "lost_reasons": dict(list(r.get("lost_reasons", {}).items())[:5])}


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    models = sorted({r["tag"].split("-")[0] for r in results})
    fig, axes = plt.subplots(len(models), 1, figsize=(9, 3.2 * len(models)), squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        for r in results:
            if not r["tag"].startswith(model + "-"):
                continue
            ax.plot(range(len(r["ips_per_s"])), r["ips_per_s"], label=r["tag"].split("-", 1)[1], lw=1.2)
            if r["tag"].endswith("dynamic"):
                for a in r["actions"]:
                    ax.axvline(a["at_s"], color="grey", ls=":", lw=0.8)
                    ax.text(a["at_s"], ax.get_ylim()[1] * 0.95, a["action"], fontsize=7, rotation=90, va="top")
        ax.set_title("%s on the emulated rpi3 farm: results per second" % model)
        ax.set_xlabel("seconds after the first frame")
        ax.set_ylabel("IPS")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("plot: %s" % path)


def table(results):
    lines = ["| run | rate | done | dropped | lost | sent again | action | detected after s | recovery_s "
             "| action -> results s | IPS before -> after |", "|" + " --- |" * 11]
    for r in results:
        for i, a in enumerate(r["actions"] or [{}]):
            head = ["%s" % r["tag"], "%.2f" % r["rate"], str(r["done"]), str(r["dropped"]), str(r["lost"]),
                    str(r["reissued"])] if i == 0 else [""] * 6

            def f(x):
                return "-" if x is None else "%.2f" % x
            lines.append("| " + " | ".join(head + [a.get("action", "-"), f(a.get("detect_s")), f(a.get("recovery_s")),
                                                   f(a.get("flowing_s")), "%s -> %s" % (f(a.get("ips_before")),
                                                                                        f(a.get("ips_after")))]) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mchair", default=os.path.join(REPO, "build", "mchair"))
    ap.add_argument("--models", default="alexnet,vgg16")
    ap.add_argument("--seconds", type=float, default=120, help="stream length per run (default 120)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "churn.json"))
    ap.add_argument("--name", default="churn")
    ap.add_argument("--emulation", choices=["model", "quota"], default="model",
                    help="devices of a device model (default) or the calibrated CPU quota")
    ap.add_argument("--device-model", default="rpi3", help="device model (default rpi3)")
    a = ap.parse_args()
    a.mchair = os.path.abspath(a.mchair)
    outdir = os.path.splitext(os.path.abspath(a.out))[0]
    os.makedirs(outdir, exist_ok=True)
    models = [m for m in a.models.split(",") if m]
    most = max(DEVICES[m] for m in models)
    farm = farmlib.Farm(a.mchair, a.name)
    results = []
    meta = {"cpu": cpu_name(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_before": open("/proc/loadavg").read().split()[:3]}
    try:
        if a.emulation == "model":
            farm.up(most + 2, device_model=a.device_model)
        else:
            farm.up(most + 2, preset="rpi3", calib_repeat=4)
        meta["farm"] = farm.state
        print(farm.output, end="", flush=True)
        for model in models:
            n = DEVICES[model]
            if a.emulation == "model":
                scaled, link, plan, mem = plans_for_model(a.mchair, model, n, a.device_model, outdir)
            else:
                scaled, link, plan, mem = plans_for(a.mchair, model, n, farm.state, outdir)
            print("%s: plan for %d devices predicts %.2f IPS (%s)" % (model, n, plan["plan"]["predicted_ips"],
                                                                      plan["plan"]["why"][:120]), flush=True)
            for mode in ("dynamic", "static"):
                r = run(farm, a, model, n, mode, scaled, link, plan, mem, outdir)
                results.append(r)
                print("  %s: done %d dropped %d lost %d sent again %d" % (r["tag"], r["done"], r["dropped"],
                                                                          r["lost"], r["reissued"]), flush=True)
                json.dump({"meta": meta, "runs": results}, open(a.out, "w"), indent=1)
    finally:
        farm.down()
    t = table(results)
    meta["emulation"] = a.emulation if a.emulation == "quota" else "device model " + a.device_model
    meta["load_after"] = open("/proc/loadavg").read().split()[:3]
    print("processor: %s; emulated devices: %s; load average before %s, after %s" %
          (meta["cpu"], meta["emulation"], " ".join(meta["load_before"]), " ".join(meta["load_after"])))
    print(t)
    json.dump({"meta": meta, "runs": results, "table": t}, open(a.out, "w"), indent=1)
    plot(results, os.path.splitext(a.out)[0] + ".png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
