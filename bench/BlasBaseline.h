//===- BlasBaseline.h - A kernel's GEMMs in OpenBLAS, for comparison -*- C++
//-*-===//
//
// mtl-bench-kernels times each GEMM kernel of a train step against OpenBLAS's
// sgemm on the same shapes, with the same thread count, in the same rounds:
// whether a GEMM below the 75 % of the FMA peak is our schedule or
// the machine (a VM whose caches a neighbour shares). OpenBLAS is loaded
// with dlopen when the machine has it (Debian's libopenblas0-pthread; a
// benchmark baseline, never a dependency of mtlc or of the model binary).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_BENCH_BLASBASELINE_H
#define MTL_BENCH_BLASBASELINE_H

#include "codegen/KernelGraph.h"

#include <string>
#include <vector>

namespace mtl::bench {

/// One row-major sgemm: C (m x n) = op(A) (m x k) * op(B) (k x n) + beta C.
struct Gemm {
  int m, n, k;
  bool transA, transB;
  float beta; // 1: accumulates into the previous GEMM's C (a join's sum)
};

/// The GEMMs of a kernel's dense, dense_backward_input and
/// dense_backward_weight nodes (epilogues and biases left out); the
/// grad-inputs a join sums accumulate into one C. Empty: no GEMM, or other
/// work in the kernel too (a group of small units).
std::vector<Gemm> kernelGemms(const kg::Function &sub);

/// OpenBLAS's sgemm through dlopen.
class Blas {
public:
  /// Loads libopenblas.so.0 (MTL_BLAS_LIB overrides); false and `why` if it
  /// cannot.
  bool load(std::string &why);
  /// "OpenBLAS 0.3.21 ..." (its openblas_get_config) or the library name.
  std::string describe() const;
  void setThreads(int threads) const;

  /// The operands of a kernel's GEMMs, random, allocated once.
  struct Operands {
    std::vector<Gemm> gemms;
    std::vector<std::vector<float>> a, b, c;
  };
  static Operands operands(const std::vector<Gemm> &gemms, unsigned seed);
  /// Runs the GEMMs `calls` times; ms per call.
  std::vector<double> time(Operands &ops, int calls) const;

private:
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float *,
                         int, const float *, int, float, float *, int);
  Sgemm sgemm = nullptr;
  void (*setNumThreads)(int) = nullptr;
  char *(*getConfig)() = nullptr;
  std::string lib;
};

} // namespace mtl::bench

#endif // MTL_BENCH_BLASBASELINE_H
