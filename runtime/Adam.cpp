//===- Adam.cpp - Adam with bias correction ------------------------------===//

#include "runtime/Adam.h"
#include "runtime/ParallelFor.h"

#include <cmath>

namespace mtl::rt {

Adam::Adam(const OptimizerConfig &config, size_t size)
    : Optimizer(config, size), m(size, 0.0f), v(size, 0.0f) {}

namespace {

/// The update of elements [begin, end). One clone per instruction set,
/// chosen when the binary loads; runtime/CMakeLists.txt compiles this file
/// with -O3 -fno-math-errno (so sqrt vectorizes) and -ffp-contract=off (no
/// FMA contraction: every clone rounds exactly as the scalar loop). Scalar,
/// the square root and the division made the update compute bound: ~11 ms
/// per step for the reference model's 6.6 M parameters on 2 threads.
__attribute__((target_clones("arch=skylake-avx512", "arch=haswell",
                             "default"))) void
adamRange(float *__restrict p, const float *__restrict gp, float *__restrict m1,
          float *__restrict m2, size_t begin, size_t end, float b1, float b2,
          float wd, float stepSize, float invSqrtBc2, float eps) {
  for (size_t i = begin; i < end; ++i) {
    float g = gp[i] + wd * p[i];
    m1[i] = b1 * m1[i] + (1.0f - b1) * g;
    m2[i] = b2 * m2[i] + (1.0f - b2) * g * g;
    p[i] -= stepSize * m1[i] / (std::sqrt(m2[i]) * invSqrtBc2 + eps);
  }
}

} // namespace

void Adam::step(float *__restrict params, const float *__restrict grads) {
  ++stepCount;
  const float b1 = config.beta1, b2 = config.beta2, eps = config.eps;
  const float wd = config.weightDecay;
  // Bias corrections in double: b2^t for large t loses precision in float.
  const double t = static_cast<double>(stepCount);
  const float stepSize =
      static_cast<float>(config.lr / (1.0 - std::pow(double(b1), t)));
  const float invSqrtBc2 =
      static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double(b2), t)));
  float *mp = m.data(), *vp = v.data();
  // Memory-bound (7 streams of the parameter count): both cores' bandwidth.
  parallelFor(size, kOptimizerGrain, [=](size_t begin, size_t end) {
    adamRange(params, grads, mp, vp, begin, end, b1, b2, wd, stepSize,
              invSqrtBc2, eps);
  });
}

std::vector<std::pair<std::string, std::vector<float> *>> Adam::state() {
  return {{"m", &m}, {"v", &v}};
}

} // namespace mtl::rt
