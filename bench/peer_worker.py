#!/usr/bin/env python3
"""One peer engine of bench/bench_engine.py, in its own process.

Why a process per peer: PyPI's PyTorch and Debian's cannot be imported into
one interpreter, OpenVINO and PyPI's torch live in another virtualenv
(bench/README.md), and each engine brings its own OpenMP/thread pool that
would otherwise share one process with ours.  The driver keeps the turns
(blocks of runs per engine, in rounds) by talking to each worker over a pipe:

  worker:  {"ready": true, "engine": ..., "version": ...}   or {"error": "..."}
  driver:  {"run": N, "warmup": W}      worker: {"lat": [seconds...]}
  driver:  {"save": PATH}               worker: {"saved": PATH}   (last output, float32)
  driver:  {"quit": true}

Usage (by the driver): PYTHON peer_worker.py ENGINE MODEL WEIGHTS INPUT THREADS
with ENGINE one of onnxruntime, torch, openvino.
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
sys.path.insert(0, HERE)
from torch_graph import torch_model  # noqa: E402  (graphs and chains, bench/torch_graph.py)


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def make_engine(engine, name, weights_file, input_file, threads):
    """Returns (callable running one inference -> numpy output, version)."""
    import numpy as np
    import onnx_model as om

    _, in_shape, layers = om.builtin_model(name)
    weights = om.read_weights(weights_file)
    om.check_weights(layers, weights)
    x = np.fromfile(input_file, dtype="<f4").reshape((1,) + in_shape)
    if engine == "onnxruntime":
        import onnxruntime
        sess = om.ort_session(om.build_onnx(layers, weights), threads=threads, optimize=True)
        return (lambda: sess.run(["output"], {"input": x})[0]), onnxruntime.__version__
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
        tm = torch_model(layers, weights)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, x.ndim - 1, *range(1, x.ndim - 1))))

        def run():
            with torch.inference_mode():
                return tm(xt).numpy()
        return run, torch.__version__
    if engine == "openvino":
        import openvino as ov
        core = ov.Core()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, name + ".onnx")
            with open(path, "wb") as f:
                f.write(om.build_onnx(layers, weights).SerializeToString())
            model = core.read_model(path)
            compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                         "INFERENCE_NUM_THREADS": threads,
                                                         "INFERENCE_PRECISION_HINT": "f32"})
        req = compiled.create_infer_request()

        def run():
            req.infer({0: x})
            return req.get_output_tensor(0).data
        return run, ov.__version__
    raise ValueError("unknown engine %s" % engine)


def main():
    engine, name, wf, xf, threads = sys.argv[1:6]
    try:
        run, version = make_engine(engine, name, wf, xf, int(threads))
    except Exception as e:  # the driver prints it and skips this peer
        reply({"error": "%s: %s" % (type(e).__name__, e)})
        return
    reply({"ready": True, "engine": engine, "version": version, "python": sys.executable})
    out = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if "run" in cmd:
            for _ in range(cmd.get("warmup", 0)):
                out = run()
            lat = []
            for _ in range(cmd["run"]):
                t0 = time.perf_counter()
                out = run()
                lat.append(time.perf_counter() - t0)
            reply({"lat": lat})
        elif "save" in cmd:
            import numpy as np
            np.asarray(out, dtype="<f4").tofile(cmd["save"])
            reply({"saved": cmd["save"]})
        elif "quit" in cmd:
            break


if __name__ == "__main__":
    main()
