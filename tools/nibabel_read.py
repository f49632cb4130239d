#!/usr/bin/python3
"""What nibabel (Debian's python3-nibabel) reads from NIfTI files: the independent reader of the interop suite.

Usage: /usr/bin/python3 tools/nibabel_read.py < paths   (one path a line)
Prints one JSON array, an object per file in the order given. A file nibabel cannot read gives
{"file": ..., "error": "..."} and the others are still read, so one broken file names itself.

Per file: NIfTI version, shape, datatype code, byte order, vox_offset as nibabel uses it, scl_slope and
scl_inter as applied (the array proxy's; nibabel's header object resets them), qform/sform codes and
matrices, nibabel's best affine, the extension records (code, esize, and content as base64, whose trailing
NUL bytes nibabel strips when it reads a record) and the stored
voxels (before scaling) in file order (x fastest).
"""
import base64
import json
import sys

import nibabel as nib
import numpy as np


def number(v):
    return float(v) if isinstance(v, (float, np.floating)) else int(v)


def raw_content(ext):
    """A record's content as bytes (the generic extensions we write have bytes content already)."""
    content = ext.get_content()
    return content if isinstance(content, bytes) else ext._mangle(content)


def describe(path):
    img = nib.load(path)
    h = img.header
    raw = img.dataobj.get_unscaled()
    qcode, scode = int(h['qform_code']), int(h['sform_code'])
    return {
        'file': path,
        'version': 2 if isinstance(img, nib.Nifti2Image) else 1,
        'dims': [int(d) for d in img.shape],
        'datatype': int(h['datatype']),
        'littleEndian': h.endianness == '<',
        'voxOffset': int(img.dataobj.offset),
        'sclSlope': float(img.dataobj.slope),
        'sclInter': float(img.dataobj.inter),
        'qformCode': qcode,
        'sformCode': scode,
        'qform': h.get_qform().tolist() if qcode > 0 else None,
        'sform': h.get_sform().tolist() if scode > 0 else None,
        'affine': img.affine.tolist(),
        'extensions': [
            {'code': int(e.get_code()), 'esize': int(e.get_sizeondisk()), 'data': base64.b64encode(raw_content(e)).decode('ascii')}
            for e in h.extensions
        ],
        'data': [number(v) for v in np.asarray(raw).flatten(order='F')],
    }


def main():
    out = []
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        try:
            out.append(describe(path))
        except Exception as err:  # every file gets its own answer
            out.append({'file': path, 'error': f'{type(err).__name__}: {err}'})
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
