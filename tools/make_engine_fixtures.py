#!/usr/bin/python3
"""Reference outputs and gradients from PyTorch for test/engine/parity.test.ts.

Run with Debian's python3-torch (1.13.1, the same libtorch the addon links):

    /usr/bin/python3 tools/make_engine_fixtures.py

Writes test/fixtures/engine/ops.safetensors (committed; CI needs no Python). Every case stores
  <case>.in.<name>    inputs (before the op; batch-norm running stats are mutated by it)
  <case>.out          the op's output
  <case>.gout         a random upstream gradient (when any input is differentiable)
  <case>.grad.<name>  d(sum(out * gout)) / d(input) for each differentiable input
  <case>.after.<name> buffers after the op (batch-norm running mean/var; Adam parameters per step)
and the header's __metadata__ holds, per case, {"op": ..., ...options} as JSON under "case:<case>",
so the TypeScript side reads the options instead of repeating them. Options use the TypeScript
API's names (stride, padding, outputPadding, keepdim, ...). Dtypes are F32, F64 and I64 only;
boolean outputs (comparisons) are stored as I64 0/1. The output is byte-for-byte reproducible.
"""
import json
import math
import pathlib
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20261126
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "engine" / "ops.safetensors"

tensors: dict[str, np.ndarray] = {}
cases: dict[str, dict] = {}
gen = torch.Generator().manual_seed(SEED)


def randn(*shape, dtype=torch.float32):
    return torch.randn(tuple(shape), generator=gen, dtype=dtype)


def uniform(lo, hi, *shape, dtype=torch.float32):
    return torch.rand(tuple(shape), generator=gen, dtype=dtype) * (hi - lo) + lo


def store(name, t):
    assert name not in tensors, name
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    assert t.dtype in (torch.float32, torch.float64, torch.int64), (name, t.dtype)
    tensors[name] = t.contiguous().numpy().copy()


def case(name, op, inputs, run, grads=None, **opts):
    """Run run(inputs as leaves, opts) -> out or (out, {buffer: tensor}); store everything.

    grads: names of inputs to differentiate (default: every floating-point input)."""
    if grads is None:
        grads = [k for k, v in inputs.items() if v.is_floating_point()]
    for k, v in inputs.items():
        store(f"{name}.in.{k}", v)
    leaves = {k: v.clone().requires_grad_(k in grads) for k, v in inputs.items()}
    res = run(leaves, opts)
    out, after = res if isinstance(res, tuple) else (res, {})
    store(f"{name}.out", out)
    for k, v in after.items():
        store(f"{name}.after.{k}", v)
    if grads:
        gout = randn(*out.shape, dtype=out.dtype)
        store(f"{name}.gout", gout)
        out.backward(gout)
        for k in grads:
            store(f"{name}.grad.{k}", leaves[k].grad)
    cases[name] = {"op": op, **opts}


def pair(v):
    return tuple(v)


# --- convolutions ---------------------------------------------------------------------------
def conv(t, o):
    return F.conv2d(t["x"], t["w"], t.get("b"), stride=pair(o["stride"]), padding=pair(o["padding"]),
                    dilation=pair(o["dilation"]), groups=o["groups"])


CONVS = [
    # name, x shape, w shape, bias, stride, padding, dilation, groups
    ("conv2d.k3", [2, 3, 8, 8], [4, 3, 3, 3], True, [1, 1], [0, 0], [1, 1], 1),
    ("conv2d.k3s2p1", [2, 3, 9, 9], [5, 3, 3, 3], True, [2, 2], [1, 1], [1, 1], 1),
    ("conv2d.k2s2_nobias", [2, 4, 8, 8], [6, 4, 2, 2], False, [2, 2], [0, 0], [1, 1], 1),
    ("conv2d.dil2", [1, 2, 10, 10], [3, 2, 3, 3], False, [1, 1], [2, 2], [2, 2], 1),
    ("conv2d.groups2", [2, 4, 7, 7], [6, 2, 3, 3], True, [1, 1], [1, 0], [1, 1], 2),
    ("conv2d.k1", [3, 5, 4, 6], [2, 5, 1, 1], True, [1, 1], [0, 0], [1, 1], 1),
]
for name, xs, ws, bias, stride, padding, dilation, groups in CONVS:
    ins = {"x": randn(*xs), "w": randn(*ws) * 0.3}
    if bias:
        ins["b"] = randn(ws[0])
    case(name, "conv2d", ins, conv, stride=stride, padding=padding, dilation=dilation, groups=groups)


def convt(t, o):
    return F.conv_transpose2d(t["x"], t["w"], t.get("b"), stride=pair(o["stride"]), padding=pair(o["padding"]),
                              output_padding=pair(o["outputPadding"]), groups=o["groups"], dilation=pair(o["dilation"]))


case("convT.k2s2", "convTranspose2d", {"x": randn(2, 4, 4, 4), "w": randn(4, 3, 2, 2) * 0.3, "b": randn(3)}, convt,
     stride=[2, 2], padding=[0, 0], outputPadding=[0, 0], groups=1, dilation=[1, 1])
case("convT.k3s2p1op1", "convTranspose2d", {"x": randn(2, 3, 5, 5), "w": randn(3, 2, 3, 3) * 0.3, "b": randn(2)}, convt,
     stride=[2, 2], padding=[1, 1], outputPadding=[1, 1], groups=1, dilation=[1, 1])
case("convT.k2s2_nobias", "convTranspose2d", {"x": randn(1, 2, 3, 3), "w": randn(2, 5, 2, 2) * 0.3}, convt,
     stride=[2, 2], padding=[0, 0], outputPadding=[0, 0], groups=1, dilation=[1, 1])


# --- batch norm -----------------------------------------------------------------------------
def bn(t, o):
    rm, rv = t.get("rm"), t.get("rv")
    out = F.batch_norm(t["x"], rm, rv, t.get("w"), t.get("b"), training=o["training"], momentum=o["momentum"], eps=o["eps"])
    return (out, {"rm": rm, "rv": rv}) if rm is not None else out


def bn_inputs(with_stats=True):
    ins = {"x": randn(4, 3, 5, 5) * 2 + 1, "w": uniform(0.5, 1.5, 3), "b": randn(3)}
    if with_stats:
        ins["rm"] = randn(3) * 0.1
        ins["rv"] = uniform(0.5, 2.0, 3)
    return ins


case("bn.train", "batchNorm", bn_inputs(), bn, grads=["x", "w", "b"], training=True, momentum=0.1, eps=1e-5)
case("bn.eval", "batchNorm", bn_inputs(), bn, grads=["x", "w", "b"], training=False, momentum=0.1, eps=1e-5)
case("bn.train_nostats", "batchNorm", bn_inputs(with_stats=False), bn, training=True, momentum=0.1, eps=1e-3)

# --- elementwise ----------------------------------------------------------------------------
case("relu", "unary", {"x": randn(3, 4, 5)}, lambda t, o: F.relu(t["x"]), fn="relu")
case("sigmoid", "unary", {"x": randn(3, 4, 5) * 3}, lambda t, o: torch.sigmoid(t["x"]), fn="sigmoid")

BIN = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
for fn, a_shape, b_shape in [("add", [2, 3, 4], [3, 1]), ("sub", [2, 1, 4], [3, 1]), ("mul", [2, 3, 4], [1, 3, 1]),
                             ("div", [4], [2, 3, 4])]:
    b = uniform(0.5, 2.0, *b_shape) * torch.where(randn(*b_shape) > 0, 1.0, -1.0) if fn == "div" else randn(*b_shape)
    case(f"binary.{fn}", "binary", {"a": randn(*a_shape), "b": b}, lambda t, o: BIN[o["fn"]](t["a"], t["b"]), fn=fn)
case("scalar.mul", "scalar", {"a": randn(3, 4)}, lambda t, o: t["a"] * o["s"], fn="mul", s=-2.5)
case("scalar.rsub", "scalar", {"a": randn(3, 4)}, lambda t, o: o["s"] - t["a"], fn="rsub", s=1.0)

case("matmul.batched", "matmul", {"a": randn(3, 4, 5), "b": randn(5, 6)}, lambda t, o: t["a"] @ t["b"])
case("matmul.f64", "matmul", {"a": randn(4, 5, dtype=torch.float64), "b": randn(5, 3, dtype=torch.float64)},
     lambda t, o: t["a"] @ t["b"])

# --- reductions -----------------------------------------------------------------------------
REDUCE = {"sum": torch.sum, "mean": torch.mean, "amax": torch.amax}


def reduce(t, o):
    f = REDUCE[o["fn"]]
    if o["dims"] is None:
        return f(t["x"]) if o["fn"] != "amax" else torch.amax(t["x"], dim=tuple(range(t["x"].dim())))
    return f(t["x"], dim=tuple(o["dims"]), keepdim=o["keepdim"])


for fn, dims, keepdim in [("sum", [1, 3], False), ("sum", None, False), ("mean", [2], True), ("mean", None, False),
                          ("amax", [1], False), ("amax", [0, 2], True)]:
    tag = "all" if dims is None else "d" + "".join(map(str, dims)) + ("k" if keepdim else "")
    case(f"reduce.{fn}.{tag}", "reduce", {"x": randn(2, 3, 4, 5)}, reduce, fn=fn, dims=dims, keepdim=keepdim)

case("argmax.d1", "argmax", {"x": randn(3, 7, 4)}, lambda t, o: torch.argmax(t["x"], dim=o["dim"], keepdim=o["keepdim"]),
     grads=[], dim=1, keepdim=False)
case("argmax.all", "argmax", {"x": randn(3, 7, 4)}, lambda t, o: torch.argmax(t["x"]), grads=[], dim=None, keepdim=False)

# --- shape ops ------------------------------------------------------------------------------
case("cat.d1", "cat", {"t0": randn(2, 1, 3), "t1": randn(2, 4, 3), "t2": randn(2, 2, 3)},
     lambda t, o: torch.cat([t["t0"], t["t1"], t["t2"]], dim=o["dim"]), dim=1)
case("slice.d1s2", "slice", {"x": randn(2, 7, 5)}, lambda t, o: t["x"][:, 1:6:2], dim=1, start=1, end=6, step=2)
case("slice.d2", "slice", {"x": randn(2, 7, 5)}, lambda t, o: t["x"][:, :, 2:4], dim=2, start=2, end=4, step=1)
# [2, 3, 4, 5] -permute-> [2, 4, 5, 3] -reshape-> [2, 20, 3]
case("permute_reshape", "permuteReshape", {"x": randn(2, 3, 4, 5)},
     lambda t, o: t["x"].permute(*o["dims"]).reshape(*o["shape"]), dims=[0, 2, 3, 1], shape=[2, 20, 3])
case("pixel_shuffle", "pixelShuffle", {"x": randn(2, 8, 3, 3)}, lambda t, o: F.pixel_shuffle(t["x"], o["r"]), r=2)
case("pixel_unshuffle", "pixelUnshuffle", {"x": randn(2, 2, 6, 6)}, lambda t, o: F.pixel_unshuffle(t["x"], o["r"]), r=2)

# --- resampling, loss, thresholds -----------------------------------------------------------
case("upsample.x8", "upsampleBilinear", {"x": randn(1, 2, 4, 5)},
     lambda t, o: F.interpolate(t["x"], scale_factor=o["scale"], mode="bilinear", align_corners=False), scale=8)
case("bce.soft.mean", "bceWithLogits", {"logits": randn(2, 1, 6, 6) * 2, "target": uniform(0.0, 1.0, 2, 1, 6, 6)},
     lambda t, o: F.binary_cross_entropy_with_logits(t["logits"], t["target"], reduction="mean"), grads=["logits"])
case("gt.scalar", "gt", {"x": randn(3, 5)}, lambda t, o: t["x"] > o["s"], grads=[], s=0.5)
case("gt.tensor", "gt", {"a": randn(3, 5), "b": randn(1, 5)}, lambda t, o: t["a"] > t["b"], grads=[])

# --- seeded random (same libtorch generator) ------------------------------------------------
for name, opts in [("random.uniform", {"kind": "uniform", "seed": 1234, "shape": [1000], "low": -2.0, "high": 3.0}),
                   ("random.normal", {"kind": "normal", "seed": 99, "shape": [1000], "mean": 0.5, "std": 2.0}),
                   ("random.kaiming", {"kind": "kaiming", "seed": 7, "shape": [8, 4, 3, 3]})]:
    torch.manual_seed(opts["seed"])
    t = torch.empty(*opts["shape"])
    if opts["kind"] == "uniform":
        t.uniform_(opts["low"], opts["high"])
    elif opts["kind"] == "normal":
        t.normal_(opts["mean"], opts["std"])
    else:
        torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    store(f"{name}.out", t)
    cases[name] = {"op": "random", **opts}


# --- Adam -----------------------------------------------------------------------------------
def adam(name, dtype, steps, **opts):
    """Adam on two parameters with a fixed gradient sequence; parameters stored after every step."""
    params = [randn(3, 4, dtype=dtype), randn(5, dtype=dtype)]
    for i, p in enumerate(params):
        store(f"{name}.in.p{i}", p)
    params = [p.clone().requires_grad_(True) for p in params]
    kw = {"lr": opts.get("lr", 1e-3), "betas": tuple(opts.get("betas", (0.9, 0.999))), "eps": opts.get("eps", 1e-8),
          "weight_decay": opts.get("weightDecay", 0.0)}
    opt = torch.optim.Adam(params, **kw)
    for s in range(steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            g = randn(*p.shape, dtype=dtype) * (0.1 + s)  # growing scale exercises the moment estimates
            store(f"{name}.g{s}.p{i}", g)
            p.grad = g.clone()
        opt.step()
        for i, p in enumerate(params):
            store(f"{name}.after.s{s}.p{i}", p)
    cases[name] = {"op": "adam", "steps": steps, **opts}


adam("adam.default", torch.float64, 5)
adam("adam.wd", torch.float64, 5, lr=1e-2, weightDecay=0.05)
adam("adam.betas_eps", torch.float64, 4, lr=3e-3, betas=[0.8, 0.95], eps=1e-6)
adam("adam.f32", torch.float32, 3)


# --- write ----------------------------------------------------------------------------------
def write_safetensors(path, arrays, metadata):
    codes = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(arrays):
        a = arrays[name]  # not np.ascontiguousarray: it would turn 0-d scalars into shape [1]
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # the byte buffer starts 8-byte aligned, as the format recommends
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    tmp.replace(path)
    return 8 + len(h) + offset


meta = {f"case:{k}": json.dumps(v, separators=(",", ":")) for k, v in cases.items()}
meta["generator"] = f"tools/make_engine_fixtures.py, torch {torch.__version__}, seed {SEED}"
size = write_safetensors(OUT, tensors, meta)
print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} cases, {len(tensors)} tensors, {size} bytes", file=sys.stderr)
