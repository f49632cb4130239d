/**
 * What `segment` says when a result may be wrong, so that no bad mask is written silently. Each check
 * returns a warning sentence or null; they go to stderr and into the JSON result's `warnings`.
 */
import { CONFORM_TOLERANCE, type PreparedScan } from '../data/conform.js';

/**
 * Brain-mask volumes (ml) a human head can have: from a full-term newborn's brain (about 350 ml) to
 * 20 % above the largest adult intracranial volumes (about 1,900 ml; a brain mask holds the brain and
 * the CSF around it, so it approaches the intracranial volume). Outside this range the mask is wrong,
 * the scan is not a whole head, or its header's voxel size is wrong.
 */
export const PLAUSIBLE_BRAIN_ML: readonly [number, number] = [350, 2300];

const mm = (xs: readonly number[]): string => xs.map((x) => x.toFixed(2)).join(' x ');

/** The scan's voxel size is far from the model's and it was sliced as stored anyway. */
export function spacingWarning(prep: PreparedScan, model: readonly number[] | null): string | null {
  if (prep.resampled !== null || prep.mismatch === null || model === null || prep.mismatch <= CONFORM_TOLERANCE) return null;
  return `voxel size ${mm(prep.workSpacing)} mm differs from the model's training voxel size ${mm(model)} mm by ${(100 * prep.mismatch).toFixed(0)} % `
    + `(more than ${(100 * CONFORM_TOLERANCE).toFixed(0)} %), and the scan was sliced as stored, not resampled: the network sees the head at another scale, so the mask may be wrong`;
}

/** The brain found is too small or too large for a head. */
export function brainVolumeWarning(ml: number): string | null {
  const [lo, hi] = PLAUSIBLE_BRAIN_ML;
  if (ml >= lo && ml <= hi) return null;
  return `brain mask of ${ml.toFixed(0)} ml is outside ${lo}-${hi} ml, the range of human heads (a newborn's brain to 20 % above the largest adult intracranial volumes): `
    + 'the mask is probably wrong, or the scan is not a whole head, or its header gives the wrong voxel size';
}

/** The scan is farther from the model's training scans than any of them was from the rest. */
export function distributionWarning(d: { distance: number; threshold: number } | null): string | null {
  if (d === null || d.distance <= d.threshold) return null;
  return `the scan is unlike the model's training scans: its early-layer statistics lie at distance ${d.distance.toFixed(3)} from them, beyond the farthest `
    + `training scan (${d.threshold.toFixed(3)}); check the mask (an adapter for this scanner, or test-time AdaBN, may help)`;
}

/** What fallbackWarning reads of an AdapterChoice (adapter-choice.ts); structural, so this file needs no engine (the browser app uses it). */
export interface ChoiceOutcome { chosen: string | null; closest: string; threshold: number | null; distances: readonly { name: string; distance: number }[] }

/** The automatic adapter choice found no candidate close enough and used test-time AdaBN. */
export function fallbackWarning(c: ChoiceOutcome): string | null {
  if (c.chosen !== null || c.threshold === null) return null;
  const best = c.distances.find((d) => d.name === c.closest)!;
  return `no adapter is close to this scan (the closest, ${c.closest}, lies at distance ${best.distance.toFixed(3)}, beyond ${c.threshold.toFixed(3)}, `
    + 'the farthest any candidate\'s own training scan lies from its scanner): segmented with test-time AdaBN on this scan instead';
}
