#include "common.h"

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <new>

namespace cl {
namespace {
std::vector<at::Tensor> table;
std::vector<int32_t> freeSlots;
size_t live = 0;
Napi::FunctionReference errorCtor;
}  // namespace

int32_t put(at::Tensor t) {
  int32_t h;
  if (!freeSlots.empty()) {
    h = freeSlots.back();
    freeSlots.pop_back();
    table[h] = std::move(t);
  } else {
    h = static_cast<int32_t>(table.size());
    table.push_back(std::move(t));
  }
  ++live;
  return h;
}

at::Tensor& get(Napi::Env env, const Napi::Value& v) {
  int32_t h = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  if (h < 0 || static_cast<size_t>(h) >= table.size() || !table[h].defined()) {
    throwCoded(env, "E_DISPOSED", "Tensor handle " + std::to_string(h) + " is not live (disposed or never created)");
  }
  return table[h];
}

c10::optional<at::Tensor> opt(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0) return c10::nullopt;
  return get(env, v);
}

void release(Napi::Env env, int32_t h) {
  if (h < 0 || static_cast<size_t>(h) >= table.size() || !table[h].defined()) {
    throwCoded(env, "E_DISPOSED", "Tensor handle " + std::to_string(h) + " was already disposed");
  }
  table[h] = at::Tensor();
  freeSlots.push_back(h);
  --live;
}

size_t liveCount() { return live; }

void setErrorClass(const Napi::Function& ctor) { errorCtor = Napi::Persistent(ctor); }

void throwCoded(Napi::Env env, const char* code, const std::string& msg) {
  if (!errorCtor.IsEmpty()) {
    Napi::Object err = errorCtor.New({Napi::String::New(env, code), Napi::String::New(env, msg)});
    throw Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

namespace {
// The message without kDistMarker (which only carries the code), or unchanged when it has none.
std::string stripDistMarker(std::string msg) {
  const std::string marker = kDistMarker;
  const auto at = msg.find(marker);
  if (at != std::string::npos) msg.erase(at, marker.size());
  return msg;
}
}  // namespace

void rethrowAsJs(Napi::Env env) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::OutOfMemoryError& e) {
    throwCoded(env, "E_OOM", e.what_without_backtrace());
  } catch (const c10::Error& e) {
    // libtorch 1.13's CPU allocator reports a failed allocation as a plain c10::Error (only CUDA
    // throws OutOfMemoryError), so recognise its message to give host OOM its own code too.
    std::string msg = stripDistMarker(e.what_without_backtrace());
    bool oom = msg.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos ||
               msg.find("DefaultCPUAllocator: not enough memory") != std::string::npos;
    throwCoded(env, oom ? "E_OOM" : msg != e.what_without_backtrace() ? "E_DIST" : "E_NATIVE", msg);
  } catch (const std::bad_alloc&) {
    throwCoded(env, "E_OOM", "Out of host memory (std::bad_alloc)");
  } catch (const std::exception& e) {
    const std::string raw = e.what(), msg = stripDistMarker(raw);
    throwCoded(env, msg != raw ? "E_DIST" : "E_NATIVE", msg);
  } catch (...) {
    throwCoded(env, "E_NATIVE", "Unknown native exception");
  }
}

std::vector<int64_t> intList(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

std::vector<int32_t> handleList(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int32_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().Int32Value();
  return out;
}

at::ScalarType parseDtype(Napi::Env env, const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return at::kFloat;
  if (s == "float64") return at::kDouble;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "uint8") return at::kByte;
  if (s == "bool") return at::kBool;
  throwCoded(env, "E_DTYPE", "Unsupported dtype \"" + s + "\"");
}

const char* dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "other";
  }
}

at::Device parseDevice(Napi::Env env, const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  try {
    return at::Device(s);
  } catch (const c10::Error&) {
    throwCoded(env, "E_INVALID_ARG", "Unknown device \"" + s + "\"");
  }
}

}  // namespace cl

// glibc serves allocations above its mmap threshold (dynamic, from 128 KiB) with fresh pages that it
// unmaps on free, so every training step's activations and gradients (megabytes each) are page-faulted in
// again: measured as 8-12 % of an adaptation epoch on 2 cores. Keep freed memory in the heap instead (blocks
// up to 256 MiB from the heap, trimmed back to the system above 512 MiB free), as a caching allocator would.
// CONVLORA_MALLOC=system keeps glibc's defaults (also when GLIBC_TUNABLES sets them).
static bool retainFreedMemory() {
#ifdef __GLIBC__
  const char* mode = std::getenv("CONVLORA_MALLOC");
  if (mode != nullptr && std::string(mode) == "system") return false;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::string(tunables).find("glibc.malloc.") != std::string::npos) return false;
  return mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1;
#else
  return false;
#endif
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static const bool retained = retainFreedMemory();
  exports.Set("mallocRetains", Napi::Boolean::New(env, retained));
  cl::registerTensor(env, exports);
  cl::registerOps(env, exports);
  cl::registerNN(env, exports);
  cl::registerProfiler(env, exports);
  cl::registerDist(env, exports);
  exports.Set("setErrorClass", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    cl::setErrorClass(info[0].As<Napi::Function>());
  }));
  return exports;
}

NODE_API_MODULE(convlora, Init)
