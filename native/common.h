// Shared helpers of the convlora addon: the tensor handle table, argument decoding and the
// translation of C++ exceptions into coded JS errors. The TypeScript layer validates arguments;
// this layer trusts their types but still checks every handle, so a stale handle is an error,
// never a crash.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace cl {

// Handle table: integer handles index a vector of at::Tensor (no per-tensor N-API object; see
// docs/engine-notes.md §3: wrapper objects fragmented the heap, finalizers never ran in sync loops).
int32_t put(at::Tensor t);
at::Tensor& get(Napi::Env env, const Napi::Value& v);
// Optional handle: a negative number means "none".
c10::optional<at::Tensor> opt(Napi::Env env, const Napi::Value& v);
void release(Napi::Env env, int32_t h);
size_t liveCount();

// Marks a collective's failure raised where only a std::exception can pass (inside autograd's backward):
// rethrowAsJs gives such errors the code E_DIST.
constexpr const char* kDistMarker = "[convlora E_DIST] ";
[[noreturn]] void throwCoded(Napi::Env env, const char* code, const std::string& msg);
// Call inside a catch(...) block: classifies the in-flight exception and throws a JS error.
[[noreturn]] void rethrowAsJs(Napi::Env env);
void setErrorClass(const Napi::Function& ctor);

std::vector<int64_t> intList(const Napi::Value& v);
std::vector<int32_t> handleList(const Napi::Value& v);
at::ScalarType parseDtype(Napi::Env env, const Napi::Value& v);
const char* dtypeName(at::ScalarType t);
at::Device parseDevice(Napi::Env env, const Napi::Value& v);
inline int32_t i32(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
// An op's name as sent from TypeScript; an unknown name is an E_INVALID_ARG error, never another op.
[[noreturn]] inline void unknownOp(Napi::Env env, const char* family, const std::string& name) {
  throwCoded(env, "E_INVALID_ARG", std::string("Unknown ") + family + " op \"" + name + "\"");
}
inline std::string opName(Napi::Env env, const Napi::Value& v, const char* family) {
  if (!v.IsString()) {
    throwCoded(env, "E_INVALID_ARG", std::string("Unknown ") + family + " op " + v.ToString().Utf8Value() + " (expected an op name, received a " + (v.IsNumber() ? "number" : "non-string value") + ")");
  }
  return v.As<Napi::String>().Utf8Value();
}
inline double f64(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
inline bool flag(const Napi::Value& v) { return v.As<Napi::Boolean>().Value(); }
inline Napi::Value handle(Napi::Env env, at::Tensor t) { return Napi::Number::New(env, put(std::move(t))); }

void registerTensor(Napi::Env env, Napi::Object exports);
void registerOps(Napi::Env env, Napi::Object exports);
void registerNN(Napi::Env env, Napi::Object exports);
void registerProfiler(Napi::Env env, Napi::Object exports);
void registerDist(Napi::Env env, Napi::Object exports);

}  // namespace cl

// Wrap a binding body: any C++ exception becomes a coded JS error.
#define CL_BEGIN try {
#define CL_END(env) } catch (...) { ::cl::rethrowAsJs(env); }
