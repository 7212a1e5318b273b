//===- Passes.h - mtl passes ------------------------------------*- C++ -*-===//
#ifndef MTL_PASSES_PASSES_H
#define MTL_PASSES_PASSES_H

#include "ir/MtlDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mtl {
#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Which cross-task fusions the pipeline runs (each its own pass and flag).
struct FusionOptions {
  bool heads = true;    // mtl-fuse-heads
  bool join = true;     // mtl-fuse-join
  bool epilogue = true; // mtl-fuse-epilogue
  bool losses = true;   // mtl-fuse-losses
  /// Head and join fusion consult their cost model (false: --fuse-always,
  /// every candidate fused). Not a pass of its own, so not in flags().
  bool costModel = true;
  /// mtl-save-recurrent-state: an lstm's or gru's backward reads the
  /// forward's saved state, and mtl-save-pool-argmax: a first layer's pool
  /// gradient reads the forward's argmax (false: --recompute-states, both
  /// recompute them). A storage choice, not a fusion: not in flags() either.
  bool saveStates = true;

  /// Every flag with its pass's name, for tools that enumerate variants
  /// (`mtlc explore`): a new fusion pass adds its line here.
  static const std::vector<std::pair<const char *, bool FusionOptions::*>> &
  flags();
};

/// What a spec's [strategy] asks of the train step (docs/strategies.md).
struct StrategyOptions {
  bool runtimeWeights = false;    // loss weights are a step argument
  std::string taskJoins;          // non-empty (the reason): task joins call
                                  // the runtime back, join fusion is off
  bool perTaskParamGrads = false; // per-task gradients of shared params
};

/// The passes of an inference-only build of `tasks` (all when empty): shape
/// inference, dead-head elimination and the forward fusions.
void buildInferencePipeline(mlir::OpPassManager &pm,
                            const std::vector<std::string> &tasks,
                            const FusionOptions &fusion = FusionOptions());

/// The passes `mtlc build` runs on a spec's module, in order.
void buildTrainingPipeline(mlir::OpPassManager &pm,
                           const FusionOptions &fusion = FusionOptions(),
                           const StrategyOptions &strategy = {});
} // namespace mtl

#endif // MTL_PASSES_PASSES_H
