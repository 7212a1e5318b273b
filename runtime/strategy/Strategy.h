//===- Strategy.h - A run's multi-task optimization strategy --------------===//
//
// One object per training run: the loss weighting (the step's loss_weights
// argument), the gradient method applied where the task gradients meet
// (the shared representation's join, called back from the train step; or
// the shared parameters' per-task gradients, after the step), and their
// checkpointed state.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_STRATEGY_STRATEGY_H
#define MTL_RUNTIME_STRATEGY_STRATEGY_H

#include "runtime/strategy/GradientMethods.h"
#include "runtime/strategy/Weighting.h"

namespace mtl::rt::strategy {

class TaskStrategy {
public:
  TaskStrategy(const StrategyConfig &config,
               const std::vector<double> &staticWeights,
               const OptimizerConfig &opt, uint64_t seed);

  const StrategyConfig &config() const { return cfg; }
  /// The loss weights of global step `step`; resets the step's records.
  std::vector<float> beginStep(int64_t step);
  /// Combines T task gradients of n floats (a join of the step, or the
  /// shared parameters) into `out` with the gradient method, and records
  /// their norms (GradNorm); `taskMask` says which tasks g holds (bit t =
  /// task t, in order; 0 = all).
  void combine(const std::vector<const float *> &g, int64_t n, float *out,
               uint32_t taskMask = 0);
  /// The same over blocks (the shared parameters): block b holds T
  /// gradients g[b][t] of n[b] floats; one Gram matrix over all blocks, so
  /// the method sees the concatenated per-task gradients.
  void combineBlocks(const std::vector<std::vector<const float *>> &g,
                     const std::vector<int64_t> &n,
                     const std::vector<float *> &out);
  /// After the step, with its unweighted task losses.
  void afterStep(const std::vector<float> &losses);
  void afterEpoch() { weighting->afterEpoch(); }
  /// Named state arrays for checkpoints; restored() after loading them.
  NamedArrays state() { return weighting->state(); }
  void restored() { weighting->restored(); }
  /// The weights of the last beginStep, and the per-task gradient norms
  /// recorded since (for logs and tests).
  const std::vector<float> &lastWeights() const { return weights; }
  const std::vector<double> &lastGradNorms() const { return norms; }

private:
  StrategyConfig cfg;
  std::unique_ptr<Weighting> weighting;
  uint64_t seed;
  std::mt19937_64 rng;
  std::vector<float> weights;
  std::vector<double> normsSq, norms;
};

/// The strategy the running train step's join stages call back
/// (`mtl_rt_combine_task_grads`); null: they sum, as a plain join.
void setActiveStrategy(TaskStrategy *s);
TaskStrategy *activeStrategy();

} // namespace mtl::rt::strategy

#endif // MTL_RUNTIME_STRATEGY_STRATEGY_H
