#!/usr/bin/env python3
"""bench_gpu.py - batch-1 GPU latency of AlexNet and VGG16: mchair's CUDA
backend (`mchair predict --device gpu --json`) vs PyTorch on the same GPU,
with identical models, weights and input.

For each model it
  1. writes a random NHWC float32 input frame,
  2. runs `mchair predict --device gpu` on it (random weights of --seed,
     saved with --save-weights as an MCHAIRW1 file, output saved),
  3. loads that weight file into an equivalent PyTorch model (conv weights
     HWIO -> OIHW, dense [out][in] as is, TensorFlow SAME padding, flatten
     in NHWC order), checks that PyTorch computes the same output, and
  4. times PyTorch the way mchair is timed: per inference, input from host
     memory to the GPU, the forward pass, output back to host memory.

Two precision modes: fp32 (strict float32: MC_CUDA_MATH=fp32 for mchair,
allow_tf32 off in PyTorch) and tf32 (tensor-core TF32 allowed in both, as
PyTorch's default for cuDNN convolutions).  Prints a table and writes JSON.

Without a CUDA GPU it says so and exits with status 2.

usage: bench/bench_gpu.py [--mchair build/mchair] [--models alexnet vgg16]
                          [--repeat 50] [--warmup 5] [--modes fp32 tf32]
                          [--out bench_gpu.json]
"""
import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The built-in models as in src/models/zoo.c (the weight file carries the
# shapes, which are checked against these; the kernels' strides and padding
# are not in it).  conv: (name, filters, kernel, stride, padding, act);
# pool: (name, pool, stride); dense: (name, units, act).
MODELS = {
    "alexnet": [
        ("conv", "conv1", 48, 11, 4, "same", "relu"), ("pool", "pool1", 2, 2),
        ("conv", "conv2", 128, 5, 1, "same", "relu"), ("pool", "pool2", 2, 2),
        ("conv", "conv3", 192, 3, 1, "same", "relu"),
        ("conv", "conv4", 192, 3, 1, "same", "relu"),
        ("conv", "conv5", 128, 3, 1, "same", "relu"), ("pool", "pool5", 2, 2),
        ("flatten", "flatten"),
        ("dense", "fc1", 4096, "relu"), ("dense", "fc2", 4096, "relu"),
        ("dense", "fc3", 1000, "softmax"),
    ],
    "vgg16": [
        ("conv", "block1_conv1", 64, 3, 1, "same", "relu"),
        ("conv", "block1_conv2", 64, 3, 1, "same", "relu"), ("pool", "block1_pool", 2, 2),
        ("conv", "block2_conv1", 128, 3, 1, "same", "relu"),
        ("conv", "block2_conv2", 128, 3, 1, "same", "relu"), ("pool", "block2_pool", 2, 2),
        ("conv", "block3_conv1", 256, 3, 1, "same", "relu"),
        ("conv", "block3_conv2", 256, 3, 1, "same", "relu"),
        ("conv", "block3_conv3", 256, 3, 1, "same", "relu"), ("pool", "block3_pool", 2, 2),
        ("conv", "block4_conv1", 512, 3, 1, "same", "relu"),
        ("conv", "block4_conv2", 512, 3, 1, "same", "relu"),
        ("conv", "block4_conv3", 512, 3, 1, "same", "relu"), ("pool", "block4_pool", 2, 2),
        ("conv", "block5_conv1", 512, 3, 1, "same", "relu"),
        ("conv", "block5_conv2", 512, 3, 1, "same", "relu"),
        ("conv", "block5_conv3", 512, 3, 1, "same", "relu"), ("pool", "block5_pool", 2, 2),
        ("flatten", "flatten"),
        ("dense", "fc1", 4096, "relu"), ("dense", "fc2", 4096, "relu"),
        ("dense", "predictions", 1000, "softmax"),
    ],
}
INPUT_HWC = (224, 224, 3)


def die(msg, code=1):
    print("bench_gpu: " + msg, file=sys.stderr)
    sys.exit(code)


def read_weights(path):
    """MCHAIRW1 file (src/models/weights.c): name -> (ne[4], float32 array)."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"MCHAIRW1":
        die("%s: not an MCHAIRW1 weight file" % path)
    (count,), off = struct.unpack_from("<I", data, 8), 12
    out = {}
    for _ in range(count):
        (nlen,) = struct.unpack_from("<I", data, off)
        off += 4
        name = data[off:off + nlen].decode()
        off += nlen
        ne = struct.unpack_from("<4I", data, off)
        off += 16
        n = ne[0] * ne[1] * ne[2] * ne[3]
        out[name] = (ne, np.frombuffer(data, dtype="<f4", count=n, offset=off))
        off += 4 * n
    if off != len(data):
        die("%s: %d trailing bytes" % (path, len(data) - off))
    return out


def same_pad(size, k, s):
    """TensorFlow SAME padding (before, after) of one axis, and the output size."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2, out


class TorchNet:
    """The model as PyTorch ops on NCHW tensors, weights from our file."""

    def __init__(self, torch, spec, weights, device):
        self.torch, self.steps = torch, []
        F = torch.nn.functional
        h, w, c = INPUT_HWC
        for layer in spec:
            kind, name = layer[0], layer[1]
            if kind == "conv":
                _, _, filters, k, s, padding, act = layer
                ne, wt = weights[name + ".weight"]
                if tuple(ne) != (filters, c, k, k):
                    die("%s.weight has shape %s, expected %s" % (name, ne, (filters, c, k, k)))
                # HWIO (ky, kx, ci, co) -> OIHW
                wt = torch.from_numpy(wt.reshape(k, k, c, filters).transpose(3, 2, 0, 1).copy()).to(device)
                b = torch.from_numpy(weights[name + ".bias"][1].copy()).to(device)
                pt, pb, oh = same_pad(h, k, s) if padding == "same" else (0, 0, (h - k) // s + 1)
                pl, pr, ow = same_pad(w, k, s) if padding == "same" else (0, 0, (w - k) // s + 1)
                if pt == pb and pl == pr:
                    self.steps.append(lambda x, wt=wt, b=b, s=s, p=(pt, pl): F.conv2d(x, wt, b, s, p))
                else:
                    self.steps.append(lambda x, wt=wt, b=b, s=s, p=(pl, pr, pt, pb):
                                      F.conv2d(F.pad(x, p), wt, b, s))
                h, w, c = oh, ow, filters
                self._act(act)
            elif kind == "pool":
                _, _, k, s = layer
                self.steps.append(lambda x, k=k, s=s: F.max_pool2d(x, k, s))
                h, w = (h - k) // s + 1, (w - k) // s + 1
            elif kind == "flatten":
                # our flatten is NHWC order
                self.steps.append(lambda x: x.permute(0, 2, 3, 1).reshape(1, -1))
                c, h, w = h * w * c, 1, 1
            elif kind == "dense":
                _, _, units, act = layer
                ne, wt = weights[name + ".weight"]
                if tuple(ne) != (c, units, 1, 1):
                    die("%s.weight has shape %s, expected %s" % (name, ne, (c, units, 1, 1)))
                wt = torch.from_numpy(wt.reshape(units, c).copy()).to(device)
                b = torch.from_numpy(weights[name + ".bias"][1].copy()).to(device)
                self.steps.append(lambda x, wt=wt, b=b: F.linear(x, wt, b))
                c = units
                self._act(act)

    def _act(self, act):
        F = self.torch.nn.functional
        if act == "relu":
            self.steps.append(lambda x: F.relu(x, inplace=True))
        elif act == "softmax":
            self.steps.append(lambda x: F.softmax(x, dim=1))

    def __call__(self, x):
        for f in self.steps:
            x = f(x)
        return x


def run_mchair(args, model, mode, inp, wfile, outfile, jfile, device="gpu"):
    env = dict(os.environ, MC_CUDA_MATH=mode)
    cmd = [args.mchair, "predict", "--model", model, "--device", device, "--quiet",
           "--repeat", str(args.repeat), "--warmup", str(args.warmup), "--seed", str(args.seed),
           "--input", inp, "--output", outfile, "--json", jfile]
    if wfile:
        cmd += ["--save-weights", wfile]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        die("%s failed (exit %d):\n%s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    with open(jfile) as f:
        return json.load(f)


def time_torch(torch, net, x_host, repeat, warmup, device):
    """Per-inference seconds: host NHWC input -> GPU -> forward -> host output."""
    def once():
        x = torch.from_numpy(x_host).to(device).reshape(1, *INPUT_HWC).permute(0, 3, 1, 2)
        return net(x.contiguous()).cpu()

    with torch.inference_mode():
        for _ in range(warmup):
            once()
        lat = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            y = once()
            lat.append(time.perf_counter() - t0)
    return lat, y.numpy().reshape(-1)


def check_on_cpu(args, np, torch):
    """The model translation (weights, layouts, padding) without a GPU."""
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        for model in args.models:
            x = np.random.default_rng(args.seed).random(INPUT_HWC[0] * INPUT_HWC[1] * INPUT_HWC[2],
                                                        dtype=np.float32)
            inp, wfile = os.path.join(tmp, "in"), os.path.join(tmp, "w")
            ofile, jfile = os.path.join(tmp, "out"), os.path.join(tmp, "r.json")
            x.tofile(inp)
            args.repeat, args.warmup = 1, 0
            run_mchair(args, model, "fp32", inp, wfile, ofile, jfile, device="cpu")
            y_ours = np.fromfile(ofile, dtype=np.float32)
            net = TorchNet(torch, MODELS[model], read_weights(wfile), torch.device("cpu"))
            _, y_torch = time_torch(torch, net, x, 1, 0, torch.device("cpu"))
            err = float(np.max(np.abs(y_ours - y_torch)) / max(np.max(np.abs(y_torch)), 1e-6))
            print("%-8s mchair (cpu) vs PyTorch (cpu): max relative error %.2e, top-1 %d vs %d"
                  % (model, err, int(np.argmax(y_ours)), int(np.argmax(y_torch))))
            worst = max(worst, err)
    if worst > 1e-3:
        die("the PyTorch models do not compute what mchair computes (max relative error %.2e)" % worst)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mchair", default=os.path.join(ROOT, "build", "mchair"))
    p.add_argument("--models", nargs="+", default=["alexnet", "vgg16"], choices=sorted(MODELS))
    p.add_argument("--modes", nargs="+", default=["fp32", "tf32"], choices=["fp32", "tf32"])
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench_gpu.json")
    p.add_argument("--check-on-cpu", action="store_true",
                   help="no timing: check on the CPU (mchair --device cpu vs PyTorch on the CPU) "
                        "that the PyTorch models equal ours; needs no GPU")
    args = p.parse_args()

    try:
        import numpy as np
        import torch
    except ImportError as e:
        die("needs numpy and torch (%s)" % e)
    if args.check_on_cpu:
        return check_on_cpu(args, np, torch)
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            die("this PyTorch (%s at %s) is built without CUDA; run the benchmark with a Python whose "
                "torch has CUDA (e.g. the GPU machine's system python3, or `pip install torch` from PyPI)"
                % (torch.__version__, os.path.dirname(torch.__file__)), 2)
        die("no GPU: torch.cuda.is_available() is False (torch %s, built for CUDA %s); this "
            "benchmark needs an NVIDIA GPU and its driver" % (torch.__version__, torch.version.cuda), 2)
    if not os.access(args.mchair, os.X_OK):
        die("%s is not an executable; build first (bash scripts/build.sh build)" % args.mchair)
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    gpu_name = torch.cuda.get_device_name(0)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        for model in args.models:
            rng = np.random.default_rng(args.seed)
            x = rng.random(INPUT_HWC[0] * INPUT_HWC[1] * INPUT_HWC[2], dtype=np.float32)
            inp = os.path.join(tmp, model + ".in")
            x.tofile(inp)
            wfile = os.path.join(tmp, model + ".w")
            net = None
            for mode in args.modes:
                ofile, jfile = os.path.join(tmp, "out"), os.path.join(tmp, "r.json")
                ours = run_mchair(args, model, mode, inp, None if net else wfile, ofile, jfile)
                y_ours = np.fromfile(ofile, dtype=np.float32)
                if net is None:
                    net = TorchNet(torch, MODELS[model], read_weights(wfile), device)
                torch.backends.cudnn.allow_tf32 = mode == "tf32"
                torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
                lat, y_torch = time_torch(torch, net, x, args.repeat, args.warmup, device)
                err = float(np.max(np.abs(y_ours - y_torch)) / max(np.max(np.abs(y_torch)), 1e-6))
                t_med = float(np.median(lat))
                rows.append({
                    "model": model, "mode": mode,
                    "ours_median_s": ours["median_s"], "ours_mean_s": ours["mean_s"],
                    "torch_median_s": t_med, "torch_mean_s": float(np.mean(lat)),
                    "ratio_ours_over_torch": ours["median_s"] / t_med,
                    "max_rel_err_vs_torch": err,
                    "ours_latency_s": ours["latency_s"], "torch_latency_s": lat,
                })
            del net
            torch.cuda.empty_cache()

    print("\nbatch-1 latency on %s (median of %d, after %d warm-up; host input -> host output)"
          % (gpu_name, args.repeat, args.warmup))
    print("%-8s %-5s %12s %12s %8s %14s" % ("model", "math", "mchair ms", "pytorch ms", "ratio",
                                            "max rel err"))
    for r in rows:
        print("%-8s %-5s %12.3f %12.3f %8.2f %14.2e" % (r["model"], r["mode"], 1e3 * r["ours_median_s"],
                                                        1e3 * r["torch_median_s"],
                                                        r["ratio_ours_over_torch"], r["max_rel_err_vs_torch"]))
    report = {"gpu": gpu_name, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version(), "host": platform.node(),
              "repeat": args.repeat, "warmup": args.warmup, "seed": args.seed, "results": rows}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print("wrote " + args.out)
    bad = [r for r in rows if r["mode"] == "fp32" and r["max_rel_err_vs_torch"] > 1e-3]
    if bad:
        die("mchair and PyTorch disagree (fp32 max relative error > 1e-3): %s"
            % ", ".join("%s %.2e" % (r["model"], r["max_rel_err_vs_torch"]) for r in bad))


if __name__ == "__main__":
    main()
