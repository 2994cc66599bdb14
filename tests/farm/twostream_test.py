#!/usr/bin/env python3
"""The two-stream model on farms (`mchair initial --model twostream-half --farm
S,T,H`): three loopback farms (the spatial CNN's convolutions on two replicas, so
results arrive out of order; the head's fc1 split in two parts by outputs), the
windows kept at the initial device.

  correct  one stream (a Y4M of a moving pattern): every frame's scores from
           frame 34 on equal `mchair predict --model twostream-half` on the same
           video and seed (the single-device pipeline), max rel err <= 1e-4;
  streams  two streams at once (the Y4M and a folder of PNGs): each stream's
           scores equal the pipeline's on that stream's video alone;
  drop     frame 30 dropped at the source (--drop 0:30): the spatial windows of
           frames 30..44 skip it (they hold the 15 newest vectors before it
           instead), as the summary says (11 skipped), and every score equals
           the windows rebuilt so in numpy with ONNX Runtime running the graphs
           (tests/reference/test_twostream.py's machinery).

Usage: twostream_test.py correct|streams|drop --mchair build/mchair
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "reference"))
import farmlib as fl  # noqa: E402

W, H = 48, 36
TOL = 1e-4
SEED = 3
FIRST = 34


def write_y4m(path, n, phase):
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F30:1 C444\n" % (W, H))
        y, x = np.mgrid[0:H, 0:W]
        for t in range(n):
            v = 0.5 + 0.3 * np.sin(0.3 * (x - 1.5 * t) + phase) * np.cos(0.25 * (y - 0.5 * t))
            Y = (16 + 219 * v).round().astype(np.uint8)
            U = (128 + 40 * np.cos(0.2 * x + t * 0.1 + phase)).round().astype(np.uint8)
            f.write(b"FRAME\n" + Y.tobytes() + U.tobytes() + (255 - U).tobytes())


def write_pngs(folder, n):
    from PIL import Image
    os.makedirs(folder)
    y, x = np.mgrid[0:H, 0:W]
    for t in range(n):
        rgb = np.stack([0.5 + 0.4 * np.sin(0.2 * (x + 2 * t) + c) * np.cos(0.3 * y + c) for c in (0, 1, 2)], -1)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(os.path.join(folder, "f%03d.png" % t))


def farms(work):
    """Three farm files; returns their paths and {file: layout}."""
    ports = fl.free_ports(11)
    s = {"conv": ports[1:3], "fc": ports[3:4]}
    t = {"all": ports[5:6]}
    h = {"pyr": ports[7:8], "fc1": ports[8:10], "rest": ports[10:11]}
    specs = [
        ("s.json", "twostream-spatial", ports[0],
         '[{"name": "conv", "layers": ["conv1s", "conv3s"]}, {"name": "fc", "layers": ["fc1s", "fc1s"]}]', s),
        ("t.json", "twostream-temporal", ports[4], '[{"name": "all", "layers": ["conv1t", "fc1t"]}]', t),
        ("h.json", "twostream-half-head", ports[6],
         '[{"name": "pyr", "layers": ["pyramid_s", "pyramid"]}, {"name": "fc1", "layers": ["fc1", "fc1"], '
         '"method": "fc_output", "parts": 2}, {"name": "rest", "layers": ["fc2", "fc3"]}]', h)]
    out = []
    for name, model, ip, tasks, layout in specs:
        nodes = ", ".join('"%s": [%s]' % (k, ", ".join('"127.0.0.1:%d"' % p for p in v)) for k, v in layout.items())
        path = os.path.join(work, name)
        with open(path, "w") as f:
            f.write('{"model": "%s", "tasks": %s, "node": {"initial": ["127.0.0.1:%d"], %s}}' % (model, tasks, ip, nodes))
        out.append((path, layout))
    return out


def pipeline_scores(mchair, video, frames, work, name):
    d = os.path.join(work, "ref-" + name)
    p = subprocess.run([mchair, "predict", "--model", "twostream-half", "--video", video, "--repeat", str(frames),
                        "--seed", str(SEED), "--threads", "2", "--dump", d, "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    if p.returncode:
        raise RuntimeError("predict: " + p.stdout)
    return d, np.fromfile(os.path.join(d, "scores.f32"), np.float32).reshape(-1, 51)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=("correct", "streams", "drop"))
    ap.add_argument("--mchair", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mchair-twostream-farm-")
    failures = []
    try:
        n = 48 if a.case == "drop" else 38
        vid_a = os.path.join(work, "a.y4m")
        write_y4m(vid_a, n, 0.0)
        videos = [vid_a]
        if a.case == "streams":
            videos.append(os.path.join(work, "b"))
            write_pngs(videos[1], n)
        fs = farms(work)
        for g, (path, layout) in enumerate(fs):  # nodes of graph g: weights seeded as the pipeline's
            fl.start_farm(a.mchair, path, layout, work, seed=SEED + g)
        outs = os.path.join(work, "out")
        cmd = [a.mchair, "initial", "--model", "twostream-half", "--farm", ",".join(p for p, _ in fs),
               "--video", ",".join(videos), "--streams", str(len(videos)), "--repeat", str(n), "--outputs", outs,
               "--quiet"]
        if a.case == "drop":
            cmd += ["--drop", "0:30"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
        print(p.stdout.strip())
        if p.returncode:
            failures.append("initial exited %d" % p.returncode)
        worst = 0.0
        for s, video in enumerate(videos):
            d, ref = pipeline_scores(a.mchair, video, n, work, "s%d" % s)
            if a.case == "drop":
                ref = dropped_reference(d, n, drop=30)
            for k, f in enumerate(range(FIRST, n)):
                path = os.path.join(outs, "s%d_f%d.f32" % (s, f))
                if not os.path.exists(path):
                    failures.append("stream %d frame %d: no scores" % (s, f))
                    continue
                e = rel(np.fromfile(path, np.float32), ref[k])
                worst = max(worst, e)
                if not e <= TOL:
                    failures.append("stream %d frame %d: max rel err %.3g" % (s, f, e))
        if a.case == "streams":  # the streams' scores differ: mixing them would show
            x, y = (np.fromfile(os.path.join(outs, "s%d_f%d.f32" % (s, FIRST)), np.float32) for s in (0, 1))
            if rel(x, y) < 1e-3:
                failures.append("the two streams gave the same scores at frame %d" % FIRST)
        if a.case == "drop":
            for want in ("11 vectors skipped by windows", "0 windows dropped", "%d tags, %d done, 1 dropped, 0 lost" % (n, n - 1)):
                if want not in p.stdout:
                    failures.append("the summary does not say '%s'" % want)
        print("%s: max rel err %.3g over %d stream(s) x %d frames" % (a.case, worst, len(videos), n - FIRST))
    finally:
        rc = fl.finish(work, failures)
    for f in failures:
        print("FAIL: " + f)
    return rc


def dropped_reference(d, n, drop):
    """Scores with spatial frame `drop` missing: each window the 15 newest
    spatial vectors at or before the frame, `drop` skipped."""
    import test_twostream as tt
    ss, s_in = tt.session("twostream-spatial", os.path.join(d, "spatial.w"))
    st, _ = tt.session("twostream-temporal", os.path.join(d, "temporal.w"))
    sh, h_in = tt.session("twostream-half-head", os.path.join(d, "head.w"))
    fr = np.fromfile(os.path.join(d, "frames.f32"), np.float32).reshape((n,) + s_in)
    flo = np.fromfile(os.path.join(d, "flows.f32"), np.float32).reshape((n - 1,) + s_in[:2] + (2,))
    svec = {i: tt.run(ss, fr[i]) for i in range(n) if i != drop}
    tvec = {j: tt.run(st, np.concatenate([flo[k] for k in range(j - 10, j)], axis=-1)) for j in range(10, n)}
    out = []
    for t in range(FIRST, n):
        sp = [svec[i] for i in range(t, -1, -1) if i in svec][:15][::-1]
        win = np.stack(sp + [tvec[i] for i in range(t - 24, t + 1)])
        out.append(tt.run(sh, win.reshape(h_in)))
    return np.array(out)


if __name__ == "__main__":
    sys.exit(main())
