// Neural-network ops: convolutions, batch norm, bilinear upsampling, BCE with logits, Adam.
#include "common.h"
#include <ATen/core/grad_mode.h>
#include <cmath>

namespace cl {
namespace {

// conv2d(x, w, b|-1, stride[2], padding[2], dilation[2], groups)
Napi::Value conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::conv2d(get(env, info[0]), get(env, info[1]), opt(env, info[2]), intList(info[3]),
                                intList(info[4]), intList(info[5]), info[6].As<Napi::Number>().Int64Value()));
  CL_END(env)
}

// convTranspose2d(x, w, b|-1, stride, padding, outputPadding, groups, dilation)
Napi::Value convTranspose2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::conv_transpose2d(get(env, info[0]), get(env, info[1]), opt(env, info[2]), intList(info[3]),
                                          intList(info[4]), intList(info[5]), info[6].As<Napi::Number>().Int64Value(),
                                          intList(info[7])));
  CL_END(env)
}

// batchNorm(x, w|-1, b|-1, runningMean|-1, runningVar|-1, training, momentum, eps). In training
// mode with running buffers, they are updated in place (unbiased variance), as in PyTorch.
Napi::Value batchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::batch_norm(get(env, info[0]), opt(env, info[1]), opt(env, info[2]), opt(env, info[3]),
                                    opt(env, info[4]), flag(info[5]), f64(info[6]), f64(info[7]), true));
  CL_END(env)
}

// maxPool2d(x, kernel, stride): square window, no padding, no dilation (libtorch keeps the input's layout).
Napi::Value maxPool2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const int64_t k = info[1].As<Napi::Number>().Int64Value(), st = info[2].As<Napi::Number>().Int64Value();
  return handle(env, at::max_pool2d(get(env, info[0]), {k, k}, {st, st}));
  CL_END(env)
}

// upsampleBilinear(x, outH, outW, alignCorners)
Napi::Value upsampleBilinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  std::vector<int64_t> size{info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value()};
  return handle(env, at::upsample_bilinear2d(get(env, info[0]), size, flag(info[3]), c10::nullopt, c10::nullopt));
  CL_END(env)
}

// bceWithLogits(logits, target, weight|-1, reduction: 0 none, 1 mean, 2 sum)
Napi::Value bceWithLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::binary_cross_entropy_with_logits(get(env, info[0]), get(env, info[1]), opt(env, info[2]),
                                                          c10::nullopt, i32(info[3])));
  CL_END(env)
}

// adamStep(params, expAvg, expAvgSq, steps, lr, beta1, beta2, eps, weightDecay): PyTorch's
// single-tensor Adam (L2 weight decay added to the gradient, bias-corrected step size). `steps` is a
// Float64Array with one step count per parameter, incremented here for each parameter that has a
// gradient; parameters without one are skipped and keep their count, as in torch.optim.Adam.
Napi::Value adamStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  at::NoGradGuard guard;
  auto ps = handleList(info[0]);
  auto ms = handleList(info[1]);
  auto vs = handleList(info[2]);
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throwCoded(env, "E_INVALID_ARG", "adamStep expects a Float64Array of per-parameter step counts");
  }
  Napi::Float64Array steps = info[3].As<Napi::Float64Array>();
  if (steps.ElementLength() != ps.size() || ms.size() != ps.size() || vs.size() != ps.size()) {
    throwCoded(env, "E_INVALID_ARG", "adamStep: parameter, moment and step lists differ in length");
  }
  double lr = f64(info[4]), b1 = f64(info[5]), b2 = f64(info[6]), eps = f64(info[7]), wd = f64(info[8]);
  for (size_t i = 0; i < ps.size(); ++i) {
    at::Tensor& p = get(env, Napi::Number::New(env, ps[i]));
    const at::Tensor& g0 = p.grad();
    if (!g0.defined()) continue;
    double step = steps[i] + 1.0;
    steps[i] = step;
    double bc1 = 1.0 - std::pow(b1, step);
    double bc2Sqrt = std::sqrt(1.0 - std::pow(b2, step));
    at::Tensor g = wd != 0.0 ? g0.add(p, wd) : g0;
    at::Tensor& m = get(env, Napi::Number::New(env, ms[i]));
    at::Tensor& v = get(env, Napi::Number::New(env, vs[i]));
    m.lerp_(g, 1.0 - b1);
    v.mul_(b2).addcmul_(g, g, 1.0 - b2);
    at::Tensor denom = (v.sqrt() / bc2Sqrt).add_(eps);
    p.addcdiv_(m, denom, -lr / bc1);
  }
  return env.Undefined();
  CL_END(env)
}

}  // namespace

void registerNN(Napi::Env env, Napi::Object e) {
  e.Set("conv2d", Napi::Function::New(env, conv2d));
  e.Set("convTranspose2d", Napi::Function::New(env, convTranspose2d));
  e.Set("batchNorm", Napi::Function::New(env, batchNorm));
  e.Set("upsampleBilinear", Napi::Function::New(env, upsampleBilinear));
  e.Set("maxPool2d", Napi::Function::New(env, maxPool2d));
  e.Set("bceWithLogits", Napi::Function::New(env, bceWithLogits));
  e.Set("adamStep", Napi::Function::New(env, adamStep));
}

}  // namespace cl
