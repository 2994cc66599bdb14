#!/usr/bin/env python3
"""Batch-1 latency of mchair's CPU engine vs ONNX Runtime and PyTorch.

For each model (AlexNet, VGG16) all three run the same network with identical
weights (mchair's seeded random weights, dumped with --save-weights) on the
same input, with the same number of threads, in this one process, in turns
(3 rounds; in each, every engine runs a warm-up and a block of timed runs),
so that load from other processes hits all three alike:
  ours   libmchair.so through ctypes (mc_net_forward), median of --repeat runs
         after 1 warm-up; `mchair predict --json` runs once as well for its peak RSS
  ORT    onnxruntime, graph from tests/reference/onnx_model.py (intra_op = threads,
         inter_op = 1, all graph optimizations), median of --repeat runs after 1 warm-up
  torch  torch.nn modules (NCHW, ZeroPad2d for TensorFlow SAME padding),
         torch.set_num_threads(threads), inference_mode, median after 1 warm-up
The outputs of ORT and torch are compared with ours (max rel err) so a fast but
wrong baseline would show.  A large OpenBLAS sgemm (the library mchair links,
called through ctypes) gives the practical GFLOP/s ceiling of this machine.

Prints a table and writes JSON (--out, default bench/results/engine.json).
Timings are not pass/fail: this is a benchmark, not a test.
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Before anything loads libgomp or OpenBLAS: mchair's own setting (the CLI
# re-execs itself with it) and the OpenMP build of OpenBLAS that libmchair.so
# links (its RUNPATH), which must be the first libopenblas.so.0 in the process.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
_LIBMCHAIR = None


def load_libmchair(path):
    global _LIBMCHAIR
    if _LIBMCHAIR is None:
        _LIBMCHAIR = ctypes.CDLL(path)
    return _LIBMCHAIR


if __name__ == "__main__":
    _lib_arg = [a for a in sys.argv if a.startswith("--mchair=")]
    _exe = _lib_arg[0].split("=", 1)[1] if _lib_arg else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "mchair")
    _libpath = os.path.join(os.path.dirname(os.path.abspath(_exe)), "libmchair.so")
    if os.path.exists(_libpath):
        load_libmchair(_libpath)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import onnx_model as om  # noqa: E402

SEED = 1
RSS_TARGET = 700e6  # VGG16 peak RSS target (DESIGN.md)


def rel_err(a, ref):
    a, ref = np.asarray(a, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30))


def timed(fn, repeat, warmup=1):
    for _ in range(warmup):
        out = fn()
    lat = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        lat.append(time.perf_counter() - t0)
    return float(np.median(lat)), lat, out


# --------------------------------------------------------------------------- ours

def run_ours(exe, name, threads, repeat, tmp):
    """Dumps weights/input (1 untimed inference), then the timed run with the same seed."""
    wf, xf = os.path.join(tmp, name + ".weights"), os.path.join(tmp, name + ".input")
    base = [exe, "predict", "--model", name, "--seed", str(SEED), "--threads", str(threads), "--quiet"]
    subprocess.run(base + ["--repeat", "1", "--warmup", "0", "--save-weights", wf, "--save-input", xf],
                   check=True, stdout=subprocess.DEVNULL)
    jf, yf = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".output")
    # --input makes every timed run use the same frame as the baselines.
    # Started through a small sh: Linux keeps the ru_maxrss high-water mark
    # across execve, so mchair exec'd straight from this (large) Python
    # process would report Python's peak RSS as its own.
    subprocess.run(["sh", "-c", '"$0" "$@"; exit $?'] + base +
                   ["--repeat", str(repeat), "--warmup", "1", "--input", xf, "--output", yf, "--json", jf],
                   check=True, stdout=subprocess.DEVNULL)
    with open(jf) as f:
        rep = json.load(f)
    return rep, wf, xf, np.fromfile(yf, dtype="<f4")


class InProcess:
    """mchair's engine in this process: model, weights file, CPU backend, net."""

    def __init__(self, lib, name, weights_file, threads):
        self.lib = lib
        lib.mc_error_last.restype = ctypes.c_char_p
        self.model = ctypes.create_string_buffer(4096)
        self.net = ctypes.create_string_buffer(4096)
        self.be = ctypes.c_void_p()
        self.check(lib.mc_model_open(name.encode(), self.model), "model")
        n = ctypes.c_int.from_buffer(self.model, 64).value  # mc_model.n_layers (name[48], shape[16])
        self.check(lib.mc_weights_load(self.model, 0, n, weights_file.encode()), "weights")
        self.check(lib.mc_backend_create(0, threads, ctypes.byref(self.be)), "backend")
        self.check(lib.mc_net_init(self.net, self.model, 0, n, self.be), "net")
        lib.mc_net_out_count.restype = ctypes.c_size_t
        self.out = np.zeros(lib.mc_net_out_count(self.net), np.float32)

    def check(self, st, what):
        if st != 0:
            raise RuntimeError("libmchair %s: %s" % (what, self.lib.mc_error_last().decode()))

    def __call__(self, x):
        fp = ctypes.POINTER(ctypes.c_float)
        self.check(self.lib.mc_net_forward(self.net, x.ctypes.data_as(fp), self.out.ctypes.data_as(fp)), "forward")
        return self.out

    def close(self):
        self.lib.mc_net_free(self.net)
        self.lib.mc_backend_destroy(self.be)
        self.lib.mc_model_free(self.model)


def interleaved(fns, repeat, warmup=1, rounds=3):
    """Runs the engines in turn, in blocks: each round gives every engine a
    warm-up and then its share of the timed runs back to back.  Blocks, not
    single runs, because an engine's thread pool keeps spinning for a while
    after a run (ONNX Runtime's does by default) and would slow whichever
    engine ran next; rounds, so that load from other processes hits all the
    engines alike.  Returns per-fn (median, latencies, last output)."""
    outs = [None] * len(fns)
    lat = [[] for _ in fns]
    per = [repeat // rounds + (1 if r < repeat % rounds else 0) for r in range(rounds)]
    for r in range(rounds):
        for i, f in enumerate(fns):
            for _ in range(warmup):
                outs[i] = f()
            for _ in range(per[r]):
                t0 = time.perf_counter()
                outs[i] = f()
                lat[i].append(time.perf_counter() - t0)
    return [(float(np.median(l)), l, o) for l, o in zip(lat, outs)]


# --------------------------------------------------------------------------- ONNX Runtime


# --------------------------------------------------------------------------- PyTorch

def torch_model(layers, weights):
    import torch
    from torch import nn

    class NHWCFlatten(nn.Module):  # Keras/mchair flatten order
        def forward(self, x):
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)

    mods = []
    for L in layers:
        op, nm = L["op"], L["name"]
        if op == "conv2d":
            pt, pb, pl, pr = L["pads"]
            if (pt, pl) == (pb, pr):
                pad = (pt, pl)
            else:
                mods.append(nn.ZeroPad2d((pl, pr, pt, pb)))
                pad = 0
            c = nn.Conv2d(L["in"][2], L["units"], (L["kh"], L["kw"]), stride=(L["sh"], L["sw"]), padding=pad)
            c.weight.data = torch.from_numpy(np.ascontiguousarray(weights[nm + ".weight"].transpose(3, 2, 0, 1)))
            c.bias.data = torch.from_numpy(weights[nm + ".bias"].copy())
            mods.append(c)
        elif op == "maxpool2d":
            pt, pb, pl, pr = L["pads"]
            if (pt, pb, pl, pr) != (0, 0, 0, 0):
                mods.append(nn.ConstantPad2d((pl, pr, pt, pb), float("-inf")))
            mods.append(nn.MaxPool2d((L["kh"], L["kw"]), stride=(L["sh"], L["sw"])))
        elif op == "flatten":
            mods.append(NHWCFlatten())
        elif op == "dense":
            d = nn.Linear(L["in"][0], L["units"])
            d.weight.data = torch.from_numpy(weights[nm + ".weight"].copy())  # [out][in], as ours
            d.bias.data = torch.from_numpy(weights[nm + ".bias"].copy())
            mods.append(d)
        elif op == "relu":
            mods.append(nn.ReLU())
        elif op == "softmax":
            mods.append(nn.Softmax(dim=-1))
        if L["act"] == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif L["act"] == "softmax":
            mods.append(nn.Softmax(dim=-1))
    return nn.Sequential(*mods).eval()



# --------------------------------------------------------------------------- sgemm ceiling

def openblas_path(exe):
    """The libopenblas mchair links (from ldd), else the default one."""
    try:
        txt = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, universal_newlines=True).stdout
        m = re.search(r"(\S*libopenblas\S*\.so\S*) => (\S+)", txt)
        if m:
            return m.group(2)
    except OSError:
        pass
    return ctypes.util.find_library("openblas")


def sgemm_gflops(lib_path, n, threads, repeat):
    lib = ctypes.CDLL(lib_path)
    lib.openblas_set_num_threads(ctypes.c_int(threads))
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    c = np.zeros((n, n), np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    f = lib.cblas_sgemm
    f.restype = None
    f.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int, ctypes.c_float,
                                       fp, ctypes.c_int]
    RowMajor, NoTrans = 101, 111

    def call():
        f(RowMajor, NoTrans, NoTrans, n, n, n, 1.0, a.ctypes.data_as(fp), n, b.ctypes.data_as(fp), n, 0.0,
          c.ctypes.data_as(fp), n)

    med, lat, _ = timed(call, repeat)
    ok = rel_err(c[:64, :64], a[:64] @ b[:, :64]) < 1e-4  # the call computed a product
    return 2.0 * n ** 3 / med / 1e9, med, ok


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="batch-1 latency: mchair vs ONNX Runtime vs PyTorch")
    ap.add_argument("--mchair", default=os.path.join(ROOT, "build", "mchair"))
    ap.add_argument("--models", default="alexnet,vgg16")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per engine (median reported)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads for every engine (default: this machine's cores)")
    ap.add_argument("--sgemm-n", type=int, default=2048, help="size of the sgemm ceiling run (0: skip)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "engine.json"))
    a = ap.parse_args()

    exe = os.path.abspath(a.mchair)
    if not os.access(exe, os.X_OK):
        sys.exit("bench_engine: %s is not an executable (build first: bash scripts/build.sh build)" % exe)
    if _LIBMCHAIR is None:
        sys.exit("bench_engine: libmchair.so not found next to %s (pass --mchair=PATH with '=')" % exe)
    import onnxruntime
    import torch
    load0 = os.getloadavg()
    res = {"machine": platform.node(), "cpu_count": os.cpu_count(), "threads": a.threads, "repeat": a.repeat,
           "loadavg_before": load0, "versions": {"onnxruntime": onnxruntime.__version__,
                                                 "torch": torch.__version__, "numpy": np.__version__},
           "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")
                   if k in os.environ},
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "models": {}}

    sg = None
    if a.sgemm_n > 0:
        lib = openblas_path(exe)
        if lib:
            g, t, ok = sgemm_gflops(lib, a.sgemm_n, a.threads, max(3, min(a.repeat, 5)))
            sg = {"library": lib, "n": a.sgemm_n, "gflops": g, "median_s": t, "result_checked": ok}
            print("OpenBLAS sgemm %dx%d (%s, %d threads): %.1f GFLOP/s (%.3f s)%s"
                  % (a.sgemm_n, a.sgemm_n, lib, a.threads, g, t, "" if ok else "  WRONG RESULT"))
        else:
            print("OpenBLAS not found: no sgemm ceiling")
    res["sgemm"] = sg

    tmp = tempfile.mkdtemp(prefix="mchair-bench-")
    try:
        for name in a.models.split(","):
            _, in_shape, layers = om.builtin_model(name)
            gflop = 2.0 * om.macs(layers) / 1e9
            rep, wf, xf, y = run_ours(exe, name, a.threads, 1, tmp)  # weights, input, peak RSS
            weights = om.read_weights(wf)
            om.check_weights(layers, weights)
            x = np.fromfile(xf, dtype="<f4").reshape((1,) + in_shape)
            ours = InProcess(_LIBMCHAIR, name, wf, a.threads)
            os.remove(wf)
            sess = om.ort_session(om.build_onnx(layers, weights), threads=a.threads, optimize=True)
            torch.set_num_threads(a.threads)
            tm = torch_model(layers, weights)
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            with torch.inference_mode():
                (o_med, o_lat, o_out), (ort_med, ort_lat, ort_out), (th_med, th_lat, th_out) = interleaved(
                    [lambda: ours(x).copy(), lambda: sess.run(["output"], {"input": x})[0],
                     lambda: tm(xt).numpy()], a.repeat)
            ours.close()
            sess = tm = None  # free the baselines' weights before the next model
            y = o_out
            rep["median_s"], rep["latency_s"] = o_med, o_lat
            del weights
            r = {"gflop": gflop,
                 "ours": {"median_s": rep["median_s"], "latency_s": rep["latency_s"], "gflops": gflop / rep["median_s"],
                          "peak_rss_bytes": rep["peak_rss_bytes"], "param_bytes": rep["param_bytes"]},
                 "onnxruntime": {"median_s": ort_med, "latency_s": ort_lat, "gflops": gflop / ort_med,
                                 "max_rel_err_vs_ours": rel_err(y, ort_out)},
                 "torch": {"median_s": th_med, "latency_s": th_lat, "gflops": gflop / th_med,
                           "max_rel_err_vs_ours": rel_err(y, th_out)}}
            r["ours_over_ort"] = rep["median_s"] / ort_med
            r["ours_over_torch"] = rep["median_s"] / th_med
            if sg:
                r["ours_fraction_of_sgemm"] = r["ours"]["gflops"] / sg["gflops"]
            if name == "vgg16":
                r["rss_target_bytes"] = RSS_TARGET
                r["rss_within_target"] = rep["peak_rss_bytes"] <= RSS_TARGET
            res["models"][name] = r
            print("%s: ours %.1f ms, ORT %.1f ms (rel err %.1e), torch %.1f ms (rel err %.1e), peak RSS %.0f MB"
                  % (name, rep["median_s"] * 1e3, ort_med * 1e3, r["onnxruntime"]["max_rel_err_vs_ours"],
                     th_med * 1e3, r["torch"]["max_rel_err_vs_ours"], rep["peak_rss_bytes"] / 1e6), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_after"] = os.getloadavg()

    print("\nbatch 1, %d threads, in one process, 3 rounds of blocks per engine, median of %d runs"
          " (load average %.1f before, %.1f after)"
          % (a.threads, a.repeat, load0[0], res["loadavg_after"][0]))
    hdr = "%-8s %9s %9s %9s %9s %11s %12s %9s %9s" % ("model", "ours ms", "ORT ms", "torch ms", "ours/ORT",
                                                        "ours/torch", "ours GFLOP/s", "of sgemm", "RSS MB")
    print(hdr)
    print("-" * len(hdr))
    for name, r in res["models"].items():
        print("%-8s %9.1f %9.1f %9.1f %9.2f %11.2f %12.1f %9s %9.0f"
              % (name, r["ours"]["median_s"] * 1e3, r["onnxruntime"]["median_s"] * 1e3, r["torch"]["median_s"] * 1e3,
                 r["ours_over_ort"], r["ours_over_torch"], r["ours"]["gflops"],
                 "%.0f%%" % (100 * r["ours_fraction_of_sgemm"]) if sg else "-", r["ours"]["peak_rss_bytes"] / 1e6))
    if sg:
        print("sgemm ceiling: %.1f GFLOP/s (OpenBLAS %dx%d, %d threads)" % (sg["gflops"], sg["n"], sg["n"], a.threads))
    if "vgg16" in res["models"]:
        r = res["models"]["vgg16"]
        print("vgg16 peak RSS %.0f MB vs target %.0f MB: %s" % (r["ours"]["peak_rss_bytes"] / 1e6, RSS_TARGET / 1e6,
                                                               "within" if r["rss_within_target"] else "OVER"))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print("wrote %s" % a.out)


if __name__ == "__main__":
    main()
