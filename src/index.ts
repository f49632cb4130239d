/**
 * convlora: parameter-efficient multi-target unsupervised domain adaptation of convolutional
 * segmentation networks (ConvLoRA + AdaBN), on libtorch, from TypeScript.
 */
export { ConvLoraError, type ErrorCode } from './errors.js';
export * from './engine/index.js';
export { Module } from './nn/module.js';
export { Conv2d, ConvTranspose2d, BatchNorm2d, ReLU, LeakyReLU, MaxPool2d, Identity, Sequential, NamedSequential } from './nn/layers.js';
export { saveSafetensors, loadSafetensors, parseSafetensors, serializeSafetensors } from './nn/safetensors.js';
export { saveModel, loadModel, hashState } from './nn/checkpoint.js';
export { UNet2D, ResBlock2d, PreActivation2d, ENCODER_BLOCKS } from './models/unet.js';
export { EarlySegHead, UdasHead } from './models/esh.js';
export { PlainUNet } from './models/plain-unet.js';
export { BasicUNet } from './models/basic-unet.js';
export { modelSpec, specOf, architectures, registerModelSpec, modelToOnnx, headInput, DEFAULT_ARCH, type ModelSpec, type SegmentationNet, type Features } from './models/zoo.js';
export { LoRAConv2d, LoRAConvTranspose2d, LoRAConvLayer, loraLayerFor, PAPER_LORA, type LoraConfig, type LoraLayout } from './lora/convlora.js';
export { planPlacement, applyPlacement, injectAdapters, targetsByPattern, loraLayers, paramSummary, formatSummary, type InjectOptions, type Method, type Blocks, type Placement } from './lora/placement.js';
export { reestimateBatchNorm, setImplicitAdaBN, selectBatchNorms } from './lora/adabn.js';
export { AdapterRegistry, extractAdapter, saveAdapter, loadAdapter, disposeAdapter, type AdapterConfig, type AdapterTrainingData, type DomainAdapter, type AdaBNMode } from './lora/adapter.js';
export * as data from './data/index.js';
export * as metrics from './metrics/index.js';
export { trainSource, type TrainSourceOptions } from './pipeline/train/source.js';
export { trainHead, type TrainHeadOptions } from './pipeline/train/early-head.js';
export { adaptDomain, ADAPT_METHODS, type AdaptMethod, type AdaptOptions, type AdaptScan } from './pipeline/train/adapt.js';
export { adaptScans, HOLD_OUT, type AdaptScansOptions, type AdaptScansResult } from './pipeline/train/adapt-scans.js';
export { openScanSet, bidsScanners, prepareUserScan, type ScanSource, type ScanSet, type ScannerSummary } from './pipeline/scans.js';
export { listAdapters, type AdapterListing, type AdapterSummary } from './pipeline/infer/adapter-list.js';
export { evaluateModel, evaluateScans, type EvaluateModelOptions, type EvaluateScansOptions, type ScansEvaluation } from './pipeline/evaluate-model.js';
export { segmentFile, segmentDirectory, type SegmentOptions } from './pipeline/infer/segment.js';
export { parseShard, shardFromEnv, shardItems, checkShard, type Shard } from './pipeline/dist/shard.js';
export { exportOnnx, mergeCheckpoint, onnxBytes, ONNX_META } from './pipeline/onnx/export.js';
export { OnnxSession, openOnnxModel, loadOnnxRuntime, type Engine } from './pipeline/onnx/session.js';
export { OnnxGraph, readOnnxSummary, ONNX_OPSET, type OnnxSummary } from './nn/onnx.js';
export { runExperiment, TABLE1, TABLE2, type ExperimentOptions, type ExperimentResult } from './pipeline/experiment.js';
export { loadUnet, loadHead, saveNetwork } from './pipeline/models.js';
