//===- Evaluate.h - JIT-run a step function (tests, gradient checks) -----===//
//
// Same lowering and CPU schedules as the AOT path, compiled once per
// distinct Function (cached by content) and run with fresh buffers per call.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CODEGEN_EVALUATE_H
#define MTL_CODEGEN_EVALUATE_H

#include "codegen/KernelGraph.h"

#include <cstdint>
#include <string>
#include <vector>

struct halide_buffer_t;

namespace mtl::codegen {

/// A logical row-major tensor: `f32` holds F32 data, `i32` I32 and I8 data.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int32_t> i32;
};

/// Runs `fn` on `args` (Function.args order); fills `outputs`
/// (Function.outputs order). Returns "" or an error message. `isa`: compile
/// for that instruction set (avx512 | avx2 | sse41, Isa.h; "" = the host's),
/// which the running CPU must have.
std::string evaluate(const kg::Function &fn,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &outputs,
                     const std::string &isa = "");

/// Runs `fn` `calls` times on the same arguments (compiling it first, once,
/// like evaluate; with calls > 1 one more untimed call first, which pays the
/// fresh outputs' page faults) and records each call's wall time in
/// milliseconds; the outputs are those of the last call. `schedule`: as
/// CodegenOptions::schedule ("" = the hand-written schedules); `isa` as for
/// evaluate.
std::string benchmark(const kg::Function &fn,
                      const std::vector<HostTensor> &args, int calls,
                      std::vector<HostTensor> &outputs,
                      std::vector<double> &msPerCall,
                      const std::string &schedule = "",
                      const std::string &isa = "");

/// Seeded arguments for a step function (`mtlc explore`, the GPU tests):
/// class ids within each task's classes (taken from its prediction's last
/// dim), masks and loss weights of ones, inputs and targets in [0, 1],
/// running statistics in [0.5, 1], everything else in [-0.1, 0.1].
std::vector<HostTensor> randomArgs(const kg::Function &fn, unsigned seed);

/// The function JIT-compiled task joins (`mtl.task_join`, a strategy's
/// gradient method at the shared representation) call back, with the
/// signature of the runtime's `mtl_rt_combine_task_grads`
/// (runtime/strategy/CombineExtern.cpp): a model binary links that one; a
/// tool that JIT-runs such a step (`mtlc explore`) installs it here first.
using TaskGradCombiner = int (*)(int32_t tasks, int32_t taskMask,
                                 halide_buffer_t *stacked,
                                 halide_buffer_t *out);
void setJitTaskGradCombiner(TaskGradCombiner fn);

} // namespace mtl::codegen

#endif // MTL_CODEGEN_EVALUATE_H
