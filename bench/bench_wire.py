#!/usr/bin/env python3
"""bench_wire.py - accuracy and speed of the wire encodings (docs/wire.md;
issue 19).  Not a test.

For each model and each cut (the last layer before it: where a farm task
ends and sends its output on), FRAMES random uint8 frames run through the
model in float32 and again with the tensors crossing that cut encoded and
decoded by the nodes' own code (src/net/wire.c, via build/bench_wire), the
rest of the model computed from there.  Prints a table and writes JSON:
top-1 agreement (same top class as float32), top-5 agreement (float32's top
class among the encoded run's five highest), the max and mean over frames of
max |p - p32| / max p32 over the probabilities, the message size against
float32, and encode/decode speed in float32 MB (1e6 bytes) a second on one
thread.  Random weights (seed 1, as `mchair predict`): ref_p1 is float32's
mean top probability, how peaked the output is.

    python3 bench/bench_wire.py [--frames 200] [--models alexnet,vgg16,resnet50]
        [--bench build/bench_wire] [--json bench/results/wire.json]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

CUTS = {
    # the cuts of the artifact's farms (alexnet farm-5: flatten, fc1; vgg16 farm-9:
    # block1_pool, block4_pool, flatten, fc1; farm-11: flatten, fc1) and a few more
    "alexnet": ["pool1", "pool2", "flatten", "fc1"],
    "vgg16": ["block1_pool", "block2_pool", "block3_pool", "block4_pool", "flatten", "fc1"],
    # a cut inside a residual block (two tensors cross it) and between stages
    "resnet50": ["pool1_pool", "conv3_block2_2_conv", "conv3_block4_add", "conv4_block6_add", "avg_pool"],
}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--models", default="alexnet,vgg16,resnet50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", default=os.path.join(here, "build", "bench_wire"))
    ap.add_argument("--json", default=os.path.join(here, "bench", "results", "wire.json"))
    a = ap.parse_args()
    rows, runs = [], []
    load0 = os.getloadavg()
    for model in a.models.split(","):
        t0 = time.time()
        r = subprocess.run([a.bench, model, str(a.frames), "1", ",".join(CUTS[model]), str(a.threads)],
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1
        rows += [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        runs.append({"model": model, "seconds": round(time.time() - t0, 1)})
    load1 = os.getloadavg()
    hdr = "%-9s %-20s %-5s %9s %8s %6s %6s %9s %9s %8s %8s %6s" % (
        "model", "cut", "wire", "bytes", "vs f32", "top1", "top5", "max rel", "mean rel", "enc MB/s", "dec MB/s",
        "p1")
    print(hdr)
    print("-" * len(hdr))
    for x in rows:
        print("%-9s %-20s %-5s %9d %7.2fx %6s %6s %9.2e %9.2e %8.0f %8.0f %6.3f" % (
            x["model"], x["cut"], x["wire"], x["bytes"], x["bytes"] / x["f32_bytes"],
            "%d/%d" % (x["top1"], x["frames"]), "%d/%d" % (x["top5"], x["frames"]), x["max_rel"], x["mean_rel"],
            x["enc_mbps"], x["dec_mbps"], x["ref_p1"]))
    meta = {"processor": cpu_name(), "threads": a.threads, "frames": a.frames,
            "loadavg_before": [round(v, 2) for v in load0], "loadavg_after": [round(v, 2) for v in load1],
            "runs": runs, "note": "random weights (seed 1); inputs mc_input_random_u8 frames scaled to [0, 1]"}
    print("\nprocessor %s, %d threads, load average %.2f before, %.2f after" % (
        meta["processor"], a.threads, load0[0], load1[0]))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print("wrote %s" % a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
