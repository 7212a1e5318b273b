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
#include "codegen/Lowering.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
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
  c->target = chooseTarget(kind, "").with_feature(Target::JIT);
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

std::string evaluate(const kg::Function &fn,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &outputs) {
  std::vector<double> unused;
  return benchmark(fn, args, 1, outputs, unused);
}

namespace {
std::string runCompiled(const kg::Function &fn,
                        const std::vector<HostTensor> &args, int calls,
                        std::vector<HostTensor> &outputs,
                        std::vector<double> &msPerCall,
                        const std::string &schedule) {
  {
    if (args.size() != fn.args.size())
      return "evaluate: " + fn.name + " takes " +
             std::to_string(fn.args.size()) + " arguments, got " +
             std::to_string(args.size());
    std::shared_ptr<JitPipeline> c = jitCompiled(fn, "cpu", schedule);
    ParamMap params;
    for (size_t k = 0; k < args.size(); ++k) {
      const kg::Value &v = fn.values[fn.args[k].value];
      const HostTensor &t = args[k];
      bool isInt = v.dtype == kg::DType::I32;
      size_t have = isInt ? t.i32.size() : t.f32.size();
      if (t.shape != v.shape || have != count(v.shape))
        return "evaluate: argument '" + fn.args[k].name +
               "' has the wrong shape or size";
      // Copied into Halide's own (128-byte aligned) allocations: the
      // pipelines declare that alignment for every buffer.
      Buffer<> buf;
      if (isInt) {
        Buffer<int32_t> b(halideSizes(v.shape));
        std::copy(t.i32.begin(), t.i32.end(), b.data());
        buf = b;
      } else {
        Buffer<float> b(halideSizes(v.shape));
        std::copy(t.f32.begin(), t.f32.end(), b.data());
        buf = b;
      }
      params.set(c->lf.params[k], buf);
    }
    outputs.assign(fn.outputs.size(), HostTensor());
    std::vector<Buffer<>> bufs;
    for (size_t k = 0; k < fn.outputs.size(); ++k) {
      const kg::Value &v = fn.values[fn.outputs[k].value];
      HostTensor &t = outputs[k];
      t.shape = v.shape;
      if (v.dtype == kg::DType::I32)
        bufs.push_back(Buffer<int32_t>(halideSizes(v.shape)));
      else
        bufs.push_back(Buffer<float>(halideSizes(v.shape)));
    }
    Realization r(bufs);
    msPerCall.clear();
    for (int i = 0; i < std::max(calls, 1); ++i) {
      auto start = std::chrono::steady_clock::now();
      c->lf.pipeline.realize(r, c->target, params);
      msPerCall.push_back(std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count());
    }
    for (size_t k = 0; k < fn.outputs.size(); ++k) {
      HostTensor &t = outputs[k];
      if (fn.values[fn.outputs[k].value].dtype == kg::DType::I32) {
        Buffer<int32_t> b = bufs[k];
        t.i32.assign(b.data(), b.data() + count(t.shape));
      } else {
        Buffer<float> b = bufs[k];
        t.f32.assign(b.data(), b.data() + count(t.shape));
      }
    }
    return "";
  }
}
} // namespace

std::string benchmark(const kg::Function &fn,
                      const std::vector<HostTensor> &args, int calls,
                      std::vector<HostTensor> &outputs,
                      std::vector<double> &msPerCall,
                      const std::string &schedule) {
  std::string result;
  std::string err = guardedCall([&] {
    result = runCompiled(fn, args, calls, outputs, msPerCall, schedule);
  });
  return err.empty() ? result : err;
}

} // namespace mtl::codegen
