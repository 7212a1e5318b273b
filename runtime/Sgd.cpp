//===- Sgd.cpp - SGD with momentum and weight decay ----------------------===//

#include "runtime/Sgd.h"
#include "runtime/ParallelFor.h"

namespace mtl::rt {

Sgd::Sgd(const OptimizerConfig &config, size_t size)
    : Optimizer(config, size), velocity(size, 0.0f) {}

void Sgd::step(float *__restrict params, const float *__restrict grads) {
  const float lr = config.lr, mu = config.momentum, wd = config.weightDecay;
  float *vel = velocity.data();
  // Starting from v = 0 makes the first step v = g, as PyTorch does.
  parallelFor(size, kOptimizerGrain, [=](size_t begin, size_t end) {
    float *__restrict p = params;
    const float *__restrict gp = grads;
    float *__restrict v = vel;
    for (size_t i = begin; i < end; ++i) {
      float g = gp[i] + wd * p[i];
      v[i] = mu * v[i] + g;
      p[i] -= lr * v[i];
    }
  });
  ++stepCount;
}

std::vector<std::pair<std::string, std::vector<float> *>> Sgd::state() {
  return {{"velocity", &velocity}};
}

} // namespace mtl::rt
