#!/usr/bin/python3
"""Independent numpy/scipy reference for convlora's surface metrics (src/metrics/).

Follows the DeepMind `surface-distance` definition, written separately from the TypeScript code:
  * surface elements: voxel corners whose 2x2(x2) neighbourhood is mixed, coded here with shifted
    slices of a zero-padded crop (the TypeScript code scans planes), each weighted by the area of its
    marching-cubes triangles scaled by the spacing (3D) or its contour length (2D);
  * distances: scipy.ndimage.distance_transform_edt with `sampling=spacing` (the TypeScript code
    runs its own Felzenszwalb-Huttenlocher transform);
  * Surface Dice, area-weighted percentile Hausdorff and pooled average symmetric surface distance.

The marching-cubes normals are facts of the definition; they are read from the one copy in
src/metrics/normals-3d.ts rather than duplicated (the TypeScript tests check that table on its own).

Usage (Debian's interpreter, which has numpy and scipy):
  /usr/bin/python3 tools/surface_dice_ref.py fixture [OUT.json]      write the cross-check fixture
  /usr/bin/python3 tools/surface_dice_ref.py bench GT.raw PRED.raw D0,D1,D2 S0,S1,S2 TOL REPEAT
      time Surface Dice on two uint8 C-order volumes; prints JSON {"seconds": [...], "surfaceDice": x}
"""
import ast
import base64
import json
import math
import os
import re
import sys
import time

import numpy as np
from scipy import ndimage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_normals():
    """The 256 lists of triangle normals, parsed from the TypeScript table."""
    with open(os.path.join(ROOT, "src", "metrics", "normals-3d.ts"), encoding="utf-8") as fh:
        text = fh.read()
    body = text[text.index("= [") + 2: text.rindex("];") + 1]
    table = ast.literal_eval(re.sub(r",\s*\]", "]", body))
    assert len(table) == 256
    return table


NORMALS = load_normals()


def area_table_3d(spacing):
    s0, s1, s2 = spacing
    scale = np.array([s1 * s2, s0 * s2, s0 * s1])
    return np.array([sum(float(np.linalg.norm(np.array(n) * scale)) for n in NORMALS[c]) for c in range(256)])


def length_table_2d(spacing):
    """Contour length per 2x2 code; bit 2^(3 - 2a - b) for pixel (a, b) of the cell."""
    s0, s1 = spacing
    table = np.zeros(16)
    for code in range(1, 15):
        bits = [(code >> (3 - 2 * a - b)) & 1 for a in (0, 1) for b in (0, 1)]  # (0,0) (0,1) (1,0) (1,1)
        ones = sum(bits)
        if ones in (1, 3):
            table[code] = 0.5 * math.hypot(s0, s1)  # one corner cut off
        elif bits[0] == bits[1]:
            table[code] = s1  # the rows differ: contour runs along axis 1
        elif bits[0] == bits[2]:
            table[code] = s0  # the columns differ: contour runs along axis 0
        else:
            table[code] = math.hypot(s0, s1)  # saddle: two corners cut off
    return table


def corner_codes(mask):
    """Neighbourhood code of every corner of the zero-padded mask: shape = mask.shape + 1."""
    padded = np.pad(mask.astype(np.int32), 1)
    nd = mask.ndim
    out_shape = tuple(d + 1 for d in mask.shape)
    codes = np.zeros(out_shape, np.int32)
    for offset in np.ndindex(*([2] * nd)):
        weight = 2 ** (2 ** nd - 1 - int("".join(map(str, offset)), 2))
        window = tuple(slice(o, o + n) for o, n in zip(offset, out_shape))
        codes += weight * padded[window]
    return codes


def surface_distances(gt, pred, spacing):
    """(dist_gt_to_pred, area_gt, dist_pred_to_gt, area_pred), each sorted by (distance, area)."""
    gt = np.asarray(gt) > 0
    pred = np.asarray(pred) > 0
    union = gt | pred
    if not union.any():
        e = np.zeros(0)
        return e, e, e, e
    idx = np.nonzero(union)
    window = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    full = 2 ** (2 ** gt.ndim) - 1
    table = area_table_3d(spacing) if gt.ndim == 3 else length_table_2d(spacing)
    cg, cp = corner_codes(gt[window]), corner_codes(pred[window])
    bg = (cg != 0) & (cg != full)
    bp = (cp != 0) & (cp != full)

    def edt(border):
        if not border.any():
            return np.full(border.shape, np.inf)
        return ndimage.distance_transform_edt(~border, sampling=spacing)

    d_gt = edt(bg)
    d_pred = edt(bp)

    def ordered(d, a):
        order = np.lexsort((a, d))
        return d[order], a[order]

    g2p, ag = ordered(d_pred[bg], table[cg[bg]])
    p2g, ap = ordered(d_gt[bp], table[cp[bp]])
    return g2p, ag, p2g, ap


def surface_dice(sd, tol):
    g2p, ag, p2g, ap = sd
    total = ag.sum() + ap.sum()
    if total == 0:
        return math.nan
    return float((ag[g2p <= tol].sum() + ap[p2g <= tol].sum()) / total)


def percentile_hausdorff(sd, percent):
    g2p, ag, p2g, ap = sd
    if len(ag) == 0 and len(ap) == 0:
        return math.nan

    def directed(d, a):
        if len(d) == 0:
            return math.inf
        cum = np.cumsum(a) / a.sum()
        i = int(np.searchsorted(cum, percent / 100.0))
        return float(d[min(i, len(d) - 1)])

    return max(directed(g2p, ag), directed(p2g, ap))


def assd(sd):
    g2p, ag, p2g, ap = sd
    total = ag.sum() + ap.sum()
    if total == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(((g2p * ag).sum() + (p2g * ap).sum()) / total)


def dice(gt, pred):
    gt, pred = np.asarray(gt) > 0, np.asarray(pred) > 0
    s = int(gt.sum()) + int(pred.sum())
    return math.nan if s == 0 else 2.0 * int((gt & pred).sum()) / s


def enc(x):
    """JSON has no NaN/Infinity: spell them as strings."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def blob(rng, shape, fill):
    """A random smooth blob: Gaussian-smoothed noise thresholded at its `fill` quantile."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=rng.uniform(1.5, 3.0))
    return noise > np.quantile(noise, 1.0 - fill)


def make_pair(rng, case):
    nd = 3 if case % 3 != 2 else 2
    shape = tuple(int(x) for x in rng.integers(14, 26, nd)) if nd == 3 else tuple(int(x) for x in rng.integers(30, 60, 2))
    iso = case % 5 == 0
    spacing = [1.0] * nd if iso else [float(x) for x in rng.uniform(0.55, 1.7, nd)]
    gt = blob(rng, shape, rng.uniform(0.1, 0.4))
    kind = case % 4
    if kind == 0:  # a noisy version: some voxels flipped near the surface
        pred = gt ^ (blob(rng, shape, 0.15) & ndimage.binary_dilation(gt ^ ndimage.binary_erosion(gt)))
    elif kind == 1:  # shifted by up to 2 voxels per axis (np.roll wraps; fine for a random mask)
        pred = np.roll(gt, tuple(int(x) for x in rng.integers(-2, 3, nd)), axis=tuple(range(nd)))
    elif kind == 2:  # dilated or eroded
        pred = ndimage.binary_dilation(gt) if rng.random() < 0.5 else ndimage.binary_erosion(gt)
    else:  # an unrelated blob
        pred = blob(rng, shape, rng.uniform(0.05, 0.3))
    if case == 7:
        pred = np.zeros(shape, bool)  # prediction empty
    if case == 11:
        gt = np.zeros(shape, bool)  # ground truth empty
    if case == 13:
        gt = np.zeros(shape, bool)
        pred = np.zeros(shape, bool)  # both empty
    if case == 17:
        gt[(0,) * nd] = True  # touches the volume's first corner
    return gt, pred, list(shape), spacing


def fixture(out_path):
    rng = np.random.default_rng(20240507)
    cases = []
    tolerances = [0.5, 1.0, 2.0, 3.7]
    for case in range(60):
        gt, pred, shape, spacing = make_pair(rng, case)
        sd = surface_distances(gt, pred, spacing)
        g2p, ag, p2g, ap = sd
        with np.errstate(invalid="ignore", divide="ignore"):
            avg_g = float((g2p * ag).sum() / ag.sum()) if len(ag) else math.nan
            avg_p = float((p2g * ap).sum() / ap.sum()) if len(ap) else math.nan
        cases.append({
            "id": f"case{case:02d}",
            "shape": shape,
            "spacing": spacing,
            # np.packbits: C order, first voxel in the most significant bit of byte 0.
            "gt": base64.b64encode(np.packbits(gt.ravel())).decode(),
            "pred": base64.b64encode(np.packbits(pred.ravel())).decode(),
            "surfaceDice": {str(t): enc(surface_dice(sd, t)) for t in tolerances},
            "dice": enc(dice(gt, pred)),
            "hd95": enc(percentile_hausdorff(sd, 95)),
            "hd100": enc(percentile_hausdorff(sd, 100)),
            "assd": enc(assd(sd)),
            "avgGtToPred": enc(avg_g),
            "avgPredToGt": enc(avg_p),
            "areaGt": float(ag.sum()),
            "areaPred": float(ap.sum()),
            "surfelsGt": int(len(ag)),
            "surfelsPred": int(len(ap)),
        })
    doc = {
        "generator": "tools/surface_dice_ref.py fixture (numpy %s, scipy %s)" % (np.__version__, __import__("scipy").__version__),
        "seed": 20240507,
        "tolerances": tolerances,
        "cases": cases,
    }
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(cases)} cases to {out_path}", file=sys.stderr)


def bench(gt_path, pred_path, shape, spacing, tol, repeat):
    shape = tuple(int(x) for x in shape.split(","))
    spacing = [float(x) for x in spacing.split(",")]
    gt = np.fromfile(gt_path, np.uint8).reshape(shape)
    pred = np.fromfile(pred_path, np.uint8).reshape(shape)
    seconds = []
    value = math.nan
    for _ in range(int(repeat)):
        t = time.perf_counter()
        value = surface_dice(surface_distances(gt, pred, spacing), float(tol))
        seconds.append(time.perf_counter() - t)
    print(json.dumps({"seconds": seconds, "surfaceDice": value}))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "fixture":
        fixture(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "test", "fixtures", "metrics", "surface-dice-ref.json"))
    elif len(sys.argv) == 8 and sys.argv[1] == "bench":
        bench(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
