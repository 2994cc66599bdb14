"""Independent reference models for mchair's built-in networks.

Shared by tests/reference/test_reference.py (correctness against ONNX Runtime)
and bench/bench_engine.py (latency against ONNX Runtime and PyTorch).

Nothing here calls into mchair's C code:
  * the layer sequence comes from the model text in src/models/zoo.c, read with
    a regex and parsed here (same text format as docs/model-format.md);
  * the parameters come from an MCHAIRW1 weight file written by
    `mchair predict --save-weights` (layout: header comment of src/models/weights.c);
  * shapes are inferred here with TensorFlow/Keras SAME/VALID rules.

Conventions mirrored from the engine: activations are NHWC float32, conv weights
HWIO (element (ky,kx,ci,co) at ((ky*KW+kx)*Cin+ci)*Cout+co), dense weights
[out][in] (y = W x + b), flatten in NHWC order (as Keras does).
"""
import os
import re
import struct
from collections import OrderedDict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZOO_C = os.path.join(ROOT, "src", "models", "zoo.c")
MAGIC = b"MCHAIRW1"
OPS = ("conv2d", "maxpool2d", "dense", "relu", "softmax", "flatten")


# --------------------------------------------------------------------------- model text

def builtin_text(name, zoo_c=ZOO_C):
    """Returns the model text of built-in model `name` from zoo.c's C string."""
    with open(zoo_c, encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"static\s+const\s+char\s+%s_text\s*\[\s*\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;"
                  % re.escape(name), src)
    if not m:
        raise ValueError("%s: no model text '%s_text'" % (zoo_c, name))
    parts = re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1))
    text = "".join(parts)
    # Only the escapes the zoo uses; anything else is a parse error here.
    text = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t", "\\": "\\", "\"": "\""}[e.group(1)], text)
    return text


def same_pads(n_in, k, s):
    """TensorFlow SAME: returns (out, before, after)."""
    out = -(-n_in // s)
    total = max((out - 1) * s + k - n_in, 0)
    return out, total // 2, total - total // 2


def valid_out(n_in, k, s):
    if n_in < k:
        raise ValueError("kernel %d does not fit input %d (valid padding)" % (k, n_in))
    return (n_in - k) // s + 1


def parse_model(text, origin="model"):
    """Parses the model text format; returns (name, input_hwc, layers).

    Each layer is a dict: op, name, and per op units, kh, kw, sh, sw, padding,
    act, plus inferred in/out shapes (tuples, HWC or (n,)) and pads
    (top, bottom, left, right)."""
    name, shape, layers = None, None, []
    for ln, raw in enumerate(text.splitlines(), 1):
        tok = raw.split("#", 1)[0].split()
        if not tok:
            continue
        if tok[0] == "model":
            name = tok[1]
            continue
        if tok[0] == "input":
            shape = tuple(int(v) for v in tok[1:4])
            continue
        if tok[0] not in OPS:
            raise ValueError("%s:%d: unknown layer kind '%s'" % (origin, ln, tok[0]))
        if shape is None:
            raise ValueError("%s:%d: layer before 'input'" % (origin, ln))
        L = {"op": tok[0], "name": tok[1], "units": 0, "kh": 0, "kw": 0, "sh": 1, "sw": 1,
             "padding": "valid", "act": "none"}
        if L["op"] == "maxpool2d":
            L.update(kh=2, kw=2, sh=2, sw=2)
        stride_given = False
        for kv in tok[2:]:
            k, v = kv.split("=", 1)
            if k in ("filters", "units"):
                L["units"] = int(v)
            elif k in ("kernel", "pool"):
                L["kh"] = L["kw"] = int(v)
            elif k in ("kernel_h", "kernel_w"):
                L["kh" if k == "kernel_h" else "kw"] = int(v)
            elif k == "stride":
                L["sh"] = L["sw"] = int(v)
                stride_given = True
            elif k in ("stride_h", "stride_w"):
                L["sh" if k == "stride_h" else "sw"] = int(v)
                stride_given = True
            elif k in ("padding", "act"):
                L[k] = v
            else:
                raise ValueError("%s:%d: unknown parameter '%s'" % (origin, ln, k))
        if L["op"] == "maxpool2d" and not stride_given:
            L["sh"], L["sw"] = L["kh"], L["kw"]
        L["in"] = shape
        if L["op"] in ("conv2d", "maxpool2d"):
            h, w, c = shape
            if L["padding"] == "same":
                oh, pt, pb = same_pads(h, L["kh"], L["sh"])
                ow, pl, pr = same_pads(w, L["kw"], L["sw"])
            else:
                oh, ow = valid_out(h, L["kh"], L["sh"]), valid_out(w, L["kw"], L["sw"])
                pt = pb = pl = pr = 0
            L["pads"] = (pt, pb, pl, pr)
            shape = (oh, ow, L["units"] if L["op"] == "conv2d" else c)
        elif L["op"] == "flatten":
            shape = (int(np.prod(shape)),)
        elif L["op"] == "dense":
            if len(shape) != 1:
                raise ValueError("%s:%d: dense %s needs a flat input, got %s" % (origin, ln, L["name"], shape))
            shape = (L["units"],)
        L["out"] = shape
        layers.append(L)
    if name is None or shape is None:
        raise ValueError("%s: missing 'model' or 'input' line" % origin)
    return name, layers[0]["in"] if layers else shape, layers


def builtin_model(name):
    return parse_model(builtin_text(name), name)


def param_shapes(L):
    """(weight, bias) numpy shapes of a layer, or None."""
    if L["op"] == "conv2d":
        return (L["kh"], L["kw"], L["in"][2], L["units"]), (L["units"],)
    if L["op"] == "dense":
        return (L["units"], L["in"][0]), (L["units"],)
    return None


def macs(layers):
    total = 0
    for L in layers:
        if L["op"] == "conv2d":
            oh, ow, co = L["out"]
            total += oh * ow * co * L["kh"] * L["kw"] * L["in"][2]
        elif L["op"] == "dense":
            total += L["units"] * L["in"][0]
    return total


# --------------------------------------------------------------------------- weight file

def read_weights(path):
    """Reads an MCHAIRW1 file; returns OrderedDict tensor name -> numpy array.

    ne[] is innermost first, so the numpy shape is ne reversed with the
    leading 1s dropped (conv: HWIO, dense: [out][in], bias: [n])."""
    out = OrderedDict()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise ValueError("%s: bad magic" % path)
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            (n,) = struct.unpack("<I", f.read(4))
            name = f.read(n).decode()
            ne = struct.unpack("<4I", f.read(16))
            cnt = int(np.prod(ne))
            data = np.fromfile(f, dtype="<f4", count=cnt)
            if data.size != cnt:
                raise ValueError("%s: tensor %s truncated" % (path, name))
            shp = list(reversed(ne))
            while len(shp) > 1 and shp[0] == 1:
                shp.pop(0)
            out[name] = data.reshape(shp)
        if f.tell() != size:
            raise ValueError("%s: %d trailing bytes" % (path, size - f.tell()))
    return out


def check_weights(layers, weights):
    """Checks that the weight file holds exactly the model's parameters."""
    want = []
    for L in layers:
        ps = param_shapes(L)
        if ps:
            want += [(L["name"] + ".weight", ps[0]), (L["name"] + ".bias", ps[1])]
    got = [(k, tuple(v.shape)) for k, v in weights.items()]
    if got != [(k, tuple(s)) for k, s in want]:
        raise ValueError("weight file tensors %s do not match the model's %s" % (got, want))


# --------------------------------------------------------------------------- ONNX graph

def build_onnx(layers, weights, outputs=(), opset=13):
    """Builds an ONNX ModelProto computing `layers` on an NHWC [1,H,W,C] input
    named "input".  The last layer's output is graph output "output"; each name
    in `outputs` adds graph output "<layer>:out" holding that layer's output in
    the engine's layout (NHWC, or flat)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, extra = [], [], []
    h, w, c = layers[0]["in"]
    nodes.append(helper.make_node("Transpose", ["input"], ["x_nchw"], perm=[0, 3, 1, 2]))
    cur, nchw = "x_nchw", True  # current tensor and whether it is NCHW (else [1, n])
    for L in layers:
        nm, op = L["name"], L["op"]
        y = nm + ":y"
        if op == "conv2d":
            wt = weights[nm + ".weight"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            inits += [numpy_helper.from_array(np.ascontiguousarray(wt, np.float32), nm + ".W"),
                      numpy_helper.from_array(weights[nm + ".bias"].astype(np.float32), nm + ".B")]
            pt, pb, pl, pr = L["pads"]
            nodes.append(helper.make_node("Conv", [cur, nm + ".W", nm + ".B"], [y],
                                          kernel_shape=[L["kh"], L["kw"]], strides=[L["sh"], L["sw"]],
                                          pads=[pt, pl, pb, pr]))
        elif op == "maxpool2d":
            pt, pb, pl, pr = L["pads"]
            nodes.append(helper.make_node("MaxPool", [cur], [y], kernel_shape=[L["kh"], L["kw"]],
                                          strides=[L["sh"], L["sw"]], pads=[pt, pl, pb, pr]))
        elif op == "flatten":
            # Keras/mchair flatten NHWC order: back to NHWC, then reshape.
            nodes.append(helper.make_node("Transpose", [cur], [nm + ":nhwc"], perm=[0, 2, 3, 1]))
            inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), nm + ".shape"))
            nodes.append(helper.make_node("Reshape", [nm + ":nhwc", nm + ".shape"], [y]))
            nchw = False
        elif op == "dense":
            inits += [numpy_helper.from_array(weights[nm + ".weight"].astype(np.float32), nm + ".W"),
                      numpy_helper.from_array(weights[nm + ".bias"].astype(np.float32), nm + ".B")]
            nodes.append(helper.make_node("Gemm", [cur, nm + ".W", nm + ".B"], [y], transB=1))
        elif op == "relu":
            nodes.append(helper.make_node("Relu", [cur], [y]))
        elif op == "softmax":
            nodes.append(helper.make_node("Softmax", [cur], [y], axis=-1 if not nchw else 1))
        else:
            raise ValueError("layer %s: op %s has no ONNX mapping" % (nm, op))
        if L["act"] == "relu":
            nodes.append(helper.make_node("Relu", [y], [nm + ":act"]))
            y = nm + ":act"
        elif L["act"] == "softmax":
            nodes.append(helper.make_node("Softmax", [y], [nm + ":act"], axis=-1 if not nchw else 1))
            y = nm + ":act"
        cur = y
        if nm in outputs:
            shp = [1] + list(L["out"])
            if nchw:
                nodes.append(helper.make_node("Transpose", [cur], [nm + ":out"], perm=[0, 2, 3, 1]))
            else:
                nodes.append(helper.make_node("Identity", [cur], [nm + ":out"]))
            extra.append(helper.make_tensor_value_info(nm + ":out", TensorProto.FLOAT, shp))
    last = layers[-1]
    if nchw:
        nodes.append(helper.make_node("Transpose", [cur], ["output"], perm=[0, 2, 3, 1]))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["output"]))
    graph = helper.make_graph(
        nodes, "mchair_reference",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, h, w, c])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1] + list(last["out"]))] + extra,
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="mchair-reference")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


def ort_session(model, threads=None, optimize=True):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=so,
                                providers=["CPUExecutionProvider"])
