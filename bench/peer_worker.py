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


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def torch_model(layers, weights):
    """torch.nn modules (NCHW) computing the model text's layers."""
    import numpy as np
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
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

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
