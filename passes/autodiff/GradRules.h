//===- GradRules.h - Gradient rules of the mtl ops --------------*- C++ -*-===//
//
// A gradient rule builds, for one forward op, the gradient of the objective
// with respect to its operands from the gradient with respect to its result.
// One file per op family (ConvGrad.cpp, DenseGrad.cpp, ...); each registers
// its rules by op name.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_PASSES_AUTODIFF_GRADRULES_H
#define MTL_PASSES_AUTODIFF_GRADRULES_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

namespace mtl::autodiff {

struct GradContext {
  mlir::OpBuilder &builder;
  mlir::Operation *op;
  /// d objective / d result; null for a loss op, whose seed is `lossSeed`.
  mlir::Value resultGrad;
  /// For loss ops: d objective / d loss (the sum of its tasks' weights).
  double lossSeed = 0;
  /// Which operands need a gradient (they depend on a parameter).
  llvm::ArrayRef<bool> needsGrad;
};

/// Fills `operandGrads` (one entry per operand, null where not needed).
using GradRule = void (*)(GradContext &ctx,
                          llvm::SmallVectorImpl<mlir::Value> &operandGrads);

using GradRuleMap = llvm::StringMap<GradRule>;

void registerConvGradRules(GradRuleMap &rules);
void registerDenseGradRules(GradRuleMap &rules);
void registerActivationGradRules(GradRuleMap &rules);
void registerPoolGradRules(GradRuleMap &rules);
void registerShapeGradRules(GradRuleMap &rules);
void registerLossGradRules(GradRuleMap &rules);
void registerSequenceGradRules(GradRuleMap &rules); // lstm, gru
void registerGraphGradRules(GradRuleMap &rules);    // add, concat
void registerNormGradRules(GradRuleMap &rules);     // layer_norm, batch_norm
// batch_norm_train, dropout, reparameterize (TrainModeGrad.cpp)
void registerTrainModeGradRules(GradRuleMap &rules);

/// Every rule, keyed by op name ("mtl.conv2d").
const GradRuleMap &gradRules();

/// Rewrites one op of the train step, whose `training` flag is already set,
/// into the ops that implement training mode (e.g. batch_norm into batch
/// statistics, normalization and `mtl.state_update`s of its running
/// statistics). Runs before differentiation.
using TrainingExpansion = mlir::LogicalResult (*)(mlir::Operation *op,
                                                  mlir::OpBuilder &builder);
using TrainingExpansionMap = llvm::StringMap<TrainingExpansion>;

/// batch_norm (TrainModeGrad.cpp).
void registerTrainModeExpansions(TrainingExpansionMap &expansions);

/// Every expansion, keyed by op name.
const TrainingExpansionMap &trainingExpansions();

} // namespace mtl::autodiff

#endif // MTL_PASSES_AUTODIFF_GRADRULES_H
