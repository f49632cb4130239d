#!/usr/bin/env node
// Regenerate test/fixtures/real/ from Debian packages, with convlora's own NIfTI code:
//   apt-get install -y mricron-data insighttoolkit5-examples
//   npx tsc -p tsconfig.json && node tools/make-real-fixtures.mjs
// Then refresh the independent expectations: /usr/bin/python3 tools/nibabel_expected.py
// Images are block-averaged (rounded to the stored integer type), masks are block majority votes of
// (source > 0); the affine is composed with the block scaling so world coordinates are preserved.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNifti, writeNifti } from '../dist/src/data/nifti/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'test', 'fixtures', 'real');

const SOURCES = [
  {
    name: 'colin27',
    image: '/usr/share/mricron/templates/ch2.nii.gz',
    mask: '/usr/share/mricron/templates/ch2bet.nii.gz',
    factor: [3, 3, 3],
    descrip: 'Colin27 ch2 (mricron-data) /3 block mean',
  },
  {
    name: 'itk-head',
    image: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz',
    mask: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1RawSkullStrip.nii.gz',
    factor: [2, 2, 1],
    descrip: 'ITK KmeansTest_T1UCharRaw /2x2x1 block mean',
  },
];

/** Block-reduce a file-order volume: mean of each f0 x f1 x f2 block (partial blocks at the end dropped). */
function reduce(data, dims, f, combine) {
  const nd = dims.map((d, a) => Math.floor(d / f[a]));
  const out = new Float64Array(nd[0] * nd[1] * nd[2]);
  const n = f[0] * f[1] * f[2];
  for (let k = 0; k < nd[2]; k++) for (let j = 0; j < nd[1]; j++) for (let i = 0; i < nd[0]; i++) {
    let s = 0;
    for (let c = 0; c < f[2]; c++) for (let b = 0; b < f[1]; b++) for (let a = 0; a < f[0]; a++) {
      s += combine(data[(i * f[0] + a) + dims[0] * ((j * f[1] + b) + dims[1] * (k * f[2] + c))]);
    }
    out[i + nd[0] * (j + nd[1] * k)] = s / n;
  }
  return { out, dims: nd };
}

/** Affine of the reduced grid: voxel i' is the centre of source voxels f*i' .. f*i' + f - 1. */
function reducedAffine(affine, f) {
  return affine.map((row, r) => {
    if (r === 3) return [...row];
    const shift = row.slice(0, 3).reduce((acc, v, a) => acc + v * (f[a] - 1) / 2, 0);
    return [row[0] * f[0], row[1] * f[1], row[2] * f[2], row[3] + shift];
  });
}

for (const src of SOURCES) {
  const img = await readNifti(src.image);
  const mask = await readNifti(src.mask);
  const { out: mean, dims } = reduce(img.data, img.dims, src.factor, (v) => v);
  const { out: vote } = reduce(mask.data, mask.dims, src.factor, (v) => (v > 0 ? 1 : 0));
  const ImageArray = img.data.constructor;
  const imageData = ImageArray.from(mean, (v) => Math.round(v));
  const maskData = Uint8Array.from(vote, (v) => (v > 0.5 ? 1 : 0));
  const affine = reducedAffine(img.affine, src.factor);
  const header = { ...img.header, descrip: src.descrip };
  await writeNifti(join(out, `${src.name}_t1.nii.gz`), { dims, data: imageData, affine, header }, { level: 9 });
  await writeNifti(join(out, `${src.name}_brainmask.nii.gz`), { dims, data: maskData, affine, header: { ...header, descrip: `${src.descrip} mask` } }, { level: 9 });
  process.stdout.write(`${src.name}: ${img.dims.join('x')} -> ${dims.join('x')}\n`);
}
