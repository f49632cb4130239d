#!/usr/bin/python3
"""NIfTI files with header extensions, written by nibabel (Debian's python3-nibabel), for convlora's tests.

Writes test/fixtures/nifti-ext/:
  afni_be_n1.nii.gz   big-endian int16 NIfTI-1 with scaling and IXI's layout: a 2,560-byte AFNI (code 4)
                      record of XML text, then a comment record; noise voxels, so the first bytes inflated
                      from the gzip stream end inside the extensions
  multi_be_n2.nii     big-endian float32 NIfTI-2 with three records of 16, 64 and 2,560 bytes
  comment_le_n1.nii   little-endian uint8 NIfTI-1 with one 32-byte comment record
  expected.json       what tools/nibabel_read.py reads from each (CI only reads it; it never needs Python)

Run from the repository root: /usr/bin/python3 tools/nifti_extension_fixtures.py
"""
import gzip
import json
import os
import sys

import nibabel as nib
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nibabel_read import describe  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'nifti-ext')


def afni_xml(size):
    """AFNI-style XML attribute text padded to `size` bytes (the record's content, as IXI's files carry)."""
    head = '<?xml version="1.0" ?>\n<AFNI_attributes self_idcode="XYZ_convlora" NIfTI_nums="16,16,12,1,1,4">\n'
    body = ''.join(f'<AFNI_atr atr_name="ATR_{i:03d}" ni_type="float" ni_dimen="3">\n {i * 0.5} {i} {-i}\n</AFNI_atr>\n' for i in range(200))
    text = (head + body)[: size - len('</AFNI_attributes>\n')] + '</AFNI_attributes>\n'
    return text.encode('ascii').ljust(size, b'\0')


def image(klass, dtype, endian, shape, rng):
    hdr = klass.header_class(endianness=endian)
    dt = np.dtype(dtype)
    if dt.kind == 'f':
        data = (rng.standard_normal(shape) * 100).astype(dt)
    else:
        info = np.iinfo(dt)
        data = rng.integers(max(info.min, -3000), min(info.max, 3000), size=shape, endpoint=True).astype(dt)
    img = klass(data, None, hdr, dtype=dt)
    aff = np.array([[-0.94, 0.0, 0.1, 90.0], [0.05, 0.93, 0.0, -126.0], [0.0, 0.0, 1.2, -72.0], [0, 0, 0, 1]])
    img.set_sform(aff, code=1)
    img.set_qform(aff, code=1)
    return img


def save(img, name):
    path = os.path.join(OUT, name)
    raw = path[:-3] if path.endswith('.gz') else path
    nib.save(img, raw)
    if path.endswith('.gz'):
        with open(raw, 'rb') as f:
            data = f.read()
        os.remove(raw)
        with open(path, 'wb') as f:  # mtime 0: the same bytes on every run
            f.write(gzip.compress(data, compresslevel=6, mtime=0))
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(25)
    ext = nib.nifti1.Nifti1Extension
    files = []

    img = image(nib.Nifti1Image, 'int16', '>', (16, 16, 12), rng)
    img.header.set_slope_inter(0.5, -10.0)
    img.header.extensions.append(ext('afni', afni_xml(2560 - 8)))
    img.header.extensions.append(ext('comment', b'convlora: after the AFNI record'))
    files.append(save(img, 'afni_be_n1.nii.gz'))

    img = image(nib.Nifti2Image, 'float32', '>', (5, 4, 3), rng)
    img.header.extensions.append(ext('comment', b'16 bytes'))
    img.header.extensions.append(ext('xcede', b'<xcede>' + b'x' * 30 + b'</xcede>'))
    img.header.extensions.append(ext('afni', afni_xml(2560 - 8)))
    files.append(save(img, 'multi_be_n2.nii'))

    img = image(nib.Nifti1Image, 'uint8', '<', (3, 4, 5), rng)
    img.header.extensions.append(ext('comment', b'convlora comment, 24 b'))
    files.append(save(img, 'comment_le_n1.nii'))

    cases = [describe(p) for p in files]
    for c in cases:
        c['file'] = os.path.basename(c['file'])
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(cases, f)


if __name__ == '__main__':
    main()
