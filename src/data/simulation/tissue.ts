/**
 * The tissue classes shared by the anatomy models (procedural heads, heads built from Colin27) and the
 * MR-physics scanner simulation. An anatomy says how much of each voxel is which tissue (partial-volume
 * fractions); a scanner says what signal each tissue gives; a voxel's signal is the fraction-weighted sum.
 * Whatever is not covered by a tissue is air (no signal).
 */

/** Tissue classes, in the order fractions are stored. `fat` is scalp and orbital fat; `vitreous` the eyes. */
export const TISSUES = ['csf', 'gm', 'wm', 'fat', 'muscle', 'skin', 'bone', 'marrow', 'vitreous'] as const;
export type Tissue = (typeof TISSUES)[number];

/** A value per tissue (signals, T1s, levels). */
export type PerTissue<T = number> = Record<Tissue, T>;

/**
 * Partial-volume tissue fractions on a voxel grid (NIfTI order: axis 0 fastest).
 * `fractions` is tissue-major: [TISSUES.length, nx * ny * nz], each value a fraction in 0..255 (/255);
 * per voxel the fractions sum to at most 255 (the rest is air). `brain` is the ground-truth brain mask.
 */
export interface TissueVolume {
  dims: [number, number, number];
  /** Voxel size, mm. */
  spacing: [number, number, number];
  /** Voxel to world (mm, RAS), 4 x 4 row-major. */
  affine: number[][];
  fractions: Uint8Array;
  brain: Uint8Array;
}

/** Signal of every voxel: sum over tissues of fraction * signal[tissue]. [nx * ny * nz] */
export function mixSignals(vol: Pick<TissueVolume, 'dims' | 'fractions'>, signal: PerTissue): Float32Array {
  const n = vol.dims[0] * vol.dims[1] * vol.dims[2];
  if (vol.fractions.length !== n * TISSUES.length) {
    throw new RangeError(`Expected ${n * TISSUES.length} fractions for dims [${vol.dims.join(', ')}] but received ${vol.fractions.length}`);
  }
  const out = new Float32Array(n);
  TISSUES.forEach((t, k) => {
    const s = signal[t] / 255;
    if (s === 0) return;
    const f = vol.fractions.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) out[i]! += f[i]! * s;
  });
  return out;
}
