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

namespace mtl::codegen {

/// A logical row-major tensor: `f32` holds F32 data, `i32` I32 data.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int32_t> i32;
};

/// Runs `fn` on `args` (Function.args order); fills `outputs`
/// (Function.outputs order). Returns "" or an error message.
std::string evaluate(const kg::Function &fn,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &outputs);

/// Runs `fn` `calls` times on the same arguments (compiling it first, once,
/// like evaluate) and records each call's wall time in milliseconds; the
/// outputs are those of the last call. `schedule`: as
/// CodegenOptions::schedule ("" = the hand-written schedules).
std::string benchmark(const kg::Function &fn,
                      const std::vector<HostTensor> &args, int calls,
                      std::vector<HostTensor> &outputs,
                      std::vector<double> &msPerCall,
                      const std::string &schedule = "");

} // namespace mtl::codegen

#endif // MTL_CODEGEN_EVALUATE_H
