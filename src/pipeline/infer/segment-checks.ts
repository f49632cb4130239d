/**
 * What `segment` says when a result may be wrong, so that no bad mask is written silently. Each check
 * returns a warning sentence or null; they go to stderr and into the JSON result's `warnings`.
 */
import { CONFORM_TOLERANCE, type PreparedScan } from '../../data/image/conform.js';
import { componentSizes, touchesBorder } from '../../data/image/morphology.js';

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

/**
 * Adult brain-mask volumes (ml) beyond which a mask is implausible: DLMUSE's whole-brain masks of 60 adult
 * IXI heads have a median of 1,440 ml, and adult brains span about 1,000-1,700 ml (cerebrum, cerebellum and
 * brain stem); 900 and 2,100 leave a margin on both sides. A child's brain, or a partial scan, falls below.
 */
export const ADULT_BRAIN_ML: readonly [number, number] = [900, 2100];

/** Share of a mask outside its largest connected piece above which the network's mask is "in many pieces". */
export const PIECES_SHARE = 0.05;

/**
 * Why a mask may be wrong, from the mask itself: `raw` is the network's mask on the scan's grid (before
 * clean-up), `mask` the one written, `voxelMl` one voxel's volume. Warns when the brain volume is outside
 * ADULT_BRAIN_ML (or PLAUSIBLE_BRAIN_ML, which names the worse case), when the mask touches the edge of the
 * field of view (the scan may cut the brain off, or the mask leaks into the neck), and when the network's
 * mask was in many pieces (more than PIECES_SHARE of it outside its largest piece, or 5 or more pieces
 * of at least 1 ml besides it).
 */
export function maskChecks(raw: Uint8Array, mask: Uint8Array, dims: readonly [number, number, number], voxelMl: number): string[] {
  const out: string[] = [];
  let voxels = 0;
  for (let i = 0; i < mask.length; i++) voxels += mask[i]!;
  const ml = voxels * voxelMl;
  const [lo, hi] = ADULT_BRAIN_ML;
  const human = brainVolumeWarning(ml);
  if (human !== null) out.push(human);
  else if (ml < lo || ml > hi) {
    out.push(`brain mask of ${ml.toFixed(0)} ml is outside ${lo}-${hi} ml, the range of adult brains: check the mask (a child's brain, a partial scan or a wrong voxel size in the header also give this)`);
  }
  if (voxels > 0 && touchesBorder(mask, dims)) {
    out.push('the brain mask reaches the edge of the field of view: the scan may cut the brain off, or the mask may leak into the neck or face');
  }
  const sizes = componentSizes(raw, dims);
  const total = sizes.reduce((a, b) => a + b, 0);
  const rest = total - (sizes[0] ?? 0);
  const big = sizes.slice(1).filter((s) => s * voxelMl >= 1).length;
  if (total > 0 && (rest / total > PIECES_SHARE || big >= 5)) {
    out.push(`the network's mask was in ${sizes.length} pieces (${(100 * rest / total).toFixed(1)} % of it outside the largest, ${big} other pieces of 1 ml or more) before clean-up kept the largest: check the mask`);
  }
  return out;
}
