/**
 * `segment`: any T1 NIfTI in, brain mask (or probabilities) out on the input's grid and affine. The
 * volume is preprocessed like training data (all slices along axis 0, min-max, rotation, padding to the
 * model's slice size); the adapter, if any, is merged into the weights for speed.
 */
import { ConvLoraError } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import { loadImageSlices } from '../data/cc359.js';
import { readNiftiHeader, writeNifti } from '../data/nifti.js';
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
}

export interface SegmentResult { output: string; voxels: number; brainVoxels: number; brainMl: number; seconds: number }

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
    const vol = await loadImageSlices(o.input, { size, sliceRange: [0, dims[0]! - 1] });
    model.eval();
    const [logits] = runSlices(vol.images, vol.shape, o.batchSize ?? 16, device, (x) => [model.forward(x)]);
    const mask = maskOfLogits(logits!);
    const data = o.prob === true ? toOriginalGrid(probabilities(logits!), vol.geometry) : toOriginalGrid(mask, vol.geometry);
    await writeNifti(o.output, { dims: vol.source.dims, spacing: vol.source.spacing, affine: vol.source.affine, header: vol.source.header, data, datatype: o.prob === true ? 16 : 2 });
    const brain = (o.prob === true ? toOriginalGrid(mask, vol.geometry) : (data as Uint8Array)).reduce((n, v) => n + v, 0);
    const voxelMl = vol.source.spacing.slice(0, 3).reduce((a, b) => a * b, 1) / 1000;
    return { output: o.output, voxels: data.length, brainVoxels: brain, brainMl: brain * voxelMl, seconds: (Date.now() - t0) / 1000 };
  } finally {
    registry.dispose();
    model.dispose();
  }
}
