"""PyTorch peer of a model in mchair's text format, graphs included.

torch_model(layers, weights) takes the layers of tests/reference/onnx_model.py
(parse_model) and the weights of check_weights(), and returns an eval-mode
nn.Module that runs them on an NCHW (NCDHW for clips) input and returns the
last layer's output in mchair's layout (channels last, or flat).  It is
eager PyTorch, op by op, as a user would write it: no batchnorm folding, no
scripting.  Used by bench/bench_graph.py; bench_engine.py can use it for the
chains too (`from torch_graph import torch_model`).
"""
import numpy as np


def torch_model(layers, weights):
    import torch
    from torch import nn
    import torch.nn.functional as F

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, np.float32))

    def to_last(x):
        return x.permute(0, *range(2, x.dim()), 1) if x.dim() > 2 else x

    def pad_args(p):
        """F.pad's order from (top, bottom, left, right) or pads3 (front, back, top, bottom, left, right)."""
        if len(p) == 4:
            return (p[2], p[3], p[0], p[1])
        return (p[4], p[5], p[2], p[3], p[0], p[1])

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.ParameterDict()
            for L in layers:
                nm = L["name"]
                for suffix in ("weight", "bias", "mean", "var", "pointwise"):
                    key = nm + "." + suffix
                    if key in weights:
                        a = weights[key]
                        if suffix == "weight" and L["op"] == "conv2d":
                            a = a.transpose(3, 2, 0, 1)  # HWIO -> OIHW
                        elif suffix == "weight" and L["op"] == "conv3d":
                            a = a.transpose(4, 3, 0, 1, 2)  # DHWIO -> OIDHW
                        elif suffix == "weight" and L["op"] in ("dwconv2d", "sepconv2d"):
                            c, m = L["in"][-1], L["mult"]
                            a = a.transpose(2, 3, 0, 1).reshape(c * m, 1, L["kh"], L["kw"])
                        elif suffix == "pointwise":
                            a = a.T.reshape(L["units"], -1, 1, 1)
                        self.p[key.replace(".", "__")] = nn.Parameter(t(a), requires_grad=False)

        def w(self, nm, suffix):
            key = (nm + "__" + suffix)
            return self.p[key] if key in self.p else None

        def forward(self, x):
            val = {"input": x}
            for L in layers:
                nm, op = L["name"], L["op"]
                xs = [val[i] for i in L["inputs"]]
                x = xs[0]
                W, B = self.w(nm, "weight"), self.w(nm, "bias")
                if op == "conv2d":
                    y = F.conv2d(F.pad(x, pad_args(L["pads"])), W, B, stride=(L["sh"], L["sw"]))
                elif op in ("dwconv2d", "sepconv2d"):
                    y = F.conv2d(F.pad(x, pad_args(L["pads"])), W, B if op == "dwconv2d" else None,
                                 stride=(L["sh"], L["sw"]), groups=L["in"][-1])
                    if op == "sepconv2d":
                        y = F.conv2d(y, self.w(nm, "pointwise"), B)
                elif op == "conv3d":
                    y = F.conv3d(F.pad(x, pad_args(L["pads3"])), W, B, stride=(L["st"], L["sh"], L["sw"]))
                elif op == "maxpool2d":
                    y = F.max_pool2d(F.pad(x, pad_args(L["pads"]), value=float("-inf")), (L["kh"], L["kw"]),
                                     stride=(L["sh"], L["sw"]))
                elif op == "maxpool3d":
                    y = F.max_pool3d(F.pad(x, pad_args(L["pads3"]), value=float("-inf")),
                                     (L["kt"], L["kh"], L["kw"]), stride=(L["st"], L["sh"], L["sw"]))
                elif op == "avgpool2d":
                    pt, pb, pl, pr = L["pads"]
                    if (pt, pl) != (pb, pr):
                        raise ValueError("layer %s: asymmetric average pooling has no PyTorch twin here" % nm)
                    y = F.avg_pool2d(x, (L["kh"], L["kw"]), stride=(L["sh"], L["sw"]), padding=(pt, pl),
                                     count_include_pad=False)
                elif op == "zeropad":
                    tp, bt, le, ri, fr, bk = L["zpads"]
                    y = F.pad(x, (le, ri, tp, bt) if x.dim() == 4 else (le, ri, tp, bt, fr, bk))
                elif op == "batchnorm":
                    y = F.batch_norm(x, self.w(nm, "mean"), self.w(nm, "var"), W, B, training=False, eps=L["eps"])
                elif op == "add":
                    y = xs[0]
                    for o in xs[1:]:
                        y = y + o
                elif op == "concat":
                    y = torch.cat(xs, dim=1)
                elif op == "globalavgpool":
                    y = x.mean(dim=tuple(range(2, x.dim()))) if x.dim() > 2 else x
                elif op == "flatten":
                    y = to_last(x).reshape(1, -1)
                elif op == "dense":
                    y = F.linear(to_last(x).reshape(1, -1), W, B)
                elif op == "relu":
                    y = F.relu(x)
                elif op == "softmax":
                    y = F.softmax(x, dim=1)
                else:
                    raise ValueError("layer %s: op %s has no PyTorch twin" % (nm, op))
                if L["act"] == "relu":
                    y = F.relu(y)
                elif L["act"] == "softmax":
                    y = F.softmax(y, dim=1)
                val[nm] = y
            return to_last(val[layers[-1]["name"]])

    return Graph().eval()
