//===- Pipeline.cpp - The pass pipeline of mtlc build ---------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

const std::vector<std::pair<const char *, bool mtl::FusionOptions::*>> &
mtl::FusionOptions::flags() {
  static const std::vector<std::pair<const char *, bool FusionOptions::*>> all =
      {{"fuse-heads", &FusionOptions::heads},
       {"fuse-join", &FusionOptions::join},
       {"fuse-epilogue", &FusionOptions::epilogue},
       {"fuse-losses", &FusionOptions::losses}};
  return all;
}

void mtl::buildInferencePipeline(mlir::OpPassManager &pm,
                                 const std::vector<std::string> &tasks,
                                 const FusionOptions &fusion) {
  pm.addNestedPass<mlir::func::FuncOp>(createMtlShapeInference());
  MtlDeadHeadEliminationOptions keep;
  keep.tasks = tasks;
  pm.addNestedPass<mlir::func::FuncOp>(createMtlDeadHeadElimination(keep));
  if (fusion.heads)
    pm.addNestedPass<mlir::func::FuncOp>(
        createMtlFuseHeads(MtlFuseHeadsOptions{fusion.costModel}));
  pm.addPass(mlir::createCSEPass());
  if (fusion.epilogue)
    pm.addNestedPass<mlir::func::FuncOp>(createMtlFuseEpilogue());
}

void mtl::buildTrainingPipeline(mlir::OpPassManager &pm,
                                const FusionOptions &requested,
                                const StrategyOptions &strategy) {
  FusionOptions fusion = requested;
  // The task joins must stay joins (autodiff reports each one kept).
  if (!strategy.taskJoins.empty())
    fusion.join = false;
  pm.addNestedPass<mlir::func::FuncOp>(createMtlShapeInference());
  MtlAutodiffOptions ad;
  ad.runtimeWeights = strategy.runtimeWeights;
  ad.taskJoins = strategy.taskJoins;
  ad.perTaskParamGrads = strategy.perTaskParamGrads;
  pm.addPass(createMtlAutodiff(ad));
  pm.addPass(mlir::createCSEPass());
  if (fusion.saveStates) {
    pm.addNestedPass<mlir::func::FuncOp>(createMtlSaveRecurrentState());
    pm.addNestedPass<mlir::func::FuncOp>(createMtlSavePoolArgmax());
  }
  // Fusions rewrite the differentiated step (and the forward function):
  // join fusion first, so the head fusion of the weight gradients and the
  // join's concatenated gradients are one value after CSE.
  if (fusion.join)
    pm.addNestedPass<mlir::func::FuncOp>(
        createMtlFuseJoin(MtlFuseJoinOptions{fusion.costModel}));
  if (fusion.heads)
    pm.addNestedPass<mlir::func::FuncOp>(
        createMtlFuseHeads(MtlFuseHeadsOptions{fusion.costModel}));
  if (fusion.join || fusion.heads)
    pm.addPass(mlir::createCSEPass());
  // After every rewrite and CSE, so the ops they mark are the ones that get
  // lowered (codegen honours the marks).
  if (fusion.epilogue)
    pm.addNestedPass<mlir::func::FuncOp>(createMtlFuseEpilogue());
  if (fusion.losses)
    pm.addNestedPass<mlir::func::FuncOp>(createMtlFuseLosses());
}
