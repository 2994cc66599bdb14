#!/usr/bin/env python3
"""farm_test.py - multi-process farm tests on loopback (registered in ctest).

  correct MODEL DEVICES   every tag's final vector from the farm equals the
                          single-device `mchair predict --output` (max relative
                          error <= 1e-5, relative to max |ref|)
  interop                 Python avro.ipc requestor -> our nodes (uint8 and
                          float32 frames) -> Python avro.ipc responder as sink
  faults                  malformed body, wrong schema, oversized body each get
                          an error answer and the node keeps serving
  unreachable             a farm with one node missing: the error names the
                          address, frames are retried, initial reports the lost
                          tags and exits; nothing hangs
  methods                 every model-parallel method (fc_output, fc_input,
                          conv_channel, conv_filter, conv_spatial) over several
                          shapes, part counts and grids, split first/last tasks,
                          consecutive split tasks and replicated splits, on small
                          model files and on AlexNet layers: every result equals
                          single-device predict (max relative error <= 1e-5);
                          whole frames from a Python requestor (no mc.slice) to
                          split part holders, which cut their own slices
  plan                    planner round trip: profile -> plan --out DIR -> nodes
                          and initial on DIR/farm-N.json unchanged, for several N
                          -> results equal predict
  tune                    Procedure 1 (scripts/tune.py): from a profile that says
                          AlexNet's convolutions and fc1 are 20x cheaper than they are,
                          plan -> deploy -> measure -> calibrate -> plan again:
                          the calibration is measured / profiled per task,
                          `plan --evaluate` under it gives back the measured task
                          times (a consistency check, true by construction), and
                          the convolutions get more devices
  graph MODEL             resnet50, xception or c3d on a farm from `mchair plan`
                          (profile -> plan --out -> farm-N.json, N >= 4 devices,
                          split tasks inside residual blocks, Xception's block C
                          by channels, C3D's conv2 and fc6): results equal predict
  failover                a device drops out of a replicated task: frames go to
                          the other replicas (also for a split task whose second
                          part holder is gone), every result still equals
                          predict; the device comes back and gets frames again;
                          a node killed mid-stream loses only the frames it held

Every process started here is stopped at exit, also on failure (farmlib).
"""
import argparse
import http.client
import http.server
import io
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import farmlib  # noqa: E402

import avro.errors  # noqa: E402
import avro.io  # noqa: E402
import avro.ipc as ipc  # noqa: E402
import avro.protocol  # noqa: E402

TOL = 1e-5
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def predict_ref(mchair, model, seed, input_path, out_path):
    farmlib.subprocess.run([mchair, "predict", "--model", model, "--seed", str(seed), "--input", input_path,
                            "--repeat", "1", "--warmup", "0", "--quiet", "--output", out_path],
                           check=True, stdout=farmlib.subprocess.DEVNULL,
                           env=dict(os.environ, OMP_NUM_THREADS="2"))
    return np.fromfile(out_path, dtype=np.float32)


# ---------------------------------------------------------------- correct

def test_correct(a, work):
    seed = 3
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm.json")
    layout = farmlib.farm_file(farm, a.model, a.devices, init_port, skip_model=True)
    # inputs: float32 and uint8 frames (the artifact's initial.py sends uint8)
    rng = np.random.default_rng(7)
    inputs = []
    for i in range(a.inputs):
        p = os.path.join(work, "in%d.%s" % (i, "f32" if i % 2 == 0 else "u8"))
        if i % 2 == 0:
            rng.random((224, 224, 3), dtype=np.float32).tofile(p)
        else:
            rng.integers(0, 256, (224, 224, 3), dtype=np.uint8).tofile(p)
        inputs.append(p)
    farmlib.start_farm(a.mchair, farm, layout, work, seed=seed, extra=["--model", a.model])
    outs = os.path.join(work, "outs")
    rep = os.path.join(work, "report.json")
    t0 = time.time()
    r = farmlib.subprocess.run([a.mchair, "initial", "--farm", farm, "--model", a.model, "--repeat", str(a.repeat),
                                "--input", ",".join(inputs), "--outputs", outs, "--json", rep, "--timeout", "600",
                                "--listen", farmlib.hostport(init_port)],
                               capture_output=True, text=True, timeout=1200)
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "initial exits 0 with every frame back (%.1f s)" % (time.time() - t0))
    refs = [predict_ref(a.mchair, a.model, seed, p, os.path.join(work, "ref%d.f32" % i)) for i, p in enumerate(inputs)]
    for tag in range(a.repeat):
        p = os.path.join(outs, "%d.f32" % tag)
        if not os.path.exists(p):
            check(False, "tag %d has a result" % tag)
            continue
        got = np.fromfile(p, dtype=np.float32)
        ref = refs[tag % len(inputs)]
        ok = got.shape == ref.shape and rel_err(got, ref) <= TOL
        check(ok, "%s farm-%d tag %d equals single-device predict (rel err %.2e)" %
              (a.model, a.devices, tag, rel_err(got, ref) if got.shape == ref.shape else -1))
    js = json.load(open(rep))
    check(js["done"] == a.repeat and not js["lost"], "JSON report: all %d done, none lost" % a.repeat)
    tasks = [n for n, _ in farmlib.PRESETS[(a.model, a.devices)]]
    check(sorted(js["task_mean_s"]) == sorted(tasks), "per-task latency reported for every task")


# ---------------------------------------------------------------- interop

class Sink(ipc.Responder):
    """A Python avro.ipc responder playing the initial node."""

    def __init__(self, proto):
        super().__init__(proto)
        self.got = {}
        self.cv = threading.Condition()

    def invoke(self, msg, req):
        with self.cv:
            self.got[req["tag"]] = (req["next"], req["input"])
            self.cv.notify_all()
        return None


def serve_responder(responder, port, bodies=None):
    """Serves responder on 127.0.0.1:port; every request body is appended to bodies (when given)."""
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if bodies is not None:
                bodies.append(body)
            msg = ipc.FramedReader(io.BytesIO(body)).read_framed_message()
            resp = responder.respond(msg)
            w = ipc.FramedWriter(io.BytesIO())
            w.write_framed_message(resp)
            out = w.writer.getvalue()
            self.send_response(200)
            self.send_header("Content-Type", "avro/binary")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    return srv


def py_forward(port, proto, data, nxt, tag):
    client = ipc.HTTPTransceiver("127.0.0.1", port)
    try:
        return ipc.Requestor(proto, client).request("forward", {"input": data, "next": nxt, "tag": tag})
    finally:
        client.close()


def alexnet5_with_python_sink(work):
    """An AlexNet farm-5 file whose initial address is a Python avro.ipc
    responder (Sink) playing the artifact's initial; the caller starts the
    nodes and shuts the responder down."""
    proto = avro.protocol.parse(farmlib.protocol_text())
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm.json")
    layout = farmlib.farm_file(farm, "alexnet", 5, init_port)
    sink = Sink(proto)
    return proto, farm, layout, sink, serve_responder(sink, init_port)


def test_interop(a, work):
    proto, farm, layout, sink, srv = alexnet5_with_python_sink(work)
    try:
        farmlib.start_farm(a.mchair, farm, layout, work, seed=1)
        b1 = layout["block1"][0]
        rng = np.random.default_rng(11)
        u8 = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        f32 = rng.random((224, 224, 3), dtype=np.float32)
        u8p, f32p = os.path.join(work, "u8.bin"), os.path.join(work, "f32.bin")
        u8.tofile(u8p)
        f32.tofile(f32p)
        r1 = py_forward(b1, proto, u8.tobytes(), "block1", "u8")
        check(r1 is None, "Python requestor: forward(uint8 frame) to our node returns null")
        r2 = py_forward(b1, proto, f32.tobytes(), "block1", "f32")
        check(r2 is None, "Python requestor: forward(float32 frame) to our node returns null")
        try:
            py_forward(b1, proto, f32.tobytes(), "block9", "x")
            check(False, "Python requestor: wrong task name gets an Avro error")
        except avro.errors.AvroRemoteException as e:
            check("block9" in str(e), "Python requestor: wrong task name gets an Avro error naming it (%s)" % e)
        with sink.cv:
            sink.cv.wait_for(lambda: len(sink.got) >= 2, timeout=120)
        for tag, path in (("u8", u8p), ("f32", f32p)):
            if tag not in sink.got:
                check(False, "Python responder got tag %s from our last node" % tag)
                continue
            nxt, data = sink.got[tag]
            check(nxt == "initial", "Python responder decoded our message: next='initial' (tag %s)" % tag)
            got = np.frombuffer(data, dtype=np.float32)
            ref = predict_ref(a.mchair, "alexnet", 1, path, os.path.join(work, "ref-%s.f32" % tag))
            check(got.shape == ref.shape and rel_err(got, ref) <= TOL,
                  "result decoded by Python equals predict (%s frame, rel err %.2e)" %
                  (tag, rel_err(got, ref) if got.shape == ref.shape else -1))
    finally:
        srv.shutdown()
    test_initial_with_python_nodes(a, work)


class FakeNode(ipc.Responder):
    """A Python avro.ipc node standing in for the artifact's block1..block3:
    answers each frame by sending a made-up result to our initial node."""

    def __init__(self, proto, initial_port):
        super().__init__(proto)
        self.proto, self.initial_port, self.frames = proto, initial_port, []

    def invoke(self, msg, req):
        self.frames.append((req["next"], len(req["input"])))
        tag = req["tag"]
        py_forward(self.initial_port, self.proto, fake_result(tag), "initial", tag)
        return None


def fake_result(tag):
    return (np.arange(1000, dtype=np.float32) * (int(tag) + 1) / 1000).tobytes()


def test_initial_with_python_nodes(a, work):
    proto = avro.protocol.parse(farmlib.protocol_text())
    init_port, b1 = farmlib.free_ports(2)
    farm = os.path.join(work, "farm-py.json")
    layout = farmlib.farm_file(farm, "alexnet", 5, init_port)
    txt = open(farm).read().replace("127.0.0.1:%d" % layout["block1"][0], "127.0.0.1:%d" % b1)
    open(farm, "w").write(txt)
    node = FakeNode(proto, init_port)
    srv = serve_responder(node, b1)
    try:
        outs = os.path.join(work, "py-outs")
        r = farmlib.subprocess.run([a.mchair, "initial", "--farm", farm, "--repeat", "3", "--outputs", outs,
                                    "--timeout", "60"], capture_output=True, text=True, timeout=120)
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "our initial with a Python avro.ipc node: every frame back (rc %d)" % r.returncode)
        check(node.frames == [("block1", 224 * 224 * 3)] * 3,
              "the Python node decoded our initial's frames as the artifact sends them "
              "(next='block1', uint8 224x224x3 = 150528 bytes)")
        for tag in range(3):
            p = os.path.join(outs, "%d.f32" % tag)
            ok = os.path.exists(p) and open(p, "rb").read() == fake_result(str(tag))
            check(ok, "our initial received the Python node's result for tag %d unchanged" % tag)
    finally:
        srv.shutdown()


# ---------------------------------------------------------------- faults

def post(port, body, ctype="avro/binary"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/", body, {"Content-Type": ctype})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def framed(msg):
    w = ipc.FramedWriter(io.BytesIO())
    w.write_framed_message(msg)
    return w.writer.getvalue()


def avro_error_of(body):
    """Decodes our Avro response; returns the error string or None."""
    dec = avro.io.BinaryDecoder(io.BytesIO(ipc.FramedReader(io.BytesIO(body)).read_framed_message()))
    ipc.HANDSHAKE_REQUESTOR_READER.read(dec)
    ipc.META_READER.read(dec)
    if not dec.read_boolean():
        return None
    return avro.io.DatumReader(avro.schema.parse('["string"]')).read(dec)


def wrong_schema_body(proto):
    """A handshake our node accepts, then forward parameters written with
    another schema (input: long, an extra field)."""
    buf = io.BytesIO()
    enc = avro.io.BinaryEncoder(buf)
    ipc.HANDSHAKE_REQUESTOR_WRITER.write({"clientHash": proto.md5, "serverHash": proto.md5,
                                          "clientProtocol": str(proto)}, enc)
    ipc.META_WRITER.write({}, enc)
    enc.write_utf8("forward")
    bad = avro.schema.parse('{"type":"record","name":"x","fields":[{"name":"input","type":"long"},'
                            '{"name":"next","type":"string"},{"name":"tag","type":"string"},'
                            '{"name":"extra","type":"double"}]}')
    avro.io.DatumWriter(bad).write({"input": 5, "next": "block1", "tag": "t", "extra": 1.5}, enc)
    return framed(buf.getvalue())


def test_faults(a, work):
    proto, farm, layout, sink, srv = alexnet5_with_python_sink(work)
    try:
        # block1 alone in front, block2/3 so the frames can finish
        farmlib.start_farm(a.mchair, farm, layout, work, seed=1)
        b1 = layout["block1"][0]
        frame = np.random.default_rng(5).random((224, 224, 3), dtype=np.float32).tobytes()

        def still_serves(what, tag):
            try:
                ok = py_forward(b1, proto, frame, "block1", tag) is None
            except Exception as e:  # noqa: BLE001
                ok, what = False, what + " (%s)" % e
            check(ok, "node keeps serving after " + what)

        st, body = post(b1, b"this is not an avro framed message at all")
        check(st == 400 and b"bad request" in body, "malformed body gets HTTP 400 with a message: %d %r" % (st, body[:80]))
        still_serves("a malformed body", "a")
        st, body = post(b1, struct.pack(">I", 1000) + b"xx")
        check(st == 400 and b"frame" in body, "truncated framing gets HTTP 400: %r" % body[:100])
        still_serves("truncated framing", "b")
        st, body = post(b1, wrong_schema_body(proto))
        err = avro_error_of(body) if st == 200 else None
        check(st == 200 and err is not None, "wrong-schema parameters get an Avro error answer: %r" % err)
        still_serves("a wrong-schema message", "c")
        bad_proto = avro.protocol.parse(farmlib.protocol_text().replace('"bytes"', '"string"'))
        try:
            py_forward(b1, bad_proto, "abc", "block1", "d")
            check(False, "a client protocol with another forward schema is refused")
        except avro.errors.AvroRemoteException as e:
            check("incompatible" in str(e), "a client protocol with another forward schema gets an Avro error (%s)" % e)
        still_serves("an incompatible client protocol", "e")
        st, body = post(b1, b"\0" * (64 << 20))
        check(st == 413, "oversized body (64 MB) gets HTTP 413: %d %r" % (st, body[:80]))
        still_serves("an oversized body", "f")
        st, body = post(b1, framed(b"\x01\x02"))
        check(st == 400, "a body that is not a handshake gets HTTP 400: %d" % st)
        still_serves("a bad handshake", "g")
        with sink.cv:
            sink.cv.wait_for(lambda: len(sink.got) >= 6, timeout=120)
        check(sorted(sink.got) == ["a", "b", "c", "e", "f", "g"],
              "every valid frame after a bad one came through the farm: %s" % sorted(sink.got))
    finally:
        srv.shutdown()


# ---------------------------------------------------------------- unreachable

def test_unreachable(a, work):
    # block3 missing: block2's parts cannot deliver; block1 missing: initial
    # cannot send; block2#1 missing: one part holder of the split task is gone.
    for missing in ("block3", "block1", "block2#1"):
        init_port = farmlib.free_ports(1)[0]
        farm = os.path.join(work, "farm-%s.json" % missing.replace("#", "-"))
        layout = farmlib.farm_file(farm, "alexnet", 5, init_port)
        procs = farmlib.start_farm(a.mchair, farm, layout, work, seed=1, skip=(missing,))
        task, _, idx = missing.partition("#")
        addr = "127.0.0.1:%d" % layout[task][int(idx or 0)]
        t0 = time.time()
        r = farmlib.subprocess.run([a.mchair, "initial", "--farm", farm, "--repeat", "3", "--timeout", "30",
                                    "--json", os.path.join(work, "r.json")], capture_output=True, text=True,
                                   timeout=120)
        dt = time.time() - t0
        out = r.stdout + r.stderr
        print(out)
        check(r.returncode == 1, "%s missing: initial exits 1 (frames lost) after %.1f s" % (missing, dt))
        check(dt < 30, "%s missing: nothing hangs (initial done in %.1f s, before its 30 s timeout)" % (missing, dt))
        js = json.load(open(os.path.join(work, "r.json")))
        check(js["lost"] == [0, 1, 2], "%s missing: initial reports lost tags %s" % (missing, js["lost"]))
        reasons = list(js["lost_reasons"].values())
        check(len(reasons) == 3 and all(addr in x for x in reasons),
              "%s missing: every loss reason names %s" % (missing, addr))
        check(any("attempts" in x for x in reasons), "%s missing: the reasons say frames were retried" % missing)
        for p in procs:
            check(p.poll() is None, "%s missing: node still running after the losses" % missing)
        logs = "".join(open(p.log_path, errors="replace").read() for p in procs)
        if missing != "block1":
            check(addr in logs, "%s missing: the node's log names %s" % (missing, addr))
        farmlib.stop_all()
        for p in procs:
            check(p.returncode == 0, "node exits 0 on SIGTERM (rc %s)" % p.returncode)


# ---------------------------------------------------------------- tune

def test_tune(a, work):
    prof = os.path.join(work, "prof.json")
    farmlib.subprocess.run([a.mchair, "profile", "--model", "alexnet", "--threads", "1", "--repeat", "2", "--out",
                            prof], check=True, capture_output=True)
    js = json.load(open(prof))
    # a wrong profile: the convolutions and fc1 20x cheaper than measured (fc1 too, because with
    # 150 MiB devices it shares a task with the convolutions, and on some processors it takes as
    # long as all of them: a factor on the convolutions alone would be diluted there)
    for L in js["layers"]:
        if L["op"] == "conv2d" or L["name"] == "fc1":
            L["latency_s"] *= 0.05
            for sp in L.get("splits", []):
                sp["latency_s"] *= 0.05
    wrong = os.path.join(work, "wrong.json")
    json.dump(js, open(wrong, "w"))
    out = os.path.join(work, "tune")
    link = "0.00001,0.0002"
    r = farmlib.subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                             "scripts", "tune.py"),
                                "--mchair", a.mchair, "--model", "alexnet", "--devices", "4", "--mem", "150",
                                "--link", link, "--profile", wrong, "--rounds", "3", "--frames", "24", "--out", out],
                               capture_output=True, text=True, timeout=600)
    print(r.stdout[-3000:] + r.stderr[-3000:])
    check(r.returncode == 0, "tune.py exits 0")
    res = json.load(open(os.path.join(out, "tune.json")))
    rounds = res["rounds"]
    check(len(rounds) >= 2, "at least two deployments (%d)" % len(rounds))
    for x in rounds:
        rep = json.load(open(x["report"]))
        check(rep["done"] == 24 and not rep["lost"], "round %d: all 24 frames done" % x["round"])
    # calibration = measured / profiled compute per task, applied to the task's layers
    farm0 = json.load(open(rounds[0]["farm"]))
    rep0 = json.load(open(rounds[0]["report"]))
    cal = json.load(open(rounds[1]["profile"]))
    worst = 0.0
    for t, pt in zip(farm0["tasks"], farm0["plan"]["tasks"]):
        f = min(100.0, max(0.01, rep0["task_mean_s"][t["name"]] / pt["compute_s"]))
        names = [L["name"] for L in js["layers"]]
        lo, hi = names.index(t["layers"][0]), names.index(t["layers"][1])
        for i in range(lo, hi + 1):
            want = js["layers"][i]["latency_s"] * f
            if want == 0:  # a view (flatten) runs nothing: 0 s before and after
                worst = max(worst, abs(cal["layers"][i]["latency_s"]))
                continue
            worst = max(worst, abs(cal["layers"][i]["latency_s"] - want) / want)
    check(worst < 1e-5, "the calibrated profile holds each layer's latency x measured/profiled of its task "
          "(max rel err %.1e)" % worst)
    ev = farmlib.subprocess.run([a.mchair, "plan", "--evaluate", rounds[0]["farm"], "--profile", rounds[1]["profile"],
                                 "--link", link], capture_output=True, text=True)
    pred = {t["name"]: t["compute_s"] for t in json.loads(ev.stdout)["tasks"]}
    err = max(abs(pred[k] - v) / v for k, v in rep0["task_mean_s"].items())
    # (this holds by construction of the calibration: what it checks is that
    # `plan --evaluate` reads a calibrated profile and sums its layers the way
    # calibrate scaled them, not that the planner predicts a new deployment)
    check(err < 1e-5, "plan --evaluate of the deployed farm under the calibrated profile gives back the measured "
          "task times: calibrate and evaluate agree (%.1e)" % err)

    def conv_devices(farm_path):
        farm = json.load(open(farm_path))
        t = next(t for t in farm["tasks"] if t["layers"][0] == "conv1")
        return len(farm["node"][t["name"]])
    d0, d1 = conv_devices(rounds[0]["farm"]), conv_devices(rounds[1]["farm"])
    check(d1 > d0, "after calibration the task with the convolutions gets more devices (%d -> %d)" % (d0, d1))


# ---------------------------------------------------------------- failover

# small: t0 data x1, t1 data x3 replicas, t2 fc_output 2 parts x2 replicas, t3 data x1.
FAILOVER_TASKS = [("c1", "p1", "data", 1, 1), ("c2", "fl", "data", 1, 3), ("f1", "f1", "fc_output", 2, 2),
                  ("f2", "f2", "data", 1, 1)]


def start_node(a, farm, port, work, seed, name):
    return farmlib.start_node(a.mchair, farm, port, os.path.join(work, "node-%s-%d.log" % (name, port)), seed=seed)


def run_initial(a, farm, init_port, ins, outs, repeat, extra=(), timeout=300):
    shutil.rmtree(outs, ignore_errors=True)
    js = outs + ".json"
    r = farmlib.subprocess.run([a.mchair, "initial", "--farm", farm, "--repeat", str(repeat),
                                "--input", ",".join(ins), "--outputs", outs, "--json", js,
                                "--listen", "127.0.0.1:%d" % init_port] + list(extra),
                               capture_output=True, text=True, timeout=timeout)
    rep = json.load(open(js)) if os.path.exists(js) else {}
    return r, rep


def check_outputs(outs, refs, tags, label):
    worst, missing = 0.0, []
    for tag in tags:
        p = os.path.join(outs, "%d.f32" % tag)
        if not os.path.exists(p):
            missing.append(tag)
            continue
        got, ref = np.fromfile(p, dtype=np.float32), refs[tag % len(refs)]
        if got.shape != ref.shape:
            missing.append("%d (%d values, want %d)" % (tag, got.size, ref.size))
            continue
        worst = max(worst, rel_err(got, ref))
    check(not missing and worst <= TOL, "%s: results of tags %d..%d equal predict (max rel err %.2e, missing %s)" %
          (label, tags[0], tags[-1], worst, missing[:10]))


def test_failover(a, work):
    seed = 3
    model = os.path.join(work, "small.mcm")
    with open(model, "w") as f:
        f.write(SMALL)
    ins = make_inputs(work, model, 3, 21)
    refs = [predict_ref(a.mchair, model, seed, p, p + ".ref") for p in ins]
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm-failover.json")
    layout = write_task_farm(farm, model, FAILOVER_TASKS, init_port)
    t1, t2 = "t1_data", "t2_fc_output"
    # 1. t1 replica 1 and the second part holder of t2's replica 1 never started.
    gone = {"%s#1" % t1: layout[t1][1], "%s#3" % t2: layout[t2][3]}
    farmlib.start_farm(a.mchair, farm, layout, work, seed=seed, skip=tuple(gone))
    outs = os.path.join(work, "outs-1")
    t0 = time.time()
    r, rep = run_initial(a, farm, init_port, ins, outs, 12, ["--timeout", "30"])
    dt = time.time() - t0
    print(r.stdout[-2000:] + r.stderr[-2000:])
    check(r.returncode == 0 and rep.get("done") == 12,
          "two devices missing: initial exits 0 with all 12 frames done (rc %d, done %s) in %.1f s" %
          (r.returncode, rep.get("done"), dt))
    check_outputs(outs, refs, list(range(12)), "two devices missing")
    t0_log = os.path.join(work, "node-t0_data-%d.log" % layout["t0_data"][0])
    t1_logs = [os.path.join(work, "node-%s-%d.log" % (t1, p)) for i, p in enumerate(layout[t1]) if i != 1]
    check("a replica of t1_data was unreachable; delivered to replica 2" in open(t0_log).read(),
          "t0's node logged that t1's replica 1 was unreachable and it delivered to replica 2")
    check(any("a replica of t2_fc_output was unreachable; delivered to replica 0" in open(p).read() for p in t1_logs),
          "a t1 node logged that t2's replica 1 (second part holder gone) was unreachable: sent to replica 0")
    farmlib.stop_all()
    check(re.search(r"computed 12 frames; sent 4 to another replica than routed \(1 after", open(t0_log).read()),
          "t0 sent the 4 frames routed to the missing t1 replica elsewhere, one after a failed try")
    rerouted = sum(int(m) for p in t1_logs for m in re.findall(r"sent (\d+) to another replica", open(p).read()))
    check(rerouted == 6, "the t1 nodes sent the 6 frames routed to t2's broken replica elsewhere (%d)" % rerouted)
    farmlib.start_farm(a.mchair, farm, layout, work, seed=seed, skip=tuple(gone))
    # 2. The missing devices come back: after the longest down period (16 s)
    # the senders try them again and they get frames.
    back = [start_node(a, farm, port, work, seed, name.split("#")[0]) for name, port in gone.items()]
    time.sleep(17)
    outs = os.path.join(work, "outs-2")
    r, rep = run_initial(a, farm, init_port, ins, outs, 12, ["--timeout", "30"])
    check(r.returncode == 0 and rep.get("done") == 12 and rep.get("rerouted") == 0,
          "devices back: all 12 frames done, none rerouted (rc %d, done %s, rerouted %s)" %
          (r.returncode, rep.get("done"), rep.get("rerouted")))
    check_outputs(outs, refs, list(range(12)), "devices back")
    for p in back:
        farmlib.stop(p)
        log = open(p.log_path, errors="replace").read()
        got = [int(x) for x in re.findall(r"computed (\d+) frames", log)]
        check(got and got[-1] >= 2, "a device that came back computed frames again (%s in %s)" %
              (got, os.path.basename(p.log_path)))
    farmlib.stop_all()
    # 3. A t1 replica is killed (SIGKILL) mid-stream: the stream goes on over
    # the other two; only frames inside the killed node are lost.
    procs = {}
    for name, ports in layout.items():
        for i, port in enumerate(ports):
            procs[(name, i)] = start_node(a, farm, port, work, seed, name)
    outs = os.path.join(work, "outs-3")
    shutil.rmtree(outs, ignore_errors=True)
    js = outs + ".json"
    n = 150
    init = farmlib.subprocess.Popen([a.mchair, "initial", "--farm", farm, "--repeat", str(n), "--rate", "50",
                                     "--input", ",".join(ins), "--outputs", outs, "--json", js, "--timeout", "5",
                                     "--listen", "127.0.0.1:%d" % init_port],
                                    stdout=farmlib.subprocess.PIPE, stderr=farmlib.subprocess.STDOUT, text=True)
    # mid-stream by count, not by a sleep: once 20 results are back
    t_wait = time.time()
    while time.time() - t_wait < 120 and init.poll() is None and \
            (not os.path.isdir(outs) or len(os.listdir(outs)) < 20):
        time.sleep(0.02)
    check(os.path.isdir(outs) and 20 <= len(os.listdir(outs)) < 100,
          "the kill comes mid-stream (%d results back)" % (len(os.listdir(outs)) if os.path.isdir(outs) else 0))
    victim = procs[(t1, 2)]
    os.killpg(victim.pid, 9)
    victim.wait()
    out, _ = init.communicate(timeout=120)
    print(out[-2500:])
    rep = json.load(open(js))
    lost, dropped = rep["lost"], rep["dropped"]
    check(rep["done"] + len(lost) + len(dropped) == n and len(lost) + len(dropped) <= 8,
          "node killed mid-stream: %d done, %d lost (those it held), %d dropped (<= 8 in all)" %
          (rep["done"], len(lost), len(dropped)))
    check(all(t < 100 for t in lost + dropped), "every frame sent after the kill came back (lost %s, dropped %s)" %
          (lost, dropped))
    check_outputs(outs, refs, list(range(100, n)), "after the kill")
    farmlib.stop_all()
    log = open(procs[("t0_data", 0)].log_path).read()
    m = re.search(r"computed %d frames; sent (\d+) to another replica than routed \((\d+) after" % n, log)
    check(m and int(m.group(1)) >= 30 and int(m.group(2)) >= 1,
          "t0 sent the frames routed to the killed replica to the others (%s)" % str(m.groups() if m else log[-300:]))


# ---------------------------------------------------------------- methods

SMALL = """model small
input 12 12 3
conv2d c1 filters=8 kernel=3 padding=same act=relu
maxpool2d p1 pool=2 stride=2
conv2d c2 filters=6 kernel=5 padding=same act=relu
conv2d c3 filters=5 kernel=3 stride=2 padding=valid act=relu
flatten fl
dense f1 units=20 act=relu
dense f2 units=10 act=softmax
"""

SMALL2 = """model small2
input 11 9 4
conv2d a1 filters=7 kernel=5 stride=2 padding=same act=relu
conv2d a2 filters=9 kernel=3 padding=same act=none
maxpool2d ap pool=2 stride=2
flatten fl
dense d1 units=13 act=relu
dense d2 units=5 act=none
"""

# (model, [(first, last, method, parts or [gh, gw], replicas)]); a farm per entry.
METHOD_FARMS = [
    ("small", [("c1", "c1", "conv_spatial", [2, 2], 1), ("p1", "p1", "data", 1, 1),
               ("c2", "c2", "conv_channel", 3, 1), ("c3", "fl", "data", 1, 1),
               ("f1", "f1", "fc_input", 3, 1), ("f2", "f2", "fc_output", 2, 1)]),
    ("small", [("c1", "c1", "conv_filter", 3, 1), ("p1", "p1", "data", 1, 1),
               ("c2", "c2", "conv_spatial", [3, 1], 1), ("c3", "c3", "conv_channel", 2, 1),
               ("fl", "f1", "data", 1, 2), ("f2", "f2", "fc_input", 2, 1)]),
    ("small", [("c1", "c1", "conv_channel", 2, 2), ("p1", "p1", "data", 1, 1),
               ("c2", "c2", "conv_filter", 2, 2), ("c3", "c3", "conv_spatial", [1, 2], 1),
               ("fl", "f2", "data", 1, 1)]),
    ("small2", [("a1", "a1", "conv_spatial", [3, 2], 1), ("a2", "a2", "conv_filter", 4, 1),
                ("ap", "d1", "data", 1, 1), ("d2", "d2", "fc_output", 5, 1)]),
    ("small2", [("a1", "a1", "conv_channel", 7, 1), ("a2", "a2", "conv_spatial", [2, 2], 1),
                ("ap", "fl", "data", 1, 1), ("d1", "d1", "fc_input", 4, 1), ("d2", "d2", "data", 1, 1)]),
    ("alexnet", [("conv1", "pool1", "data", 1, 1), ("conv2", "conv2", "conv_spatial", [2, 2], 1),
                 ("pool2", "pool2", "data", 1, 1), ("conv3", "conv3", "conv_channel", 3, 1),
                 ("conv4", "conv4", "conv_filter", 2, 1), ("conv5", "flatten", "data", 1, 1),
                 ("fc1", "fc1", "fc_input", 2, 1), ("fc2", "fc3", "data", 1, 1)]),
]

INPUT_SHAPES = {"small": (12, 12, 3), "small2": (11, 9, 4), "small3": (24, 24, 8), "alexnet": (224, 224, 3),
                "vgg16": (224, 224, 3), "resnet50": (224, 224, 3), "xception": (299, 299, 3),
                "c3d": (16, 112, 112, 3)}


def write_task_farm(path, model, tasks, initial_port):
    """A farm file with "model" (name or model file path), "tasks" and "node";
    returns {task: [ports]}."""
    n_addr = [(p[0] * p[1] if isinstance(p, list) else p) * r for _, _, _, p, r in tasks]
    ports = farmlib.free_ports(sum(n_addr) + 1)
    ports = [p for p in ports if p != initial_port][:sum(n_addr)]
    js = {"model": model, "tasks": [], "node": {"initial": ["127.0.0.1:%d" % initial_port]}}
    layout, k = {}, 0
    for i, ((first, last, method, parts, _), n) in enumerate(zip(tasks, n_addr)):
        name = "t%d_%s" % (i, method)
        t = {"name": name, "layers": [first, last], "method": method}
        if method == "conv_spatial":
            t["grid"] = parts
        elif method != "data":
            t["parts"] = parts
        js["tasks"].append(t)
        layout[name] = ports[k:k + n]
        js["node"][name] = ["127.0.0.1:%d" % p for p in layout[name]]
        k += n
    with open(path, "w") as f:
        json.dump(js, f, indent=1)
    return layout


def run_farm_vs_predict(a, work, farm, layout, model, inputs, refs, label, seed, repeat):
    """Starts the nodes of `farm`, runs initial over `inputs`, checks every
    result against refs[input index]; stops the nodes."""
    init_port = int(json.load(open(farm))["node"]["initial"][0].rsplit(":", 1)[1])
    outs = os.path.join(work, "outs-" + os.path.splitext(os.path.basename(farm))[0])
    try:
        farmlib.start_farm(a.mchair, farm, layout, work, seed=seed)
    except RuntimeError as e:
        check(False, "%s: nodes start (%s)" % (label, str(e)[-1500:]))
        farmlib.stop_all()
        return
    r, _ = run_initial(a, farm, init_port, inputs, outs, repeat, ["--timeout", "120", "--quiet"], timeout=600)
    check(r.returncode == 0, "%s: initial exits 0 with every frame back%s" %
          (label, "" if r.returncode == 0 else ": " + (r.stdout + r.stderr)[-1500:]))
    check_outputs(outs, refs, list(range(repeat)), label)
    farmlib.stop_all()


def make_inputs(work, model, n, seed):
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = os.path.join(work, "in-%s-%d.f32" % (os.path.basename(model), i))
        rng.random(INPUT_SHAPES[os.path.splitext(os.path.basename(model))[0]], dtype=np.float32).tofile(p)
        paths.append(p)
    return paths


def test_methods(a, work):
    seed = 5
    models = {}
    for name, text in (("small", SMALL), ("small2", SMALL2)):
        models[name] = os.path.join(work, name + ".mcm")
        with open(models[name], "w") as f:
            f.write(text)
    models["alexnet"] = "alexnet"
    refs = {}
    for name, path in models.items():
        ins = make_inputs(work, path, 2, 13)
        refs[name] = (ins, [predict_ref(a.mchair, path, seed, p, p + ".ref") for p in ins])
    for i, (name, tasks) in enumerate(METHOD_FARMS):
        farm = os.path.join(work, "farm-m%d.json" % i)
        init_port = farmlib.free_ports(1)[0]
        layout = write_task_farm(farm, models[name], tasks, init_port)
        desc = ", ".join("%s..%s %s%s%s" % (f, l, m, "" if m == "data" else "/%s" % (
            "x".join(map(str, p)) if isinstance(p, list) else p), "" if r == 1 else " x%d" % r)
            for f, l, m, p, r in tasks)
        ins, rf = refs[name]
        run_farm_vs_predict(a, work, farm, layout, name, ins, rf, "%s [%s]" % (name, desc), seed,
                            3 if name == "alexnet" else 4)
    test_whole_input_to_parts(a, work, models["small"], refs["small"], seed)


def test_whole_input_to_parts(a, work, model, refs, seed):
    """Another implementation's sender (Python avro.ipc, no metadata) gives the
    part holders of a split first task the whole frame: each cuts its own
    slice, and the result (at a Python sink) equals predict."""
    proto = avro.protocol.parse(farmlib.protocol_text())
    init_port = farmlib.free_ports(1)[0]
    farm = os.path.join(work, "farm-whole.json")
    layout = write_task_farm(farm, model, [("c1", "c1", "conv_filter", 3, 1), ("p1", "f2", "data", 1, 1)], init_port)
    sink = Sink(proto)
    srv = serve_responder(sink, init_port)
    try:
        farmlib.start_farm(a.mchair, farm, layout, work, seed=seed)
        ins, rf = refs
        x = np.fromfile(ins[0], dtype=np.float32)
        for port in layout["t0_conv_filter"]:
            py_forward(port, proto, x.tobytes(), "t0_conv_filter", "w0")
        with sink.cv:
            sink.cv.wait_for(lambda: "w0" in sink.got, timeout=60)
        got = np.frombuffer(sink.got["w0"][1], dtype=np.float32) if "w0" in sink.got else np.zeros(0)
        check(got.shape == rf[0].shape and rel_err(got, rf[0]) <= TOL,
              "whole frames without mc.slice to the 3 conv_filter part holders: each cuts its channels; "
              "result at a Python sink equals predict (rel err %.2e)" %
              (rel_err(got, rf[0]) if got.shape == rf[0].shape else -1))
    finally:
        srv.shutdown()
        farmlib.stop_all()


# ---------------------------------------------------------------- plan

PLAN_CASES = [
    # model, --mem MiB, --devices, farm sizes to run, {layer over the budget: the methods that can split it}
    ("alexnet", 50, 7, (6, 7), {"fc1": ("fc_output", "fc_input"), "fc2": ("fc_output", "fc_input")}),
    # k2 and e1 over the budget: a conv split and an fc split; a task starting with the pool kp
    ("small3", 0.25, 8, (7, 8), {"k2": ("conv_spatial", "conv_channel", "conv_filter"),
                                 "e1": ("fc_output", "fc_input")}),
]

SMALL3 = """model small3
input 24 24 8
conv2d k1 filters=32 kernel=3 padding=same act=relu
conv2d k2 filters=32 kernel=3 padding=same act=relu
maxpool2d kp pool=2 stride=2
flatten fl
dense e1 units=16 act=relu
dense e2 units=10 act=softmax
"""


def test_plan(a, work):
    seed = 2
    s3 = os.path.join(work, "small3.mcm")
    with open(s3, "w") as f:
        f.write(SMALL3)
    for model, mem, devices, sizes, must_split in PLAN_CASES:
        mpath = s3 if model == "small3" else model
        prof = os.path.join(work, "profile-%s.json" % model)
        r = farmlib.subprocess.run([a.mchair, "profile", "--model", mpath, "--out", prof, "--threads", "1",
                                    "--repeat", "1", "--splits", "2,3,4"], capture_output=True, text=True,
                                   timeout=300)
        check(r.returncode == 0, "%s: mchair profile exits 0 %s" % (model, r.stderr[-500:]))
        out = os.path.join(work, "plan-%s" % model)
        ports = farmlib.free_ports(2)
        base = farmlib.consecutive_ports(devices)  # the plan numbers device k at base + k - 1
        r = farmlib.subprocess.run([a.mchair, "plan", "--model", mpath, "--devices", str(devices), "--mem",
                                    str(mem), "--profile", prof, "--out", out, "--port", str(base),
                                    "--initial-port", str(ports[1])], capture_output=True, text=True, timeout=60)
        print(r.stderr)
        check(r.returncode == 0, "%s: mchair plan --out exits 0 %s" % (model, r.stderr[-500:]))
        ins = make_inputs(work, mpath, 2, 17)
        refs = [predict_ref(a.mchair, mpath, seed, p, p + ".ref") for p in ins]
        methods = set()
        for n in sizes:
            farm = os.path.join(out, "farm-%d.json" % n)
            if not os.path.exists(farm):
                check(False, "%s: the planner wrote farm-%d.json" % (model, n))
                continue
            js = json.load(open(farm))
            layout = {t: [int(x.rsplit(":", 1)[1]) for x in addrs] for t, addrs in js["node"].items()
                      if t != "initial"}
            desc = ", ".join("%s %s/%s" % (t["name"], t.get("method", "data"), t.get("parts", 1))
                             for t in js["tasks"])
            methods.update(t.get("method", "data") for t in js["tasks"])
            split = {t["layers"][0]: t.get("method", "data") for t in js["tasks"]
                     if t.get("method", "data") != "data"}
            starts = [t["layers"][0] for t in js["tasks"]]
            check(model != "small3" or "kp" in starts, "%s farm-%d: a task starts with the pool kp (%s)" %
                  (model, n, starts))
            check(all(split.get(L) in ok for L, ok in must_split.items()),
                  "%s farm-%d: the layers over the %s MiB budget are split tasks (%s; split: %s)" %
                  (model, n, mem, sorted(must_split), split))
            run_farm_vs_predict(a, work, farm, layout, model, ins, refs, "%s plan farm-%d (mem %s MiB) [%s]" %
                                (model, n, mem, desc), seed, 3)
        print("methods in the %s plans run: %s" % (model, sorted(methods)))


# ---------------------------------------------------------------- graph

def test_graph(a, work):
    """farmlib.GRAPH_CASES: a plan with split tasks inside the graph, run."""
    seed = 4
    model = a.model
    want = farmlib.GRAPH_CASES[model][4]
    farm, js, log = farmlib.plan_graph_farm(a.mchair, model, work)
    print(log)
    check(farm is not None, "%s: profile and plan write a farm file" % model)
    if not farm:
        return
    split = {t["layers"][0]: t["method"] for t in js["tasks"] if t.get("method", "data") != "data"}
    n_dev = sum(len(v) for k, v in js["node"].items() if k != "initial")
    check(n_dev >= 4 and all(w in split for w in want),
          "%s: the plan for %d devices splits %s (it splits %s)" % (model, n_dev, want, split))
    ins = make_inputs(work, model, 1, 19)
    refs = [predict_ref(a.mchair, model, seed, p, p + ".ref") for p in ins]
    run_farm_vs_predict(a, work, farm, farmlib.farm_layout(js), model, ins, refs, "%s plan farm-%d [%s]" %
                        (model, n_dev, farmlib.farm_desc(js)), seed, a.repeat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["correct", "interop", "faults", "unreachable", "methods", "plan", "failover", "tune",
                                     "graph"])
    ap.add_argument("model", nargs="?", default="alexnet")
    ap.add_argument("devices", nargs="?", type=int, default=5)
    ap.add_argument("--mchair", required=True)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--inputs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--ipv6", action="store_true", help="correct: every process on [::1] (farm file, --listen)")
    a = ap.parse_args()
    if a.ipv6:
        if not farmlib.have_ipv6_loopback():
            print("skipped: no IPv6 loopback (::1) on this machine")
            return 77
        farmlib.HOST = "::1"
    work = tempfile.mkdtemp(prefix="mchair-farm-")
    try:
        {"correct": test_correct, "interop": test_interop, "faults": test_faults,
         "unreachable": test_unreachable, "methods": test_methods, "plan": test_plan,
         "failover": test_failover, "tune": test_tune, "graph": test_graph}[a.what](a, work)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        failures.append("exception: %s" % e)
    finally:
        status = farmlib.finish(work, failures, a.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
