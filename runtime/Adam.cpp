//===- Adam.cpp - Adam with bias correction ------------------------------===//

#include "runtime/Adam.h"
#include "runtime/ParallelFor.h"

#include <cmath>

namespace mtl::rt {

Adam::Adam(const OptimizerConfig &config, size_t size)
    : Optimizer(config, size), m(size, 0.0f), v(size, 0.0f) {}

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
    float *__restrict p = params;
    const float *__restrict gp = grads;
    float *__restrict m1 = mp;
    float *__restrict m2 = vp;
    for (size_t i = begin; i < end; ++i) {
      float g = gp[i] + wd * p[i];
      m1[i] = b1 * m1[i] + (1.0f - b1) * g;
      m2[i] = b2 * m2[i] + (1.0f - b2) * g * g;
      p[i] -= stepSize * m1[i] / (std::sqrt(m2[i]) * invSqrtBc2 + eps);
    }
  });
}

std::vector<std::pair<std::string, std::vector<float> *>> Adam::state() {
  return {{"m", &m}, {"v", &v}};
}

} // namespace mtl::rt
