//===- Autodiff.cpp - mtl-autodiff: reverse mode at compile time ----------===//
//
// Builds @train_step from the forward @model:
//   1. clone the forward function;
//   2. activity analysis: a value needs a gradient iff it depends on a param;
//   3. sweep the ops in reverse, seeding each task's loss with its weight and
//      calling the op's gradient rule; where several gradients reach one
//      value (the backbone output every head reads) they meet in an explicit
//      mtl.join;
//   4. emit one mtl.param_grad per parameter.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"
#include "passes/autodiff/GradRules.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/MapVector.h"

namespace mtl {
#define GEN_PASS_DEF_MTLAUTODIFF
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

const autodiff::GradRuleMap &autodiff::gradRules() {
  static const GradRuleMap rules = [] {
    GradRuleMap m;
    registerConvGradRules(m);
    registerDenseGradRules(m);
    registerActivationGradRules(m);
    registerPoolGradRules(m);
    registerShapeGradRules(m);
    registerLossGradRules(m);
    registerSequenceGradRules(m);
    registerGraphGradRules(m);
    registerNormGradRules(m);
    registerTrainModeGradRules(m);
    return m;
  }();
  return rules;
}

const autodiff::TrainingExpansionMap &autodiff::trainingExpansions() {
  // Op families whose training mode needs more ops register here.
  static const TrainingExpansionMap expansions = [] {
    TrainingExpansionMap m;
    registerTrainModeExpansions(m);
    return m;
  }();
  return expansions;
}

namespace {
/// Puts the train step in training mode: sets every `training` flag and
/// applies the training expansions.
LogicalResult setTrainingMode(func::FuncOp step) {
  SmallVector<Operation *> ops;
  step.walk([&](Operation *op) {
    if (op->hasAttr("training")) {
      op->setAttr("training", BoolAttr::get(op->getContext(), true));
      ops.push_back(op);
    }
  });
  for (Operation *op : ops) {
    auto it = autodiff::trainingExpansions().find(op->getName().getStringRef());
    if (it == autodiff::trainingExpansions().end())
      continue;
    OpBuilder builder(op);
    if (failed(it->second(op, builder)))
      return failure();
  }
  return success();
}

struct AutodiffPass : mtl::impl::MtlAutodiffBase<AutodiffPass> {
  using MtlAutodiffBase::MtlAutodiffBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>(forwardName);
    if (!forward) {
      module.emitError() << "mtl-autodiff: no function @" << forwardName;
      return signalPassFailure();
    }
    if (module.lookupSymbol(stepName)) {
      module.emitError() << "mtl-autodiff: @" << stepName << " already exists";
      return signalPassFailure();
    }
    auto step = cast<func::FuncOp>(forward->clone());
    step.setName(stepName);
    module.push_back(step);
    if (failed(setTrainingMode(step)) || failed(differentiate(step)))
      signalPassFailure();
  }

  LogicalResult differentiate(func::FuncOp step) {
    if (!step.getBody().hasOneBlock())
      return step.emitError() << "mtl-autodiff expects a single block";
    Block &body = step.front();
    Operation *terminator = body.getTerminator();

    // Activity: only values that depend on a parameter get a gradient.
    DenseSet<Value> active;
    SmallVector<ParamOp> params;
    for (Operation &op : body.without_terminator()) {
      if (auto p = dyn_cast<ParamOp>(op)) {
        active.insert(p.getResult());
        params.push_back(p);
        continue;
      }
      if (llvm::any_of(op.getOperands(),
                       [&](Value v) { return active.contains(v); }))
        active.insert(op.result_begin(), op.result_end());
    }

    // The objective is sum_t weight_t * loss_t.
    DenseMap<Value, double> lossSeeds;
    for (auto task : body.getOps<TaskOp>())
      if (active.contains(task.getLoss()))
        lossSeeds[task.getLoss()] += task.getWeight().convertToDouble();
    if (lossSeeds.empty())
      return step.emitError()
             << "no task loss depends on a parameter: nothing to train";

    OpBuilder builder(terminator);
    llvm::MapVector<Value, SmallVector<Value, 2>> contributions;
    auto gradientOf = [&](Value v) -> Value {
      auto it = contributions.find(v);
      if (it == contributions.end())
        return {};
      if (it->second.size() == 1)
        return it->second.front();
      // Several users: their gradients meet here.
      return builder.create<JoinOp>(v.getLoc(), v.getType(), it->second);
    };

    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);
    for (Operation *op : llvm::reverse(forwardOps)) {
      if (isa<TaskOp, ParamOp, InputOp, TargetOp, MaskOp, StateOp, SeedOp,
              StateUpdateOp>(op) ||
          op->getNumResults() != 1 || !active.contains(op->getResult(0)))
        continue;
      Value result = op->getResult(0);
      auto seed = lossSeeds.find(result);
      Value resultGrad = gradientOf(result);
      if (!resultGrad && seed == lossSeeds.end())
        continue; // does not reach the objective
      auto rule = autodiff::gradRules().find(op->getName().getStringRef());
      if (rule == autodiff::gradRules().end())
        return op->emitError()
               << "no gradient rule for '" << op->getName() << "'";
      SmallVector<bool> needsGrad;
      for (Value v : op->getOperands())
        needsGrad.push_back(active.contains(v));
      autodiff::GradContext ctx{builder, op, resultGrad,
                                seed == lossSeeds.end() ? 0.0 : seed->second,
                                needsGrad};
      SmallVector<Value> operandGrads(op->getNumOperands());
      rule->second(ctx, operandGrads);
      for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
        if (grad)
          contributions[operand].push_back(grad);
    }

    for (ParamOp param : params) {
      Value grad = gradientOf(param.getResult());
      if (!grad)
        return param.emitError() << "parameter '" << param.getName()
                                 << "' does not affect any task loss";
      builder.create<ParamGradOp>(param.getLoc(), param.getName(), grad);
    }
    return success();
  }
};
} // namespace
