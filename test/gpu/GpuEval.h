//===- GpuEval.h - JIT-run a step function on the GPU (test helper) -------===//
//
// The GPU half of test/gpu: the same lowering as `mtlc build --target=cuda`
// (codegen/Lowering.h with the CUDA target), JIT-compiled and run on the
// device through Halide's CUDA runtime, which loads libcuda.so itself. Plain
// C++ interface: the tests that include MLIR headers never see Halide.h.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_TEST_GPU_GPUEVAL_H
#define MTL_TEST_GPU_GPUEVAL_H

#include "codegen/Evaluate.h"

#include <string>
#include <vector>

namespace mtl::gputest {

/// MTL_GPU_TEST_DRY_RUN=1: evaluateCuda runs the CPU target instead and
/// cudaAvailable says yes, so that the tests' own logic can be checked on a
/// machine without a GPU.
bool dryRun();

/// The source tree whose examples/ the tests build: $MTL_SOURCE_DIR, else
/// the tree this test was configured from. The override lets a prebuilt
/// bundle (scripts/gpu-bundle.sh) run on a machine without the build tree.
std::string sourceDir();

/// Whether a CUDA device can run kernels here: libcuda.so.1 loads, cuInit
/// succeeds and at least one device exists. `why` says what (the device's
/// name, or why not).
bool cudaAvailable(std::string &why);

/// codegen::evaluate on the CUDA target: same arguments and outputs. Returns
/// "" or an error message.
std::string evaluateCuda(const kg::Function &fn,
                         const std::vector<codegen::HostTensor> &args,
                         std::vector<codegen::HostTensor> &outputs);

/// Times `fn` on the GPU: inputs uploaded once, then `calls` runs, each
/// followed by a device sync of the outputs; wall ms per call. Returns ""
/// or an error message.
std::string benchmarkCuda(const kg::Function &fn,
                          const std::vector<codegen::HostTensor> &args,
                          int calls, std::vector<double> &msPerCall);

/// The device's fp32 peak in GFLOP/s (SMs x FP32 lanes per SM x 2 x the
/// SM clock) and a description; 0 where no device answers.
double cudaPeakGflops(std::string &description);

/// Compiles `fn` for CUDA (AOT, no device needed) and returns the lowered
/// statement text (Halide's .stmt) in `stmt` and the object's bytes in
/// `object`. Returns "" or an error message.
std::string compileCuda(const kg::Function &fn, const std::string &dir,
                        std::string &stmt, std::string &object);

} // namespace mtl::gputest

#endif // MTL_TEST_GPU_GPUEVAL_H
