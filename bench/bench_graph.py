#!/usr/bin/env python3
"""Batch-1 latency of the journal's graph models (ResNet50, Xception, C3D):
mchair's CPU engine vs ONNX Runtime and PyTorch.

The method is bench_engine.py's, whose functions this reuses: the same
weights (mchair's seeded random weights, dumped with --save-weights) and the
same input for all three engines, the same number of threads, one process,
engines in turns (3 rounds of blocks), median of --repeat runs after a
warm-up; ours through libmchair.so (mc_net_forward), ORT on the graph from
tests/reference/onnx_model.py (all graph optimizations: it folds the
batchnorms its own way), PyTorch eager (bench/torch_graph.py).  Outputs of
ORT and PyTorch are compared with ours, so a fast but wrong baseline shows;
the peak RSS is `mchair predict --json`'s.

Prints a table and writes JSON (--out, default bench/results/graph.json).
Timings are not pass/fail: this is a benchmark, not a test.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
if "OMP_WAIT_POLICY" not in os.environ:  # as bench_engine.py and the mchair CLI
    os.environ.setdefault("GOMP_SPINCOUNT", "3000")

if __name__ == "__main__":  # libmchair.so (and its OpenMP OpenBLAS) before numpy, as bench_engine.py does
    _arg = [a for a in sys.argv if a.startswith("--mchair=")]
    _exe = _arg[0].split("=", 1)[1] if _arg else os.path.join(ROOT, "build", "mchair")
    import bench_engine as be  # noqa: E402
    _lib = os.path.join(os.path.dirname(os.path.abspath(_exe)), "libmchair.so")
    if os.path.exists(_lib):
        be.load_libmchair(_lib)
else:
    import bench_engine as be  # noqa: E402

import numpy as np  # noqa: E402
import onnx_model as om  # noqa: E402
from torch_graph import torch_model  # noqa: E402


def channels_first(x):
    return np.ascontiguousarray(x.transpose(0, x.ndim - 1, *range(1, x.ndim - 1)))


def main():
    ap = argparse.ArgumentParser(description="batch-1 latency of the graph models: mchair vs ONNX Runtime vs PyTorch")
    ap.add_argument("--mchair", default=os.path.join(ROOT, "build", "mchair"))
    ap.add_argument("--models", default="resnet50,xception,c3d")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per engine (median reported)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "graph.json"))
    a = ap.parse_args()
    exe = os.path.abspath(a.mchair)
    if be._LIBMCHAIR is None:
        sys.exit("bench_graph: libmchair.so not found next to %s (pass --mchair=PATH with '=')" % exe)
    import onnxruntime
    import torch
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    load0 = os.getloadavg()
    res = {"machine": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "threads": a.threads,
           "repeat": a.repeat, "loadavg_before": load0,
           "versions": {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "numpy": np.__version__},
           "blas": be.openblas_path(exe), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "models": {}}
    tmp = tempfile.mkdtemp(prefix="mchair-bench-graph-")
    try:
        for name in a.models.split(","):
            _, in_shape, layers = om.builtin_model(name)
            gflop = 2.0 * om.macs(layers) / 1e9
            rep, wf, xf, _ = be.run_ours(exe, name, a.threads, 1, tmp)  # weights, input, peak RSS
            weights = om.read_weights(wf)
            om.check_weights(layers, weights)
            x = np.fromfile(xf, dtype="<f4").reshape((1,) + in_shape)
            ours = be.InProcess(be._LIBMCHAIR, name, wf, a.threads)
            os.remove(wf)
            sess = om.ort_session(om.build_onnx(layers, weights), threads=a.threads, optimize=True)
            torch.set_num_threads(a.threads)
            tm = torch_model(layers, weights)
            del weights
            xt = torch.from_numpy(channels_first(x))
            with torch.inference_mode():
                (o_med, o_lat, y), (r_med, r_lat, r_out), (t_med, t_lat, t_out) = be.interleaved(
                    [lambda: ours(x).copy(), lambda: sess.run(["output"], {"input": x})[0],
                     lambda: tm(xt).numpy()], a.repeat)
            ours.close()
            sess = tm = None
            r = {"gflop": gflop,
                 "ours": {"median_s": o_med, "latency_s": o_lat, "gflops": gflop / o_med,
                          "peak_rss_bytes": rep["peak_rss_bytes"], "param_bytes": rep["param_bytes"]},
                 "onnxruntime": {"median_s": r_med, "latency_s": r_lat, "gflops": gflop / r_med,
                                 "max_rel_err_vs_ours": be.rel_err(y, r_out)},
                 "torch": {"median_s": t_med, "latency_s": t_lat, "gflops": gflop / t_med,
                           "max_rel_err_vs_ours": be.rel_err(y, t_out)},
                 "ours_over_ort": o_med / r_med, "ours_over_torch": o_med / t_med}
            res["models"][name] = r
            print("%s: ours %.1f ms, ORT %.1f ms (rel err %.1e), torch %.1f ms (rel err %.1e), peak RSS %.0f MB"
                  % (name, o_med * 1e3, r_med * 1e3, r["onnxruntime"]["max_rel_err_vs_ours"], t_med * 1e3,
                     r["torch"]["max_rel_err_vs_ours"], rep["peak_rss_bytes"] / 1e6), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_after"] = os.getloadavg()
    print("\n%s, BLAS %s\nbatch 1, %d threads, one process, 3 rounds of blocks per engine, median of %d runs"
          " (load average %.1f before, %.1f after)" % (cpu, res["blas"], a.threads, a.repeat, load0[0],
                                                       res["loadavg_after"][0]))
    hdr = "%-9s %7s %9s %9s %9s %9s %11s %12s %8s" % ("model", "GFLOP", "ours ms", "ORT ms", "torch ms", "ours/ORT",
                                                      "ours/torch", "ours GFLOP/s", "RSS MB")
    print(hdr)
    print("-" * len(hdr))
    for name, r in res["models"].items():
        print("%-9s %7.1f %9.1f %9.1f %9.1f %9.2f %11.2f %12.1f %8.0f"
              % (name, r["gflop"], r["ours"]["median_s"] * 1e3, r["onnxruntime"]["median_s"] * 1e3,
                 r["torch"]["median_s"] * 1e3, r["ours_over_ort"], r["ours_over_torch"], r["ours"]["gflops"],
                 r["ours"]["peak_rss_bytes"] / 1e6))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print("wrote %s" % a.out)


if __name__ == "__main__":
    main()
