// Creation, export, metadata, autograd state, in-place updates, threads, seeds and devices.
#include "common.h"
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <cstring>

namespace cl {
namespace {

at::TensorOptions options(Napi::Env env, const Napi::Value& dtype, const Napi::Value& device) {
  return at::TensorOptions().dtype(parseDtype(env, dtype)).device(parseDevice(env, device));
}

// fromBuffer(typedArray, shape, dtype, device) -> handle. Copies the bytes.
Napi::Value fromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  auto shape = intList(info[1]);
  at::ScalarType st = parseDtype(env, info[2]);
  at::Device dev = parseDevice(env, info[3]);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
  size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (arr.ByteLength() != bytes) {
    throwCoded(env, "E_SHAPE", "Buffer of " + std::to_string(arr.ByteLength()) + " bytes does not match shape (" +
                                   std::to_string(bytes) + " bytes expected)");
  }
  if (bytes > 0) {
    const uint8_t* src = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    std::memcpy(t.data_ptr(), src, bytes);
  }
  if (!dev.is_cpu()) t = t.to(dev);
  return handle(env, t);
  CL_END(env)
}

// toBuffer(h) -> typed array copy (float32/float64/int64/int32/uint8/bool).
Napi::Value toBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::Tensor t = get(env, info[0]).detach().to(at::kCPU).contiguous();
  size_t n = static_cast<size_t>(t.numel());
  size_t bytes = n * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  switch (t.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, n, buf, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, buf, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, buf, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, buf, 0);
    case at::kByte:
    case at::kBool: return Napi::Uint8Array::New(env, n, buf, 0);
    default: throwCoded(env, "E_DTYPE", std::string("Cannot export dtype ") + c10::toString(t.scalar_type()));
  }
  CL_END(env)
}

Napi::Value dispose(const Napi::CallbackInfo& info) {
  release(info.Env(), i32(info[0]));
  return info.Env().Undefined();
}

Napi::Value live(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(liveCount())); }

Napi::Value shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = get(env, info[0]);
  Napi::Array out = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  return out;
}

// strides(h): element strides per dimension (memory layout: NCHW vs channels_last).
Napi::Value strides(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = get(env, info[0]);
  Napi::Array out = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.stride(i))));
  return out;
}

Napi::Value dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtypeName(get(info.Env(), info[0]).scalar_type()));
}

Napi::Value device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), get(info.Env(), info[0]).device().str());
}

Napi::Value item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return Napi::Number::New(env, get(env, info[0]).item().toDouble());
  CL_END(env)
}

// full(shape, value, dtype, device)
Napi::Value full(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::full(intList(info[0]), f64(info[1]), options(env, info[2], info[3])));
  CL_END(env)
}

// random(kind, shape, a, b, dtype, device): kind 0 uniform[a,b), 1 normal(mean a, std b).
Napi::Value random(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  int32_t kind = i32(info[0]);
  at::Tensor t = at::empty(intList(info[1]), options(env, info[4], info[5]));
  if (kind == 0) t.uniform_(f64(info[2]), f64(info[3]));
  else t.normal_(f64(info[2]), f64(info[3]));
  return handle(env, t);
  CL_END(env)
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  bool lossless = true;
  uint64_t seed = info[0].IsBigInt() ? info[0].As<Napi::BigInt>().Uint64Value(&lossless)
                                     : static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  at::manual_seed(seed);
  return env.Undefined();
  CL_END(env)
}

Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  get(env, info[0]).set_requires_grad(flag(info[1]));
  return env.Undefined();
  CL_END(env)
}

Napi::Value requiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), get(info.Env(), info[0]).requires_grad());
}

// grad(h) -> new handle to the gradient (shares storage), or -1 when there is none.
Napi::Value grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& g = get(env, info[0]).grad();
  return Napi::Number::New(env, g.defined() ? put(g) : -1);
}

// zeroGrad(handles): PyTorch's set_to_none semantics.
Napi::Value zeroGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (int32_t h : handleList(info[0])) {
    at::Tensor& t = get(env, Napi::Number::New(env, h));
    t.mutable_grad().reset();
  }
  return env.Undefined();
}

// backward(h, gradHandle|-1, retainGraph)
Napi::Value backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::Tensor& t = get(env, info[0]);
  auto g = opt(env, info[1]);
  t.backward(g.has_value() ? *g : at::Tensor(), flag(info[2]), false);
  return env.Undefined();
  CL_END(env)
}

Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(flag(info[0]));
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value isGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

// derive(h, name): detach, clone, contiguous or channels_last (NHWC strides, same shape)
Napi::Value derive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::Tensor& t = get(env, info[0]);
  const std::string op = opName(env, info[1], "derive");
  if (op == "detach") return handle(env, t.detach());
  if (op == "clone") return handle(env, t.clone());
  if (op == "contiguous") return handle(env, t.contiguous());
  if (op == "channels_last") return handle(env, t.contiguous(at::MemoryFormat::ChannelsLast));
  unknownOp(env, "derive", op);
  CL_END(env)
}

// to(h, dtype, device)
Napi::Value to(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, get(env, info[0]).to(parseDevice(env, info[2]), parseDtype(env, info[1])));
  CL_END(env)
}

// inplace(name, dst, src|-1, scalar): copy (src), add (src, alpha=scalar), addScalar (scalar), mul
// (scalar), fill (scalar), zero. Runs without recording autograd history.
Napi::Value inplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::NoGradGuard guard;
  at::Tensor& dst = get(env, info[1]);
  auto src = opt(env, info[2]);
  double s = f64(info[3]);
  const std::string op = opName(env, info[0], "in-place");
  const bool needsSrc = op == "copy" || op == "add";
  if (needsSrc && !src) throwCoded(env, "E_INVALID_ARG", "In-place op \"" + op + "\" needs a source tensor");
  if (op == "copy") dst.copy_(*src);
  else if (op == "add") dst.add_(*src, s);
  else if (op == "addScalar") {
    // An integer tensor (a BatchNorm's num_batches_tracked) takes an integer: a double would not cast back.
    if (at::isIntegralType(dst.scalar_type(), /*includeBool=*/false)) dst.add_(static_cast<int64_t>(s));
    else dst.add_(s);
  }
  else if (op == "mul") dst.mul_(s);
  else if (op == "fill") dst.fill_(s);
  else if (op == "zero") dst.zero_();
  // Same values, NHWC strides, same tensor (a parameter stays the optimizer's parameter): what
  // module.to(memory_format=torch.channels_last) does to 4-D weights.
  else if (op == "channelsLast") dst.set_data(dst.contiguous(at::MemoryFormat::ChannelsLast));
  else unknownOp(env, "in-place", op);
  return env.Undefined();
  CL_END(env)
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::set_num_threads(i32(info[0]));
  return env.Undefined();
  CL_END(env)
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) {
  int n = 0;
  try {
    if (at::detail::getCUDAHooks().hasCUDA()) n = at::detail::getCUDAHooks().getNumGPUs();
  } catch (...) {
    n = 0;
  }
  return Napi::Number::New(info.Env(), n);
}

Napi::Value setCudnnBenchmark(const Napi::CallbackInfo& info) {
  at::globalContext().setBenchmarkCuDNN(flag(info[0]));
  return info.Env().Undefined();
}

// setCudnnTF32(on) -> previous setting. TF32 in cuDNN convolutions (libtorch's default: on) rounds
// inputs to 10 mantissa bits on Ampere and newer GPUs; off gives float32 results close to the CPU's.
Napi::Value setCudnnTF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  bool prev = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(flag(info[0]));
  return Napi::Boolean::New(env, prev);
  CL_END(env)
}

// synchronize(device): waits for queued GPU work (for timing); no-op on CPU.
Napi::Value synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::Device dev = parseDevice(env, info[0]);
  if (dev.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(dev.has_index() ? dev.index() : 0);
  return env.Undefined();
  CL_END(env)
}

Napi::Value version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("config", Napi::String::New(env, at::show_config()));
  o.Set("parallel", Napi::String::New(env, at::get_parallel_info()));
  return o;
}

}  // namespace

void registerTensor(Napi::Env env, Napi::Object e) {
  e.Set("fromBuffer", Napi::Function::New(env, fromBuffer));
  e.Set("toBuffer", Napi::Function::New(env, toBuffer));
  e.Set("dispose", Napi::Function::New(env, dispose));
  e.Set("liveCount", Napi::Function::New(env, live));
  e.Set("shape", Napi::Function::New(env, shape));
  e.Set("strides", Napi::Function::New(env, strides));
  e.Set("dtype", Napi::Function::New(env, dtype));
  e.Set("device", Napi::Function::New(env, device));
  e.Set("item", Napi::Function::New(env, item));
  e.Set("full", Napi::Function::New(env, full));
  e.Set("random", Napi::Function::New(env, random));
  e.Set("manualSeed", Napi::Function::New(env, manualSeed));
  e.Set("setRequiresGrad", Napi::Function::New(env, setRequiresGrad));
  e.Set("requiresGrad", Napi::Function::New(env, requiresGrad));
  e.Set("grad", Napi::Function::New(env, grad));
  e.Set("zeroGrad", Napi::Function::New(env, zeroGrad));
  e.Set("backward", Napi::Function::New(env, backward));
  e.Set("setGradEnabled", Napi::Function::New(env, setGradEnabled));
  e.Set("isGradEnabled", Napi::Function::New(env, isGradEnabled));
  e.Set("derive", Napi::Function::New(env, derive));
  e.Set("to", Napi::Function::New(env, to));
  e.Set("inplace", Napi::Function::New(env, inplace));
  e.Set("setNumThreads", Napi::Function::New(env, setNumThreads));
  e.Set("getNumThreads", Napi::Function::New(env, getNumThreads));
  e.Set("cudaDeviceCount", Napi::Function::New(env, cudaDeviceCount));
  e.Set("setCudnnBenchmark", Napi::Function::New(env, setCudnnBenchmark));
  e.Set("setCudnnTF32", Napi::Function::New(env, setCudnnTF32));
  e.Set("synchronize", Napi::Function::New(env, synchronize));
  e.Set("version", Napi::Function::New(env, version));
}

}  // namespace cl
