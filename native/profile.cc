// The libtorch operator profiler (the legacy, thread-local one: no Kineto needed, present in 1.13 and
// 2.x): profilerStart() records every operator the calling thread dispatches, backward included
// (CPU autograd runs on the calling thread); profilerStop() returns one row per operator name:
// [name, calls, total us, self us], self = total minus nested operators, as PyTorch's key_averages().
#include "common.h"
#include <torch/csrc/autograd/profiler_legacy.h>
#include <map>
#include <vector>

namespace cl {
namespace {

namespace prof = torch::autograd::profiler;
bool running = false;

Napi::Value profilerStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  if (running) throwCoded(env, "E_INVALID_ARG", "The profiler is already running");
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  running = true;
  return env.Undefined();
  CL_END(env)
}

struct Row { int64_t calls = 0; double total = 0, self = 0; };

Napi::Value profilerStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CL_BEGIN
  if (!running) throwCoded(env, "E_INVALID_ARG", "The profiler is not running");
  running = false;
  prof::thread_event_lists lists = prof::disableProfilerLegacy();
  std::map<std::string, Row> rows;
  for (const auto& events : lists) {
    // Push/pop ranges nest per thread: a stack pairs them; each closed range's time is taken off its parent's self.
    struct Open { const prof::LegacyEvent* e; double children; };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        double us = o.e->cpuElapsedUs(e);
        Row& r = rows[o.e->name()];
        r.calls += 1;
        r.total += us;
        r.self += us - o.children;
        if (!stack.empty()) stack.back().children += us;
      }
    }
  }
  Napi::Array out = Napi::Array::New(env, rows.size());
  uint32_t i = 0;
  for (const auto& [name, r] : rows) {
    Napi::Array row = Napi::Array::New(env, 4);
    row.Set(0u, Napi::String::New(env, name));
    row.Set(1u, Napi::Number::New(env, static_cast<double>(r.calls)));
    row.Set(2u, Napi::Number::New(env, r.total));
    row.Set(3u, Napi::Number::New(env, r.self));
    out.Set(i++, row);
  }
  return out;
  CL_END(env)
}

}  // namespace

void registerProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profilerStart", Napi::Function::New(env, profilerStart));
  exports.Set("profilerStop", Napi::Function::New(env, profilerStop));
}

}  // namespace cl
