export { squaredEdt } from '../geometry/edt.js';
export { surfelAreaTable3d, contourLengthTable2d } from './lookup-tables.js';
export { NEIGHBOUR_CODE_TO_NORMALS } from './normals-3d.js';
export { binarize, unionBox, neighbourCodes, type MaskData, type BinaryMask, type BoundingBox } from './surfels.js';
export { computeSurfaceDistances, type SurfaceDistances, type DistanceOptions } from './surface-distance.js';
export {
  surfaceDice,
  surfaceDiceAtTolerance,
  surfaceOverlapAtTolerance,
  robustHausdorff,
  averageSurfaceDistance,
  averageSymmetricSurfaceDistance,
} from './surface-dice.js';
export { evaluateMasks, dice, type MaskMetrics, type EvaluateOptions } from './mask-metrics.js';
export {
  aggregate,
  summarize,
  MetricsAccumulator,
  METRIC_KEYS,
  type MetricKey,
  type CaseMetrics,
  type MetricSummary,
  type AggregateRow,
  type AggregateTable,
} from './aggregate.js';
export { formatValue, formatCases, formatAggregate } from './format.js';
export {
  pairVolumes,
  loadMaskPair,
  evaluateMaskFiles,
  caseIdOf,
  caseFile,
  CASE_SUFFIXES,
  type CaseSuffix,
  domainOfCase,
  pairMaskDirs,
  evaluateMaskDirs,
  type MaskPair,
  type FilePairMetrics,
  type FilePairing,
} from './files.js';
