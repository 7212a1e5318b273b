//===- Optimizer.h - The optimizer interface ------------------------------===//
//
// Parameters and gradients live in two flat float arrays (all parameters
// back to back, descriptor order), so an optimizer is one vectorizable loop
// over the whole model. Weight decay is L2, added to the gradient (PyTorch's
// SGD and Adam semantics).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_OPTIMIZER_H
#define MTL_RUNTIME_OPTIMIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mtl::rt {

struct TrainSpec;

/// Parameters per task of the parallel optimizer loops (256 KiB of each
/// stream: long enough to amortize a task, many tasks to balance threads).
constexpr size_t kOptimizerGrain = 64 * 1024;

struct OptimizerConfig {
  std::string kind = "adam"; // adam | sgd
  float lr = 1e-3f;
  float momentum = 0.0f;                           // sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f; // adam
  float weightDecay = 0.0f;

  static OptimizerConfig from(const TrainSpec &train);
};

class Optimizer {
public:
  virtual ~Optimizer() = default;

  virtual const char *kind() const = 0;
  /// One update of params[0, n) with grads[0, n); n is fixed at creation.
  virtual void step(float *params, const float *grads) = 0;
  /// Named state arrays (each as long as the parameters), for checkpoints.
  virtual std::vector<std::pair<std::string, std::vector<float> *>> state() = 0;

  int64_t steps() const { return stepCount; }
  void setSteps(int64_t steps) { stepCount = steps; }
  float lr() const { return config.lr; }
  void setLr(float lr) { config.lr = lr; }
  const OptimizerConfig &options() const { return config; }

protected:
  Optimizer(const OptimizerConfig &config, size_t size)
      : config(config), size(size) {}

  OptimizerConfig config;
  size_t size;
  int64_t stepCount = 0;
};

/// Creates the optimizer `config.kind` over `size` parameters.
std::unique_ptr<Optimizer> makeOptimizer(const OptimizerConfig &config,
                                         size_t size);

} // namespace mtl::rt

#endif // MTL_RUNTIME_OPTIMIZER_H
