// Elementwise, reduction and shape ops. Op codes are shared with src/engine/binding.ts.
#include "common.h"

namespace cl {
namespace {

// binary(op, a, b): 0 add 1 sub 2 mul 3 div 4 gt 5 lt 6 ge 7 le 8 eq 9 ne 10 maximum 11 minimum
// 12 pow 13 logical_and 14 logical_or
at::Tensor binaryOp(int32_t op, const at::Tensor& a, const at::Tensor& b) {
  switch (op) {
    case 0: return at::add(a, b);
    case 1: return at::sub(a, b);
    case 2: return at::mul(a, b);
    case 3: return at::div(a, b);
    case 4: return at::gt(a, b);
    case 5: return at::lt(a, b);
    case 6: return at::ge(a, b);
    case 7: return at::le(a, b);
    case 8: return at::eq(a, b);
    case 9: return at::ne(a, b);
    case 10: return at::maximum(a, b);
    case 11: return at::minimum(a, b);
    case 12: return at::pow(a, b);
    case 13: return at::logical_and(a, b);
    default: return at::logical_or(a, b);
  }
}

at::Tensor scalarOp(int32_t op, const at::Tensor& a, double s) {
  switch (op) {
    case 0: return at::add(a, s);
    case 1: return at::sub(a, s);
    case 2: return at::mul(a, s);
    case 3: return at::div(a, s);
    case 4: return at::gt(a, s);
    case 5: return at::lt(a, s);
    case 6: return at::ge(a, s);
    case 7: return at::le(a, s);
    case 8: return at::eq(a, s);
    case 9: return at::ne(a, s);
    case 10: return at::clamp_min(a, s);
    case 11: return at::clamp_max(a, s);
    case 12: return at::pow(a, s);
    default: return at::rsub(a, s);  // s - a
  }
}

Napi::Value binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, binaryOp(i32(info[0]), get(env, info[1]), get(env, info[2])));
  CL_END(env)
}

Napi::Value binaryScalar(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, scalarOp(i32(info[0]), get(env, info[1]), f64(info[2])));
  CL_END(env)
}

// unary(op, a): 0 relu 1 sigmoid 2 neg 3 exp 4 log 5 abs 6 sqrt 7 tanh 8 floor 9 round
// 10 logical_not 11 sign 12 isfinite 13 square
Napi::Value unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const at::Tensor& a = get(env, info[1]);
  at::Tensor r;
  switch (i32(info[0])) {
    case 0: r = at::relu(a); break;
    case 1: r = at::sigmoid(a); break;
    case 2: r = at::neg(a); break;
    case 3: r = at::exp(a); break;
    case 4: r = at::log(a); break;
    case 5: r = at::abs(a); break;
    case 6: r = at::sqrt(a); break;
    case 7: r = at::tanh(a); break;
    case 8: r = at::floor(a); break;
    case 9: r = at::round(a); break;
    case 10: r = at::logical_not(a); break;
    case 11: r = at::sign(a); break;
    case 12: r = at::isfinite(a); break;
    default: r = at::square(a); break;
  }
  return handle(env, r);
  CL_END(env)
}

// reduce(op, a, dims|null, keepdim): 0 sum 1 mean 2 amax 3 amin. Null dims: all elements.
Napi::Value reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  int32_t op = i32(info[0]);
  const at::Tensor& a = get(env, info[1]);
  bool all = info[2].IsNull() || info[2].IsUndefined();
  std::vector<int64_t> dims;
  if (!all) dims = intList(info[2]);
  else for (int64_t i = 0; i < a.dim(); ++i) dims.push_back(i);
  bool keep = flag(info[3]);
  at::Tensor r;
  switch (op) {
    case 0: r = all && !keep ? at::sum(a) : at::sum(a, dims, keep); break;
    case 1: r = all && !keep ? at::mean(a) : at::mean(a, dims, keep); break;
    case 2: r = at::amax(a, dims, keep); break;
    default: r = at::amin(a, dims, keep); break;
  }
  return handle(env, r);
  CL_END(env)
}

// argmax(a, dim|null, keepdim)
Napi::Value argmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  c10::optional<int64_t> dim;
  if (info[1].IsNumber()) dim = info[1].As<Napi::Number>().Int64Value();
  return handle(env, at::argmax(get(env, info[0]), dim, flag(info[2])));
  CL_END(env)
}

Napi::Value reshape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::reshape(get(env, info[0]), intList(info[1])));
  CL_END(env)
}

Napi::Value view(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, get(env, info[0]).view(intList(info[1])));
  CL_END(env)
}

Napi::Value permute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, get(env, info[0]).permute(intList(info[1])));
  CL_END(env)
}

Napi::Value expand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, get(env, info[0]).expand(intList(info[1])));
  CL_END(env)
}

// slice(a, dim, start, end, step)
Napi::Value slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const at::Tensor& a = get(env, info[0]);
  return handle(env, a.slice(info[1].As<Napi::Number>().Int64Value(), info[2].As<Napi::Number>().Int64Value(),
                             info[3].As<Napi::Number>().Int64Value(), info[4].As<Napi::Number>().Int64Value()));
  CL_END(env)
}

// indexSelect(a, dim, indexHandle)
Napi::Value indexSelect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::index_select(get(env, info[0]), info[1].As<Napi::Number>().Int64Value(), get(env, info[2])));
  CL_END(env)
}

std::vector<at::Tensor> tensors(Napi::Env env, const Napi::Value& v) {
  std::vector<at::Tensor> out;
  for (int32_t h : handleList(v)) out.push_back(get(env, Napi::Number::New(env, h)));
  return out;
}

// join(op, handles, dim): 0 cat, 1 stack
Napi::Value join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  auto ts = tensors(env, info[1]);
  int64_t dim = info[2].As<Napi::Number>().Int64Value();
  return handle(env, i32(info[0]) == 0 ? at::cat(ts, dim) : at::stack(ts, dim));
  CL_END(env)
}

Napi::Value matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::matmul(get(env, info[0]), get(env, info[1])));
  CL_END(env)
}

Napi::Value where(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, at::where(get(env, info[0]), get(env, info[1]), get(env, info[2])));
  CL_END(env)
}

// shuffle(op, a, r): 0 pixel_shuffle (depth-to-space), 1 pixel_unshuffle (space-to-depth)
Napi::Value shuffle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const at::Tensor& a = get(env, info[1]);
  int64_t r = info[2].As<Napi::Number>().Int64Value();
  return handle(env, i32(info[0]) == 0 ? at::pixel_shuffle(a, r) : at::pixel_unshuffle(a, r));
  CL_END(env)
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object e) {
  e.Set("binary", Napi::Function::New(env, binary));
  e.Set("binaryScalar", Napi::Function::New(env, binaryScalar));
  e.Set("unary", Napi::Function::New(env, unary));
  e.Set("reduce", Napi::Function::New(env, reduce));
  e.Set("argmax", Napi::Function::New(env, argmax));
  e.Set("reshape", Napi::Function::New(env, reshape));
  e.Set("view", Napi::Function::New(env, view));
  e.Set("permute", Napi::Function::New(env, permute));
  e.Set("expand", Napi::Function::New(env, expand));
  e.Set("slice", Napi::Function::New(env, slice));
  e.Set("indexSelect", Napi::Function::New(env, indexSelect));
  e.Set("join", Napi::Function::New(env, join));
  e.Set("matmul", Napi::Function::New(env, matmul));
  e.Set("where", Napi::Function::New(env, where));
  e.Set("shuffle", Napi::Function::New(env, shuffle));
}

}  // namespace cl
