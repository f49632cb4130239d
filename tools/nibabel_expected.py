#!/usr/bin/python3
"""Independent expectations for convlora's data tests, from nibabel and numpy (Debian python3-nibabel).

Writes (CI only reads them; it never needs Python):
  test/fixtures/nifti/*.nii[.gz]             small files written by nibabel (datatypes, NIfTI-1/2,
                                             big-endian, scaling, qform/sform, extensions, 4D)
  test/fixtures/nifti/expected.json          what nibabel reads back from them
  test/fixtures/real/nibabel-expected.json   header facts and voxel statistics of the real fixtures
  test/fixtures/preprocess/numpy-expected.json
      the method's CC359 preprocessing written in numpy (crop along axis 0, min-max, np.rot90(axes=(1, 2)),
      edge padding split floor(diff/2) before / rest after), on tiny volumes and on the real fixtures

Run from the repository root: /usr/bin/python3 tools/nibabel_expected.py
"""
import gzip
import json
import os
import struct

import nibabel as nib
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
NIFTI_DIR = os.path.join(ROOT, 'test', 'fixtures', 'nifti')
REAL_DIR = os.path.join(ROOT, 'test', 'fixtures', 'real')
PRE_DIR = os.path.join(ROOT, 'test', 'fixtures', 'preprocess')


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine_of(rot, zooms, offset, flip=False):
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag(zooms)
    if flip:
        a[:3, 2] *= -1
    a[:3, 3] = offset
    return a


def values(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == 'f':
        return (rng.standard_normal(shape) * 100).astype(dt)
    info = np.iinfo(dt)
    lo, hi = max(int(info.min), -2**40), min(int(info.max), 2**40)
    v = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)
    v.flat[0], v.flat[1] = lo, hi  # the extremes of the type
    return v.astype(dt)


def save(img, name, patch_scale=None, no_codes=False):
    """Save with nibabel; optionally patch scl_slope/scl_inter or zero qform/sform codes (LE NIfTI-1)."""
    path = os.path.join(NIFTI_DIR, name)
    raw_name = path[:-3] if path.endswith('.gz') else path
    nib.save(img, raw_name)
    if patch_scale is not None:  # little-endian files only
        v2 = isinstance(img, nib.Nifti2Image)
        with open(raw_name, 'r+b') as f:
            f.seek(176 if v2 else 112)
            f.write(struct.pack('<dd' if v2 else '<ff', *patch_scale))
    if no_codes:
        with open(raw_name, 'r+b') as f:
            f.seek(252)
            f.write(struct.pack('<hh', 0, 0))
            f.seek(80)  # pixdim[1..3]
            f.write(struct.pack('<fff', *no_codes))
    if path.endswith('.gz'):
        with open(raw_name, 'rb') as f:
            data = f.read()
        os.remove(raw_name)
        with gzip.open(path, 'wb') as f:
            f.write(data)
    return path


def describe(path, base_affine=None):
    img = nib.load(path)
    h = img.header
    # The loaded header's scl fields are reset by nibabel; the array proxy keeps the file's values.
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    scaled = not (slope == 1 and inter == 0)
    data = img.get_fdata(dtype=np.float64) if scaled else np.asanyarray(img.dataobj)
    qcode, scode = int(h['qform_code']), int(h['sform_code'])
    return {
        'file': os.path.basename(path),
        'version': 2 if isinstance(img, nib.Nifti2Image) else 1,
        'dims': [int(d) for d in img.shape],
        'spacing': [abs(float(z)) for z in h.get_zooms()],
        'datatype': int(h['datatype']),
        'littleEndian': h.endianness == '<',
        'scaled': bool(scaled),
        'sclSlope': slope,
        'sclInter': inter,
        'qformCode': qcode,
        'sformCode': scode,
        # nibabel's best affine, except with no codes, where NIfTI method 1 (no offset) is what we promise.
        'affine': (base_affine if base_affine is not None else img.affine).tolist(),
        'qform': h.get_qform().tolist() if qcode > 0 else None,
        'voxOffset': int(img.dataobj.offset),
        'descrip': h['descrip'].item().decode('latin1'),
        'data': [float(v) if data.dtype.kind == 'f' else int(v) for v in data.flatten(order='F')],
    }


def nifti_cases():
    os.makedirs(NIFTI_DIR, exist_ok=True)
    rng = np.random.default_rng(20240101)
    shape = (3, 4, 5)
    rot = rotation(0.3, -0.2, 0.5)
    cases = []

    def add(name, klass, dtype, aff, qcode=0, scode=0, endian='<', patch=None, shp=shape, ext=None, zooms=None):
        hdr = klass.header_class(endianness=endian)
        img = klass(values(rng, dtype, shp), None, hdr, dtype=np.dtype(dtype))
        if aff is not None and scode:
            img.set_sform(aff, code=scode)
        else:
            img.set_sform(None, code=0)
        if aff is not None and qcode:
            img.set_qform(aff, code=qcode)
        else:
            img.set_qform(None, code=0)
        img.header['descrip'] = ('convlora ' + name)[:79].encode()
        if ext is not None:
            img.header.extensions.append(nib.nifti1.Nifti1Extension('comment', ext))
        path = save(img, name, patch, no_codes=zooms)
        base = None
        if zooms is not None:  # NIfTI method 1: the pixdim diagonal, no offset (by hand)
            base = np.diag(list(zooms) + [1.0])
        cases.append(describe(path, base))

    a1 = affine_of(rot, [1.5, 2.0, 2.5], [-10.0, 20.0, 5.5])
    a2 = affine_of(rotation(-0.1, 0.4, 0.2), [0.9, 0.9, 1.33], [100.0, -50.0, 0.25], flip=True)
    add('u8_sform_n1.nii', nib.Nifti1Image, 'uint8', a1, scode=2)
    add('i16_scaled_qform_n1.nii.gz', nib.Nifti1Image, 'int16', a2, qcode=1, patch=(0.5, 10.0))
    add('f32_both_n2.nii', nib.Nifti2Image, 'float32', a1, qcode=1, scode=4)
    add('i32_be_n1.nii', nib.Nifti1Image, 'int32', a1, scode=1, endian='>')
    add('f64_be_n2.nii.gz', nib.Nifti2Image, 'float64', a2, qcode=2, endian='>')
    add('u16_scaled_n2.nii.gz', nib.Nifti2Image, 'uint16', a1, scode=1, patch=(2.0, -3.0))
    add('i8_n1.nii', nib.Nifti1Image, 'int8', a2, qcode=1, scode=1)
    add('u32_n1.nii.gz', nib.Nifti1Image, 'uint32', a1, scode=1)
    add('i64_n2.nii', nib.Nifti2Image, 'int64', a1, scode=1)
    add('u8_4d_n1.nii', nib.Nifti1Image, 'uint8', a1, scode=1, shp=(3, 4, 2, 2))
    add('f32_ext_n1.nii', nib.Nifti1Image, 'float32', a1, scode=1, ext=b'convlora test extension')
    add('u8_nocode_n1.nii', nib.Nifti1Image, 'uint8', None, zooms=(2.0, 3.0, 4.0))
    with open(os.path.join(NIFTI_DIR, 'expected.json'), 'w') as f:
        json.dump(cases, f)


def real_expected():
    out = {}
    rng = np.random.default_rng(7)
    for name in sorted(os.listdir(REAL_DIR)):
        if not name.endswith('.nii.gz'):
            continue
        img = nib.load(os.path.join(REAL_DIR, name))
        h = img.header
        a = np.asanyarray(img.dataobj)
        idx = [[int(rng.integers(0, s)) for s in a.shape] for _ in range(12)]
        out[name] = {
            'dims': [int(d) for d in a.shape],
            'spacing': [float(z) for z in h.get_zooms()],
            'datatype': int(h['datatype']),
            'qformCode': int(h['qform_code']),
            'sformCode': int(h['sform_code']),
            'affine': img.affine.tolist(),
            'qform': h.get_qform().tolist(),
            'sum': float(a.sum(dtype=np.float64)),
            'min': float(a.min()),
            'max': float(a.max()),
            'nonzero': int(np.count_nonzero(a)),
            'samples': [{'ijk': i, 'value': float(a[tuple(i)])} for i in idx],
        }
    with open(os.path.join(REAL_DIR, 'nibabel-expected.json'), 'w') as f:
        json.dump(out, f, indent=1)


def preprocess(vol, rng_, size, is_mask=False):
    """The method's preprocessing (docs/method.md §6) in numpy; crop when size < side (start floor-split)."""
    img = vol[rng_[0]:rng_[1] + 1].astype(np.float32)
    if is_mask:
        img = (img > 0).astype(np.float32)
    else:
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    img = np.rot90(img, k=1, axes=(1, 2))
    s, h, w = img.shape
    if h < w:
        b = (w - h) // 2
        img = np.pad(img, ((0, 0), (b, w - h - b), (0, 0)), mode='edge')
    elif w < h:
        b = (h - w) // 2
        img = np.pad(img, ((0, 0), (0, 0), (b, h - w - b)), mode='edge')
    side = img.shape[-1]
    if size >= side:
        b = (size - side) // 2
        img = np.pad(img, ((0, 0), (b, size - side - b), (b, size - side - b)), mode='edge')
    else:
        start = -((size - side) // 2)
        img = img[:, start:start + size, start:start + size]
    return np.ascontiguousarray(img)


def preprocess_expected():
    os.makedirs(PRE_DIR, exist_ok=True)
    rng = np.random.default_rng(11)
    tiny = []
    for shape, rng_, size in [((6, 4, 3), (1, 4), 6), ((5, 3, 6), (0, 10), 8), ((4, 5, 7), (1, 2), 4), ((3, 4, 4), (0, 2), 4)]:
        vol = rng.integers(-50, 200, size=shape).astype(np.int16)
        out = preprocess(vol, (rng_[0], min(rng_[1], shape[0] - 1)), size)
        tiny.append({'dims': list(shape), 'range': list(rng_), 'size': size,
                     'input': [int(v) for v in vol.flatten(order='F')],
                     'shape': list(out.shape), 'output': [float(v) for v in out.flatten()]})
    real = []
    for name, rng_, size in [('colin27', (10, 50), 80), ('itk-head', (5, 60), 64), ('itk-head', (0, 63), 56)]:
        img = np.asanyarray(nib.load(os.path.join(REAL_DIR, name + '_t1.nii.gz')).dataobj)
        mask = np.asanyarray(nib.load(os.path.join(REAL_DIR, name + '_brainmask.nii.gz')).dataobj)
        pi, pm = preprocess(img, rng_, size), preprocess(mask, rng_, size, is_mask=True)
        real.append({'name': name, 'range': list(rng_), 'size': size, 'shape': list(pi.shape),
                     'imageSliceSums': [float(v) for v in pi.sum(axis=(1, 2), dtype=np.float64)],
                     'maskSliceSums': [int(v) for v in pm.sum(axis=(1, 2))],
                     'imageCentre': [float(v) for v in pi[pi.shape[0] // 2].flatten()[::97]]})
    with open(os.path.join(PRE_DIR, 'numpy-expected.json'), 'w') as f:
        json.dump({'tiny': tiny, 'real': real}, f)


if __name__ == '__main__':
    nifti_cases()
    real_expected()
    preprocess_expected()
    print('wrote', NIFTI_DIR, REAL_DIR, PRE_DIR)
