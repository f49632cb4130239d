/**
 * The model that ships with the package (`models/`): a U-Net trained only on simulated scans (domain
 * randomization, `train-source --randomize`), used by `segment` when no `--model` is given. Its
 * provenance (command, seed, data settings, training time, expected voxel size) is in models/README.md.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConvLoraError } from '../errors.js';

/** File name of the bundled U-Net in `models/`. */
export const BUNDLED_MODEL_NAME = 'convlora-t1-2mm.safetensors';

/** Where the bundled U-Net lies in this installation (dist/src/pipeline -> the package root). */
export function bundledModelPath(): string {
  return fileURLToPath(new URL(`../../../models/${BUNDLED_MODEL_NAME}`, import.meta.url));
}

/** The bundled U-Net's path; E_CHECKPOINT naming the path when this installation lacks it. */
export function bundledModel(): string {
  const path = bundledModelPath();
  if (!existsSync(path)) throw new ConvLoraError('E_CHECKPOINT', `No --model given and the bundled model is missing from this installation (${path}); pass --model FILE`);
  return path;
}
