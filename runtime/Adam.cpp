//===- Adam.cpp - Adam with bias correction ------------------------------===//

#include "runtime/Adam.h"

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
  float *__restrict mp = m.data();
  float *__restrict vp = v.data();
  for (size_t i = 0; i < size; ++i) {
    float g = grads[i] + wd * params[i];
    mp[i] = b1 * mp[i] + (1.0f - b1) * g;
    vp[i] = b2 * vp[i] + (1.0f - b2) * g * g;
    params[i] -= stepSize * mp[i] / (std::sqrt(vp[i]) * invSqrtBc2 + eps);
  }
}

std::vector<std::pair<std::string, std::vector<float> *>> Adam::state() {
  return {{"m", &m}, {"v", &v}};
}

} // namespace mtl::rt
