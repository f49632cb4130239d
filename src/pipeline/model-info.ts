/** What a checkpoint's metadata says about its network (no Node module, no libtorch: the browser app reads it from ONNX metadata). */
export type HeadKind = 'esh' | 'udas';

export interface ModelInfo {
  kind: 'unet2d' | 'head';
  filters: number;
  /** Model zoo architecture (models/zoo.ts); absent in checkpoints from before the zoo: the paper's U-Net ('dart-unet'). */
  arch?: string;
  head?: HeadKind;
  /** Slice size the network was trained at, and the dataset root/domain it came from. */
  size?: number;
  source?: string;
  /** Voxel orientation (axis codes such as 'RAS') of the training volumes; `segment` reorients inputs to it. */
  orientation?: string | null;
  /** Median voxel size (mm, file axes) of the training volumes; `segment --conform` resamples inputs to it. */
  spacing?: number[];
  epoch?: number;
  /** Views the network was trained on (data/image/views.ts): 1 (axis 0, the default) or 3. */
  views?: 1 | 3;
  /** Views `segment` predicts and fuses (chosen on validation): 1 (axis 0) or `views`. Default 1. */
  inferenceViews?: 1 | 3;
  /** Test-time AdaBN's slice budget (test-time.ts `maxSlices`) the network was validated with; absent: every head slice. */
  adabnSlices?: number;
  [k: string]: unknown;
}
