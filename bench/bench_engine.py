#!/usr/bin/env python3
"""Batch-1 latency of mchair's CPU engine vs ONNX Runtime, OpenVINO and PyTorch.

For each model (AlexNet, VGG16 and the journal's graph models ResNet50,
Xception and C3D) and each thread count (default: this
machine's cores, then 1), every engine runs the same network with identical
weights (mchair's seeded random weights, dumped with --save-weights) on the
same input, in turns (3 rounds; in each, every engine runs a warm-up and a
block of timed runs), so that load from other processes hits all alike:
  ours        libmchair.so in this process through ctypes (mc_net_forward),
              with the OpenBLAS core mchair selects (see "BLAS core" below);
              `mchair predict --json` runs once as well for its peak RSS
  ORT         onnxruntime (this interpreter), graph from tests/reference/onnx_model.py
  torch-deb   Debian's python3-torch (this interpreter), bench/torch_graph.py's
              modules (NCHW, NCDHW for clips)
  torch-pypi  a current PyTorch from PyPI      } in the peer interpreter
  OpenVINO    PyPI openvino, f32, latency hint } (--peer-python, below)
Peers run in their own processes (bench/peer_worker.py), driven over a pipe.
A peer that cannot start is skipped with a printed note.  Every peer's output
is compared with ours (max rel err), so a fast but wrong peer would show.

BLAS core: `mchair predict --json` reports which OpenBLAS core mchair runs
(src/backend/cpu_blas.c: it replaces OpenBLAS' generic fallback with the
core that fits the processor); this process sets OPENBLAS_CORETYPE the same
way before loading libmchair.so, so ours in-process and the sgemm ceiling
(a large OpenBLAS sgemm through ctypes, the machine's practical GFLOP/s
ceiling) use that core.

Prints a table and writes JSON (--out, default bench/results/engine.json).
Timings are not pass/fail: this is a benchmark, not a test.
"""
import argparse
import ctypes
import ctypes.util
import json
import math
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
# The `mchair predict` column runs without what this script set (SHIPPED_ENV).
_SET_HERE = []
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "3000"  # as src/cli/main.c: spin briefly, then sleep
    _SET_HERE.append("GOMP_SPINCOUNT")
_LIBMCHAIR = None


def load_libmchair(path):
    global _LIBMCHAIR
    if _LIBMCHAIR is None:
        _LIBMCHAIR = ctypes.CDLL(path)
    return _LIBMCHAIR


def blas_info(exe):
    """What `mchair predict` reports about the processor and OpenBLAS core
    (the "blas" object of its JSON), from a one-layer model; None if it fails."""
    d = tempfile.mkdtemp(prefix="mchair-blas-")
    try:
        model, js = os.path.join(d, "tiny.mcm"), os.path.join(d, "tiny.json")
        with open(model, "w") as f:
            f.write("input 8 8 4\nconv2d c filters=4 kernel=3 padding=same\n")
        env = {k: v for k, v in os.environ.items() if k not in ("MCHAIR_BLAS_CORE_FROM",)}
        r = subprocess.run([exe, "predict", "--model", model, "--repeat", "1", "--warmup", "0", "--quiet",
                            "--json", js], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                           universal_newlines=True)
        if r.returncode != 0:
            return None
        with open(js) as f:
            return json.load(f).get("blas")
    finally:
        shutil.rmtree(d, ignore_errors=True)


BLAS = None
if __name__ == "__main__":
    _lib_arg = [a for a in sys.argv if a.startswith("--mchair=")]
    _exe = _lib_arg[0].split("=", 1)[1] if _lib_arg else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "mchair")
    _libpath = os.path.join(os.path.dirname(os.path.abspath(_exe)), "libmchair.so")
    if os.access(_exe, os.X_OK):
        BLAS = blas_info(_exe)
    # The same core as the mchair processes: OpenBLAS reads the variable only
    # when it loads, which happens with libmchair.so below.
    if BLAS and BLAS.get("source") == "auto":
        os.environ["OPENBLAS_CORETYPE"] = BLAS["core"]
        os.environ["MCHAIR_BLAS_CORE_FROM"] = BLAS["openblas_choice"]
        _SET_HERE += ["OPENBLAS_CORETYPE", "MCHAIR_BLAS_CORE_FROM"]
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

ENV_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
            "MCHAIR_BLAS_CORE_FROM")


def shipped_env():
    """The environment a user's `mchair predict` gets: without what this script set."""
    return {k: v for k, v in os.environ.items() if k not in _SET_HERE}


def run_ours(exe, name, threads, repeat, tmp):
    """Dumps weights/input (1 untimed inference), then the timed run with the same seed,
    as a user runs it (the CLI, its own settings: shipped_env())."""
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
                   check=True, stdout=subprocess.DEVNULL, env=shipped_env())
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


# --------------------------------------------------------------------------- peers

class Peer:
    """A peer engine in its own process (bench/peer_worker.py)."""

    def __init__(self, label, python, engine, name, wf, xf, threads):
        self.label, self.python, self.engine = label, python, engine
        self.proc = subprocess.Popen([python, os.path.join(HERE, "peer_worker.py"), engine, name, wf, xf, str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
        hello = self._read()
        if not hello or "error" in hello:
            self.close()
            raise RuntimeError(hello.get("error") if hello else "worker exited")
        self.version = hello["version"]

    def _read(self):
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def _ask(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        r = self._read()
        if r is None:
            raise RuntimeError("%s worker exited" % self.label)
        return r

    def block(self, n, warmup):
        return self._ask({"run": n, "warmup": warmup})["lat"]

    def output(self, path):
        self._ask({"save": path})
        return np.fromfile(path, dtype="<f4")

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


PAUSE_S = 0.2
WARM_S = 0.2
WARM_MAX = 30


def interleaved_blocks(blocks, repeat, warmup=1, rounds=3):
    """blocks[i](n, warmup) runs engine i n times after `warmup` untimed runs
    and returns the n latencies.  Each round gives every engine a warm-up and
    its share of the timed runs back to back: blocks, not single runs,
    because a thread pool keeps spinning for a while after a run (ONNX
    Runtime's does by default) and would slow whichever engine ran next;
    rounds, so that load from other processes hits all engines alike.  Before
    each block a pause of PAUSE_S, so that the engine before has stopped
    spinning, and warm-up runs of WARM_S at least (from a first timing of
    each engine), so that the machine has left its idle state: on the 2-core
    VM, after 0.5 s with both cores idle, AlexNet's 2nd to 4th runs took
    13-17 ms against 6-7 ms after (the first run 8-9 ms; nothing of the kind
    with one core kept busy, or with 1 thread); an engine whose threads spin
    between runs hides it, one whose threads sleep does not.
    Returns per engine (median, latencies)."""
    lat = [[] for _ in blocks]
    per = [repeat // rounds + (1 if r < repeat % rounds else 0) for r in range(rounds)]
    warm = []
    for b in blocks:  # a first timing: how many runs make WARM_S
        t = b(1, warmup)[0]
        warm.append(max(warmup, min(WARM_MAX, int(math.ceil(WARM_S / max(t, 1e-4))))))
    for r in range(rounds):
        for i, b in enumerate(blocks):
            time.sleep(PAUSE_S)
            lat[i] += b(per[r], warm[i])
    return [(float(np.median(l)), l) for l in lat]


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

DEFAULT_PEER_PYTHON = "/work/venvs/engine/bin/python3"


def peer_specs(peer_python):
    """(label, interpreter, engine) of every peer, and notes on those skipped."""
    specs = [("ORT", sys.executable, "onnxruntime"), ("torch-deb", sys.executable, "torch")]
    notes = []
    if peer_python and os.access(peer_python, os.X_OK):
        specs += [("torch-pypi", peer_python, "torch"), ("OpenVINO", peer_python, "openvino")]
    else:
        notes.append("no peer interpreter (--peer-python / MCHAIR_BENCH_PEER_PYTHON: %s): PyPI torch and OpenVINO "
                     "skipped" % (peer_python or "unset"))
    return specs, notes


def bench_model(exe, name, threads, repeat, peer_python, tmp, notes):
    _, in_shape, layers = om.builtin_model(name)
    gflop = 2.0 * om.macs(layers) / 1e9
    rep, wf, xf, _ = run_ours(exe, name, threads, repeat, tmp)  # weights, input, peak RSS, the CLI's time
    x = np.fromfile(xf, dtype="<f4").reshape((1,) + in_shape)
    ours = InProcess(_LIBMCHAIR, name, wf, threads)
    peers = []
    specs, _ = peer_specs(peer_python)
    for label, py, engine in specs:
        try:
            peers.append(Peer(label, py, engine, name, wf, xf, threads))
        except (RuntimeError, OSError) as e:
            note = "%s (%s %s) skipped: %s" % (label, engine, py, e)
            if note not in notes:
                notes.append(note)
            print("note: " + note, flush=True)
    y = [None]

    def ours_block(n, warmup):
        for _ in range(warmup):
            ours(x)
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            y[0] = ours(x).copy()
            lat.append(time.perf_counter() - t0)
        return lat

    try:
        res = interleaved_blocks([ours_block] + [p.block for p in peers], repeat)
        r = {"gflop": gflop, "threads": threads,
             "ours": {"median_s": res[0][0], "latency_s": res[0][1], "gflops": gflop / res[0][0],
                      "cli_median_s": rep["median_s"], "cli_env": {k: v for k, v in shipped_env().items()
                                                                   if k in ENV_KEYS},
                      "peak_rss_bytes": rep["peak_rss_bytes"], "param_bytes": rep["param_bytes"]},
             "peers": {}}
        for p, (med, lat) in zip(peers, res[1:]):
            out = p.output(os.path.join(tmp, "peer.out"))
            r["peers"][p.label] = {"engine": p.engine, "version": p.version, "python": p.python, "median_s": med,
                                   "latency_s": lat, "gflops": gflop / med,
                                   "max_rel_err_vs_ours": rel_err(y[0], out),
                                   "ours_over_peer": res[0][0] / med}
    finally:
        ours.close()
        for p in peers:
            p.close()
        os.remove(wf)
    if name == "vgg16":
        r["rss_target_bytes"] = RSS_TARGET
        r["rss_within_target"] = rep["peak_rss_bytes"] <= RSS_TARGET
    return r


def main():
    ap = argparse.ArgumentParser(description="batch-1 latency: mchair vs ONNX Runtime, OpenVINO and PyTorch")
    ap.add_argument("--mchair", default=os.path.join(ROOT, "build", "mchair"))
    ap.add_argument("--models", default="alexnet,vgg16,resnet50,xception,c3d")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per engine (median reported)")
    ncores = len(os.sched_getaffinity(0))
    ap.add_argument("--threads", default="%d,1" % ncores if ncores > 1 else "1",
                    help="comma-separated thread counts, each run for every engine (default: cores, then 1)")
    ap.add_argument("--peer-python", default=os.environ.get("MCHAIR_BENCH_PEER_PYTHON", DEFAULT_PEER_PYTHON),
                    help="interpreter with PyPI torch and openvino (default: $MCHAIR_BENCH_PEER_PYTHON, else %s)"
                    % DEFAULT_PEER_PYTHON)
    ap.add_argument("--sgemm-n", type=int, default=2048, help="size of the sgemm ceiling run (0: skip)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "engine.json"))
    a = ap.parse_args()

    exe = os.path.abspath(a.mchair)
    if not os.access(exe, os.X_OK):
        sys.exit("bench_engine: %s is not an executable (build first: bash scripts/build.sh build)" % exe)
    if _LIBMCHAIR is None:
        sys.exit("bench_engine: libmchair.so not found next to %s (pass --mchair=PATH with '=')" % exe)
    threads_list = [int(t) for t in str(a.threads).split(",") if t]
    lib = openblas_path(exe)
    ob = ctypes.CDLL(lib) if lib else None
    if ob:
        ob.openblas_get_corename.restype = ctypes.c_char_p
    in_process_core = ob.openblas_get_corename().decode() if ob else "?"
    blas = BLAS or {}
    load0 = os.getloadavg()
    _, notes = peer_specs(a.peer_python)
    res = {"machine": platform.node(), "processor": blas.get("processor", platform.processor()),
           "cpu_flags": blas.get("cpu_flags"), "blas": blas, "blas_core_in_process": in_process_core,
           "cpu_count": os.cpu_count(), "threads": threads_list, "repeat": a.repeat, "loadavg_before": load0,
           "versions": {"numpy": np.__version__, "python": platform.python_version()},
           "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ}, "env_set_by_script": _SET_HERE,
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sgemm": {}, "runs": {}, "notes": notes}
    print("processor: %s (%s)" % (res["processor"], blas.get("cpu_flags", "?")))
    print("OpenBLAS core: %s (%s%s); in this process: %s; %s" % (
        blas.get("core", "?"), blas.get("source", "?"),
        ", OpenBLAS chose %s" % blas.get("openblas_choice") if blas.get("source") == "auto" else "",
        in_process_core, blas.get("config", "")))
    if blas.get("mismatch"):
        print("WARNING: " + blas.get("note", ""))
    for n in notes:
        print("note: " + n)

    tmp = tempfile.mkdtemp(prefix="mchair-bench-")
    try:
        for t in threads_list:
            sg = None
            if a.sgemm_n > 0 and lib:
                g, med, ok = sgemm_gflops(lib, a.sgemm_n, t, max(3, min(a.repeat, 5)))
                sg = {"library": lib, "core": in_process_core, "n": a.sgemm_n, "gflops": g, "median_s": med,
                      "result_checked": ok}
                print("OpenBLAS sgemm %dx%d (%s, core %s, %d threads): %.1f GFLOP/s%s"
                      % (a.sgemm_n, a.sgemm_n, lib, in_process_core, t, g, "" if ok else "  WRONG RESULT"), flush=True)
            res["sgemm"][str(t)] = sg
            runs = res["runs"].setdefault(str(t), {})
            for name in a.models.split(","):
                r = bench_model(exe, name, t, a.repeat, a.peer_python, tmp, notes)
                if sg:
                    r["ours_fraction_of_sgemm"] = r["ours"]["gflops"] / sg["gflops"]
                runs[name] = r
                print("%s, %d threads: ours %.1f ms%s, peak RSS %.0f MB" % (
                    name, t, r["ours"]["median_s"] * 1e3,
                    "".join(", %s %.1f ms (rel err %.1e)" % (k, v["median_s"] * 1e3, v["max_rel_err_vs_ours"])
                            for k, v in r["peers"].items()), r["ours"]["peak_rss_bytes"] / 1e6), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_after"] = os.getloadavg()

    labels = ["ORT", "torch-deb", "torch-pypi", "OpenVINO"]
    vers = {}
    for runs in res["runs"].values():
        for r in runs.values():
            for k, v in r["peers"].items():
                vers[k] = v["version"]
    print("\nbatch 1, engines in turns (3 rounds of blocks), median of %d runs; load average %.1f before, %.1f after"
          % (a.repeat, load0[0], res["loadavg_after"][0]))
    print("ours ms: libmchair in this process (settings as the CLI's: %s); CLI ms: `mchair predict --repeat %d`"
          " as a user runs it, nothing set by this script" % (
              ", ".join("%s=%s" % (k, os.environ[k]) for k in _SET_HERE) or "none", a.repeat))
    print("processor %s; OpenBLAS core %s (%s); peers: %s" % (
        res["processor"], blas.get("core", "?"), blas.get("source", "?"),
        ", ".join("%s %s" % (k, vers[k]) for k in labels if k in vers)))
    hdr = "%-8s %3s %8s %8s" % ("model", "thr", "ours ms", "CLI ms") + "".join(" %10s" % (k + " ms") for k in labels) + \
        "".join(" %9s" % ("/" + k) for k in ("ORT", "OpenVINO", "torch-pypi")) + " %8s %8s %7s" % (
            "GFLOP/s", "of sgemm", "RSS MB")
    print(hdr)
    print("-" * len(hdr))
    for t, runs in res["runs"].items():
        for name, r in runs.items():
            p = r["peers"]
            line = "%-8s %3s %8.1f %8.1f" % (name, t, r["ours"]["median_s"] * 1e3, r["ours"]["cli_median_s"] * 1e3)
            line += "".join(" %10s" % ("%.1f" % (p[k]["median_s"] * 1e3) if k in p else "-") for k in labels)
            line += "".join(" %9s" % ("%.2f" % p[k]["ours_over_peer"] if k in p else "-")
                            for k in ("ORT", "OpenVINO", "torch-pypi"))
            line += " %8.1f %8s %7.0f" % (r["ours"]["gflops"], "%.0f%%" % (100 * r["ours_fraction_of_sgemm"])
                                          if "ours_fraction_of_sgemm" in r else "-",
                                          r["ours"]["peak_rss_bytes"] / 1e6)
            print(line)
    for t, sg in res["sgemm"].items():
        if sg:
            print("sgemm ceiling, %s threads: %.1f GFLOP/s (OpenBLAS %dx%d, core %s)" % (t, sg["gflops"], sg["n"], sg["n"],
                                                                                      sg["core"]))
    for t, runs in res["runs"].items():
        if "vgg16" in runs:
            r = runs["vgg16"]
            print("vgg16 peak RSS (%s threads) %.0f MB vs target %.0f MB: %s" % (
                t, r["ours"]["peak_rss_bytes"] / 1e6, RSS_TARGET / 1e6, "within" if r["rss_within_target"] else "OVER"))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print("wrote %s" % a.out)


if __name__ == "__main__":
    main()
