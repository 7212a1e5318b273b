//===- Sgd.cpp - SGD with momentum and weight decay ----------------------===//

#include "runtime/Sgd.h"

namespace mtl::rt {

Sgd::Sgd(const OptimizerConfig &config, size_t size)
    : Optimizer(config, size), velocity(size, 0.0f) {}

void Sgd::step(float *__restrict params, const float *__restrict grads) {
  const float lr = config.lr, mu = config.momentum, wd = config.weightDecay;
  float *__restrict v = velocity.data();
  // Starting from v = 0 makes the first step v = g, as PyTorch does.
  for (size_t i = 0; i < size; ++i) {
    float g = grads[i] + wd * params[i];
    v[i] = mu * v[i] + g;
    params[i] -= lr * v[i];
  }
  ++stepCount;
}

std::vector<std::pair<std::string, std::vector<float> *>> Sgd::state() {
  return {{"velocity", &velocity}};
}

} // namespace mtl::rt
