//===- RunStrategy.h - The strategy of one training run -------------------===//
//
// Glue between the training loop and TaskStrategy: builds it from the
// descriptor (and the train command's overrides, checked against what the
// compiled step supports), makes it the one the step's task joins call
// back, feeds the step its loss weights, combines the per-task gradients of
// shared parameters, and saves / restores its state in checkpoints.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_RUNTIME_STRATEGY_RUNSTRATEGY_H
#define MTL_RUNTIME_STRATEGY_RUNSTRATEGY_H

#include "runtime/Pipeline.h"
#include "runtime/strategy/Strategy.h"

namespace mtl::rt::strategy {

class RunStrategy {
public:
  /// `weighting` / `gradient`: overrides of the descriptor's ("" = none);
  /// throws Error when the compiled train step cannot run them.
  RunStrategy(Model &model, Pipeline &trainStep, const std::string &weighting,
              const std::string &gradient, const OptimizerConfig &opt,
              uint64_t seed);
  ~RunStrategy();
  RunStrategy(const RunStrategy &) = delete;
  RunStrategy &operator=(const RunStrategy &) = delete;

  /// Loads the state from a checkpoint; throws Error (naming `path`) when
  /// it lacks what this run's weighting needs.
  void restore(const CheckpointState &state, const std::string &path);
  void save(CheckpointState &state);

  /// Sets the step's loss weights.
  void beforeStep(int64_t step);
  /// After the step ran: the shared parameters' gradients from their
  /// per-task gradients (on = "param").
  void afterRun();
  /// With the step's unweighted losses (learned weights update here).
  void afterStep(const std::vector<float> &losses);
  void afterEpoch() { strategy->afterEpoch(); }

  bool runtimeWeights() const { return pipeline.takesLossWeights(); }
  const std::vector<float> &weights() const { return strategy->lastWeights(); }

private:
  Pipeline &pipeline;
  std::unique_ptr<TaskStrategy> strategy;
  // Per shared parameter: its per-task gradients (task order), size, output.
  std::vector<std::vector<const float *>> blocks;
  std::vector<int64_t> sizes;
  std::vector<float *> outs;
};

} // namespace mtl::rt::strategy

#endif // MTL_RUNTIME_STRATEGY_RUNSTRATEGY_H
