#!/usr/bin/env python3
"""The two-stream model on farms (`mchair initial --model twostream-half --farm
S,T,H`): three loopback farms (the spatial CNN's convolutions on two replicas, so
results arrive out of order; the head's fc1 split in two parts by outputs), the
windows kept at the initial device, or with --windows node in the head farm's
first task (the node gets each frame's two new vectors; the same assertions).

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

  order    out-of-order arrival forced, on farm files that name no tasks (the
           built-in presets: the spatial CNN on two replicas, the temporal
           CNN, the half head as pyramid + dense): the second spatial replica
           takes 250 ms more per frame (`node --test-slow-ms`, SIGUSR1), so
           its odd tags come back after later even ones; the JSON report
           must count out-of-order spatial results (> 0), and every frame's
           scores still equal the single-device pipeline's.
  plan     `mchair plan --model twostream|twostream-half --devices 8` on the
           rpi3 device model's profiles (and the same with --device-model rpi3
           instead of the profiles): for every n the predicted IPS is the
           best over all shares of n devices between the three graphs, each
           share's IPS taken from `mchair plan` of that graph alone (brute
           force here); the farm files match their share, `plan --evaluate`
           predicts each file's IPS, and the half model's 4-device system runs
           on loopback with every frame's scores equal to the pipeline's.
  system   `mchair plan --model twostream --system N --out DIR` for the paper's
           systems 4 (twostream-half), 5, 8, 10, 12: the three files' tasks,
           layers, splits, replicas and ports are the paper's (written out
           here, as docs/twostream.md reads Figures 14b and 18); other N and a
           system of the other model are refused, naming the systems.

  window   the windowed task alone: the half head's farm (pyr, fc1 split in
           two, rest) with a Python avro.ipc responder as its initial, fed
           window messages by hand: a whole window (frame 40), then the next
           frames' vectors out of order (42 before 41, some marked skipped);
           each output must equal, bit for bit, the same farm's output for the
           window rebuilt in numpy and sent without window metadata (the
           stateless path); a frame 16 or more ahead of the next, a frame the
           windows moved past, a stream beyond the node's 16 and bad mc.win
           metadata are each refused (lost, the node's log says why), and the
           frames after them still come right; a held frame (47) is
           superseded by a later whole window (50, as when a stream starts
           over) and frame 51 goes on from that window.
  refuse   --windows node with the head's first task on two replicas: initial
           refuses it before it starts (exit 2, saying that replicas cannot
           share windows), and a window message sent by hand to one replica is
           refused by the node, its log saying why.

Usage: twostream_test.py correct|streams|drop|order|plan|system|window|refuse --mchair build/mchair
                         [--windows initial|node]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

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


def farms(work, pyr_replicas=1):
    """Three farm files; returns their paths and {file: layout}."""
    ports = fl.free_ports(11 + pyr_replicas - 1)
    s = {"conv": ports[1:3], "fc": ports[3:4]}
    t = {"all": ports[5:6]}
    h = {"pyr": ports[7:8] + ports[11:], "fc1": ports[8:10], "rest": ports[10:11]}
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


def preset_farms(work):
    """Three farm files without "tasks" (the presets pick them by their task
    names): spatial on two replicas, temporal, the half head's pyr + dense."""
    ports = fl.free_ports(8)
    specs = [("s.json", "twostream-spatial", ports[0], {"spatial": ports[1:3]}),
             ("t.json", "twostream-temporal", ports[3], {"temporal": ports[4:5]}),
             ("h.json", "twostream-half-head", ports[5], {"pyr": ports[6:7], "dense": ports[7:8]})]
    out = []
    for name, model, ip, layout in specs:
        node = {"initial": ["127.0.0.1:%d" % ip]}
        node.update({k: ["127.0.0.1:%d" % p for p in v] for k, v in layout.items()})
        path = os.path.join(work, name)
        with open(path, "w") as f:
            json.dump({"model": model, "node": node}, f)
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
    ap.add_argument("case", choices=("correct", "streams", "drop", "order", "plan", "system", "window", "refuse"))
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--windows", choices=("initial", "node"), default="initial")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mchair-twostream-farm-")
    failures = []
    if a.case in ("plan", "system", "window", "refuse"):
        try:
            {"plan": plan_case, "system": system_case, "window": window_case,
             "refuse": refuse_case}[a.case](a.mchair, work, failures)
        finally:
            rc = fl.finish(work, failures)
        for f in failures:
            print("FAIL: " + f)
        return rc
    try:
        n = 48 if a.case == "drop" else 38
        vid_a = os.path.join(work, "a.y4m")
        write_y4m(vid_a, n, 0.0)
        videos = [vid_a]
        if a.case == "streams":
            videos.append(os.path.join(work, "b"))
            write_pngs(videos[1], n)
        fs = preset_farms(work) if a.case == "order" else farms(work)
        for g, (path, layout) in enumerate(fs):  # nodes of graph g: weights seeded as the pipeline's
            extra = ("--test-slow-ms", "250") if a.case == "order" and g == 0 else ()
            procs = fl.start_farm(a.mchair, path, layout, work, seed=SEED + g, extra=extra)
            if extra:  # the second replica slow from the first frame on
                os.killpg(procs[1].pid, signal.SIGUSR1)
        outs = os.path.join(work, "out")
        report = os.path.join(work, "report.json")
        cmd = [a.mchair, "initial", "--model", "twostream-half", "--farm", ",".join(p for p, _ in fs),
               "--video", ",".join(videos), "--streams", str(len(videos)), "--repeat", str(n), "--outputs", outs,
               "--json", report, "--quiet", "--windows", a.windows]
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
        if a.case == "order":
            r = json.load(open(report)) if os.path.exists(report) else {}
            ooo = r.get("spatial", {}).get("out_of_order", 0)
            print("order: %d spatial results came after a later tag's" % ooo)
            if not ooo > 0:
                failures.append("no spatial result came out of order (report: %s)" % r.get("spatial"))
            if r.get("scored") != n - FIRST:
                failures.append("%s frames scored, not %d" % (r.get("scored"), n - FIRST))
            if "results came after a later tag's" not in p.stdout:
                failures.append("the summary does not report out-of-order results")
        if a.case == "drop":
            for want in ("11 vectors skipped by windows", "0 windows dropped", "%d tags, %d done, 1 dropped, 0 lost" % (n, n - 1)):
                if want not in p.stdout:
                    failures.append("the summary does not say '%s'" % want)
        r = json.load(open(report)) if os.path.exists(report) else {}
        if r.get("windows") != a.windows:
            failures.append("the report says windows at %s, not %s" % (r.get("windows"), a.windows))
        if r.get("head", {}).get("done") != len(videos) * (n - FIRST):
            failures.append("head farm: %s frames done, not %d" % (r.get("head"), len(videos) * (n - FIRST)))
        print("%s (windows at %s): max rel err %.3g over %d stream(s) x %d frames" % (a.case, a.windows, worst,
                                                                                     len(videos), n - FIRST))
    finally:
        rc = fl.finish(work, failures)
    for f in failures:
        print("FAIL: " + f)
    return rc


GRAPHS = ("spatial", "temporal", "head")


def send_meta(proto, port, nxt, tag, x, meta):
    """One forward call to 127.0.0.1:port with call metadata meta (avro.ipc's
    Requestor sends none; the farm reads its mc.* keys there)."""
    import avro.ipc as ipc

    class MetaRequestor(ipc.Requestor):
        def write_call_request(self, message_name, request_datum, encoder):
            ipc.META_WRITER.write({k: v.encode() for k, v in meta.items()}, encoder)
            encoder.write_utf8(message_name)
            self.write_request(self.local_protocol.messages[message_name].request, request_datum, encoder)

    client = ipc.HTTPTransceiver("127.0.0.1", port)
    try:
        MetaRequestor(proto, client).request("forward", {"input": np.asarray(x, np.float32).tobytes(), "next": nxt,
                                                         "tag": tag})
    finally:
        client.close()


def window_case(mchair, work, failures):
    """The windowed task fed by hand (see the module's docstring)."""
    import avro.protocol
    import farm_test as ft

    proto = avro.protocol.parse(fl.protocol_text())
    sink = ft.Sink(proto)
    ports = fl.free_ports(5)
    srv = ft.serve_responder(sink, ports[0])
    try:
        layout = {"pyr": ports[1:2], "fc1": ports[2:4], "rest": ports[4:5]}
        path = os.path.join(work, "h.json")
        with open(path, "w") as f:
            json.dump({"model": "twostream-half-head", "tasks": [
                {"name": "pyr", "layers": ["pyramid_s", "pyramid"]},
                {"name": "fc1", "layers": ["fc1", "fc1"], "method": "fc_output", "parts": 2},
                {"name": "rest", "layers": ["fc2", "fc3"]}],
                "node": dict({"initial": ["127.0.0.1:%d" % ports[0]]},
                             **{k: ["127.0.0.1:%d" % p for p in v] for k, v in layout.items()})}, f)
        fl.start_farm(mchair, path, layout, work, seed=SEED + 2)

        def send(tag, x, meta):
            send_meta(proto, ports[1], "pyr", tag, x, meta)

        def result(tag, timeout=60):
            with sink.cv:
                sink.cv.wait_for(lambda: tag in sink.got, timeout)
                got = sink.got.get(tag)
            return None if got is None else np.frombuffer(got[1], np.float32)

        def win(kind, stream, frame):
            return {"mc.win": "15/25/" + kind, "mc.stream": str(stream), "mc.frame": str(frame)}

        rng = np.random.default_rng(7)
        sp = [rng.standard_normal(256).astype(np.float32) for _ in range(70)]  # frame f's vectors
        tp = [rng.standard_normal(256).astype(np.float32) for _ in range(70)]
        sw, tw = list(sp[26:41]), list(tp[16:41])  # frame 40's windows, oldest first
        expect = {}

        def delta(tag, f, has_s, has_t, stream=0):
            x = np.zeros((40, 256), np.float32)
            if has_s:
                x[0] = sp[f]
            if has_t:
                x[1] = tp[f]
            return (tag, x, win(("s" if has_s else "-") + ("t" if has_t else "-"), stream, f))

        send("w40", np.concatenate(sw + tw), win("full", 0, 40))
        expect["w40"] = np.concatenate(sw + tw)
        msgs = [delta("w41", 41, True, False), delta("w42", 42, False, True), delta("w43", 43, True, True)]
        for f, has_s, has_t in ((41, True, False), (42, False, True), (43, True, True)):
            if has_s:
                sw = sw[1:] + [sp[f]]
            if has_t:
                tw = tw[1:] + [tp[f]]
            expect["w%d" % f] = np.concatenate(sw + tw)
        for tag, x, meta in (msgs[1], msgs[0], msgs[2]):  # 42 comes before 41: held, then both in order
            send(tag, x, meta)
        # refusals: too far ahead, moved past, stream out of range, bad metadata
        bad = [delta("far", 60, True, True), delta("old", 41, True, True), delta("stream", 44, True, True, stream=16),
               ("meta", np.zeros((40, 256)), {"mc.win": "15/25/xx", "mc.stream": "0", "mc.frame": "44"}),
               ("nostream", np.zeros((40, 256)), {"mc.win": "15/25/st", "mc.frame": "44"})]
        for tag, x, meta in bad:
            send(tag, x, meta)
        send(*delta("w44", 44, True, True))
        sw, tw = sw[1:] + [sp[44]], tw[1:] + [tp[44]]
        expect["w44"] = np.concatenate(sw + tw)
        # the stream starts over (initial does so after a lost head frame): frame 47 waits for 45,
        # the whole window of frame 50 supersedes it, and frame 51 goes on from that window
        send(*delta("held47", 47, True, True))
        sw, tw = list(sp[36:51]), list(tp[26:51])
        send("w50", np.concatenate(sw + tw), win("full", 0, 50))
        expect["w50"] = np.concatenate(sw + tw)
        send(*delta("w51", 51, True, False))
        sw = sw[1:] + [sp[51]]
        expect["w51"] = np.concatenate(sw + tw)
        bad.append(("held47", None, None))
        for tag, x in expect.items():  # the stateless path on the numpy windows
            send("ref-" + tag, x, {})
        for tag in expect:
            got, ref = result(tag), result("ref-" + tag)
            if got is None or ref is None or got.shape != (51,) or not np.array_equal(got, ref):
                failures.append("%s: windowed output %s, stateless output on the numpy window %s" % (
                    tag, None if got is None else got[:3], None if ref is None else ref[:3]))
        log = open(os.path.join(work, "node-pyr-%d.log" % ports[1])).read()
        for tag, why in (("far", "reorder buffer full"), ("old", "came after its windows moved on"),
                         ("stream", "keeps the windows of 16 streams at most"), ("meta", "mc.win='15/25/xx'"),
                         ("nostream", "mc.stream='(none)'"),
                         ("held47", "superseded by the whole window of frame 50")):
            got = result(tag, 10)
            if got is None or got.size:
                failures.append("%s: refused frame not reported to initial as lost (got %s)" % (tag, got))
            if not any(("lost tag %s:" % tag) in ln and why in ln for ln in log.splitlines()):
                failures.append("%s: the node's log does not say 'lost tag %s: ... %s'" % (tag, tag, why))
        print("window: %d windowed outputs compared, %d refusals" % (len(expect), len(bad)))
    finally:
        srv.shutdown()


def refuse_case(mchair, work, failures):
    """--windows node with the windowed task (pyr) on two replicas: refused by
    initial before it starts, and by the node for a window message."""
    import avro.protocol
    n = 36
    vid = os.path.join(work, "a.y4m")
    write_y4m(vid, n, 0.0)
    fs = farms(work, pyr_replicas=2)
    for g, (path, layout) in enumerate(fs):
        fl.start_farm(mchair, path, layout, work, seed=SEED + g)
    report = os.path.join(work, "report.json")
    p = subprocess.run([mchair, "initial", "--model", "twostream-half", "--farm", ",".join(q for q, _ in fs),
                        "--video", vid, "--repeat", str(n), "--json", report, "--timeout", "20", "--windows", "node"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    print(p.stdout[-3000:])
    want = "the head's first task pyr has 2 replicas; it keeps the windows, which its replicas or parts cannot share"
    if p.returncode != 2 or want not in p.stdout:
        failures.append("initial exited %d, not 2 saying '%s'" % (p.returncode, want))
    # the node itself refuses a window message for a task with replicas
    pyr = fs[2][1]["pyr"]
    x = np.zeros((40, 256), np.float32)
    send_meta(avro.protocol.parse(fl.protocol_text()), pyr[0], "pyr", "0", x,
              {"mc.win": "15/25/full", "mc.stream": "0", "mc.frame": "34"})
    log_path = os.path.join(work, "node-pyr-%d.log" % pyr[0])
    want = "task pyr keeps the windows (mc.win) but has 2 replicas: replicas or parts cannot share windows"
    for _ in range(100):
        if want in open(log_path).read():
            break
        time.sleep(0.1)
    else:
        failures.append("the node's log does not say '%s'" % want)


def run_ok(cmd, failures):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    if p.returncode:
        failures.append("%s exited %d: %s" % (" ".join(cmd[1:4]), p.returncode, p.stderr[-1500:]))
    return p


# The paper's systems: graph -> [(task, first layer, last layer, parts, replicas)].
_S = lambda r: [("spatial", "conv1s", "fc1s", 1, r)]  # noqa: E731
_T = lambda r: [("temporal", "conv1t", "fc1t", 1, r)]  # noqa: E731
_PYR = ("pyr", "pyramid_s", "pyramid", 1, 1)
_HEAD8 = [_PYR, ("fc1", "fc1", "fc1", 2, 1), ("fc2", "fc2", "fc2", 2, 1), ("fc3", "fc3", "fc3", 1, 1)]
SYSTEMS = {
    4: ("twostream-half", [_S(1), _T(1), [_PYR, ("dense", "fc1", "fc3", 1, 1)]]),
    5: ("twostream", [_S(1), _T(1), [_PYR, ("fc1", "fc1", "fc1", 1, 1), ("fc23", "fc2", "fc3", 1, 1)]]),
    8: ("twostream", [_S(1), _T(1), _HEAD8]),
    10: ("twostream", [_S(2), _T(2), _HEAD8]),
    12: ("twostream", [_S(3), _T(3), _HEAD8]),
}


def system_case(mchair, work, failures):
    port, ini = 23000, 24000
    for n, (model, graphs) in sorted(SYSTEMS.items()):
        out = os.path.join(work, "sys%d" % n)
        p = run_ok([mchair, "plan", "--model", model, "--system", str(n), "--out", out, "--port", str(port),
                    "--initial-port", str(ini)], failures)
        if p.returncode:
            continue
        d = 0
        for g, tasks in enumerate(graphs):
            f = json.load(open(os.path.join(out, GRAPHS[g] + ".json")))
            got = []
            for t in f["tasks"]:
                addrs = f["node"][t["name"]]
                parts = t.get("parts", 1)
                got.append((t["name"], t["layers"][0], t["layers"][1], parts, len(addrs) // parts))
                if t.get("method", "data") != ("fc_output" if parts > 1 else "data"):
                    failures.append("system %d %s: task %s method %s" % (n, GRAPHS[g], t["name"], t.get("method")))
                want = ["127.0.0.1:%d" % (port + d + k) for k in range(len(addrs))]
                if addrs != want:
                    failures.append("system %d %s: task %s at %s, not %s" % (n, GRAPHS[g], t["name"], addrs, want))
                d += len(addrs)
            if got != tasks:
                failures.append("system %d %s: tasks %s, the paper's %s" % (n, GRAPHS[g], got, tasks))
            if f["node"]["initial"] != ["127.0.0.1:%d" % (ini + g)] or f["system"]["devices"] != n:
                failures.append("system %d %s: initial %s, system %s" % (n, GRAPHS[g], f["node"]["initial"],
                                                                        f["system"]))
        if d != n:
            failures.append("system %d: %d devices in its files" % (n, d))
    for args, want in ((["--model", "twostream", "--system", "7"], "5, 8, 10, 12"),
                       (["--model", "twostream", "--system", "4"], "is a system of model twostream-half"),
                       (["--model", "twostream-spatial", "--system", "5"], "--system N is for --model twostream"),
                       (["--model", "twostream", "--system", "5"], "needs --out")):
        p = subprocess.run([mchair, "plan"] + args + (["--out", work] if "needs --out" not in want else []),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 2 or want not in p.stdout:
            failures.append("plan %s: exit %d, %r (want exit 2 saying %r)" % (" ".join(args), p.returncode,
                                                                           p.stdout.strip(), want))
    print("system: %d systems checked" % len(SYSTEMS))


def plan_case(mchair, work, failures, n_max=8, mem=700):
    profs = {}
    for g in ("spatial", "temporal", "head", "half-head"):
        profs[g] = os.path.join(work, g + ".prof.json")
        run_ok([mchair, "profile", "--model", "twostream-" + g, "--device-model", "rpi3", "--out", profs[g]], failures)
    for model, head in (("twostream", "head"), ("twostream-half", "half-head")):
        gp = [profs["spatial"], profs["temporal"], profs[head]]
        # each graph alone: its predicted IPS for 1..n_max-2 devices (None: no plan)
        alone = []
        for g, prof in enumerate(gp):
            gm = "twostream-" + ("spatial", "temporal", head)[g]
            p = run_ok([mchair, "plan", "--model", gm, "--devices", str(n_max - 2), "--mem", str(mem), "--profile",
                        prof], failures)
            plans = json.loads(p.stdout)["plans"] if not p.returncode else []
            alone.append([x["plan"]["predicted_ips"] if "plan" in x else None for x in plans])
        out = os.path.join(work, model)
        port, ini = 21000, 22000
        p = run_ok([mchair, "plan", "--model", model, "--devices", str(n_max), "--mem", str(mem), "--profile",
                    ",".join(gp), "--out", out, "--port", str(port), "--initial-port", str(ini)], failures)
        if p.returncode:
            continue
        systems = json.load(open(os.path.join(out, "plan.json")))["systems"]
        # --device-model rpi3 models the same profiles itself: the same systems
        q = run_ok([mchair, "plan", "--model", model, "--devices", str(n_max), "--mem", str(mem), "--device-model",
                    "rpi3"], failures)
        dm = json.loads(q.stdout)["systems"] if not q.returncode else []
        if [(x.get("share"), round(x.get("predicted_ips", 0), 9)) for x in dm] != \
                [(x.get("share"), round(x.get("predicted_ips", 0), 9)) for x in systems]:
            failures.append("%s: --device-model rpi3 plans %s, the rpi3 profiles %s" % (model, dm, systems))
        for n in range(1, n_max + 1):
            best, arg = None, None
            for x in range(1, n - 1):
                for y in range(1, n - x):
                    z = n - x - y
                    v = [alone[0][x - 1], alone[1][y - 1], alone[2][z - 1]]
                    if None not in v and (best is None or min(v) > best):
                        best, arg = min(v), (x, y, z)
            s = systems[n - 1]
            if best is None:
                if "share" in s or not s.get("why"):
                    failures.append("%s n=%d: no share fits, the planner says %s" % (model, n, s))
                continue
            if "share" not in s:
                failures.append("%s n=%d: the share %s fits (%.3f IPS), the planner says: %s" % (model, n, arg, best,
                                                                                                 s.get("why")))
                continue
            sh = s["share"]
            got = min(alone[g][sh[g] - 1] for g in range(3))
            if sum(sh) != n or abs(got - best) > 1e-9 * best or abs(s["predicted_ips"] - best) > 1e-9 * best:
                failures.append("%s n=%d: share %s predicts %.4f IPS (alone: %.4f); the best share %s gives %.4f"
                                % (model, n, sh, s["predicted_ips"], got, arg, best))
            first = 0
            for g in range(3):  # the files: the graph's plan for its share, devices numbered across the graphs
                path = os.path.join(out, "system-%d" % n, GRAPHS[g] + ".json")
                f = json.load(open(path))
                ports = sorted(int(a.rsplit(":", 1)[1]) for t, v in f["node"].items() if t != "initial" for a in v)
                want = list(range(port + first, port + first + f["plan"]["devices_used"]))
                if f["plan"]["n_devices"] != sh[g] or ports != want or f["node"]["initial"] != ["127.0.0.1:%d" % (ini + g)]:
                    failures.append("%s: %d devices, ports %s, initial %s; the share gives %d devices, ports %s"
                                    % (path, f["plan"]["n_devices"], ports, f["node"]["initial"], sh[g], want))
                first += sh[g]
                e = run_ok([mchair, "plan", "--evaluate", path, "--profile", gp[g]], failures)
                if not e.returncode and abs(json.loads(e.stdout)["predicted_ips"] - f["plan"]["predicted_ips"]) > 1e-6:
                    failures.append("%s: plan --evaluate predicts %s IPS, the file says %s" % (
                        path, json.loads(e.stdout)["predicted_ips"], f["plan"]["predicted_ips"]))
        print("%s: %s" % (model, ", ".join("%d: %s %.2f IPS" % (s["devices"], s["share"], s["predicted_ips"])
                                           for s in systems if "share" in s)))
    # the half model's planned 4-device system on loopback: scores equal the pipeline's
    n_frames = 38
    vid = os.path.join(work, "a.y4m")
    write_y4m(vid, n_frames, 0.0)
    base = fl.consecutive_ports(4 + 3)
    out = os.path.join(work, "run")
    p = run_ok([mchair, "plan", "--model", "twostream-half", "--devices", "4", "--mem", str(mem), "--profile",
                ",".join([profs["spatial"], profs["temporal"], profs["half-head"]]), "--out", out, "--port", str(base),
                "--initial-port", str(base + 4)], failures)
    if p.returncode:
        return
    files = [os.path.join(out, "system-4", g + ".json") for g in GRAPHS]
    for g, path in enumerate(files):
        node = json.load(open(path))["node"]
        layout = {t: [int(x.rsplit(":", 1)[1]) for x in v] for t, v in node.items() if t != "initial"}
        fl.start_farm(mchair, path, layout, work, seed=SEED + g)
    outs = os.path.join(work, "out")
    r = run_ok([mchair, "initial", "--model", "twostream-half", "--farm", ",".join(files), "--video", vid,
                "--repeat", str(n_frames), "--outputs", outs, "--quiet"], failures)
    print(r.stdout.strip())
    _, ref = pipeline_scores(mchair, vid, n_frames, work, "plan")
    worst = 0.0
    for k, fr in enumerate(range(FIRST, n_frames)):
        path = os.path.join(outs, "s0_f%d.f32" % fr)
        if not os.path.exists(path):
            failures.append("planned system: frame %d has no scores" % fr)
            continue
        worst = max(worst, rel(np.fromfile(path, np.float32), ref[k]))
    if not worst <= TOL:
        failures.append("planned system: max rel err %.3g" % worst)
    print("plan: the planned 4-device twostream-half system: max rel err %.3g over %d frames" % (worst, n_frames - FIRST))


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
