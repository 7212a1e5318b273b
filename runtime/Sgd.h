//===- Sgd.h - SGD with momentum and weight decay -------------------------===//
#ifndef MTL_RUNTIME_SGD_H
#define MTL_RUNTIME_SGD_H

#include "runtime/Optimizer.h"

namespace mtl::rt {

/// torch.optim.SGD (dampening 0, no Nesterov):
///   g = grad + wd * p;  v = momentum * v + g;  p -= lr * v
/// With momentum 0 it is plain SGD (v = g).
class Sgd : public Optimizer {
public:
  Sgd(const OptimizerConfig &config, size_t size);
  const char *kind() const override { return "sgd"; }
  void step(float *params, const float *grads) override;
  std::vector<std::pair<std::string, std::vector<float> *>> state() override;

private:
  std::vector<float> velocity;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_SGD_H
