//===- Evaluate.cpp - JIT execution with a per-Function compile cache ----===//
//
// Finite-difference gradient checks call this hundreds of times with new
// parameter values, so the pipeline is JIT-compiled once per Function
// (keyed by its serialized content) and inputs are bound per call through a
// ParamMap rather than baked in.
//
//===----------------------------------------------------------------------===//
#include "codegen/Evaluate.h"
#include "codegen/AutoSchedule.h"
#include "codegen/Isa.h"
#include "codegen/Lowering.h"
#include "runtime/Aligned.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>

using namespace Halide;

namespace mtl::codegen {
namespace {

std::vector<int> halideSizes(const std::vector<int64_t> &shape) {
  return std::vector<int>(shape.rbegin(), shape.rend());
}

size_t count(const std::vector<int64_t> &shape) {
  size_t n = 1;
  for (auto e : shape)
    n *= static_cast<size_t>(e);
  return n;
}

} // namespace

namespace {
std::atomic<TaskGradCombiner> taskGradCombiner{nullptr};
} // namespace

/// A buffer in the runtime's storage (runtime/Aligned.h: large ones on
/// huge pages), so that kernels timed here see the TLB the binary gives
/// them.
template <class T> Buffer<T> runtimeBuffer(const std::vector<int> &sizes) {
  Halide::Runtime::Buffer<T> b(nullptr, sizes);
  b.allocate(rt::allocateBuffer, rt::freeBuffer);
  return Buffer<T>(std::move(b));
}

Buffer<> hostBuffer(const kg::Value &v, const HostTensor &t) {
  if (v.dtype == kg::DType::I8) { // held as i32 in a HostTensor
    Buffer<int8_t> b = runtimeBuffer<int8_t>(halideSizes(v.shape));
    std::transform(t.i32.begin(), t.i32.end(), b.data(),
                   [](int32_t x) { return static_cast<int8_t>(x); });
    return b;
  }
  if (v.dtype == kg::DType::I32) {
    Buffer<int32_t> b = runtimeBuffer<int32_t>(halideSizes(v.shape));
    std::copy(t.i32.begin(), t.i32.end(), b.data());
    return b;
  }
  Buffer<float> b = runtimeBuffer<float>(halideSizes(v.shape));
  std::copy(t.f32.begin(), t.f32.end(), b.data());
  return b;
}

Buffer<> outputBuffer(const kg::Value &v) {
  if (v.dtype == kg::DType::I8)
    return runtimeBuffer<int8_t>(halideSizes(v.shape));
  if (v.dtype == kg::DType::I32)
    return runtimeBuffer<int32_t>(halideSizes(v.shape));
  return runtimeBuffer<float>(halideSizes(v.shape));
}

HostTensor hostTensor(const kg::Value &v, Buffer<> b) {
  HostTensor t;
  t.shape = v.shape;
  if (v.dtype == kg::DType::I8) {
    Buffer<int8_t> ib = b;
    t.i32.assign(ib.data(), ib.data() + count(v.shape));
  } else if (v.dtype == kg::DType::I32) {
    Buffer<int32_t> ib = b;
    t.i32.assign(ib.data(), ib.data() + count(v.shape));
  } else {
    Buffer<float> fb = b;
    t.f32.assign(fb.data(), fb.data() + count(v.shape));
  }
  return t;
}

void setJitTaskGradCombiner(TaskGradCombiner fn) { taskGradCombiner = fn; }

std::shared_ptr<JitPipeline> jitCompiled(const kg::Function &fn,
                                         const std::string &kind,
                                         const std::string &schedule) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<JitPipeline>> cache;
  std::string key = kind + "|" + schedule + "|" + kg::fingerprint(fn);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end())
    return it->second;
  auto c = std::make_shared<JitPipeline>();
  // kind: cpu | cuda, or a CPU instruction set (avx512 | avx2 | sse41).
  c->target = (kind == "cpu" || kind == "cuda" ? chooseTarget(kind, "")
                                               : isaTarget(kind))
                  .with_feature(Target::JIT);
  c->lf = lowerFunction(
      fn, c->target, autoschedulerFor(schedule, c->target.has_gpu_feature()));
  if (TaskGradCombiner combiner = taskGradCombiner.load()) {
    ExternSignature sig(Int(32), false,
                        {Int(32), Int(32), type_of<halide_buffer_t *>(),
                         type_of<halide_buffer_t *>()});
    c->lf.pipeline.set_jit_externs(
        {{"mtl_rt_combine_task_grads",
          JITExtern(
              ExternCFunction(reinterpret_cast<void *>(combiner), sig))}});
  }
  c->lf.pipeline.compile_jit(c->target);
  cache[key] = c;
  return c;
}

std::vector<HostTensor> randomArgs(const kg::Function &fn, unsigned seed) {
  std::map<std::string, int64_t> classes;
  for (const kg::Arg &o : fn.outputs)
    if (o.kind == kg::ArgKind::Prediction)
      classes[o.name] = fn.values[o.value].shape.back();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<HostTensor> args;
  for (const kg::Arg &a : fn.args) {
    const kg::Value &v = fn.values[a.value];
    HostTensor t;
    t.shape = v.shape;
    int64_t n = 1;
    for (int64_t d : v.shape)
      n *= d;
    if (v.dtype != kg::DType::F32) {
      int64_t c = a.kind == kg::ArgKind::Seed ? 1 << 20 : classes[a.name];
      for (int64_t i = 0; i < n; ++i)
        t.i32.push_back(int32_t(rng() % std::max<int64_t>(c, 1)));
    } else if (a.kind == kg::ArgKind::Mask ||
               a.kind == kg::ArgKind::LossWeights) {
      t.f32.assign(n, 1.0f); // labelled rows; unit task weights
    } else if (a.kind == kg::ArgKind::State) {
      // Running statistics: a positive variance row is what they hold.
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(0.5f + 0.25f * (uniform(rng) + 1.0f));
    } else {
      bool unit = a.kind == kg::ArgKind::Input || a.kind == kg::ArgKind::Target;
      for (int64_t i = 0; i < n; ++i)
        t.f32.push_back(unit ? 0.5f * (uniform(rng) + 1.0f)
                             : 0.1f * uniform(rng));
    }
    args.push_back(std::move(t));
  }
  return args;
}

namespace {
std::string runCompiled(const kg::Function &fn,
                        const std::vector<HostTensor> &args, int calls,
                        std::vector<HostTensor> &outputs,
                        std::vector<double> &msPerCall,
                        const std::string &schedule, const std::string &kind) {
  {
    if (args.size() != fn.args.size())
      return "evaluate: " + fn.name + " takes " +
             std::to_string(fn.args.size()) + " arguments, got " +
             std::to_string(args.size());
    std::shared_ptr<JitPipeline> c = jitCompiled(fn, kind, schedule);
    ParamMap params;
    for (size_t k = 0; k < args.size(); ++k) {
      const kg::Value &v = fn.values[fn.args[k].value];
      const HostTensor &t = args[k];
      bool isInt = v.dtype != kg::DType::F32;
      size_t have = isInt ? t.i32.size() : t.f32.size();
      if (t.shape != v.shape || have != count(v.shape))
        return "evaluate: argument '" + fn.args[k].name +
               "' has the wrong shape or size";
      // Copied into Halide's own (128-byte aligned) allocations: the
      // pipelines declare that alignment for every buffer.
      params.set(c->lf.params[k], hostBuffer(v, t));
    }
    std::vector<Buffer<>> bufs;
    for (const kg::Arg &o : fn.outputs)
      bufs.push_back(outputBuffer(fn.values[o.value]));
    Realization r(bufs);
    // The outputs are fresh: a first call pays their page faults (a 20 MB
    // gradient: several ms). Untimed when several calls are timed.
    if (calls > 1)
      c->lf.pipeline.realize(r, c->target, params);
    msPerCall.clear();
    for (int i = 0; i < std::max(calls, 1); ++i) {
      auto start = std::chrono::steady_clock::now();
      c->lf.pipeline.realize(r, c->target, params);
      msPerCall.push_back(std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count());
    }
    outputs.clear();
    for (size_t k = 0; k < fn.outputs.size(); ++k)
      outputs.push_back(hostTensor(fn.values[fn.outputs[k].value], bufs[k]));
    return "";
  }
}
} // namespace

static std::string runOn(const kg::Function &fn,
                         const std::vector<HostTensor> &args, int calls,
                         std::vector<HostTensor> &outputs,
                         std::vector<double> &msPerCall,
                         const std::string &schedule, const std::string &kind) {
  std::string result;
  std::string err = guardedCall([&] {
    result = runCompiled(fn, args, calls, outputs, msPerCall, schedule, kind);
  });
  return err.empty() ? result : err;
}

std::string evaluate(const kg::Function &fn,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &outputs, const std::string &isa) {
  std::vector<double> unused;
  return runOn(fn, args, 1, outputs, unused, "", isa.empty() ? "cpu" : isa);
}

std::string benchmark(const kg::Function &fn,
                      const std::vector<HostTensor> &args, int calls,
                      std::vector<HostTensor> &outputs,
                      std::vector<double> &msPerCall,
                      const std::string &schedule, const std::string &isa) {
  return runOn(fn, args, calls, outputs, msPerCall, schedule,
               isa.empty() ? "cpu" : isa);
}

} // namespace mtl::codegen
