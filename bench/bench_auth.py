#!/usr/bin/env python3
"""bench_auth.py - what the farm key costs, on loopback (not a test).

Three modes, run in turns in the same script (open, then --key-file, then
--key-file --encrypt, repeated --rounds times, so load changes hit all three):

1. Per hop: relay chains of 1 and 4 nodes whose model is only `flatten`
   layers (a copy, no compute; bench_farm.py's), one frame in flight; per hop =
   (L4 - L1) / 3, for 25 KB, 150 KB (the artifact's uint8 frame) and 600 KB
   (a float32 224x224x3 frame) tensors.
2. Farm IPS: AlexNet farm-5 (four node processes, one compute thread each)
   in closed loop with 4 frames in flight: throughput (frames/s) and IPS (1 /
   mean latency).
3. The primitives: `openssl speed` of SHA-256 and AES-256-GCM (the library
   the seals use) on 150 KB blocks, and from it the CPU a hop's seals take
   (sender and receiver: 2 x bytes / throughput; the header MACs are 64-byte
   HMACs, negligible).  On a shared, loaded machine the latencies of 1. and
   2. vary by more than the seals cost; 3. says what they cost.

Prints the processor, the load average and tables (minimum over the rounds
for 1.); writes JSON (--json).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "farm"))
sys.path.insert(0, HERE)
import farmlib  # noqa: E402
from bench_farm import relay_farm, run_initial  # noqa: E402

MODES = [("open", []), ("key", ["--key-file", None]), ("key+encrypt", ["--key-file", None, "--encrypt"])]


def mode_args(mode, key):
    return [key if x is None else x for x in dict(MODES)[mode]]


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def hop_latency(a, work, floats, relays, extra):
    farm, layout = relay_farm(work, floats, relays)
    farmlib.start_farm(a.mchair, farm, layout, work, extra=extra)
    run_initial(a.mchair, farm, work, 20, window=1, extra=extra)  # warm-up
    js = run_initial(a.mchair, farm, work, a.hop_frames, window=1, extra=extra)
    farmlib.stop_all()
    return js["mean_s"]


def farm_ips(a, work, extra):
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm5.json")
    layout = farmlib.farm_file(farm, "alexnet", 5, init_port)
    farmlib.start_farm(a.mchair, farm, layout, work, extra=extra)
    run_initial(a.mchair, farm, work, 10, window=4, extra=extra + ["--listen", "127.0.0.1:%d" % init_port])
    js = run_initial(a.mchair, farm, work, a.farm_frames, window=4,
                     extra=extra + ["--listen", "127.0.0.1:%d" % init_port])
    farmlib.stop_all()
    return js["throughput_ips"], 1.0 / js["mean_s"] if js["mean_s"] > 0 else 0


def openssl_speed(alg):
    """Bytes per second of `openssl speed -evp alg` on 150 KB blocks (0 if unavailable)."""
    try:
        r = subprocess.run(["openssl", "speed", "-seconds", "2", "-bytes", "153600", "-evp", alg],
                           capture_output=True, text=True, timeout=60)
        last = [l for l in r.stdout.splitlines() if l.strip()][-1].split()
        return float(last[-1].rstrip("k")) * 1000
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", default=os.path.join(HERE, "..", "build", "mchair"))
    ap.add_argument("--json", default="bench_auth.json")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hop-frames", type=int, default=200)
    ap.add_argument("--farm-frames", type=int, default=100)
    a = ap.parse_args()
    a.mchair = os.path.abspath(a.mchair)
    work = tempfile.mkdtemp(prefix="mchair-bench-auth-")
    key = os.path.join(work, "farm.key")
    with open(key, "w") as f:
        f.write(os.urandom(24).hex())
    os.chmod(key, 0o600)
    load0 = os.getloadavg()
    out = {"cpu": cpu_name(), "load_before": load0, "hops": {}, "farm": {}}
    sizes = (("25 KB", 6400), ("150 KB", 37632), ("600 KB", 150528))
    try:
        for r in range(a.rounds):
            for mode, _ in MODES:
                extra = mode_args(mode, key)
                for label, floats in sizes:
                    l1 = hop_latency(a, work, floats, 1, extra)
                    l4 = hop_latency(a, work, floats, 4, extra)
                    out["hops"].setdefault(label, {}).setdefault(mode, []).append((l4 - l1) / 3)
                    print("round %d %-12s %-6s per hop %.3f ms" % (r + 1, mode, label, (l4 - l1) / 3 * 1e3),
                          flush=True)
                tput, ips = farm_ips(a, work, extra)
                out["farm"].setdefault(mode, []).append({"throughput": tput, "ips": ips})
                print("round %d %-12s AlexNet farm-5: %.1f frames/s, IPS %.1f" % (r + 1, mode, tput, ips), flush=True)
    finally:
        farmlib.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    out["sha256_Bps"], out["aes256gcm_Bps"] = openssl_speed("sha256"), openssl_speed("aes-256-gcm")
    print("\n%s; load average %.2f before, %.2f after" % (out["cpu"], load0[0], out["load_after"][0]))
    print("| tensor | open ms/hop | key ms/hop | key+encrypt ms/hop | key - open | encrypt - open |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, _ in sizes:
        m = {mode: min(v) for mode, v in out["hops"][label].items()}
        print("| %s | %.3f | %.3f | %.3f | %+.3f | %+.3f |" % (label, m["open"] * 1e3, m["key"] * 1e3,
              m["key+encrypt"] * 1e3, (m["key"] - m["open"]) * 1e3, (m["key+encrypt"] - m["open"]) * 1e3))
    sha, gcm = out["sha256_Bps"], out["aes256gcm_Bps"]
    if sha and gcm:
        print("\nopenssl speed (150 KB blocks): SHA-256 %.2f GB/s, AES-256-GCM %.2f GB/s; the seals of one hop "
              "(sender + receiver):" % (sha / 1e9, gcm / 1e9))
        print("| tensor | key (HMAC-SHA256) ms | key+encrypt (AES-256-GCM) ms |")
        print("| --- | --- | --- |")
        for label, floats in sizes:
            b = 4 * floats
            print("| %s | %.3f | %.3f |" % (label, 2 * b / sha * 1e3, 2 * b / gcm * 1e3))
    print("\n| AlexNet farm-5 | frames/s (each round) | IPS 1/mean (each round) | frames/s vs open |")
    print("| --- | --- | --- | --- |")
    best_open = max(x["throughput"] for x in out["farm"]["open"])
    for mode, _ in MODES:
        v = out["farm"][mode]
        print("| %s | %s | %s | %.2f |" % (mode, ", ".join("%.1f" % x["throughput"] for x in v),
                                          ", ".join("%.1f" % x["ips"] for x in v),
                                          max(x["throughput"] for x in v) / best_open))
    json.dump(out, open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
