/**
 * `segment`: any T1 NIfTI in, brain mask (or probabilities) out on the input's grid and affine. The
 * volume is first turned (axes permuted and flipped, no interpolation) into the voxel orientation the
 * model was trained on, when the model records it and the input's affine differs; then it is
 * preprocessed like training data (all slices along axis 0, min-max, rotation, padding to the model's
 * slice size). The prediction is turned back onto the input's grid. The adapter, if any, is merged into
 * the weights for speed.
 */
import { ConvLoraError } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import { prepareImage } from '../data/cc359.js';
import { readNifti, readNiftiHeader, writeNifti, type NiftiVolume } from '../data/nifti.js';
import { axisCodes, reorientData, reorientShape, reorientation, isIdentity } from '../data/orientation.js';
import { toOriginalGrid } from '../data/preprocess.js';
import { AdapterRegistry } from '../lora/adapter.js';
import { loadUnet } from './models.js';
import { maskOfLogits, probabilities, runSlices } from './predict.js';

export interface SegmentOptions {
  model: string;
  adapter?: string;
  input: string;
  output: string;
  prob?: boolean;
  device?: Device;
  batchSize?: number;
  /** Turn the input into the model's training orientation first (default true). */
  reorient?: boolean;
}

export interface SegmentResult {
  output: string; voxels: number; brainVoxels: number; brainMl: number; seconds: number;
  /** Axis codes of the input and of the model's training volumes (null: unknown), and whether the input was turned. */
  orientation: { input: string | null; model: string | null; reoriented: boolean };
}

export async function segmentFile(o: SegmentOptions): Promise<SegmentResult> {
  const t0 = Date.now();
  const device = o.device ?? 'cpu';
  const header = await readNiftiHeader(o.input);
  const dims = header.dim.slice(1, 1 + (header.dim[0] ?? 0));
  if (dims.length < 3 || dims.slice(3).some((d) => d !== 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${o.input} but received dims [${dims.join(', ')}]`);
  }
  const { model, info } = await loadUnet(o.model, device);
  const registry = new AdapterRegistry(model);
  try {
    if (o.adapter !== undefined) {
      await registry.load('target', o.adapter);
      registry.activate('target', { merge: true });
    }
    const size = info.size ?? 256;
    const img = await readNifti(o.input);
    const modelCodes = typeof info.orientation === 'string' ? info.orientation : null;
    let inputCodes: string | null = null;
    try { inputCodes = axisCodes(img.affine); } catch { /* degenerate affine: use the voxel order as it is */ }
    const turn = o.reorient !== false && modelCodes !== null && inputCodes !== null ? reorientation(inputCodes, modelCodes) : null;
    const reoriented = turn !== null && !isIdentity(turn);
    const dims3 = img.dims.slice(0, 3);
    const work: NiftiVolume = reoriented
      ? { ...img, dims: reorientShape(dims3, turn), spacing: reorientShape(img.spacing.slice(0, 3), turn), data: reorientData(img.data, dims3, turn) }
      : img;
    const vol = prepareImage(work, { size, sliceRange: [0, work.dims[0]! - 1] }, o.input);
    model.eval();
    const [logits] = runSlices(vol.images, vol.shape, o.batchSize ?? 16, device, (x) => [model.forward(x)]);
    const mask = maskOfLogits(logits!);
    const back = <T extends Uint8Array | Float32Array>(pred: T): T => {
      const grid = toOriginalGrid(pred, vol.geometry);
      return reoriented ? reorientData(grid, work.dims, reorientation(turn.to, turn.from)) : grid;
    };
    const data = o.prob === true ? back(probabilities(logits!)) : back(mask);
    await writeNifti(o.output, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data, datatype: o.prob === true ? 16 : 2 });
    const brain = (o.prob === true ? toOriginalGrid(mask, vol.geometry) : (data as Uint8Array)).reduce((n, v) => n + v, 0);
    const voxelMl = img.spacing.slice(0, 3).reduce((a, b) => a * b, 1) / 1000;
    return { output: o.output, voxels: data.length, brainVoxels: brain, brainMl: brain * voxelMl, seconds: (Date.now() - t0) / 1000,
      orientation: { input: inputCodes, model: modelCodes, reoriented } };
  } finally {
    registry.dispose();
    model.dispose();
  }
}
