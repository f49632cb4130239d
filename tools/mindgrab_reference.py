#!/usr/bin/python3
"""Reference re-implementation of brainchop's "mindgrab" brain extraction (a benchmark peer, NOT part of convlora).

What it is
  A plain NumPy/SciPy/PyTorch re-implementation, written for this project, of what brainchop's web app does for
  its model 'omnimodal Skull Strip (High Mem, Fast)' (brainchop's public/models/mindgrab), so that our own model can
  be compared with it on the same heads. It is a benchmark reference only: nothing in src/ uses it and it is not shipped.

Sources read (facts only; no code copied)
  brainchop  github.com/neuroneural/brainchop  commit 4c87885f3a2a8835e260d521dcec922b58d91d41
             brainchop-parameters.js (inferenceModelsList id 16), main.js (ensureConformed), brainchop-mainthread.js
             (runInference), inference-logic.js (runFullVolumeInference, cropAndGetCorner, restoreTo256Cube),
             tensor-utils.js (getAllSlicesDataAsTF3D, minMaxNormalizeVolumeData, applyMriThreshold,
             firstLastNonZero3D, LayerNormInPlace, processSegmentationVolume), bwlabels.js (BWLabeler),
             public/models/mindgrab/model.json + model.bin.  brainchop depends on @niivue/niivue ^0.62.0.
  NiiVue     github.com/niivue/niivue  tag @niivue/niivue-v0.62.0 = commit 7c74aef6b250e3408d932f3f0eda5e1fc6174246
             packages/niivue/src/niivue/index.ts (conform, conformVox2Vox, getScale, scalecropUint8),
             packages/niivue/src/nvimage/index.ts (NVImage header/affine handling, calMinMax).
  tfjs-layers: the 'gelu' activation is the exact (erf) form x * 0.5 * (1 + erf(x / sqrt 2)).

Weights (MIT-licensed, from the brainchop repository; kept outside this repo)
  B=<bare clone of neuroneural/brainchop>; mkdir -p DIR
  git -C $B show 4c87885:public/models/mindgrab/model.json > DIR/model.json
  git -C $B show 4c87885:public/models/mindgrab/model.bin  > DIR/model.bin
  model.bin is little-endian float32, the tensors concatenated in weightsManifest order; kernels are TF layout
  [kd, kh, kw, in, out] (here permuted to PyTorch [out, in, kd, kh, kw]).

Steps (brainchop/NiiVue behaviour reproduced, in order)
  1. Header as NVImage reads it: scl_slope NaN/0 -> 1, scl_inter NaN -> 0; affine = sform, unless
     qform_code > sform_code (or the sform is degenerate), then the qform rebuilt from quatern_b/c/d
     (a = sqrt(1 - b^2 - c^2 - d^2)), pixdim and qfac.  global_min/global_max as NVImage.calMinMax() computes
     them: min/max of the raw values in the central box (25% border dropped on each side), zeros included,
     times slope plus inter.
  2. Conform (NiiVue conform(volume, toRAS=false), linear): output 256^3, 1 mm, LIA axes (FreeSurfer-style);
     the input's voxel centre dims/2 maps to output voxel 128.  Matrices are computed as gl-matrix does, i.e.
     rounded to float32 after every matrix/vector step (we round float64 results; gl-matrix's own operation
     order may differ in the last bit).  Trilinear sampling in double precision exactly as NiiVue loops it:
     an output voxel whose floor is < 0 or ceil >= dim on any axis stays 0; the eight corner reads are flat
     offsets (x fastest), so a read past the end of the array (only on the last slice) gives NaN -> 0, and a
     zero-weight read past the end of a row wraps to the next row; the sum is stored as float32.
     Intensities: input values are scaled by slope/inter (float32) before interpolation.  0-255 scaling
     (getScale, f_low = 0, f_high = 0.999): src_min = global_min; a 1000-bin histogram over
     [global_min, global_max] of all voxels (values above go to the last bin, values below are dropped);
     src_max = lower edge of the first bin b with cumsum[b+1] >= nvox - floor(0.001 * nonzero); scale =
     255 / (src_max - src_min); out = trunc(clamp(scale * (v - src_min), 0, 255)) as uint8 (NaN -> 0).
     For DT_UINT8 input NiiVue skips the histogram (src_min = global_min, scale = 1); see DEVIATIONS for
     uint8 files that carry an scl_slope.  brainchop skips conform only if the image already is 256^3 uint8 in
     LIA order; the same test is made here.
  3. Volume as tfjs sees it: slices_3d[k][j][i] of the conformed uint8 (getAllSlicesDataAsTF3D), float32.
     Min-max normalise to [0, 1]; mask = value > 0.5 * max (autoThreshold 0.5); bounding box of the mask
     (firstLastNonZero3D), padded by 20 voxels on each side and clamped to [0, 255] (cropAndGetCorner).
  4. enableTranspose: the cropped [k][j][i] block is transposed (axis order reversed), so the network sees
     the crop in [i][j][k] order as depth/height/width (NDHWC, one channel).
  5. Network (model.json, all 52 layers applied, standard path since enableSeqConv is false): 25 x
     [Conv3D 3x3x3, 15 filters, no bias, 'same' zero padding, dilation 16,8,4,2,1 repeated 5 times;
     every conv named *_gn is followed by LayerNormInPlace = per-channel normalisation over the whole cropped
     volume: (x - mean) * rsqrt(var + 1e-5), population variance (tf.moments), no affine; then the
     Activation layer 'gelu' (erf form)]; then 'output' Conv3D 1x1x1, 2 filters, with bias.
     argMax over the 2 channels (first index wins ties): class 1 = brain.
  6. Transposed back, zero-padded back into the 256^3 cube at the crop corner (restoreTo256Cube).
  7. Post-processing (processSegmentationVolume with opts.isPostProcessEnable = true): BWLabeler.bwlabel with
     conn 26, binarize, onlyLargestClusterPerClass -> only the largest 26-connected component of the
     non-zero labels is kept.  (brainchop then displays conformed-image * mask for type 'Brain_Extraction';
     the mask itself is what is written here; the record's 'zero_inside' counts mask voxels whose conformed
     intensity is 0, i.e. where the masked image would read as background.)
  8. (Ours, for comparison) the conformed mask is mapped back to the input's own grid and affine by nearest
     neighbour: native voxel v -> conformed voxel round(inv(O) A v), O = conformed affine, A = the affine of
     step 1; outside the cube -> 0.  Written as uint8 0/1 with the input's affine (sform/qform copied).

DEVIATIONS from brainchop that could not be avoided
  - float32 on CPU (PyTorch conv3d, libm erf) rather than tfjs on WebGL, which brainchop runs with
    WEBGL_FORCE_F16_TEXTURES = true (half-precision storage) and an erf approximation; labels may differ at
    voxels where the two logits are nearly equal.
  - uint8 files with scl_slope != 1 or scl_inter != 0 (the project's IXI copies: uint8 with a slope): NiiVue
    0.62's getScale would skip scaling for DT_UINT8 and clip slope*value at 255, saturating the head; by
    default (--uint8-scaled rescale) the 0-255 histogram scaling is applied to the scaled values instead, as
    it would be for the same values stored as int16/float.  --uint8-scaled niivue reproduces the literal path.
  - The connected-component rule is reproduced with scipy.ndimage.label (26-connectivity); brainchop's
    tie-break between two equally large components (practically never happens) is not reproduced.
  - The mapping back to the native grid (step 8) is ours; brainchop leaves the mask on the conformed grid.

Checks against the published numbers (native-grid Dice; 1 thread, float32, this machine)
  ITK head (KmeansTest_T1UCharRaw, ref KmeansTest_T1RawSkullStrip > 0): 0.9614 (published 0.961), 278 s.
  Colin27 (ch2, ref ch2bet > 0, holes filled): 0.9191 (published 0.927), 378 s; the mask is ~300 ml larger
  than the reference.  Not explained by: the uint8 path (histogram scaling instead: 0.9196), global_min from
  the whole volume (0.9185), the half-voxel ambiguity of mapping back (ch2's grid sits 0.5 voxel off the
  conformed grid on every axis; round half down 0.9196, linear >0.5 0.9225), Dice on the conformed grid
  (0.9189), or skipping the transpose (0.9133).

Usage (one thread, core 1, on the shared machine):
  taskset -c 1 env OMP_NUM_THREADS=1 /usr/bin/python3 tools/mindgrab_reference.py --weights W \
      --in head.nii.gz [...] --out OUTDIR [--ref ref.nii.gz ...] [--json results.jsonl]
  Existing outputs are skipped (resumable); outputs are written to a temporary name then renamed.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import nibabel as nib
import scipy
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

BRAINCHOP_COMMIT = '4c87885f3a2a8835e260d521dcec922b58d91d41'
NIIVUE_COMMIT = '7c74aef6b250e3408d932f3f0eda5e1fc6174246 (@niivue/niivue-v0.62.0)'
OUT_DIM = 256
CROP_PAD = 20
AUTO_THRESHOLD = 0.5
LN_EPS = 1e-5

f32 = np.float32


# ----------------------------------------------------------------------------------------------------------
# 1. header as NVImage reads it
# ----------------------------------------------------------------------------------------------------------
def _finite_or(v, default):
    v = float(v)
    return default if (math.isnan(v)) else v


def niivue_header(img):
    """slope, inter, 4x4 float64 affine (the one NVImage uses), raw voxel array (x fastest when raveled 'F')."""
    h = img.header
    # nibabel moves scl_slope/scl_inter from the loaded header into the array proxy (the header reads NaN)
    slope = _finite_or(getattr(img.dataobj, 'slope', h['scl_slope']), 1.0)
    if slope == 0.0:
        slope = 1.0
    inter = _finite_or(getattr(img.dataobj, 'inter', h['scl_inter']), 0.0)
    sform = np.array(h.get_sform(), dtype=np.float64)
    sform_code, qform_code = int(h['sform_code']), int(h['qform_code'])

    def affine_ok(m):
        if np.isnan(m).any():
            return False
        nz = m[:3, :3] != 0
        return bool(nz.any(axis=1).all() and nz.any(axis=0).all())

    affine = sform
    if (not affine_ok(sform)) or qform_code > sform_code:
        b, c, d = (float(h['quatern_b']), float(h['quatern_c']), float(h['quatern_d']))
        a = math.sqrt(1.0 - (b * b + c * c + d * d)) if (b * b + c * c + d * d) <= 1.0 else float('nan')
        pix = [float(p) for p in h['pixdim'][:4]]
        qfac = 1.0 if pix[0] == 0 else pix[0]
        R = np.array([[a * a + b * b - c * c - d * d, 2 * b * c - 2 * a * d, 2 * b * d + 2 * a * c],
                      [2 * b * c + 2 * a * d, a * a + c * c - b * b - d * d, 2 * c * d - 2 * a * b],
                      [2 * b * d - 2 * a * c, 2 * c * d + 2 * a * b, a * a + d * d - c * c - b * b]])
        affine = np.eye(4)
        affine[:3, :3] = R * np.array(pix[1:4])[None, :]
        affine[:3, 2] *= qfac
        affine[:3, 3] = [float(h['qoffset_x']), float(h['qoffset_y']), float(h['qoffset_z'])]
    if not affine_ok(affine):
        pix = [float(p) if (float(p) != 0 and not math.isnan(float(p))) else 1.0 for p in h['pixdim'][1:4]]
        affine = np.diag(pix + [1.0])
    raw = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, 'get_unscaled') else np.asanyarray(img.dataobj)
    if raw.ndim > 3:
        raw = raw.reshape(raw.shape[:3] + (-1,))[..., 0]
    return slope, inter, affine, raw


def center_global_min_max(raw, slope, inter):
    """NVImage.calMinMax (isBorder=true): min/max of the central box, zeros included, NaN skipped, then scaled."""
    d = raw.shape
    b = [int(math.floor(0.25 * n)) for n in d]
    box = raw[b[0]:d[0] - b[0], b[1]:d[1] - b[1], b[2]:d[2] - b[2]]
    box = box[~np.isnan(box)] if np.issubdtype(box.dtype, np.floating) else box
    mn, mx = float(box.min()), float(box.max())
    return mn * slope + inter, mx * slope + inter


# ----------------------------------------------------------------------------------------------------------
# 2. conform
# ----------------------------------------------------------------------------------------------------------
def conform_matrices(dims, affine):
    """Output affine O (row-major, float32 values), vox2vox (input voxel -> conformed voxel) and its inverse, both
    rounded to float32 at each step as gl-matrix stores them."""
    A = affine.astype(f32).astype(np.float64)
    half = np.array([dims[0] / 2, dims[1] / 2, dims[2] / 2, 1.0])
    centre = (A @ half).astype(f32).astype(np.float64)[:3]
    # LIA direction cosines: i -> -x, j -> -z, k -> +y; 1 mm
    M = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    vol_centre = (M @ np.array([OUT_DIM] * 3, dtype=np.float64) * 0.5).astype(f32).astype(np.float64)
    O = np.eye(4)
    O[:3, :3] = M
    O[:3, 3] = (centre - vol_centre).astype(f32)
    O_inv = np.linalg.inv(O).astype(f32).astype(np.float64)
    vox2vox = (O_inv @ A).astype(f32).astype(np.float64)
    inv_vox2vox = np.linalg.inv(vox2vox).astype(f32).astype(np.float64)
    return O, vox2vox, inv_vox2vox


def niivue_trilinear(in_flat, dims, m):
    """NiiVue's linear reslice loop, vectorised over z slabs. in_flat: float32 input, x fastest.
    m: inverse vox2vox (output voxel -> input voxel), float64 holding float32 values. Returns float32 out[z,y,x]."""
    dX, dY, dZ = dims
    dXY = dX * dY
    src = np.concatenate([in_flat.astype(np.float64), np.full(dXY + dX + 2, np.nan)])  # reads past the end -> NaN
    out = np.zeros((OUT_DIM, OUT_DIM, OUT_DIM), dtype=f32)
    xs = np.arange(OUT_DIM, dtype=np.float64)
    ys = np.arange(OUT_DIM, dtype=np.float64)
    slab = 16
    for z0 in range(0, OUT_DIM, slab):
        zs = np.arange(z0, z0 + slab, dtype=np.float64)
        Z = zs[:, None, None]
        Y = ys[None, :, None]
        X = xs[None, None, :]
        coords = []
        for r in range(3):
            yz = (Y * m[r, 1] + Z * m[r, 2]) + m[r, 3]
            coords.append(X * m[r, 0] + yz)
        ix, iy, iz = coords
        fx, fy, fz = np.floor(ix), np.floor(iy), np.floor(iz)
        cx, cy, cz = np.ceil(ix), np.ceil(iy), np.ceil(iz)
        ok = (fx >= 0) & (fy >= 0) & (fz >= 0) & (cx < dX) & (cy < dY) & (cz < dZ)
        ix, iy, iz, fx, fy, fz = ix[ok], iy[ok], iz[ok], fx[ok], fy[ok], fz[ok]
        rcx, rcy, rcz = ix - fx, iy - fy, iz - fz
        rfx, rfy, rfz = 1 - rcx, 1 - rcy, 1 - rcz
        fff = fx.astype(np.int64) + fy.astype(np.int64) * dX + fz.astype(np.int64) * dXY
        assert fff.size == 0 or fff.max() + 1 + dX + dXY < src.size
        vx = np.zeros(fff.shape, dtype=np.float64)
        for off, wx, wy, wz in ((0, rfx, rfy, rfz), (dXY, rfx, rfy, rcz), (dX, rfx, rcy, rfz),
                                (dX + dXY, rfx, rcy, rcz), (1, rcx, rfy, rfz), (1 + dXY, rcx, rfy, rcz),
                                (1 + dX, rcx, rcy, rfz), (1 + dX + dXY, rcx, rcy, rcz)):
            vx = vx + ((src[fff + off] * wx) * wy) * wz
        block = np.zeros((slab, OUT_DIM, OUT_DIM), dtype=f32)
        block[ok] = vx.astype(f32)
        out[z0:z0 + slab] = block
    return out


def niivue_get_scale(img_vals, gmin, gmax, f_high=0.999):
    """getScale with f_low = 0 (non-uint8 path): returns (src_min, scale)."""
    vals = img_vals.astype(np.float64).ravel()
    voxnum = vals.size
    nz = int(np.count_nonzero(np.abs(vals) >= 1e-15))
    histosize = 1000
    bin_size = (gmax - gmin) / histosize
    bins = np.floor((vals - gmin) / bin_size)
    bins = np.minimum(bins, histosize - 1)
    bins = bins[bins >= 0].astype(np.int64)  # JS: negative bins land on a non-index property, never counted
    hist = np.bincount(bins, minlength=histosize)
    cs = np.cumsum(hist)
    src_min = gmin  # f_low = 0: nth = 0, first bin
    nth = voxnum - math.floor((1.0 - f_high) * nz)
    idx = 0
    while idx < histosize - 1:
        if cs[idx + 1] >= nth:
            break
        idx += 1
    src_max = idx * bin_size + gmin
    scale = 1.0
    if src_min != src_max:
        scale = 255.0 / (src_max - src_min)
    return src_min, scale


def is_lia_256_uint8(raw, slope, inter, affine):
    if raw.shape[:3] != (256, 256, 256) or raw.dtype != np.uint8:
        return False
    R = affine[:3, :3]
    ax = np.argmax(np.abs(R), axis=0)
    sg = np.sign(R[ax, [0, 1, 2]])
    return list(ax) == [0, 2, 1] and list(sg) == [-1, -1, 1]


def conform(img, uint8_scaled='rescale'):
    """Returns (vol uint8 [i,j,k] 256^3, O, vox2vox, native affine, info)."""
    slope, inter, affine, raw = niivue_header(img)
    dims = raw.shape[:3]
    info = {'slope': slope, 'inter': inter}
    if is_lia_256_uint8(raw, slope, inter, affine):
        O = affine.copy()
        info['conformed'] = False
        return np.asarray(raw, dtype=np.uint8), O, np.eye(4), affine, info
    O, vox2vox, inv_vox2vox = conform_matrices(dims, affine)
    in_flat = raw.ravel(order='F').astype(f32)
    scaled = slope != 1.0 or inter != 0.0
    if scaled:
        in_flat = (in_flat.astype(np.float64) * slope + inter).astype(f32)
    out = niivue_trilinear(in_flat, dims, inv_vox2vox)  # [z,y,x]
    gmin, gmax = center_global_min_max(raw, slope, inter)
    is_u8 = raw.dtype == np.uint8
    if is_u8 and (not scaled or uint8_scaled == 'niivue'):
        src_min, scale = gmin, 1.0
    else:
        src_min, scale = niivue_get_scale(in_flat, gmin, gmax)
    v = out.astype(np.float64)
    v = 0.0 + scale * (v - src_min)
    v = np.minimum(np.maximum(v, 0.0), 255.0)
    v = np.nan_to_num(v, nan=0.0)
    vol = np.trunc(v).astype(np.uint8).transpose(2, 1, 0)  # [z,y,x] -> [i,j,k]
    info.update({'conformed': True, 'global_min': gmin, 'global_max': gmax, 'src_min': src_min, 'scale': scale})
    return np.ascontiguousarray(vol), O, vox2vox, affine, info


# ----------------------------------------------------------------------------------------------------------
# 5. network
# ----------------------------------------------------------------------------------------------------------
def load_mindgrab(weights_dir):
    with open(os.path.join(weights_dir, 'model.json')) as fh:
        model = json.load(fh)
    manifest = model['weightsManifest']
    blob = b''
    for group in manifest:
        for p in group['paths']:
            with open(os.path.join(weights_dir, p), 'rb') as fh:
                blob += fh.read()
    tensors, off = {}, 0
    for group in manifest:
        for w in group['weights']:
            assert w['dtype'] == 'float32', w
            count = int(np.prod(w['shape']))
            tensors[w['name']] = np.frombuffer(blob, dtype='<f4', count=count, offset=off).reshape(w['shape'])
            off += 4 * count
    assert off == len(blob), (off, len(blob))
    topo = model['modelTopology']
    layers_cfg = (topo['model_config'] if 'model_config' in topo else topo)['config']['layers']
    ops = []
    for layer in layers_cfg:
        cls, cfg = layer['class_name'], layer['config']
        name = cfg['name']
        if cls == 'InputLayer':
            continue
        if cls == 'Conv3D':
            assert cfg['data_format'] == 'channels_last' and cfg['padding'] == 'same'
            assert list(cfg['strides']) == [1, 1, 1] and cfg['activation'] == 'linear'
            k = torch.from_numpy(np.ascontiguousarray(tensors[name + '/kernel'].transpose(4, 3, 0, 1, 2)))
            b = torch.from_numpy(tensors[name + '/bias'].copy()) if cfg['use_bias'] else None
            dil = tuple(int(d) for d in cfg['dilation_rate'])
            ks = tuple(int(s) for s in cfg['kernel_size'])
            pad = tuple(d * (s - 1) // 2 for d, s in zip(dil, ks))  # 'same', odd kernels: symmetric
            ops.append(('conv', name, k, b, dil, pad))
            if name.endswith('_gn'):
                ops.append(('layernorm', name))
        elif cls == 'Activation':
            assert cfg['activation'] == 'gelu', cfg['activation']
            ops.append(('gelu', name))
        else:
            raise ValueError('unexpected layer ' + cls)
    return ops


def run_network(ops, x):
    with torch.no_grad():
        for op in ops:
            if op[0] == 'conv':
                _, _, k, b, dil, pad = op
                x = F.conv3d(x, k, b, stride=1, padding=pad, dilation=dil)
            elif op[0] == 'layernorm':
                var, mean = torch.var_mean(x, dim=(2, 3, 4), unbiased=False, keepdim=True)
                x = (x - mean) * torch.rsqrt(var + LN_EPS)
            else:
                x = F.gelu(x)
    return x


def crop_box(mask):
    """firstLastNonZero3D + cropAndGetCorner: inclusive [lo, hi] per axis, padded and clamped to the cube."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        nzs = np.nonzero(mask.any(axis=other))[0]
        lo, hi = (int(nzs[0]), int(nzs[-1])) if nzs.size else (mask.shape[axis], 0)
        box.append((max(0, lo - CROP_PAD), min(OUT_DIM - 1, hi + CROP_PAD)))
    return box


def mindgrab_conformed(vol, ops):
    """vol uint8 [i,j,k] (conformed) -> mask uint8 [i,j,k] after the largest-component rule, plus info."""
    v = vol.astype(f32)
    mn, mx = f32(v.min()), f32(v.max())
    norm = (v - mn) / f32(mx - mn)
    mask = norm > f32(norm.max() * f32(AUTO_THRESHOLD))
    box = crop_box(mask)
    # slices_3d is [k][j][i]; cropping it and transposing yields the crop in [i][j][k] order, which is vol's.
    sl = tuple(slice(lo, hi + 1) for lo, hi in box)
    x = torch.from_numpy(np.ascontiguousarray(norm[sl]))[None, None]
    logits = run_network(ops, x)[0]
    label = (logits[1] > logits[0]).numpy().astype(np.uint8)  # argMax, first index wins ties
    seg = np.zeros(vol.shape, dtype=np.uint8)
    seg[sl] = label
    lab, n = ndi.label(seg, structure=np.ones((3, 3, 3), dtype=bool))
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        seg = (lab == int(np.argmax(sizes))).astype(np.uint8)
    return seg, {'crop_box': box, 'crop_shape': list(x.shape[2:]), 'components': int(n)}


def to_native(seg, vox2vox, shape):
    """Nearest-neighbour pull of the conformed mask onto the native grid: native voxel -> round(vox2vox @ v)."""
    out = np.zeros(shape, dtype=np.uint8)
    ii, jj = np.meshgrid(np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64), indexing='ij')
    for k in range(shape[2]):
        c = [vox2vox[r, 0] * ii + vox2vox[r, 1] * jj + vox2vox[r, 2] * k + vox2vox[r, 3] for r in range(3)]
        c = [np.floor(t + 0.5).astype(np.int64) for t in c]
        ok = (c[0] >= 0) & (c[0] < OUT_DIM) & (c[1] >= 0) & (c[1] < OUT_DIM) & (c[2] >= 0) & (c[2] < OUT_DIM)
        sl = np.zeros(shape[:2], dtype=np.uint8)
        sl[ok] = seg[c[0][ok], c[1][ok], c[2][ok]]
        out[:, :, k] = sl
    return out


def dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    s = a.sum() + b.sum()
    return float(2.0 * np.logical_and(a, b).sum() / s) if s else 1.0


def stem_of(path):
    base = os.path.basename(path)
    for ext in ('.nii.gz', '.nii'):
        if base.endswith(ext):
            return base[:-len(ext)]
    return os.path.splitext(base)[0]


def save_atomic(arr, ref_img, dest):
    hdr = ref_img.header.copy()
    hdr.set_data_dtype(np.uint8)
    out = nib.Nifti1Image(arr.astype(np.uint8), ref_img.affine, hdr)
    out.set_sform(ref_img.header.get_sform(), int(ref_img.header['sform_code']))
    out.set_qform(ref_img.header.get_qform(), int(ref_img.header['qform_code']))
    out.header['scl_slope'] = 1.0
    out.header['scl_inter'] = 0.0
    out.header['cal_min'] = 0
    out.header['cal_max'] = 1
    tmp = os.path.join(os.path.dirname(dest), '.tmp-%d-%s' % (os.getpid(), os.path.basename(dest)))
    nib.save(out, tmp)
    os.replace(tmp, dest)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--weights', required=True, help='folder with model.json and model.bin (brainchop mindgrab)')
    ap.add_argument('--in', dest='inputs', nargs='+', required=True, help='NIfTI heads')
    ap.add_argument('--out', required=True, help='output folder for <stem>_mask.nii.gz')
    ap.add_argument('--ref', nargs='*', default=None, help='reference masks (> 0), one per input, same order')
    ap.add_argument('--fill-holes', action='store_true', help='fill enclosed holes of the reference masks')
    ap.add_argument('--json', default=None, help='append one JSON record per head to this file')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--uint8-scaled', choices=('rescale', 'niivue'), default='rescale',
                    help="uint8 data with scl_slope/inter: 'rescale' (default) applies the 0-255 histogram "
                         "scaling to the scaled values; 'niivue' is NiiVue 0.62's literal uint8 path (no scaling)")
    ap.add_argument('--save-conformed', action='store_true', help='also write <stem>_conformed.nii.gz and '
                    '<stem>_mask256.nii.gz (conformed space)')
    args = ap.parse_args(argv)
    if args.ref is not None and len(args.ref) not in (0, len(args.inputs)):
        ap.error('--ref needs one mask per input')
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    ops = load_mindgrab(args.weights)
    for n, path in enumerate(args.inputs):
        dest = os.path.join(args.out, stem_of(path) + '_mask.nii.gz')
        if os.path.exists(dest):
            print('skip (exists): %s' % dest, flush=True)
            continue
        img = nib.load(path)
        t0 = time.time()
        vol, O, vox2vox, affine, cinfo = conform(img, args.uint8_scaled)
        t_conform = time.time() - t0
        seg256, ninfo = mindgrab_conformed(vol, ops)
        mask = to_native(seg256, vox2vox, img.shape[:3])
        seconds = time.time() - t0
        zooms = np.abs(np.linalg.det(affine[:3, :3]))
        rec = {'input': os.path.abspath(path), 'output': os.path.abspath(dest), 'seconds': round(seconds, 2),
               'conform_seconds': round(t_conform, 2), 'threads': torch.get_num_threads(),
               'torch': torch.__version__, 'numpy': np.__version__, 'scipy': scipy.__version__,
               'mask_ml': round(float(mask.sum()) * float(zooms) / 1000.0, 3),
               'mask256_ml': round(float(seg256.sum()) / 1000.0, 3),
               'zero_inside': int(np.count_nonzero((seg256 > 0) & (vol == 0))),
               'uint8_scaled': args.uint8_scaled, 'brainchop': BRAINCHOP_COMMIT, **ninfo, **cinfo}
        if args.ref:
            ref = np.asanyarray(nib.load(args.ref[n]).dataobj)
            ref = ref.reshape(ref.shape[:3] + (-1,))[..., 0] if ref.ndim > 3 else ref
            ref = ref > 0
            if args.fill_holes:
                ref = ndi.binary_fill_holes(ref)
            assert ref.shape == mask.shape, (ref.shape, mask.shape)
            rec['ref'] = os.path.abspath(args.ref[n])
            rec['ref_fill_holes'] = bool(args.fill_holes)
            rec['dice'] = round(dice(mask, ref), 4)
            rec['dice256_note'] = 'dice on the native grid'
        if args.save_conformed:
            s = stem_of(path)
            for arr, tag in ((vol, 'conformed'), (seg256, 'mask256')):
                cim = nib.Nifti1Image(arr, O)
                cim.set_sform(O, 2)
                tmp = os.path.join(args.out, '.tmp-%d-%s_%s.nii.gz' % (os.getpid(), s, tag))
                nib.save(cim, tmp)
                os.replace(tmp, os.path.join(args.out, '%s_%s.nii.gz' % (s, tag)))
        save_atomic(mask, img, dest)
        line = json.dumps(rec)
        print(line, flush=True)
        if args.json:
            with open(args.json, 'a') as fh:
                fh.write(line + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
