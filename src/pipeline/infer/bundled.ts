/**
 * The models that ship with the package (`models/`), used by `segment` when no `--model` is given, and by
 * name (`--model v1`). Their provenance (command, seed, data, training time, expected voxel size) is in
 * models/README.md:
 *   - `convlora-t1-2mm.safetensors`, the default: trained from real labelled heads (IXI Hammersmith, DLMUSE)
 *     and images synthesized from their label maps, three views, test-time AdaBN per scan (bundled model v2),
 *     once it won on the validation heads by the rule of docs/real-heads-split.md;
 *   - `convlora-t1-2mm-v1.safetensors`, the previous default, trained on simulated scans only; kept for comparison.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConvLoraError } from '../../errors.js';

/** File name of the default bundled U-Net in `models/`. */
export const BUNDLED_MODEL_NAME = 'convlora-t1-2mm.safetensors';

/** Bundled models by name: `segment --model NAME` (a name that is not a path) picks one. */
export const BUNDLED_MODELS: Readonly<Record<string, string>> = { default: BUNDLED_MODEL_NAME, v1: 'convlora-t1-2mm-v1.safetensors' };

/** Where a bundled model lies in this installation (dist/src/pipeline -> the package root); default: the default one. */
export function bundledModelPath(name = 'default'): string {
  const file = BUNDLED_MODELS[name];
  if (file === undefined) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${Object.keys(BUNDLED_MODELS).join(', ')} for a bundled model name but received ${JSON.stringify(name)}`);
  return fileURLToPath(new URL(`../../../../models/${file}`, import.meta.url));
}

/** A bundled model's path; E_CHECKPOINT naming the path when this installation lacks it. */
export function bundledModel(name = 'default'): string {
  const path = bundledModelPath(name);
  if (!existsSync(path)) throw new ConvLoraError('E_CHECKPOINT', `No --model given and the bundled model is missing from this installation (${path}); pass --model FILE`);
  return path;
}

/** `--model` as given: a bundled model's name (not an existing file, no path separator, no extension) becomes its path. */
export function resolveModel(given: string): string {
  return !existsSync(given) && given in BUNDLED_MODELS && !given.includes('/') ? bundledModel(given) : given;
}
