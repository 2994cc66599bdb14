#!/usr/bin/env python3
"""`mchair initial --video A.y4m,B --streams 2` on a loopback AlexNet farm of two
tasks: every result equals `mchair predict` on that stream's frame, the frame
computed here independently (numpy: BT.601 limited-range YUV -> RGB, then the
half-pixel bilinear enlargement of docs/input.md), so two streams at once do
not mix, tags interleave the streams (tag i is frame i/2 of stream i%2), and
each stream's frames keep their order.  Stream B is a folder of PNGs.

Usage: video_test.py --mchair build/mchair
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import farmlib as fl  # noqa: E402

W, H, N = 40, 30, 4     # video frames: 40x30, 4 each
TOL = 1e-4


def pattern(t, phase):
    y, x = np.mgrid[0:H, 0:W]
    return 0.5 + 0.3 * np.sin(0.3 * (x - 2 * t) + phase) * np.cos(0.25 * y + phase)


def write_y4m(path):
    """4:4:4 Y4M of a moving colour pattern; returns its RGB frames (numpy, BT.601)."""
    frames = []
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F30:1 C444\n" % (W, H))
        for t in range(N):
            Y = (16 + 219 * pattern(t, 0.0)).round().astype(np.uint8)
            U = (128 + 60 * pattern(t, 1.0) - 30).round().astype(np.uint8)
            V = (128 - 50 * pattern(t, 2.0) + 25).round().astype(np.uint8)
            f.write(b"FRAME\n" + Y.tobytes() + U.tobytes() + V.tobytes())
            y, u, v = 1.164383 * (Y.astype(np.float64) - 16), U - 128.0, V - 128.0
            rgb = np.stack([y + 1.596027 * v, y - 0.391762 * u - 0.812968 * v, y + 2.017232 * u], -1) / 255
            frames.append(np.clip(rgb, 0, 1))
    return frames


def write_pngs(folder):
    from PIL import Image
    os.makedirs(folder)
    frames = []
    for t in range(N):
        rgb = (np.stack([pattern(t, 0.5), pattern(t, 1.5), pattern(t, 2.5)], -1) * 255).round().astype(np.uint8)
        Image.fromarray(rgb).save(os.path.join(folder, "frame%03d.png" % t))
        frames.append(rgb / 255.0)
    return frames


def bilinear_axis(n_in, n_out):
    """Weights (n_out x n_in) of the half-pixel bilinear enlargement."""
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        x = min(max((o + 0.5) * n_in / n_out - 0.5, 0), n_in - 1)
        i0 = int(np.floor(x))
        f = x - i0
        m[o, i0] += 1 - f
        if f > 0:
            m[o, min(i0 + 1, n_in - 1)] += f
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchair", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mchair-video-")
    failures = []
    try:
        y4m = os.path.join(work, "a.y4m")
        fa, fb = write_y4m(y4m), write_pngs(os.path.join(work, "b"))
        mh, mw = bilinear_axis(H, 224), bilinear_axis(W, 224)
        ports = fl.free_ports(3)
        farm = os.path.join(work, "farm.json")
        with open(farm, "w") as f:
            f.write('{"model": "alexnet", "tasks": [{"name": "a", "layers": ["conv1", "flatten"]},'
                    ' {"name": "b", "layers": ["fc1", "fc3"]}],'
                    ' "node": {"initial": ["127.0.0.1:%d"], "a": ["127.0.0.1:%d"], "b": ["127.0.0.1:%d"]}}'
                    % tuple(ports))
        fl.start_farm(a.mchair, farm, {"a": [ports[1]], "b": [ports[2]]}, work)
        outs = os.path.join(work, "out")
        p = subprocess.run([a.mchair, "initial", "--farm", farm, "--video", y4m + "," + os.path.join(work, "b"),
                            "--streams", "2", "--repeat", str(2 * N), "--outputs", outs, "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        print(p.stdout.strip())
        if p.returncode:
            failures.append("initial exited %d" % p.returncode)
        for k in range(2):
            if "stream %d: %d frames, %d done" % (k, N, N) not in p.stdout:
                failures.append("stream %d's line is missing or wrong" % k)
        refs, gots = [], []
        for i in range(2 * N):
            stream, t = i % 2, i // 2
            rgb = (fa if stream == 0 else fb)[t]
            x = np.einsum("oh,hwc->owc", mh, rgb)
            x = np.einsum("pw,owc->opc", mw, x).astype(np.float32)
            inp = os.path.join(work, "in%d.f32" % i)
            x.tofile(inp)
            ref = os.path.join(work, "ref%d.f32" % i)
            q = subprocess.run([a.mchair, "predict", "--model", "alexnet", "--input", inp, "--output", ref, "--repeat",
                                "1", "--warmup", "0", "--quiet", "--threads", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
            got_path = os.path.join(outs, "%d.f32" % i)
            if q.returncode or not os.path.exists(got_path):
                failures.append("tag %d: no result or predict failed: %s" % (i, q.stdout[-300:]))
                refs.append(None), gots.append(None)
                continue
            refs.append(np.fromfile(ref, np.float32))
            gots.append(np.fromfile(got_path, np.float32))

        def err(got, want):
            return float(np.abs(got - want).max() / np.abs(want).max())
        for i in range(2 * N):
            if gots[i] is None or refs[i ^ 1] is None:
                continue
            e, cross = err(gots[i], refs[i]), err(gots[i], refs[i ^ 1])
            print("tag %d (stream %d frame %d): max rel err %.2g; against the other stream's frame %.2g"
                  % (i, i % 2, i // 2, e, cross))
            if not e <= TOL:
                failures.append("tag %d: max rel err %.3g" % (i, e))
            if not cross > 10 * TOL:
                failures.append("tag %d: the other stream's result is as close (%.3g): the test cannot tell" % (i, cross))
    finally:
        rc = fl.finish(work, failures)
    for f in failures:
        print("FAIL: " + f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
