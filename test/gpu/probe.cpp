//===- probe.cpp - Is there a GPU to test on? -----------------------------===//
//
//   mtl-gpu-probe     exit 0 and print the device and its fp32 peak where a
//                     CUDA device can run kernels; exit 77 (ctest's skip
//                     code) and say why where not.
//
//===----------------------------------------------------------------------===//
#include "test/gpu/GpuEval.h"

#include <cstdio>

int main() {
  std::string why;
  if (!mtl::gputest::cudaAvailable(why)) {
    std::printf("skipped: %s\n", why.c_str());
    return 77;
  }
  std::printf("%s\n", why.c_str());
  std::string what;
  double peak = mtl::gputest::cudaPeakGflops(what);
  std::printf("fp32 peak: %.0f GFLOP/s (%s)\n", peak, what.c_str());
  return 0;
}
