#!/usr/bin/env python3
"""tune.py - Procedure 1 of the journal paper on a farm on this machine:
plan, deploy, monitor, plan again, until the plan stops changing.

Round 0 plans from the profile (`mchair plan`).  Every round deploys the
plan for --devices devices as `mchair node` processes on loopback ports,
streams --frames frames through it with `mchair initial --json` (which
reports each task's measured compute time per frame, the nodes' metadata
mc.t.<task>), stops the nodes, and plans the next round from the profile
calibrated with those measurements (`mchair plan --farm F --measured R
--save-profile P`: each task's layers scaled by measured / profiled).  It
stops when a round's plan has the same tasks as the one before (the
deployed plan is balanced for what the devices really do), or after
--rounds rounds.

Prints a table (round, tasks, predicted IPS, measured throughput, the
factors applied) and writes OUT/tune.json; each round's plan, report and
calibrated profile stay in OUT/round-<r>/.  Every node it starts is stopped
at exit, also on failure or Ctrl-C; traffic stays on 127.0.0.1.

  python3 scripts/tune.py --model alexnet --devices 4 --mem 150 --out /tmp/tune
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "farm"))
import farmlib  # noqa: E402


def ports_free(base, n):
    for p in range(base, base + n):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_ports(n):
    """A base port with n + 1 free ports after it (device i at base+i, initial at base+n)."""
    for _ in range(50):
        base = farmlib.free_ports(1)[0]
        if base + n + 1 < 65535 and ports_free(base, n + 1):
            return base
    raise RuntimeError("no %d consecutive free loopback ports" % (n + 1))


def layout_of(farm):
    """The plan's tasks as comparable data: (name, layers, method, parts/grid, addresses)."""
    return [(t["name"], tuple(t["layers"]), t.get("method", "data"), t.get("parts", 1), tuple(t.get("grid", [1, 1])),
             len(farm["node"][t["name"]])) for t in farm["tasks"]]


def describe(farm):
    out = []
    for t in farm["tasks"]:
        d = "%s..%s" % tuple(t["layers"])
        if t.get("method", "data") != "data":
            d += " %s/%s" % (t["method"], t.get("parts", t.get("grid")))
        reps = len(farm["node"][t["name"]]) // max(1, t.get("parts", 1) if "grid" not in t else
                                                    t["grid"][0] * t["grid"][1])
        if reps > 1:
            d += " x%d" % reps
        out.append(d)
    return " | ".join(out)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (" ".join(cmd), r.returncode, (r.stdout + r.stderr)[-3000:]))
    return r


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mchair", default=os.path.join(here, "..", "build", "mchair"))
    ap.add_argument("--model", required=True, help="built-in model or model file")
    ap.add_argument("--devices", type=int, required=True, help="task devices (the initial node is extra)")
    ap.add_argument("--mem", type=float, required=True, help="MiB per device")
    ap.add_argument("--profile", help="profile to start from (default: `mchair profile --threads 1` now)")
    ap.add_argument("--link", help="a,b for `mchair plan --link` (s per kB, s per message)")
    ap.add_argument("--rounds", type=int, default=4, help="at most this many deployments (default 4)")
    ap.add_argument("--frames", type=int, default=40, help="frames per deployment (default 40)")
    ap.add_argument("--threads", type=int, default=1, help="threads per node (default 1)")
    ap.add_argument("--out", required=True, help="folder for the rounds and tune.json")
    a = ap.parse_args()
    if a.rounds < 1 or a.frames < 1 or a.devices < 1:
        ap.error("--rounds, --frames and --devices must be >= 1")
    os.makedirs(a.out, exist_ok=True)
    prof = a.profile
    if not prof:
        prof = os.path.join(a.out, "profile-0.json")
        print("profiling %s ..." % a.model, flush=True)
        run([a.mchair, "profile", "--model", a.model, "--threads", str(a.threads), "--out", prof])
    rounds, prev_farm, prev_report, prev_layout = [], None, None, None
    for r in range(a.rounds):
        rd = os.path.join(a.out, "round-%d" % r)
        os.makedirs(rd, exist_ok=True)
        base = pick_ports(a.devices)
        cmd = [a.mchair, "plan", "--model", a.model, "--devices", str(a.devices), "--mem", str(a.mem),
               "--profile", prof, "--out", rd, "--port", str(base), "--initial-port", str(base + a.devices)]
        if a.link:
            cmd += ["--link", a.link]
        calibrated = None
        if prev_report:
            calibrated = os.path.join(rd, "profile.json")
            cmd += ["--farm", prev_farm, "--measured", prev_report, "--save-profile", calibrated]
        p = run(cmd)
        factors = {}
        for line in p.stderr.splitlines():  # the calibration table: task profiled measured factor
            f = line.split()
            if len(f) == 4 and f[0] != "task":
                try:
                    factors[f[0]] = float(f[3])
                except ValueError:
                    pass
        if calibrated:
            prof = calibrated
        farm_path = os.path.join(rd, "farm-%d.json" % a.devices)
        if not os.path.exists(farm_path):
            raise RuntimeError("no plan for %d devices with %s MiB each:\n%s" % (a.devices, a.mem, p.stderr[-2000:]))
        farm = json.load(open(farm_path))
        layout = layout_of(farm)
        converged = prev_layout is not None and layout == prev_layout
        procs = []
        for task, addrs in farm["node"].items():
            if task == "initial":
                continue
            for addr in addrs:
                port = int(addr.rsplit(":", 1)[1])
                procs.append((port, farmlib.start_node(a.mchair, farm_path, port,
                                                       os.path.join(rd, "node-%s-%d.log" % (task, port)),
                                                       threads=a.threads, wait=False)))
        for port, proc in procs:
            farmlib.wait_port(port, proc)
        report = os.path.join(rd, "report.json")
        t0 = time.time()
        ini = subprocess.run([a.mchair, "initial", "--farm", farm_path, "--repeat", str(a.frames), "--json", report,
                              "--quiet", "--timeout", "60"], capture_output=True, text=True)
        farmlib.stop_all()
        if ini.returncode != 0 or not os.path.exists(report):
            raise RuntimeError("round %d: initial failed (rc %d):\n%s" % (r, ini.returncode,
                                                                       (ini.stdout + ini.stderr)[-3000:]))
        rep = json.load(open(report))
        row = {"round": r, "tasks": describe(farm), "predicted_ips": farm["plan"]["predicted_ips"],
               "measured_throughput_ips": rep["throughput_ips"], "measured_task_s": rep["task_mean_s"],
               "predicted_task_s": {t["name"]: t["compute_s"] for t in farm["plan"]["tasks"]},
               "factors_applied": factors, "profile": prof, "farm": farm_path, "report": report,
               "run_s": time.time() - t0, "same_as_previous": converged}
        rounds.append(row)
        print("round %d: %s | predicted %.2f IPS, measured %.2f/s%s" %
              (r, row["tasks"], row["predicted_ips"], row["measured_throughput_ips"],
               " (plan unchanged: converged)" if converged else ""), flush=True)
        if converged:
            break
        prev_farm, prev_report, prev_layout = farm_path, report, layout
    res = {"model": a.model, "devices": a.devices, "mem_mib": a.mem, "frames": a.frames,
           "converged": rounds[-1]["same_as_previous"], "rounds": rounds}
    with open(os.path.join(a.out, "tune.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("\n| round | tasks | predicted IPS | measured IPS | factors applied |")
    print("|---|---|---|---|---|")
    for x in rounds:
        fa = ", ".join("%s %.2f" % kv for kv in x["factors_applied"].items()) or "-"
        print("| %d | %s | %.2f | %.2f | %s |" % (x["round"], x["tasks"].replace("|", "\\|"), x["predicted_ips"],
                                                 x["measured_throughput_ips"], fa))
    print("%s after %d round(s); %s" % ("converged" if res["converged"] else "not converged", len(rounds),
                                         os.path.join(a.out, "tune.json")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        farmlib.stop_all()
        print("tune.py: %s" % e, file=sys.stderr)
        sys.exit(1)
