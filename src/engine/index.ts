export { Tensor, tidy, dispose, liveTensors, TENSOR_FINALIZER, type Device } from './tensor.js';
export * from './create.js';
export * as ops from './ops.js';
export { Adam, type AdamOptions, type AdamState } from './optim.js';
export { setThreads, getThreads, manualSeed, noGrad, enableGrad, isGradEnabled, cudaAvailable, cudaDeviceCount, resolveDevice, setCudnnTF32, synchronize, setConvLayout, getConvLayout, convChannelsLast, type ConvLayout } from './runtime.js';
export { profileOps, type OpProfile } from './profile.js';
export { native, buildInfo, addonCandidates, type DType } from './binding.js';
export { initProcessGroup, destroyProcessGroup, processGroup, allReduce, broadcast, barrier, verifySameTensors, distAvailable, launchEnv, type LaunchEnv, type ProcessGroupOptions, type ProcessGroupInfo } from './dist.js';
