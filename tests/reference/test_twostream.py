#!/usr/bin/env python3
"""The two-stream pipeline (`mchair predict --model twostream[-half]`) against
ONNX Runtime, frame by frame.

`mchair predict --model M --repeat N --dump DIR` runs the pipeline on N random
frames and random flows and writes the three graphs' weights, every frame,
every flow it fed and every score it gave.  Here each graph is built
independently from its model text (tests/reference/onnx_model.py: the
temporal pyramid as Slice + ReduceMax per pool) and run with ONNX Runtime,
and the windows are rebuilt in numpy from the definition (docs/twostream.md):
the temporal CNN of frame j reads the flows fed with frames j-9..j stacked on
channels (oldest first, dx then dy); the head of frame j reads the spatial
vectors of frames j-14..j then the temporal vectors of frames j-24..j.  Every
score of every frame from frame 34 on must agree: max|ours-ref|/max|ref| <= 1e-4.

Usage: test_twostream.py --mchair build/mchair [--models twostream-half,twostream] [--frames 38]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_model as om  # noqa: E402

TOL = 1e-4
FLOWS, SWIN, TWIN = 10, 15, 25
GRAPHS = {"twostream": ("twostream-spatial", "twostream-temporal", "twostream-head"),
          "twostream-half": ("twostream-spatial", "twostream-temporal", "twostream-half-head")}


def rel_err(ours, ref):
    ours, ref = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    if ours.shape != ref.shape:
        return float("inf")
    scale = np.abs(ref).max()
    return float(np.abs(ours - ref).max() / (scale if scale > 0 else 1.0))


def session(graph, wpath):
    _, in_shape, layers = om.parse_model(om.builtin_text(graph), graph)
    w = om.read_weights(wpath)
    om.check_weights(layers, w)
    return om.ort_session(om.build_onnx(layers, w), threads=2), in_shape


def run(sess, x):
    return sess.run(["output"], {"input": x[None].astype(np.float32)})[0][0]


def check(exe, model, frames, seed, tmp):
    d = os.path.join(tmp, model)
    p = subprocess.run([exe, "predict", "--model", model, "--repeat", str(frames), "--seed", str(seed),
                        "--threads", "2", "--dump", d, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=900)
    if p.returncode:
        print("FAIL: %s: mchair exited %d: %s" % (model, p.returncode, p.stderr.strip()))
        return False
    sp, tp, hp = GRAPHS[model]
    ss, s_in = session(sp, os.path.join(d, "spatial.w"))
    st, t_in = session(tp, os.path.join(d, "temporal.w"))
    sh, h_in = session(hp, os.path.join(d, "head.w"))
    fr = np.fromfile(os.path.join(d, "frames.f32"), np.float32).reshape((frames,) + s_in)
    h, w = s_in[0], s_in[1]
    fl = np.fromfile(os.path.join(d, "flows.f32"), np.float32).reshape(frames - 1, h, w, 2)
    scores = np.fromfile(os.path.join(d, "scores.f32"), np.float32)
    first = FLOWS + TWIN - 1  # frame 34: the first with both windows full
    svec = [run(ss, fr[i]) for i in range(frames)]
    tvec = {}
    for j in range(FLOWS, frames):
        # flows fed with frames j-9..j are flows.f32 rows j-10..j-1
        stack = np.concatenate([fl[k] for k in range(j - FLOWS, j)], axis=-1)
        tvec[j] = run(st, stack)
    ok = True
    n_scored = frames - first
    if scores.size != n_scored * 51:
        print("FAIL: %s: %d scores, expected %d frames x 51" % (model, scores.size, n_scored))
        return False
    scores = scores.reshape(n_scored, 51)
    worst = 0.0
    for j in range(first, frames):
        win = np.stack([svec[i] for i in range(j - SWIN + 1, j + 1)] + [tvec[i] for i in range(j - TWIN + 1, j + 1)])
        ref = run(sh, win.reshape(h_in))
        e = rel_err(scores[j - first], ref)
        worst = max(worst, e)
        if not e <= TOL:
            print("FAIL: %s frame %d: max rel err %.3g > %g" % (model, j, e, TOL))
            ok = False
    # the windows must matter: the scores of consecutive frames differ
    if n_scored > 1 and rel_err(scores[0], scores[1]) < 1e-6:
        print("FAIL: %s: frames %d and %d gave the same scores" % (model, first, first + 1))
        ok = False
    print("%s: %s: %d frames scored, max rel err %.3g (tolerance %g)" % ("PASS" if ok else "FAIL", model, n_scored,
                                                                         worst, TOL))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--models", default="twostream-half,twostream")
    ap.add_argument("--frames", type=int, default=38)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("SKIP: onnxruntime is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="mchair-twostream-")
    try:
        ok = all([check(a.mchair, m, a.frames, a.seed, tmp) for m in a.models.split(",")])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
