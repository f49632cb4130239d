// Collective communication between processes through libtorch's c10d: a TCPStore (hosted by rank 0)
// for rendezvous and a Gloo process group (CPU tensors) for all-reduce, broadcast and barrier. One
// process group per process, as torch.distributed's default group.
//
// Compiled in only when scripts/build-native.mjs finds gloo's headers (Debian: libgloo-dev) and defines
// CONVLORA_DIST and USE_C10D_GLOO; otherwise every function exists and throws E_DIST_UNAVAILABLE
// saying how to enable it. Every wait is bounded by the group's timeout, and every failure (a peer
// gone, a timeout, a port in use) is an E_DIST JS error, never an abort of the process.
//
// c10::Error, gloo::IoException and std::exception are all caught here and rethrown as E_DIST, so the
// caller sees one code for "the collective did not complete", with libtorch's or gloo's message.
#include "common.h"

#ifdef CONVLORA_DIST
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>
#include <chrono>
#include <map>
#endif

namespace cl {
namespace {

#ifdef CONVLORA_DIST

// The one group of this process. A raw pointer on purpose: a static smart pointer would destroy the
// group (joining Gloo's threads, talking to peers) during exit(), after Node has torn down.
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};
Group* group = nullptr;

[[noreturn]] void distError(Napi::Env env, const std::string& what) {
  std::string msg;
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    msg = e.what_without_backtrace();
  } catch (const std::exception& e) {
    msg = e.what();
  } catch (...) {
    msg = "unknown native exception";
  }
  throwCoded(env, "E_DIST", what + " failed: " + msg);
}

Group& current(Napi::Env env, const char* what) {
  if (group == nullptr) throwCoded(env, "E_DIST", std::string(what) + ": no process group (call initProcessGroup first)");
  return *group;
}

// Wait for `work` within the group's timeout; an incomplete or failed work throws.
void finish(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout) {
  if (!work->wait(timeout)) throw std::runtime_error("the operation was aborted");
}

// distInit(rank, size, masterAddr, masterPort, timeoutMs, iface): rank 0 hosts the store on
// masterAddr:masterPort, every rank connects to it; the Gloo device binds to `iface` when given
// (GLOO_SOCKET_IFNAME), else to masterAddr when it is the loopback (one-machine runs work even when
// the hostname does not resolve), else to the address this machine's hostname resolves to.
Napi::Value distInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (group != nullptr) throwCoded(env, "E_DIST", "A process group already exists in this process (call destroyProcessGroup first)");
  int rank = i32(info[0]), size = i32(info[1]);
  std::string addr = info[2].As<Napi::String>().Utf8Value();
  auto port = static_cast<std::uint16_t>(i32(info[3]));
  std::chrono::milliseconds timeout(info[4].As<Napi::Number>().Int64Value());
  std::string iface = info[5].As<Napi::String>().Utf8Value();
  try {
    c10d::TCPStoreOptions so;
    so.port = port;
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(size);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    bool loopback = addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
    opts->devices.push_back(!iface.empty() ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                            : loopback     ? c10d::ProcessGroupGloo::createDeviceForHostname(addr)
                                           : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
    group = new Group{store, pg, rank, size, timeout};
  } catch (...) {
    distError(env, "Process group init (rank " + std::to_string(rank) + " of " + std::to_string(size) + ", store " + addr + ":" + std::to_string(port) + ")");
  }
  return env.Undefined();
}

// The handles' tensors grouped by dtype, each group flattened into one buffer: c10d treats a vector
// of tensors as one tensor per device (reduced together), so separate tensors must share one buffer,
// and one collective per dtype is also far cheaper than one per tensor.
template <typename Collective>
void flatCollective(Napi::Env env, const Napi::Value& handles, Collective run) {
  std::map<at::ScalarType, std::vector<at::Tensor>> byType;
  Napi::Array hs = handles.As<Napi::Array>();
  for (uint32_t i = 0; i < hs.Length(); ++i) {
    at::Tensor& t = get(env, hs.Get(i));
    if (!t.device().is_cpu()) throwCoded(env, "E_DIST", std::string("Gloo collectives take CPU tensors, received one on ") + t.device().str());
    byType[t.scalar_type()].push_back(t);
  }
  at::NoGradGuard noGrad;
  for (auto& [type, ts] : byType) {
    std::vector<at::Tensor> flat;
    for (const auto& t : ts) flat.push_back(t.reshape({-1}));
    std::vector<at::Tensor> buf{at::cat(flat)};  // [sum of numels]
    run(buf);
    int64_t off = 0;
    for (auto& t : ts) {
      t.copy_(buf[0].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

// distAllReduce(handles, op): in place; 'sum', 'avg' (sum / world size, float dtypes), 'max', 'min'.
Napi::Value distAllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = current(env, "allReduce");
  std::string op = opName(env, info[1], "allReduce");
  c10d::AllreduceOptions o;
  o.timeout = g.timeout;
  if (op == "sum" || op == "avg") o.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "max") o.reduceOp = c10d::ReduceOp::MAX;
  else if (op == "min") o.reduceOp = c10d::ReduceOp::MIN;
  else unknownOp(env, "allReduce", op);
  try {
    flatCollective(env, info[0], [&](std::vector<at::Tensor>& buf) {
      finish(g.pg->allreduce(buf, o), g.timeout);
      if (op == "avg") buf[0].div_(g.size);
    });
  } catch (...) {
    distError(env, "allReduce(" + op + ") on rank " + std::to_string(g.rank));
  }
  return env.Undefined();
}

// distBroadcast(handles, root): every rank's tensors become root's, in place.
Napi::Value distBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = current(env, "broadcast");
  c10d::BroadcastOptions o;
  o.rootRank = i32(info[1]);
  o.timeout = g.timeout;
  try {
    flatCollective(env, info[0], [&](std::vector<at::Tensor>& buf) { finish(g.pg->broadcast(buf, o), g.timeout); });
  } catch (...) {
    distError(env, "broadcast from rank " + std::to_string(o.rootRank) + " on rank " + std::to_string(g.rank));
  }
  return env.Undefined();
}

Napi::Value distBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = current(env, "barrier");
  c10d::BarrierOptions o;
  o.timeout = g.timeout;
  try {
    finish(g.pg->barrier(o), g.timeout);
  } catch (...) {
    distError(env, "barrier on rank " + std::to_string(g.rank));
  }
  return env.Undefined();
}

// Destroying a group whose peer is gone may wait for Gloo's pending work to time out; it never throws.
Napi::Value distDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group* g = group;
  group = nullptr;
  try {
    delete g;
  } catch (...) {
    distError(env, "destroyProcessGroup");
  }
  return env.Undefined();
}

// [rank, size] of the live group, or null.
Napi::Value distInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (group == nullptr) return env.Null();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, group->rank));
  out.Set(1u, Napi::Number::New(env, group->size));
  return out;
}

// An in-place sum over the ranks for SyncBatchNorm, which runs inside autograd (forward and backward):
// failures surface through the autograd engine as a std::runtime_error carrying kDistMarker, which
// rethrowAsJs turns into E_DIST.
void allReduceSumInPlace(at::Tensor& t, const char* where) {
  Group* g = group;
  if (g == nullptr) throw std::runtime_error(std::string(kDistMarker) + where + ": no process group");
  try {
    std::vector<at::Tensor> buf{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = g->timeout;
    finish(g->pg->allreduce(buf, o), g->timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(kDistMarker) + where + " on rank " + std::to_string(g->rank) + " failed: " + e.what());
  }
}

// Per-channel sums of [B, C, H, W]: over a contiguous [B H W, C] view when the tensor is channels-last
// (column sums, which libtorch vectorizes across channels), else over dims 0, 2, 3.
at::Tensor channelSum(const at::Tensor& t) {
  const int64_t C = t.size(1);
  if (t.is_contiguous(at::MemoryFormat::ChannelsLast)) return t.permute({0, 2, 3, 1}).reshape({-1, C}).sum(0);
  return t.sum({0, 2, 3});
}

// Training-mode BatchNorm with the global batch's statistics, forward and backward written out as
// PyTorch's SyncBatchNorm does (torch/nn/modules/_functions.py), with libtorch ops that run on the CPU:
// forward all-reduces each rank's [n mean, M2 + n mean^2, n] in float64 (M2: the sum of squares about the
// rank's own mean, so the combination loses nothing in float32 terms); backward all-reduces the
// per-channel sums of dy and dy (x - mean), from which every rank forms its own dx. Two collectives per
// layer and step, no autograd graph through the statistics.
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps) {
    const int64_t C = x.size(1);
    const std::vector<int64_t> perChannel{1, C, 1, 1};
    const double count = static_cast<double>(x.numel() / C);
    at::Tensor meanLocal = channelSum(x) / count;
    at::Tensor m2 = channelSum((x - meanLocal.view(perChannel)).square_());
    at::Tensor m64 = meanLocal.to(at::kDouble);
    at::Tensor stats = at::cat({m64 * count, m2.to(at::kDouble) + m64 * m64 * count, at::full({1}, count, m64.options())});
    allReduceSumInPlace(stats, "SyncBatchNorm statistics all-reduce");
    const double n = stats[2 * C].item<double>();
    if (n < 2) throw std::runtime_error("SyncBatchNorm needs more than one value per channel over all ranks");
    at::Tensor mean64 = stats.narrow(0, 0, C) / n;
    at::Tensor var64 = (stats.narrow(0, C, C) / n - mean64 * mean64).clamp_min(0);
    at::Tensor mean = mean64.to(x.scalar_type()), invstd = at::rsqrt(var64 + eps).to(x.scalar_type());
    at::Tensor scale = weight.defined() ? invstd * weight : invstd;
    at::Tensor shift = -mean * scale;
    if (bias.defined()) shift = shift + bias;
    runningMean.mul_(1 - momentum).add_(mean, momentum);
    runningVar.mul_(1 - momentum).add_((var64 * (n / (n - 1))).to(runningVar.scalar_type()), momentum);
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["n"] = n;
    return at::addcmul(shift.view(perChannel), x, scale.view(perChannel));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["n"].toDouble();
    const int64_t C = x.size(1);
    const std::vector<int64_t> perChannel{1, C, 1, 1};
    at::Tensor gy = grads[0];
    at::Tensor xmu = x - mean.view(perChannel);
    at::Tensor sums = at::cat({channelSum(gy), channelSum(gy * xmu)});
    allReduceSumInPlace(sums, "SyncBatchNorm gradient all-reduce");
    at::Tensor sumDy = sums.narrow(0, 0, C), sumDyXmu = sums.narrow(0, C, C);
    at::Tensor gscale = weight.defined() ? invstd * weight : invstd;
    // dx = (dy - sum(dy) / n - (x - mean) invstd^2 sum(dy (x - mean)) / n) invstd w
    at::Tensor k = (invstd * invstd * sumDyXmu / n).view(perChannel);
    at::Tensor dx = (gy - (sumDy / n).view(perChannel) - xmu.mul_(k)).mul_(gscale.view(perChannel));
    // The parameter gradients here are already sums over every rank; divided by the world size, the
    // data-parallel gradient all-reduce (a sum over ranks) counts them once.
    const double world = static_cast<double>(group->size);
    at::Tensor dw = weight.defined() && ctx->needs_input_grad(1) ? sumDyXmu * invstd / world : at::Tensor();
    at::Tensor db = ctx->needs_input_grad(2) ? sumDy / world : at::Tensor();
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// distSyncBatchNorm(x, w|-1, b|-1, runningMean, runningVar, momentum, eps): SyncBatchNormFn on the handles.
Napi::Value distSyncBatchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  current(env, "SyncBatchNorm");
  try {
    at::Tensor& x = get(env, info[0]);
    c10::optional<at::Tensor> w = opt(env, info[1]), b = opt(env, info[2]);
    at::Tensor& rm = get(env, info[3]);
    at::Tensor& rv = get(env, info[4]);
    return handle(env, SyncBatchNormFn::apply(x, w.value_or(at::Tensor()), b.value_or(at::Tensor()), rm, rv, f64(info[5]), f64(info[6])));
  } catch (...) {
    rethrowAsJs(env);
  }
  return env.Undefined();
}

constexpr bool available = true;

#else  // !CONVLORA_DIST

Napi::Value notBuilt(const Napi::CallbackInfo& info) {
  throwCoded(info.Env(), "E_DIST_UNAVAILABLE",
             "This convlora addon was built without distributed support (gloo's headers were not found at build time). "
             "Install them with `apt-get install -y libgloo-dev` (Debian 12), then rebuild with `npm run build:native`.");
}
Napi::Value distInit(const Napi::CallbackInfo& info) { return notBuilt(info); }
Napi::Value distAllReduce(const Napi::CallbackInfo& info) { return notBuilt(info); }
Napi::Value distBroadcast(const Napi::CallbackInfo& info) { return notBuilt(info); }
Napi::Value distBarrier(const Napi::CallbackInfo& info) { return notBuilt(info); }
Napi::Value distDestroy(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
Napi::Value distInfo(const Napi::CallbackInfo& info) { return info.Env().Null(); }
Napi::Value distSyncBatchNorm(const Napi::CallbackInfo& info) { return notBuilt(info); }
constexpr bool available = false;

#endif

}  // namespace

void registerDist(Napi::Env env, Napi::Object exports) {
  exports.Set("distAvailable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), available); }));
  exports.Set("distInit", Napi::Function::New(env, distInit));
  exports.Set("distAllReduce", Napi::Function::New(env, distAllReduce));
  exports.Set("distBroadcast", Napi::Function::New(env, distBroadcast));
  exports.Set("distBarrier", Napi::Function::New(env, distBarrier));
  exports.Set("distDestroy", Napi::Function::New(env, distDestroy));
  exports.Set("distInfo", Napi::Function::New(env, distInfo));
  exports.Set("distSyncBatchNorm", Napi::Function::New(env, distSyncBatchNorm));
}

}  // namespace cl
