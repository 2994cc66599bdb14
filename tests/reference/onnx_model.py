"""Independent reference models for mchair's built-in networks.

Shared by tests/reference/test_reference.py (correctness against ONNX Runtime)
and bench/bench_engine.py, bench/bench_graph.py (latency against ONNX Runtime
and PyTorch).

Nothing here calls into mchair's C code:
  * the layers come from the model text in src/models/zoo*.c, read with a
    regex and parsed here (same text format as docs/model-format.md),
    including the graph (in=), the batchnorm folding rule and the cut rule;
  * the parameters come from an MCHAIRW1 weight file written by
    `mchair predict --save-weights` (layout: docs/weights.md);
  * shapes are inferred here with TensorFlow/Keras SAME/VALID rules.

Conventions mirrored from the engine: activations are NHWC float32 (THWC for
clips), conv weights HWIO (element (ky,kx,ci,co) at ((ky*KW+kx)*Cin+ci)*Cout+co),
3-D conv weights DHWIO, depthwise weights (KH,KW,C,M), dense weights
[out][in] (y = W x + b), flatten in NHWC order (as Keras does).  Shapes here
are tuples: (H, W, C) images, (T, H, W, C) clips, (n,) vectors.
"""
import glob
import os
import re
import struct
from collections import OrderedDict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZOO_C = os.path.join(ROOT, "src", "models", "zoo.c")
MAGIC = b"MCHAIRW1"
INPUT = "input"  # how in= names the model's input
OPS = ("conv2d", "maxpool2d", "dense", "relu", "softmax", "flatten", "batchnorm", "add", "concat",
       "globalavgpool", "avgpool2d", "zeropad", "dwconv2d", "sepconv2d", "conv3d", "maxpool3d", "tpyramid")
MULTI = ("add", "concat")                                   # ops with 2+ inputs
POOLS = ("maxpool2d", "avgpool2d", "maxpool3d")             # stride defaults to the window
OPS_3D = ("conv3d", "maxpool3d")
FOLDS_BN = ("conv2d", "dwconv2d", "sepconv2d", "conv3d")    # a following batchnorm folds into these
AUX = {"batchnorm": ("mean", "var"), "sepconv2d": ("pointwise",)}


# --------------------------------------------------------------------------- model text

def builtin_text(name, zoo_c=ZOO_C):
    """Returns the model text of built-in model `name` from the C strings of
    src/models/zoo*.c (`static const char NAME_text[]` or `const char mc_zoo_NAME_text[]`)."""
    files = sorted(glob.glob(os.path.join(os.path.dirname(zoo_c), "zoo*.c")))
    for path in files:
        with open(path, encoding="utf-8") as f:
            src = f.read()
        m = re.search(r"(?:static\s+)?const\s+char\s+(?:mc_zoo_)?%s_text\s*\[\s*\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;"
                      % re.escape(name.replace("-", "_")), src)
        if m:
            parts = re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1))
            text = "".join(parts)
            # Only the escapes the zoo uses; anything else is a parse error here.
            return re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t", "\\": "\\", "\"": "\""}[e.group(1)], text)
    raise ValueError("%s: no model text '%s_text'" % (", ".join(files), name))


def same_pads(n_in, k, s):
    """TensorFlow SAME: returns (out, before, after)."""
    out = -(-n_in // s)
    total = max((out - 1) * s + k - n_in, 0)
    return out, total // 2, total - total // 2


def valid_out(n_in, k, s):
    if n_in < k:
        raise ValueError("kernel %d does not fit input %d (valid padding)" % (k, n_in))
    return (n_in - k) // s + 1


def window(n_in, k, s, padding):
    """(out, before, after) along one axis."""
    if padding == "same":
        return same_pads(n_in, k, s)
    return valid_out(n_in, k, s), 0, 0


def as_image(shape, what):
    """(H, W, C) of a shape; a clip of one frame counts as an image."""
    if len(shape) == 4 and shape[0] == 1:
        return shape[1:]
    if len(shape) != 3:
        raise ValueError("%s needs an HxWxC input, got %s" % (what, shape))
    return shape


def as_clip(shape, what):
    """(T, H, W, C) of a shape (an image is one frame)."""
    if len(shape) == 3:
        return (1,) + shape
    if len(shape) != 4:
        raise ValueError("%s needs a TxHxWxC input, got %s" % (what, shape))
    return shape


def infer(L):
    """Fills L["out"] (and pads) from L["ins"]."""
    op, nm, shape = L["op"], L["name"], L["ins"][0]
    if op in ("conv2d", "maxpool2d", "avgpool2d", "dwconv2d", "sepconv2d"):
        h, w, c = as_image(shape, "layer %s" % nm)
        oh, pt, pb = window(h, L["kh"], L["sh"], L["padding"])
        ow, pl, pr = window(w, L["kw"], L["sw"], L["padding"])
        L["pads"] = (pt, pb, pl, pr)
        co = {"conv2d": L["units"], "sepconv2d": L["units"], "dwconv2d": c * L["mult"]}.get(op, c)
        return (oh, ow, co)
    if op in OPS_3D:
        t, h, w, c = as_clip(shape, "layer %s" % nm)
        ot, pf, pk = window(t, L["kt"], L["st"], L["padding"])
        oh, pt, pb = window(h, L["kh"], L["sh"], L["padding"])
        ow, pl, pr = window(w, L["kw"], L["sw"], L["padding"])
        L["pads3"] = (pf, pk, pt, pb, pl, pr)
        return (ot, oh, ow, L["units"] if op == "conv3d" else c)
    if op == "zeropad":
        t, b, l, r, f, k = L["zpads"]
        if len(shape) == 3:
            if f or k:
                raise ValueError("layer %s: front/back padding needs a clip" % nm)
            return (shape[0] + t + b, shape[1] + l + r, shape[2])
        return (shape[0] + f + k, shape[1] + t + b, shape[2] + l + r, shape[3])
    if op == "flatten":
        return (int(np.prod(shape)),)
    if op == "dense":
        return (L["units"],)
    if op == "globalavgpool":
        return (shape[-1],)
    if op == "tpyramid":
        # T frames of D values (a clip T,H,W,C); the window [first, first+frames)
        t = shape[0] if len(shape) == 4 else 1
        frames = L["frames"] or t - L["first"]
        if L["first"] + frames > t or frames < 2 ** (L["levels"] - 1):
            raise ValueError("layer %s: window of %d frames from %d in %s" % (nm, frames, L["first"], shape))
        L["window"] = (L["first"], frames)
        return ((2 ** L["levels"] - 1) * int(np.prod(shape)) // t,)
    if op == "add":
        if any(s != shape for s in L["ins"]):
            raise ValueError("layer %s: add of shapes %s" % (nm, L["ins"]))
        return shape
    if op == "concat":
        if any(s[:-1] != shape[:-1] or len(s) != len(shape) for s in L["ins"]):
            raise ValueError("layer %s: concat of shapes %s" % (nm, L["ins"]))
        return shape[:-1] + (sum(s[-1] for s in L["ins"]),)
    return shape  # relu, softmax, batchnorm


def parse_model(text, origin="model"):
    """Parses the model text format; returns (name, input_shape, layers).

    Each layer is a dict: op, name, inputs (names; INPUT is the model's input),
    ins (their shapes), in (= ins[0]), out, and per op units, kh, kw, kt, sh,
    sw, st, padding, act, mult, eps, bias (bool), zpads (top, bottom, left,
    right, front, back), pads (top, bottom, left, right) or pads3 (front,
    back, top, bottom, left, right).  After parsing, `folded` is set on
    convolutions whose batchnorm folds into them (name of the batchnorm)."""
    name, in_shape, layers, by_name = None, None, [], {}
    for ln, raw in enumerate(text.splitlines(), 1):
        tok = raw.split("#", 1)[0].split()
        if not tok:
            continue
        if tok[0] == "model":
            name = tok[1]
            continue
        if tok[0] == "input":
            v = tuple(int(x) for x in tok[1:])
            in_shape = v if len(v) == 3 else (v[3], v[0], v[1], v[2])  # H W C [T]
            continue
        if tok[0] not in OPS:
            raise ValueError("%s:%d: unknown layer kind '%s'" % (origin, ln, tok[0]))
        if in_shape is None:
            raise ValueError("%s:%d: layer before 'input'" % (origin, ln))
        op = tok[0]
        L = {"op": op, "name": tok[1], "units": 0, "kh": 0, "kw": 0, "kt": 1, "sh": 1, "sw": 1, "st": 1,
             "padding": "valid", "act": "none", "mult": 1, "eps": 1e-3, "bias": True, "zpads": [0] * 6,
             "levels": 4, "first": 0, "frames": 0,
             "inputs": [layers[-1]["name"] if layers else INPUT]}
        if op in POOLS:
            L.update(kh=2, kw=2)
        if op == "maxpool3d":
            L["kt"] = 2
        strides = set()
        for kv in tok[2:]:
            k, v = kv.split("=", 1)
            if k == "in":
                L["inputs"] = v.split(",")
            elif k in ("filters", "units"):
                L["units"] = int(v)
            elif k in ("kernel", "pool"):
                L["kh"] = L["kw"] = int(v)
                if op in OPS_3D:
                    L["kt"] = int(v)
            elif k in ("kernel_h", "pool_h", "kernel_w", "pool_w", "kernel_t", "pool_t"):
                L["k" + k[-1]] = int(v)
            elif k == "stride":
                L["sh"] = L["sw"] = int(v)
                strides |= {"h", "w"}
                if op in OPS_3D:
                    L["st"] = int(v)
                    strides.add("t")
            elif k in ("stride_h", "stride_w", "stride_t"):
                L["s" + k[-1]] = int(v)
                strides.add(k[-1])
            elif k == "multiplier":
                L["mult"] = int(v)
            elif k in ("levels", "first", "frames"):
                L[k] = int(v)
            elif k == "pad":
                L["zpads"][0:4] = [int(v)] * 4
            elif k.startswith("pad_"):
                L["zpads"][("top", "bottom", "left", "right", "front", "back").index(k[4:])] = int(v)
            elif k == "eps":
                L["eps"] = float(v)
            elif k == "bias":
                L["bias"] = v == "yes"
            elif k in ("padding", "act"):
                L[k] = v
            else:
                raise ValueError("%s:%d: unknown parameter '%s'" % (origin, ln, k))
        if op in POOLS:
            for a in "hwt":
                if a not in strides:
                    L["s" + a] = L["k" + a]
        L["zpads"] = tuple(L["zpads"])
        for i in L["inputs"]:
            if i != INPUT and i not in by_name:
                raise ValueError("%s:%d: layer %s reads '%s', not an earlier layer" % (origin, ln, L["name"], i))
        if (len(L["inputs"]) > 1) != (op in MULTI):
            raise ValueError("%s:%d: layer %s: wrong number of inputs" % (origin, ln, L["name"]))
        L["ins"] = [in_shape if i == INPUT else by_name[i]["out"] for i in L["inputs"]]
        L["in"] = L["ins"][0]
        L["out"] = infer(L)
        L["index"] = len(layers)
        layers.append(L)
        by_name[L["name"]] = L
    if name is None or in_shape is None:
        raise ValueError("%s: missing 'model' or 'input' line" % origin)
    # Batchnorm folding (docs/model-format.md): a batchnorm whose input is a
    # convolution without activation read by nothing else.
    readers = {}
    for L in layers:
        for i in L["inputs"]:
            readers[i] = readers.get(i, 0) + 1
    for L in layers:
        if L["op"] == "batchnorm" and L["inputs"][0] != INPUT:
            c = by_name[L["inputs"][0]]
            if c["op"] in FOLDS_BN and c["act"] == "none" and readers[c["name"]] == 1:
                c["folded"] = L["name"]
    return name, in_shape, layers


def builtin_model(name):
    return parse_model(builtin_text(name), name)


def model_input_shape(layers):
    for L in layers:
        for i, s in zip(L["inputs"], L["ins"]):
            if i == INPUT:
                return s
    raise ValueError("no layer reads the model's input")


def cut(layers, k):
    """Names of the tensors crossing cut k (before layer k), in producer order
    (INPUT first, then by layer index): made before k and read at or after
    k; cut len(layers) is the last layer's output."""
    idx = {L["name"]: L["index"] for L in layers}
    idx[INPUT] = -1
    last = {}
    for L in layers:
        for i in L["inputs"]:
            last[i] = max(last.get(i, -1), L["index"])
    names = [n for n, j in sorted(idx.items(), key=lambda e: e[1]) if j < k and last.get(n, -1) >= k]
    if k == len(layers):
        names.append(layers[-1]["name"])
    return names


def value_layer(layers, name):
    """The layer whose ONNX output holds tensor `name` as mchair computes it: a
    convolution with a folded batchnorm gives the batchnorm's output."""
    for L in layers:
        if L["name"] == name:
            return L.get("folded", name)
    return name


def param_shapes(L):
    """(weight, bias) numpy shapes of a layer, or None (bias None: bias=no)."""
    op, c = L["op"], L["in"][-1]
    w = {"conv2d": lambda: (L["kh"], L["kw"], c, L["units"]),
         "dense": lambda: (L["units"], int(np.prod(L["in"]))),
         "batchnorm": lambda: (c,),
         "dwconv2d": lambda: (L["kh"], L["kw"], c, L["mult"]),
         "sepconv2d": lambda: (L["kh"], L["kw"], c, L["mult"]),
         "conv3d": lambda: (L["kt"], L["kh"], L["kw"], c, L["units"])}.get(op)
    if not w:
        return None
    return w(), ((L["out"][-1],) if L["bias"] else None)


def aux_shapes(L):
    """[(suffix, numpy shape)] of a layer's aux tensors."""
    if L["op"] == "batchnorm":
        c = L["in"][-1]
        return [("mean", (c,)), ("var", (c,))]
    if L["op"] == "sepconv2d":
        return [("pointwise", (L["in"][-1] * L["mult"], L["units"]))]
    return []


def macs(layers):
    total = 0
    for L in layers:
        op = L["op"]
        if op == "conv2d":
            oh, ow, co = L["out"]
            total += oh * ow * co * L["kh"] * L["kw"] * L["in"][-1]
        elif op == "conv3d":
            total += int(np.prod(L["out"])) * L["kt"] * L["kh"] * L["kw"] * L["in"][-1]
        elif op == "dwconv2d":
            total += int(np.prod(L["out"])) * L["kh"] * L["kw"]
        elif op == "sepconv2d":
            oh, ow, co = L["out"]
            cm = L["in"][-1] * L["mult"]
            total += oh * ow * cm * (L["kh"] * L["kw"] + co)
        elif op == "dense":
            total += L["units"] * int(np.prod(L["in"]))
    return total


# --------------------------------------------------------------------------- weight file

def read_weights(path):
    """Reads an MCHAIRW1 file; returns OrderedDict tensor name -> numpy array.

    ne[] is innermost first, so the numpy shape is ne reversed with the
    leading 1s dropped (conv: HWIO, dense: [out][in], bias: [n]);
    check_weights() then gives each tensor the shape its layer expects."""
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
    """Checks that the weight file holds exactly the model's parameters, in
    order, and reshapes each to its layer's numpy shape (a 1x1 kernel's
    leading 1s, a 3-D kernel's KT*KH axis)."""
    want = []
    for L in layers:
        ps = param_shapes(L)
        if ps:
            want.append((L["name"] + ".weight", ps[0]))
            if ps[1]:
                want.append((L["name"] + ".bias", ps[1]))
            want += [(L["name"] + "." + s, shp) for s, shp in aux_shapes(L)]
    got = [(k, int(v.size)) for k, v in weights.items()]
    if got != [(k, int(np.prod(s))) for k, s in want]:
        raise ValueError("weight file tensors %s do not match the model's %s" % (got, want))
    for k, s in want:
        weights[k] = weights[k].reshape(s)


# --------------------------------------------------------------------------- ONNX graph

def _to_last(rank):
    """Permutation from channels-first to channels-last for a tensor of `rank` axes."""
    return [0] + list(range(2, rank)) + [1]


def build_onnx(layers, weights, outputs=(), opset=13, input_shape=None):
    """Builds an ONNX ModelProto computing `layers` on an NHWC [1,H,W,C] (or
    NDHWC) input named "input".  The last layer's output is graph output
    "output"; each name in `outputs` adds graph output "<layer>:out" holding
    that layer's output (after its activation) in the engine's layout
    (channels last, or flat).  Batchnorms stay BatchNormalization nodes: ONNX
    Runtime folds them its own way."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, extra = [], [], []
    shape = input_shape or model_input_shape(layers)
    rank = len(shape) + 1
    nodes.append(helper.make_node("Transpose", ["input"], ["x_cf"], perm=[0, rank - 1] + list(range(1, rank - 1))))
    val = {INPUT: ("x_cf", rank)}   # name -> (ONNX tensor, rank; 2 = flat [1, n])

    def init(arr, nm):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), nm))
        return nm

    def flat(t, r, nm):
        """Channels-last flatten (Keras order) of tensor t of rank r."""
        if r == 2:
            return t
        nodes.append(helper.make_node("Transpose", [t], [nm + ":cl"], perm=_to_last(r)))
        shp = nm + ".flat"
        inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), shp))
        nodes.append(helper.make_node("Reshape", [nm + ":cl", shp], [nm + ":flat"]))
        return nm + ":flat"

    for L in layers:
        nm, op = L["name"], L["op"]
        srcs = [val[i] for i in L["inputs"]]
        cur, r = srcs[0]
        y = nm + ":y"
        has_b = op in ("conv2d", "dwconv2d", "sepconv2d", "conv3d", "dense") and L["bias"]
        bias = [init(weights[nm + ".bias"], nm + ".B")] if has_b else []
        if op == "conv2d":
            w = init(weights[nm + ".weight"].transpose(3, 2, 0, 1), nm + ".W")  # HWIO -> OIHW
            pt, pb, pl, pr = L["pads"]
            nodes.append(helper.make_node("Conv", [cur, w] + bias, [y], kernel_shape=[L["kh"], L["kw"]],
                                          strides=[L["sh"], L["sw"]], pads=[pt, pl, pb, pr]))
        elif op in ("dwconv2d", "sepconv2d"):
            c, m = L["in"][-1], L["mult"]
            dw = weights[nm + ".weight"].transpose(2, 3, 0, 1).reshape(c * m, 1, L["kh"], L["kw"])
            pt, pb, pl, pr = L["pads"]
            dy = y if op == "dwconv2d" else nm + ":dw"
            nodes.append(helper.make_node("Conv", [cur, init(dw, nm + ".DW")] + (bias if op == "dwconv2d" else []),
                                          [dy], kernel_shape=[L["kh"], L["kw"]], strides=[L["sh"], L["sw"]],
                                          pads=[pt, pl, pb, pr], group=c))
            if op == "sepconv2d":
                pw = weights[nm + ".pointwise"].T.reshape(L["units"], c * m, 1, 1)
                nodes.append(helper.make_node("Conv", [dy, init(pw, nm + ".PW")] + bias, [y], kernel_shape=[1, 1]))
        elif op == "conv3d":
            w = init(weights[nm + ".weight"].transpose(4, 3, 0, 1, 2), nm + ".W")  # DHWIO -> OIDHW
            pf, pk, pt, pb, pl, pr = L["pads3"]
            nodes.append(helper.make_node("Conv", [cur, w] + bias, [y], kernel_shape=[L["kt"], L["kh"], L["kw"]],
                                          strides=[L["st"], L["sh"], L["sw"]], pads=[pf, pt, pl, pk, pb, pr]))
        elif op in ("maxpool2d", "avgpool2d"):
            pt, pb, pl, pr = L["pads"]
            kw = {"count_include_pad": 0} if op == "avgpool2d" else {}
            nodes.append(helper.make_node("MaxPool" if op == "maxpool2d" else "AveragePool", [cur], [y],
                                          kernel_shape=[L["kh"], L["kw"]], strides=[L["sh"], L["sw"]],
                                          pads=[pt, pl, pb, pr], **kw))
        elif op == "maxpool3d":
            pf, pk, pt, pb, pl, pr = L["pads3"]
            nodes.append(helper.make_node("MaxPool", [cur], [y], kernel_shape=[L["kt"], L["kh"], L["kw"]],
                                          strides=[L["st"], L["sh"], L["sw"]], pads=[pf, pt, pl, pk, pb, pr]))
        elif op == "zeropad":
            t, b, le, ri, f, k = L["zpads"]
            pads = [0, 0, t, le, 0, 0, b, ri] if r == 4 else [0, 0, f, t, le, 0, 0, k, b, ri]
            inits.append(numpy_helper.from_array(np.array(pads, np.int64), nm + ".pads"))
            nodes.append(helper.make_node("Pad", [cur, nm + ".pads"], [y], mode="constant"))
        elif op == "batchnorm":
            ins = [init(weights[nm + "." + s], nm + "." + s) for s in ("weight", "bias", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", [cur] + ins, [y], epsilon=L["eps"]))
        elif op == "add":
            nodes.append(helper.make_node("Sum", [t for t, _ in srcs], [y]))
        elif op == "concat":
            nodes.append(helper.make_node("Concat", [t for t, _ in srcs], [y], axis=1))
        elif op == "globalavgpool":
            nodes.append(helper.make_node("GlobalAveragePool", [cur], [nm + ":gap"]))
            nodes.append(helper.make_node("Flatten", [nm + ":gap"], [y], axis=1))
            r = 2
        elif op == "tpyramid":
            # pool p of level l, segment k: frames [first + k F / 2^l, first + (k+1) F / 2^l)
            # (integer division), Slice along T then ReduceMax, each flattened channels-last
            first, frames = L["window"]
            pools = []
            for lev in range(L["levels"]):
                for k in range(2 ** lev):
                    lo, hi = first + k * frames // 2 ** lev, first + (k + 1) * frames // 2 ** lev
                    pn = "%s.p%d_%d" % (nm, lev, k)
                    for s, v in (("lo", lo), ("hi", hi), ("ax", 2)):
                        inits.append(numpy_helper.from_array(np.array([v], np.int64), pn + "." + s))
                    nodes.append(helper.make_node("Slice", [cur, pn + ".lo", pn + ".hi", pn + ".ax"], [pn + ":s"]))
                    nodes.append(helper.make_node("ReduceMax", [pn + ":s"], [pn + ":m"], axes=[2], keepdims=0))
                    pools.append(flat(pn + ":m", r - 1, pn))
            nodes.append(helper.make_node("Concat", pools, [y], axis=1))
            r = 2
        elif op == "flatten":
            y, r = flat(cur, r, nm), 2
        elif op == "dense":
            x = flat(cur, r, nm)
            w = init(weights[nm + ".weight"], nm + ".W")
            nodes.append(helper.make_node("Gemm", [x, w] + bias, [y], transB=1))
            r = 2
        elif op == "relu":
            nodes.append(helper.make_node("Relu", [cur], [y]))
        elif op == "softmax":
            nodes.append(helper.make_node("Softmax", [cur], [y], axis=1 if r > 2 else -1))
        else:
            raise ValueError("layer %s: op %s has no ONNX mapping" % (nm, op))
        if L["act"] == "relu":
            nodes.append(helper.make_node("Relu", [y], [nm + ":act"]))
            y = nm + ":act"
        elif L["act"] == "softmax":
            nodes.append(helper.make_node("Softmax", [y], [nm + ":act"], axis=-1 if r == 2 else 1))
            y = nm + ":act"
        val[nm] = (y, r)

    def expose(nm, onnx_name, L):
        t, r = val[nm]
        if r > 2:
            nodes.append(helper.make_node("Transpose", [t], [onnx_name], perm=_to_last(r)))
        else:
            nodes.append(helper.make_node("Identity", [t], [onnx_name]))
        return helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, [1] + list(L["out"]))

    by_name = {L["name"]: L for L in layers}
    for nm in outputs:
        extra.append(expose(nm, nm + ":out", by_name[nm]))
    out_info = expose(layers[-1]["name"], "output", layers[-1])
    graph = helper.make_graph(
        nodes, "mchair_reference",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1] + list(shape))],
        [out_info] + extra, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="mchair-reference")
    model.ir_version = min(model.ir_version, 8)
    if model.ByteSize() < 2 ** 31 - 2 ** 26:
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
