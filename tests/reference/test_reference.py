#!/usr/bin/env python3
"""Whole-model and layer-range conformance of `mchair predict` against ONNX Runtime.

For each model (AlexNet, VGG16, ResNet50, Xception, C3D):
  1. `mchair predict --save-weights/--save-input/--output` runs one inference
     with seeded random weights and dumps weights, input and output.
  2. An ONNX graph is built independently from zoo.c's model text and the
     weight file (tests/reference/onnx_model.py) and run with ONNX Runtime;
     the final output and intermediate outputs must agree (max rel err
     max|ours-ref|/max|ref| <= 1e-4).
  3. Layer-range splitting: `--to K` then `--from K+1 --input <that output>`
     must reproduce the whole-model output (<= 1e-6), both with seeded random
     weights (a range builds only its own layers' weights) and with the saved
     weight file; the intermediate must match ONNX's output of layer K.  In a
     graph the intermediate holds every tensor crossing the cut after K,
     concatenated in producer order (docs/model-format.md), each compared
     with ONNX's; a convolution with a folded batchnorm gives the batchnorm's
     output.
Then error exits: each bad invocation exits non-zero naming the problem.

Usage: test_reference.py --mchair build/mchair [--models alexnet,vgg16] [--threads 2]
Exit status 0 only if every check passes.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_model as om  # noqa: E402

TOL_ORT = 1e-4    # ours vs ONNX Runtime (different summation orders)
TOL_SPLIT = 1e-6  # split run vs whole run (same kernels, same order)
SEED = 7

# Cut points: (layer K, whether to name layers by index).  One inside the conv
# stack, one right after flatten, one in the dense stack (the last layer
# before the softmax layer, i.e. the logits' input).  In the graphs: a cut
# inside a residual block (two tensors cross it, one of them a convolution
# with its batchnorm folded in), one between blocks, one before the head.
# The journal's models are heavier (C3D: 77 GFLOP, 320 MB of weights), so
# they get fewer cuts and the seeded-weights variant only at the first.
CUTS = {
    "alexnet": [("conv2", False), ("pool2", True), ("flatten", False), ("fc2", False)],
    "vgg16": [("block3_conv2", False), ("flatten", True), ("fc2", False)],
    "resnet50": [("conv2_block1_3_conv", False), ("conv3_block4_add", True), ("avg_pool", False)],
    "xception": [("block2_sepconv2", False), ("block8_add", True)],
    "c3d": [("pool2", False)],
}
HEAVY = ("resnet50", "xception", "c3d")

failures = []


def report(ok, what, detail=""):
    print("%s: %s%s" % ("PASS" if ok else "FAIL", what, (" (" + detail + ")") if detail else ""), flush=True)
    if not ok:
        failures.append(what)
    return ok


def rel_err(ours, ref):
    ours, ref = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    if ours.shape != ref.shape:
        return float("inf")
    scale = np.abs(ref).max()
    return float(np.abs(ours - ref).max() / (scale if scale > 0 else 1.0))


def mchair(exe, args, threads):
    cmd = [exe, "predict", "--repeat", "1", "--warmup", "0", "--quiet", "--threads", str(threads)] + args
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=600)


def must_run(exe, args, threads, what):
    p = mchair(exe, args, threads)
    if p.returncode != 0:
        report(False, what, "mchair exited %d: %s" % (p.returncode, p.stderr.strip()))
        return False
    return True


def load(path, n):
    a = np.fromfile(path, dtype="<f4")
    if a.size != n:
        raise ValueError("%s: %d floats, expected %d" % (path, a.size, n))
    return a


def check_model(exe, name, tmp, threads):
    _, in_shape, layers = om.builtin_model(name)
    names = [L["name"] for L in layers]
    out_n = int(np.prod(layers[-1]["out"]))
    shape_of = {L["name"]: L["out"] for L in layers}
    shape_of[om.INPUT] = in_shape
    wf, xf, yf = (os.path.join(tmp, name + s) for s in (".weights", ".input", ".output"))
    t0 = time.time()
    if not must_run(exe, ["--model", name, "--seed", str(SEED), "--save-weights", wf, "--save-input", xf,
                          "--output", yf], threads, "%s: whole-model run" % name):
        return
    x = load(xf, int(np.prod(in_shape))).reshape((1,) + in_shape)
    y = load(yf, out_n)

    weights = om.read_weights(wf)
    try:
        om.check_weights(layers, weights)
        report(True, "%s: weight file holds %d tensors with the model's names and shapes" % (name, len(weights)))
    except ValueError as e:
        report(False, "%s: weight file matches the model" % name, str(e))
        return
    cuts = CUTS[name]
    # the tensors crossing each cut, and the ONNX outputs that hold them
    crossing = {k: om.cut(layers, names.index(k) + 1) for k, _ in cuts}
    wanted = sorted({om.value_layer(layers, t) for ts in crossing.values() for t in ts if t != om.INPUT})
    model = om.build_onnx(layers, weights, outputs=wanted)
    del weights
    sess = om.ort_session(model, threads=threads)
    del model
    outs = sess.run(None, {"input": x})
    onames = [o.name for o in sess.get_outputs()]
    ref = dict(zip(onames, outs))
    del sess

    e = rel_err(y, ref["output"])
    report(e <= TOL_ORT, "%s: final output matches ONNX Runtime" % name, "max rel err %.2e <= %.0e" % (e, TOL_ORT))
    # With random weights a deep model's softmax may be nearly one-hot; the
    # classes that have any probability must come in the same order.
    r = ref["output"].ravel()
    top_ref = [c for c in np.argsort(-r)[:5] if r[c] > 1e-6]
    top_ours = list(np.argsort(-y)[:len(top_ref)])
    report(top_ours == top_ref, "%s: top classes match ONNX Runtime" % name, "ours %s, ORT %s" % (top_ours, top_ref))
    report(abs(float(y.sum()) - 1.0) < 1e-4, "%s: softmax output sums to 1" % name, "sum %.6f" % y.sum())

    for ci, (k, by_index) in enumerate(cuts):
        i = names.index(k)
        nxt = names[i + 1]
        to_arg, from_arg = (str(i), str(i + 1)) if by_index else (k, nxt)
        tensors = crossing[k]
        sizes = [int(np.prod(shape_of[t])) for t in tensors]
        mid_n = sum(sizes)
        variants = [("seeded random weights", ["--seed", str(SEED)]), ("weight file", ["--weights", wf])]
        if name in HEAVY and ci > 0:
            variants = variants[1:]
        for src, wargs in variants:
            mf, rf = os.path.join(tmp, "%s.mid" % name), os.path.join(tmp, "%s.rest" % name)
            label = "%s: split after %s (--to %s / --from %s, %s)" % (name, k, to_arg, from_arg, src)
            if not must_run(exe, ["--model", name, "--to", to_arg, "--input", xf, "--output", mf] + wargs,
                            threads, label + ": first part runs"):
                continue
            if not must_run(exe, ["--model", name, "--from", from_arg, "--input", mf, "--output", rf] + wargs,
                            threads, label + ": second part runs"):
                continue
            mid, rest = load(mf, mid_n), load(rf, out_n)
            off = 0
            for t, n in zip(tensors, sizes):
                want = x if t == om.INPUT else ref[om.value_layer(layers, t) + ":out"]
                e_mid = rel_err(mid[off:off + n], want)
                report(e_mid <= TOL_ORT, label + ": cut tensor %s (%d of %d) matches ONNX Runtime"
                       % (t, tensors.index(t) + 1, len(tensors)), "max rel err %.2e <= %.0e" % (e_mid, TOL_ORT))
                off += n
            e_rest = rel_err(rest, y)
            report(e_rest <= TOL_SPLIT, label + ": equals the whole-model output",
                   "max rel err %.2e <= %.0e%s" % (e_rest, TOL_SPLIT, ", bit-identical" if np.array_equal(rest, y) else ""))
    print("     %s done in %.1f s" % (name, time.time() - t0), flush=True)


def check_errors(exe, tmp, threads):
    """Bad invocations exit non-zero with a message naming the problem."""
    wf, xf = os.path.join(tmp, "alexnet.weights"), os.path.join(tmp, "alexnet.input")
    if not os.path.exists(wf):
        if not must_run(exe, ["--model", "alexnet", "--seed", str(SEED), "--save-weights", wf,
                              "--save-input", xf], threads, "errors: make an AlexNet weight file"):
            return
    raw = open(wf, "rb").read()

    def variant(fname, data):
        p = os.path.join(tmp, fname)
        with open(p, "wb") as f:
            f.write(data)
        return p

    trunc = variant("truncated.weights", raw[:-4])
    long_ = variant("long.weights", raw + b"\0\0\0\0")
    magic = variant("magic.weights", b"MCHAIRW0" + raw[8:])
    small_in = variant("small.input", open(xf, "rb").read()[:1000])
    missing = os.path.join(tmp, "no-such-input.bin")
    cases = [
        ("unknown model", ["--model", "nosuchnet"], ["nosuchnet", "unknown model"]),
        ("weight file truncated by 4 bytes", ["--model", "alexnet", "--weights", trunc],
         ["truncated.weights", "ends inside tensor fc3.bias"]),
        ("weight file with 4 extra bytes", ["--model", "alexnet", "--weights", long_],
         ["long.weights", "after the last tensor"]),
        ("weight file with wrong magic", ["--model", "alexnet", "--weights", magic],
         ["magic.weights", "MCHAIRW1"]),
        ("weight file of another model", ["--model", "vgg16", "--weights", wf],
         ["alexnet.weights", "vgg16"]),
        ("missing weight file", ["--model", "alexnet", "--weights", os.path.join(tmp, "none.weights")],
         ["none.weights", "cannot open"]),
        ("unreadable input", ["--model", "alexnet", "--input", missing], ["no-such-input.bin", "cannot open input"]),
        ("input of the wrong size", ["--model", "alexnet", "--input", small_in],
         ["small.input", "1000 bytes", "224x224x3"]),
        ("range input of the wrong size", ["--model", "alexnet", "--from", "fc1", "--input", xf],
         ["alexnet.input", "602112 bytes"]),
        ("--from after --to", ["--model", "alexnet", "--from", "conv3", "--to", "conv1"],
         ["--from conv3", "after", "--to conv1"]),
        ("unknown layer", ["--model", "alexnet", "--to", "pool9"], ["pool9", "no layer"]),
    ]
    for what, args, needles in cases:
        p = mchair(exe, args, threads)
        msg = p.stderr.strip()
        missing_words = [s for s in needles if s not in msg]
        ok = p.returncode != 0 and not missing_words
        report(ok, "error exit: %s" % what,
               "rc %d, stderr %r%s" % (p.returncode, msg[:200],
                                       ", missing %r" % missing_words if missing_words else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mchair", required=True, help="path to the mchair binary")
    ap.add_argument("--models", default="alexnet,vgg16,resnet50,xception,c3d")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    exe = os.path.abspath(a.mchair)
    if not os.access(exe, os.X_OK):
        print("FAIL: %s is not an executable" % exe)
        return 1
    tmp = tempfile.mkdtemp(prefix="mchair-ref-")
    try:
        for name in a.models.split(","):
            if name not in CUTS:
                report(False, "model %s has cut points defined" % name)
                continue
            try:
                check_model(exe, name, tmp, a.threads)
            except Exception as e:  # a crash in one model is a failure, not an abort
                report(False, "%s: reference comparison ran" % name, "%s: %s" % (type(e).__name__, e))
            for f in os.listdir(tmp):  # VGG16's weights are 553 MB; keep only AlexNet's for the error checks
                if f.startswith(name) and name != "alexnet":
                    os.remove(os.path.join(tmp, f))
        check_errors(exe, tmp, a.threads)
    finally:
        if a.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failure(s)%s" % ("FAIL" if failures else "PASS", len(failures),
                                   ": " + "; ".join(failures) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
