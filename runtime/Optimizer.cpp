//===- Optimizer.cpp - Optimizer factory ---------------------------------===//

#include "runtime/Optimizer.h"
#include "runtime/Adam.h"
#include "runtime/Descriptor.h"
#include "runtime/Error.h"
#include "runtime/Sgd.h"

namespace mtl::rt {

OptimizerConfig OptimizerConfig::from(const TrainSpec &train) {
  OptimizerConfig c;
  c.kind = train.optimizer;
  c.lr = static_cast<float>(train.lr);
  c.momentum = static_cast<float>(train.momentum);
  c.beta1 = static_cast<float>(train.beta1);
  c.beta2 = static_cast<float>(train.beta2);
  c.eps = static_cast<float>(train.eps);
  c.weightDecay = static_cast<float>(train.weightDecay);
  return c;
}

std::unique_ptr<Optimizer> makeOptimizer(const OptimizerConfig &config,
                                         size_t size) {
  if (config.kind == "adam")
    return std::make_unique<Adam>(config, size);
  if (config.kind == "sgd")
    return std::make_unique<Sgd>(config, size);
  fail("unknown optimizer '{}' (expected adam or sgd)", config.kind);
}

} // namespace mtl::rt
