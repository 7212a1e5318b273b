//===- Adam.h - Adam with bias correction ---------------------------------===//
#ifndef MTL_RUNTIME_ADAM_H
#define MTL_RUNTIME_ADAM_H

#include "runtime/Optimizer.h"

namespace mtl::rt {

/// torch.optim.Adam (amsgrad off), at step t = 1, 2, ...:
///   g = grad + wd * p
///   m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2
///   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
class Adam : public Optimizer {
public:
  Adam(const OptimizerConfig &config, size_t size);
  const char *kind() const override { return "adam"; }
  void step(float *params, const float *grads) override;
  std::vector<std::pair<std::string, std::vector<float> *>> state() override;

private:
  std::vector<float> m, v;
};

} // namespace mtl::rt

#endif // MTL_RUNTIME_ADAM_H
