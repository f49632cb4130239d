/** Data: NIfTI I/O, the CC359 layout and preprocessing, seeded splits and sampling, phantoms. */
export {
  readNifti, readNiftiHeader, parseNifti, encodeNifti, writeNifti, writeNiftiSync,
  type NiftiVolume, type NiftiWriteInput, type ReadOptions, type WriteOptions, type NiftiData, type NiftiHeader, type Affine,
} from './nifti/index.js';
export { NIFTI_DATATYPES } from './nifti/header.js';
export { niftiExtensions, type NiftiExtension } from './nifti/extensions.js';
export { DEFAULT_MAX_VOXELS } from './nifti/codec.js';
export { niftiAffine, qformAffine, affineToQuatern } from './nifti/affine.js';
export {
  CC359_DOMAINS, CC359_SLICE_RANGES, CC359_SIZE, DATASET_FILE, isDomain, readDatasetInfo, listScans, validateDataset,
  loadScan, loadImageSlices,
  type Domain, type DatasetInfo, type ScanEntry, type ScanData, type LoadOptions, type DatasetSummary, type ValidateOptions,
} from './scans/cc359.js';
export {
  sliceGeometry, clampRange, sliceCount, preprocessImage, preprocessMask, toOriginalGrid, type SliceGeometry,
} from './image/preprocess.js';
export { splitScans, SOURCE_SPLIT, TARGET_SPLIT, type SplitSpec, type Split } from './scans/splits.js';
export { SliceSampler, type Batch, type SamplerOptions } from './scans/sampler.js';
export { Rng, hashSeed } from './rng.js';
export { SCANNER_PRESETS, phantomGrid, phantomSliceRange, type ScannerPreset, type TissueLevels, type PresetGeometry } from './simulation/presets.js';
export {
  TISSUE_PROPERTIES, inversionTiming, inversionTrainMz, spoiledGreMz, tissueSignal, tissueSignals,
  type FieldStrength, type TissueProperties, type InversionGreProtocol, type SpoiledGreProtocol, type Protocol, type InversionTiming,
} from './simulation/mr-signal.js';
export {
  PHYSICS_SCANNERS, SCANNER_MODELS, physicsPreset, scannerPreset, scannerSignals, type PhysicsScanner, type ScannerModel,
} from './simulation/physics-scanners.js';
export { acquire, fitBiasRange, realToLevels, simulateScanner, type StoredIntensities } from './simulation/scanner.js';
export { makeSubject, renderSubject, type Subject, type Grid } from './simulation/phantom-anatomy.js';
export {
  DEFAULT_PHANTOM_SIZE, DEFAULT_SCANNER_MODEL, phantomVolume, phantomStem, generatePhantomDataset,
  type PhantomVolume, type PhantomDatasetOptions, type PhantomManifest,
} from './simulation/phantom.js';
export {
  colin27Subject, loadColin27, loadColin27Sync, colin27Path, colin27FromNifti,
  type Colin27Anatomy, type Colin27SubjectOptions, type RenderGrid, type RenderOptions, type ColinPose, type PoseOptions,
} from './simulation/colin27/anatomy.js';
export { drawColinPose, IDENTITY_POSE } from './simulation/colin27/pose.js';
export { renderColin27 } from './simulation/colin27/render.js';
export { colin27Scan, presetSignals, type Colin27ScanOptions } from './simulation/colin27/scan.js';
export { listScanFiles, findMask, isScanName, type UserScan, type ListScansOptions } from './scans/folder.js';
export { listBidsScans, groupByScanner, parseBidsName, type BidsScan, type BidsOptions } from './scans/bids.js';
export { readSidecars, scannerKey, SCANNER_FIELDS, SEQUENCE_FIELDS, type Sidecar, type ScannerKeyOptions } from './scans/sidecar.js';
export { readScanHeader, checkOneScanner, MIN_SCAN_EDGE, MIXED_SPACING_TOLERANCE, type ScanHeader } from './scans/check.js';
export { checkDomainName, isDomainName } from './scans/names.js';
export { holdOut } from './scans/splits.js';
