//===- Weighting.h - Loss weighting strategies ----------------------------===//
//
// A weighting gives the T loss weights of each train step (the step's
// `loss_weights` argument: they scale each task's loss seed in the
// backward pass) and learns from what the step reports. State that must
// survive a resume is exposed as named float arrays (saved in checkpoints).
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_STRATEGY_WEIGHTING_H
#define MTL_RUNTIME_STRATEGY_WEIGHTING_H

#include "runtime/Descriptor.h"
#include "runtime/Optimizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mtl::rt::strategy {

/// The `[strategy]` settings a binary carries in its descriptor.
using StrategyConfig = StrategySpec;

using NamedArrays = std::vector<std::pair<std::string, std::vector<float> *>>;

class Weighting {
public:
  virtual ~Weighting() = default;
  /// The weights of train step `step` (0-based, global).
  virtual std::vector<float> weights(int64_t step) = 0;
  /// After a step: the unweighted task losses and, when the step produced
  /// them, the norms of the weighted per-task gradients (empty otherwise).
  virtual void afterStep(const std::vector<float> &losses,
                         const std::vector<double> &gradNorms) {
    (void)losses;
    (void)gradNorms;
  }
  /// After each epoch (DWA's loss history).
  virtual void afterEpoch() {}
  /// Whether afterStep needs gradNorms (GradNorm).
  virtual bool needsGradNorms() const { return false; }
  /// Named state arrays, for checkpoints: restoring overwrites them in
  /// place, then calls restored().
  virtual NamedArrays state() { return {}; }
  virtual void restored() {}
};

/// The weighting `config.weighting` over T tasks; `staticWeights` are the
/// spec's task weights, `opt` the optimizer settings learned weights use,
/// `seed` the run's seed (RLW).
std::unique_ptr<Weighting>
makeWeighting(const StrategyConfig &config,
              const std::vector<double> &staticWeights,
              const OptimizerConfig &opt, uint64_t seed);

std::unique_ptr<Weighting> makeUncertainty(size_t T, const OptimizerConfig &o);
std::unique_ptr<Weighting> makeDwa(size_t T, double temperature);
std::unique_ptr<Weighting> makeRlw(size_t T, uint64_t seed);
std::unique_ptr<Weighting> makeGradNorm(size_t T, double alpha,
                                        const OptimizerConfig &o);

/// Uncertainty weighting (Kendall et al. 2018, LibMTL's form) on log
/// variances s: objective sum_t (exp(-s_t) L_t + s_t) / 2; its weights and
/// its gradient with respect to s.
std::vector<float> uncertaintyWeights(const std::vector<float> &s);
std::vector<float> uncertaintyGrad(const std::vector<float> &s,
                                   const std::vector<float> &losses);

/// DWA (Liu et al. 2019): T * softmax((L(e-1) / L(e-2)) / temperature).
std::vector<float> dwaWeights(const std::vector<double> &last,
                              const std::vector<double> &beforeLast,
                              double temperature);

} // namespace mtl::rt::strategy

#endif // MTL_RUNTIME_STRATEGY_WEIGHTING_H
