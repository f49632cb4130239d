// Elementwise, reduction and shape ops, chosen by name (src/engine/binding.ts types the names).
#include "common.h"

#include <unordered_map>

namespace cl {
namespace {

using Binary = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
using Scalar = at::Tensor (*)(const at::Tensor&, double);
using Unary = at::Tensor (*)(const at::Tensor&);

// binary(name, a, b): elementwise with broadcasting.
at::Tensor binaryOp(Napi::Env env, const std::string& op, const at::Tensor& a, const at::Tensor& b) {
  static const std::unordered_map<std::string, Binary> table = {
    {"add", [](const at::Tensor& x, const at::Tensor& y) { return at::add(x, y); }},
    {"sub", [](const at::Tensor& x, const at::Tensor& y) { return at::sub(x, y); }},
    {"mul", [](const at::Tensor& x, const at::Tensor& y) { return at::mul(x, y); }},
    {"div", [](const at::Tensor& x, const at::Tensor& y) { return at::div(x, y); }},
    {"gt", [](const at::Tensor& x, const at::Tensor& y) { return at::gt(x, y); }},
    {"lt", [](const at::Tensor& x, const at::Tensor& y) { return at::lt(x, y); }},
    {"ge", [](const at::Tensor& x, const at::Tensor& y) { return at::ge(x, y); }},
    {"le", [](const at::Tensor& x, const at::Tensor& y) { return at::le(x, y); }},
    {"eq", [](const at::Tensor& x, const at::Tensor& y) { return at::eq(x, y); }},
    {"ne", [](const at::Tensor& x, const at::Tensor& y) { return at::ne(x, y); }},
    {"maximum", [](const at::Tensor& x, const at::Tensor& y) { return at::maximum(x, y); }},
    {"minimum", [](const at::Tensor& x, const at::Tensor& y) { return at::minimum(x, y); }},
    {"pow", [](const at::Tensor& x, const at::Tensor& y) { return at::pow(x, y); }},
    {"logicalAnd", [](const at::Tensor& x, const at::Tensor& y) { return at::logical_and(x, y); }},
    {"logicalOr", [](const at::Tensor& x, const at::Tensor& y) { return at::logical_or(x, y); }},
  };
  auto it = table.find(op);
  if (it == table.end()) unknownOp(env, "binary", op);
  return it->second(a, b);
}

// binaryScalar(name, a, s): the tensor-scalar forms; maximum/minimum are clamp_min/clamp_max, rsub is s - a.
at::Tensor scalarOp(Napi::Env env, const std::string& op, const at::Tensor& a, double s) {
  static const std::unordered_map<std::string, Scalar> table = {
    {"add", [](const at::Tensor& x, double v) { return at::add(x, v); }},
    {"sub", [](const at::Tensor& x, double v) { return at::sub(x, v); }},
    {"mul", [](const at::Tensor& x, double v) { return at::mul(x, v); }},
    {"div", [](const at::Tensor& x, double v) { return at::div(x, v); }},
    {"gt", [](const at::Tensor& x, double v) { return at::gt(x, v); }},
    {"lt", [](const at::Tensor& x, double v) { return at::lt(x, v); }},
    {"ge", [](const at::Tensor& x, double v) { return at::ge(x, v); }},
    {"le", [](const at::Tensor& x, double v) { return at::le(x, v); }},
    {"eq", [](const at::Tensor& x, double v) { return at::eq(x, v); }},
    {"ne", [](const at::Tensor& x, double v) { return at::ne(x, v); }},
    {"maximum", [](const at::Tensor& x, double v) { return at::clamp_min(x, v); }},
    {"minimum", [](const at::Tensor& x, double v) { return at::clamp_max(x, v); }},
    {"pow", [](const at::Tensor& x, double v) { return at::pow(x, v); }},
    {"rsub", [](const at::Tensor& x, double v) { return at::rsub(x, v); }},
  };
  auto it = table.find(op);
  if (it == table.end()) unknownOp(env, "scalar", op);
  return it->second(a, s);
}

Napi::Value binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, binaryOp(env, opName(env, info[0], "binary"), get(env, info[1]), get(env, info[2])));
  CL_END(env)
}

Napi::Value binaryScalar(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  return handle(env, scalarOp(env, opName(env, info[0], "scalar"), get(env, info[1]), f64(info[2])));
  CL_END(env)
}

// unary(name, a)
Napi::Value unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  static const std::unordered_map<std::string, Unary> table = {
    {"relu", [](const at::Tensor& x) { return at::relu(x); }},
    {"sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
    {"neg", [](const at::Tensor& x) { return at::neg(x); }},
    {"exp", [](const at::Tensor& x) { return at::exp(x); }},
    {"log", [](const at::Tensor& x) { return at::log(x); }},
    {"abs", [](const at::Tensor& x) { return at::abs(x); }},
    {"sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
    {"tanh", [](const at::Tensor& x) { return at::tanh(x); }},
    {"floor", [](const at::Tensor& x) { return at::floor(x); }},
    {"round", [](const at::Tensor& x) { return at::round(x); }},
    {"logicalNot", [](const at::Tensor& x) { return at::logical_not(x); }},
    {"sign", [](const at::Tensor& x) { return at::sign(x); }},
    {"isFinite", [](const at::Tensor& x) { return at::isfinite(x); }},
    {"square", [](const at::Tensor& x) { return at::square(x); }},
  };
  const std::string op = opName(env, info[0], "unary");
  auto it = table.find(op);
  if (it == table.end()) unknownOp(env, "unary", op);
  return handle(env, it->second(get(env, info[1])));
  CL_END(env)
}

// reduce(name, a, dims|null, keepdim): sum, mean, amax, amin. Null dims: all elements.
Napi::Value reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const std::string op = opName(env, info[0], "reduce");
  const at::Tensor& a = get(env, info[1]);
  bool all = info[2].IsNull() || info[2].IsUndefined();
  std::vector<int64_t> dims;
  if (!all) dims = intList(info[2]);
  else for (int64_t i = 0; i < a.dim(); ++i) dims.push_back(i);
  bool keep = flag(info[3]);
  at::Tensor r;
  if (op == "sum") r = all && !keep ? at::sum(a) : at::sum(a, dims, keep);
  else if (op == "mean") r = all && !keep ? at::mean(a) : at::mean(a, dims, keep);
  else if (op == "amax") r = at::amax(a, dims, keep);
  else if (op == "amin") r = at::amin(a, dims, keep);
  else unknownOp(env, "reduce", op);
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

// join(name, handles, dim): cat or stack
Napi::Value join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  const std::string op = opName(env, info[0], "join");
  if (op != "cat" && op != "stack") unknownOp(env, "join", op);
  auto ts = tensors(env, info[1]);
  int64_t dim = info[2].As<Napi::Number>().Int64Value();
  return handle(env, op == "cat" ? at::cat(ts, dim) : at::stack(ts, dim));
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
