// Interop (issue 25): every kind of NIfTI file we write is read by two independent readers, nibabel
// (Debian's python3-nibabel, through tools/nibabel_read.py) and nifti-reader-js (npm), with the voxels,
// datatype, scaling, affine and extension records we meant. Our own reader accepted masks that nibabel
// cannot open (vox_offset 656, esize 2560), so agreeing with ourselves proves nothing.
//
// The files: scans written from a header for every datatype x orientation x NIfTI version x extension
// set, as .nii or .nii.gz (alternating, so every pair of factors meets both forms), each read back and
// its brain image (the scan's datatype and scaling, as `segment --brain` writes it) written from what was
// read, in the other form; masks and probability maps on the int16 (scaled) and float32 scans; the same
// three on nibabel's fixtures (big-endian, scaled, 4D, extensions); what `segment` itself writes (mask,
// brain, probabilities) for a gzip scan with IXI's 2,560-byte extension; phantom volumes and their masks.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as niftiReader from 'nifti-reader-js';
import { readNifti, writeNifti, type NiftiData, type NiftiHeader, type NiftiVolume } from '../../../src/data/nifti/index.js';
import { defaultHeader } from '../../../src/data/nifti/header.js';
import { niftiExtensions } from '../../../src/data/nifti/extensions.js';
import { qformAffine } from '../../../src/data/nifti/affine.js';
import { hasScaling } from '../../../src/data/nifti/codec.js';
import { generatePhantomDataset, phantomVolume } from '../../../src/data/simulation/phantom.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { UNet2D } from '../../../src/models/unet.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { segmentFile } from '../../../src/pipeline/infer/segment.js';
import { fixture, maxAbsDiff, tempDir } from '../helpers.js';
import { extensionArea, noise, stripNul } from './build.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-nibabel installs

/** What a reader sees in a file; voxels as stored (before scl_slope/scl_inter), x fastest. */
interface View {
  version: number; dims: number[]; datatype: number; voxOffset: number; sclSlope: number; sclInter: number;
  /** qform_code, sform_code. */
  codes: [number, number];
  affine: number[][]; qform: number[][] | null; extensions: { code: number; data: Uint8Array }[]; stored: number[];
}
/**
 * A file and what it should hold. With `source` (a scan without qform/sform codes, whose world each
 * reader may place differently), a reader must see this file's affine as it sees the scan's.
 */
interface Written { path: string; label: string; want: View; source?: string }

type Matrix = number[][];
const rot = (ax: number, az: number): Matrix => {
  const [cx, sx, cz, sz] = [Math.cos(ax), Math.sin(ax), Math.cos(az), Math.sin(az)];
  return [[cz, -sz * cx, sz * sx], [sz, cz * cx, -cz * sx], [0, sx, cx]]; // Rz(az) Rx(ax)
};
/** Voxel-to-world: the columns of `m` scaled by the voxel sizes, then the offset. */
function affine(m: Matrix, zooms: number[], off: number[]): Matrix {
  return [0, 1, 2].map((i) => [...[0, 1, 2].map((j) => m[i]![j]! * zooms[j]!), off[i]!]).concat([[0, 0, 0, 1]]);
}
const Z = [1.2, 1, 0.9];
/** Orientations we accept: axis-aligned (proper and reflected), permuted, oblique, and sheared (sform only). */
const ORIENTATIONS: { name: string; affine: Matrix }[] = [
  { name: 'RAS', affine: affine([[1, 0, 0], [0, 1, 0], [0, 0, 1]], Z, [-20, 30, 5]) },
  { name: 'LPS', affine: affine([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], Z, [90, 126, -72]) },
  { name: 'LAS (reflected, qfac -1)', affine: affine([[-1, 0, 0], [0, 1, 0], [0, 0, 1]], Z, [90, -126, -72]) },
  { name: 'PIL (permuted)', affine: affine([[0, 0, -1], [-1, 0, 0], [0, 1, 0]], Z, [12, 110, -40]) },
  { name: "ITK's half-turn", affine: affine([[-1, 0, 0], [0, 0, 1], [0, 1, 0]], Z, [0.5, -3, 7]) },
  { name: 'oblique', affine: affine(rot(0.3, 0.5), Z, [-10, 20, 5.5]) },
  { name: 'oblique reflected', affine: affine(rot(-0.2, 2.5).map((r) => [r[0]!, r[1]!, -r[2]!]), Z, [100, -50, 0.25]) },
  { name: 'sheared', affine: [[1.2, 0.3, 0, -5], [0, 1, 0.1, 4], [0, 0, 0.9, 3], [0, 0, 0, 1]] },
];

/** Extension sets: none, one small record, IXI's 2,560-byte AFNI record, and three records of several sizes. */
const EXTENSIONS: { name: string; records: { code: number; data: Uint8Array }[] }[] = [
  { name: 'no extensions', records: [] },
  { name: 'a 16-byte comment', records: [{ code: 6, data: Uint8Array.from('16 bytes', (c) => c.charCodeAt(0)) }] },
  { name: 'a 2,560-byte AFNI record', records: [{ code: 4, data: noise(2552, 4) }] },
  { name: '32-, 64- and 2,560-byte records', records: [{ code: 6, data: noise(24, 6) }, { code: 8, data: noise(56, 8) }, { code: 4, data: noise(2552, 9) }] },
];

const DIMS = [2, 3, 4];
const N = 24;
const INT_RANGE: Record<number, [number, number]> = {
  2: [0, 255], 256: [-128, 127], 4: [-32768, 32767], 512: [0, 65535], 8: [-2147483648, 2147483647],
  768: [0, 4294967295], 1024: [-(2 ** 53) + 1, 2 ** 53 - 1], 1280: [0, 2 ** 53 - 1],
};
const DATATYPES = [2, 256, 4, 512, 8, 768, 16, 64, 1024, 1280];
const SLOPE = 0.5, INTER = -10;

/** Stored values of a datatype: its extremes and small values, or (scaled) small values only. */
function storedValues(datatype: number, scaled: boolean): number[] {
  const range = INT_RANGE[datatype];
  if (range === undefined) {
    const extremes = datatype === 16 ? [-1.5, 1e-30, 3.25, 1e30] : [-1.5, 1e-300, Math.PI, 1e300];
    return Array.from({ length: N }, (_, i) => (scaled || i >= 4 ? (i - 12) * 0.25 : extremes[i]!));
  }
  const [lo, hi] = range;
  return Array.from({ length: N }, (_, i) => (!scaled && i === 0 ? lo : !scaled && i === 1 ? hi : (lo < 0 ? -100 : 0) + ((i * 37) % 200)));
}

/** The typed array `datatype` reads into, as writeNifti takes it (64-bit integers as Float64Array). */
function typed(datatype: number, values: number[]): NiftiData {
  switch (datatype) {
    case 2: return Uint8Array.from(values);
    case 256: return Int8Array.from(values);
    case 4: return Int16Array.from(values);
    case 512: return Uint16Array.from(values);
    case 8: return Int32Array.from(values);
    case 768: return Uint32Array.from(values);
    case 16: return Float32Array.from(values);
    default: return Float64Array.from(values);
  }
}

/** A scan's header as readNifti would give it: version, datatype, scaling and extension area. */
function sourceHeader(version: 1 | 2, datatype: number, scaled: boolean, records: { code: number; data: Uint8Array }[]): NiftiHeader {
  return { ...defaultHeader(version), datatype, sclSlope: scaled ? SLOPE : 1, sclInter: scaled ? INTER : 0, extensions: extensionArea(records) };
}

function voxOffset(version: 1 | 2, records: { code: number; data: Uint8Array }[]): number {
  return (version === 1 ? 348 : 540) + extensionArea(records).length;
}

/**
 * Write the matrix (see the file's head) and say what each file should hold. Each scan is written from a
 * header, read back, and its brain image, mask and probability map written from what was read, as
 * `segment` does: a header read from a gzip prefix that ended inside the extensions was how the AFNI
 * record got cut.
 */
async function writeMatrix(dir: string): Promise<Written[]> {
  const out: Written[] = [];
  let n = 0;
  for (const [d, datatype] of DATATYPES.entries()) {
    for (const [o, orient] of ORIENTATIONS.entries()) {
      for (const version of [1, 2] as const) {
        for (const [e, ext] of EXTENSIONS.entries()) {
          const [form, other] = (d + o + version + e) % 2 === 0 ? ['.nii.gz', '.nii'] : ['.nii', '.nii.gz'];
          const scaled = (o + e) % 2 === 0;
          const stored = storedValues(datatype, scaled);
          const float = INT_RANGE[datatype] === undefined;
          // The scan's voxels as readNifti gives them: scaled into float32, or as stored.
          const data = scaled ? Float32Array.from(stored, (v) => v * SLOPE + INTER) : typed(datatype, stored);
          const base = { version, dims: DIMS, voxOffset: voxOffset(version, ext.records), affine: orient.affine, extensions: ext.records };
          const qform = orient.name === 'sheared' ? null : orient.affine;
          const codes: [number, number] = [qform === null ? 0 : 1, 1];
          const want: View = {
            // Integers keep their scaling and are stored as they were; floats are stored as read (scaled).
            ...base, datatype, qform, codes, stored: scaled && !float ? stored : Array.from(data),
            sclSlope: scaled && !float ? SLOPE : 1, sclInter: scaled && !float ? INTER : 0,
          };
          const label = `${NAMES[datatype]}${scaled ? ' scaled' : ''}, ${orient.name}, NIfTI-${version}, ${ext.name}`;
          const scan = join(dir, `scan-${n}${form}`);
          await writeNifti(scan, { dims: DIMS, affine: orient.affine, header: sourceHeader(version, datatype, scaled, ext.records), data, datatype });
          out.push({ path: scan, label: `scan: ${label}${form}`, want });

          const img = await readNifti(scan);
          const grid = { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header };
          const brain = join(dir, `brain-${n}${other}`);
          await writeNifti(brain, { ...grid, data: img.data, datatype: img.datatype });
          out.push({ path: brain, label: `brain image on ${label}${form}, as ${other}`, want });
          if ((datatype === 4 && scaled) || (datatype === 16 && !scaled)) {
            const mask = Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : 0));
            const prob = Array.from(Float32Array.from({ length: N }, (_, i) => i / 23));
            for (const [kind, values, dt, f] of [['mask', mask, 2, form], ['prob', prob, 16, other]] as const) {
              const path = join(dir, `${kind}-${n}${f}`);
              await writeNifti(path, { ...grid, data: typed(dt, values), datatype: dt });
              out.push({ path, label: `${kind} on ${label}${form}, as ${f}`, want: { ...base, datatype: dt, qform, codes, stored: values, sclSlope: 1, sclInter: 0 } });
            }
          }
          n++;
        }
      }
    }
  }
  return out;
}

/**
 * Brain images, masks and probability maps on nibabel's files (test/fixtures/nifti and nifti-ext:
 * big-endian, scaled, 4D, extensions): each holds what our reader reads from it, and keeps the scan's
 * extension records.
 */
async function writeOnFixtures(dir: string): Promise<Written[]> {
  const out: Written[] = [];
  for (const sub of ['nifti', 'nifti-ext']) {
    for (const name of readdirSync(fixture(sub)).filter((f) => /\.nii(\.gz)?$/.test(f))) {
      const img = await readNifti(fixture(sub, name));
      const grid = { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header };
      const mask = Uint8Array.from(img.data, (x) => (x > 0 ? 1 : 0));
      for (const [kind, input, form] of [['brain', { data: img.data, datatype: img.datatype }, '.nii.gz'], ['mask', { data: mask, datatype: 2 }, '.nii'],
        ['prob', { data: Float32Array.from(mask, (m) => m * 0.75), datatype: 16 }, '.nii.gz']] as const) {
        const path = join(dir, `${name}.${kind}${form}`);
        await writeNifti(path, { ...grid, ...input });
        const w = await ourView(path, `${kind} on nibabel's ${sub}/${name}`);
        assert.deepEqual(w.want.extensions, niftiExtensions(img.header), `${w.label}: the scan's extension records`);
        out.push(img.header.qformCode === 0 && img.header.sformCode === 0 ? { ...w, source: fixture(sub, name) } : w);
      }
    }
  }
  return out;
}

const NAMES: Record<number, string> = { 2: 'uint8', 256: 'int8', 4: 'int16', 512: 'uint16', 8: 'int32', 768: 'uint32', 16: 'float32', 64: 'float64', 1024: 'int64', 1280: 'uint64' };

/** What our own reader sees, for files whose content we did not spell out (segment's, the phantom's). */
async function ourView(path: string, label: string): Promise<Written> {
  const v: NiftiVolume = await readNifti(path);
  const h = v.header;
  const scaled = hasScaling(h);
  return {
    path, label,
    want: {
      version: h.version, dims: v.dims, datatype: v.datatype, voxOffset: h.voxOffset, sclSlope: h.sclSlope, sclInter: h.sclInter,
      codes: [h.qformCode, h.sformCode], affine: v.affine, qform: h.qformCode > 0 ? qformAffine(h) : null, extensions: niftiExtensions(h),
      stored: Array.from(v.data, (x) => (scaled ? Math.round((x - h.sclInter) / h.sclSlope) : x)),
    },
  };
}

/** `segment` for real (a 4-filter U-Net) on a gzip int16 scan with IXI's extension: mask, brain, probabilities. */
async function writeSegmentOutputs(dir: string): Promise<Written[]> {
  const live = liveTensors();
  const v = phantomVolume('GE_3', 0, { size: 32, seed: 2 });
  const scan = join(dir, 'ixi-like.nii.gz');
  const header = sourceHeader(1, 4, true, [{ code: 4, data: noise(2552, 25) }]);
  let lo = Infinity, hi = -Infinity;
  for (const x of v.image.data) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  // int16 stored 0..3000, read through scl_slope 0.5 and scl_inter -10 (as readNifti gives it).
  const data = Float32Array.from(v.image.data, (x) => Math.round(((x - lo) / (hi - lo)) * 3000) * SLOPE + INTER);
  await writeNifti(scan, { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, header, data });
  manualSeed(5);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS' });
  net.dispose();
  const [mask, brain, prob] = ['scan_mask.nii.gz', 'scan_brain.nii', 'scan_prob.nii.gz'].map((f) => join(dir, f)) as [string, string, string];
  await segmentFile({ model, input: scan, output: mask, brain });
  await segmentFile({ model, input: scan, output: prob, prob: true });
  assert.equal(liveTensors(), live, 'segment leaked no tensor');
  return Promise.all([[scan, 'the scan'], [mask, "segment's mask"], [brain, "segment's brain image"], [prob, "segment's probabilities"]]
    .map(([p, l]) => ourView(p!, l!)));
}

async function writePhantoms(dir: string): Promise<Written[]> {
  await generatePhantomDataset(dir, { size: 32, volumes: 1, seed: 3, workers: 1 });
  const files = ['Original', 'Silver-standard'].flatMap((sub) => readdirSync(join(dir, sub)).flatMap((d) => readdirSync(join(dir, sub, d)).map((f) => join(dir, sub, d, f))));
  assert.equal(files.length, 12, 'six phantom scans and their masks');
  return Promise.all(files.map((f) => ourView(f, `phantom ${f.slice(dir.length + 1)}`)));
}

interface NibabelJson {
  file: string; error?: string; version: number; dims: number[]; datatype: number; voxOffset: number; sclSlope: number; sclInter: number;
  qformCode: number; sformCode: number; affine: number[][]; qform: number[][] | null; extensions: { code: number; data: string }[]; data: number[];
}

/** nibabel's view of each file, or the error it raised (asserted in a test, not in the hook, so that each file names itself). */
function nibabelViews(paths: string[]): Map<string, View | string> {
  const probe = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' });
  assert.equal(probe.status, 0, `nibabel is missing (${probe.error?.message ?? probe.stderr.trim()}): apt-get install -y python3-nibabel (scripts/test.sh does, as root)`);
  const r = spawnSync(PYTHON, [join(ROOT, 'tools', 'nibabel_read.py')], { input: paths.join('\n'), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  const views = new Map<string, View | string>();
  for (const j of JSON.parse(r.stdout) as NibabelJson[]) {
    if (j.error !== undefined) { views.set(j.file, j.error); continue; }
    views.set(j.file, {
      version: j.version, dims: j.dims, datatype: j.datatype, voxOffset: j.voxOffset, sclSlope: j.sclSlope, sclInter: j.sclInter,
      codes: [j.qformCode, j.sformCode], affine: j.affine, qform: j.qform, stored: j.data,
      extensions: j.extensions.map((x) => ({ code: x.code, data: new Uint8Array(Buffer.from(x.data, 'base64')) })),
    });
  }
  return views;
}

/** The stored voxels of nifti-reader-js's image bytes (our files are little-endian). */
function storedOf(datatype: number, image: ArrayBuffer): number[] {
  switch (datatype) {
    case 2: return Array.from(new Uint8Array(image));
    case 256: return Array.from(new Int8Array(image));
    case 4: return Array.from(new Int16Array(image));
    case 512: return Array.from(new Uint16Array(image));
    case 8: return Array.from(new Int32Array(image));
    case 768: return Array.from(new Uint32Array(image));
    case 16: return Array.from(new Float32Array(image));
    case 64: return Array.from(new Float64Array(image));
    case 1024: return Array.from(new BigInt64Array(image), Number);
    case 1280: return Array.from(new BigUint64Array(image), Number);
    default: throw new Error(`datatype ${datatype}`);
  }
}

/**
 * nifti-reader-js's world affine. Its NIfTI-1 `affine` follows the codes (qform, sform or the pixdim
 * diagonal), but its NIfTI-2 `affine` is the srow whatever they say: there, the standard's choice is
 * applied to the fields it parsed.
 */
function readerAffine(h: niftiReader.NIFTI1 | niftiReader.NIFTI2): number[][] {
  if (h instanceof niftiReader.NIFTI1 || h.sform_code > 0) return h.affine;
  if (h.qform_code > 0) return h.getQformMat();
  return [[h.pixDims[1]!, 0, 0, 0], [0, h.pixDims[2]!, 0, 0], [0, 0, h.pixDims[3]!, 0], [0, 0, 0, 1]];
}

function niftiReaderView(path: string): View {
  const file = readFileSync(path);
  let buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  if (niftiReader.isCompressed(buf)) buf = niftiReader.decompress(buf) as ArrayBuffer;
  assert.ok(niftiReader.isNIFTI(buf), `nifti-reader-js: ${path} is NIfTI`);
  const h = niftiReader.readHeader(buf);
  assert.equal(h.littleEndian, true, `${path}: we write little-endian`);
  return {
    version: h instanceof niftiReader.NIFTI2 ? 2 : 1, dims: h.dims.slice(1, (h.dims[0] ?? 0) + 1), datatype: h.datatypeCode,
    voxOffset: h.vox_offset, sclSlope: h.scl_slope, sclInter: h.scl_inter, codes: [h.qform_code, h.sform_code], affine: readerAffine(h),
    qform: h.qform_code > 0 ? h.getQformMat() : null, stored: storedOf(h.datatypeCode, niftiReader.readImage(h, buf)),
    extensions: niftiReader.hasExtension(h) ? h.extensions.map((x) => ({ code: x.ecode, data: new Uint8Array(x.edata) })) : [],
  };
}

/** `got` (a reader's view) holds what `w` meant: same voxels, datatype, scaling, affine, qform and records. */
function assertSame(reader: string, got: View | string | undefined, w: Written, source?: View | string): void {
  const at = `${reader}, ${w.label} (${w.path})`;
  assert.ok(got !== undefined, `${at}: not read`);
  assert.ok(typeof got !== 'string', `${at}: cannot be read: ${got as string}`);
  const want = w.want;
  assert.deepEqual([got.version, got.dims, got.datatype, got.voxOffset], [want.version, want.dims, want.datatype, want.voxOffset], `${at}: version, dims, datatype, vox_offset`);
  assert.deepEqual([got.sclSlope, got.sclInter], [want.sclSlope, want.sclInter], `${at}: scl_slope, scl_inter`);
  assert.deepEqual(got.stored, want.stored, `${at}: stored voxels`);
  // The header holds float32 (NIfTI-1) or float64 (NIfTI-2); world coordinates here are below 130 mm.
  assert.deepEqual(got.codes, want.codes, `${at}: qform_code, sform_code`);
  const world = w.source === undefined ? want.affine : typeof source === 'object' ? source.affine : undefined;
  assert.ok(world !== undefined && maxAbsDiff(got.affine, world) < 1e-4, `${at}: affine ${JSON.stringify(got.affine)}, expected ${JSON.stringify(world)}`);
  assert.equal(got.qform === null, want.qform === null, `${at}: qform present`);
  // nibabel keeps the tiny quaternion 'a' that float32 rounding leaves for a half-turn, which nifti1_io,
  // nifti-reader-js and we zero: its qform is then off by ~3e-4 (as in nifti.test.ts's real fixtures).
  const qTol = reader === 'nibabel' ? 2e-3 : 1e-4;
  if (got.qform !== null && want.qform !== null) assert.ok(maxAbsDiff(got.qform, want.qform) < qTol, `${at}: qform ${JSON.stringify(got.qform)}`);
  const records = (v: View): { code: number; data: number[] }[] => v.extensions.map((x) => ({ code: x.code, data: Array.from(stripNul(x.data)) }));
  assert.deepEqual(records(got), records(want), `${at}: extension records`);
}

let written: Written[] = [];
let nibabel = new Map<string, View | string>();

before(async () => {
  const dir = tempDir('convlora-interop-');
  written = [
    ...await writeMatrix(join(dir, 'matrix')),
    ...await writeOnFixtures(join(dir, 'fixtures')),
    ...await writeSegmentOutputs(dir),
    ...await writePhantoms(join(dir, 'phantom')),
  ];
  nibabel = nibabelViews([...new Set(written.flatMap((w) => (w.source === undefined ? [w.path] : [w.path, w.source])))]);
});

test('the interop matrix covers every datatype, orientation, version, extension set and both file forms', () => {
  const labels = written.map((w) => w.label);
  for (const name of Object.values(NAMES)) assert.ok(labels.some((l) => l.startsWith(`brain image on ${name}`)), name);
  for (const o of ORIENTATIONS) assert.ok(labels.some((l) => l.includes(`, ${o.name}, `)), o.name);
  for (const e of EXTENSIONS) {
    for (const form of ['.nii', '.nii.gz']) {
      for (const kind of ['brain image', 'mask', 'prob']) assert.ok(labels.some((l) => l.startsWith(kind) && l.includes(`${e.name}${form}`)), `${kind} on a scan with ${e.name} as ${form}`);
    }
  }
  assert.equal(written.filter((w) => w.label.startsWith('brain image on ')).length, DATATYPES.length * ORIENTATIONS.length * 2 * EXTENSIONS.length);
});

test('nibabel reads every file we write with the voxels, datatype, scaling, affine and extensions we meant', () => {
  for (const w of written) assertSame('nibabel', nibabel.get(w.path), w, w.source === undefined ? undefined : nibabel.get(w.source));
});

test('nifti-reader-js reads every file we write with the voxels, datatype, scaling, affine and extensions we meant', () => {
  for (const w of written) assertSame('nifti-reader-js', niftiReaderView(w.path), w, w.source === undefined ? undefined : niftiReaderView(w.source));
});

test("segment's outputs keep the scan's 2,560-byte extension whole, as both readers see it", () => {
  const outputs = written.filter((w) => w.label.startsWith("segment's"));
  assert.equal(outputs.length, 3);
  for (const w of outputs) {
    assert.equal(w.want.voxOffset, 352 + 2560, `${w.label}: vox_offset`);
    for (const got of [nibabel.get(w.path), niftiReaderView(w.path)]) {
      assert.ok(typeof got === 'object', `${w.label}: ${String(got)}`);
      assert.deepEqual(got.extensions.map((x) => [x.code, x.data.length]), [[4, 2552]], w.label);
    }
  }
});
