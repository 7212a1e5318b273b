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
#include "llvm/ADT/bit.h"

#include <map>

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

    activeSet = &active;
    lossTasks.clear();
    // The objective is sum_t weight_t * loss_t. Tasks are numbered in
    // program order (the order of the run-time weights).
    SmallVector<TaskOp> tasks(body.getOps<TaskOp>());
    if (tasks.size() > 64)
      return step.emitError() << "mtl-autodiff supports at most 64 tasks";
    uint64_t allTasks = 0;
    staticWeights.clear();
    for (TaskOp task : tasks)
      staticWeights.push_back(task.getWeight().convertToDouble());
    for (auto [i, task] : llvm::enumerate(tasks))
      if (active.contains(task.getLoss())) {
        lossTasks[task.getLoss()].push_back(static_cast<int>(i));
        allTasks |= uint64_t(1) << i;
      }
    if (lossTasks.empty())
      return step.emitError()
             << "no task loss depends on a parameter: nothing to train";

    OpBuilder builder(terminator);
    weights = {};
    if (runtimeWeights)
      weights = builder.create<LossWeightsOp>(
          step.getLoc(),
          RankedTensorType::get({static_cast<int64_t>(tasks.size())},
                                builder.getF32Type()));

    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);

    // One reverse sweep for all tasks, or one per task when the shared
    // parameters need per-task gradients.
    SmallVector<uint64_t> groups;
    if (perTaskParamGrads) {
      for (size_t i = 0; i < tasks.size(); ++i)
        if (allTasks >> i & 1)
          groups.push_back(uint64_t(1) << i);
    } else {
      groups.push_back(allTasks);
    }
    // Per parameter, its gradient from each sweep (null: not reached).
    SmallVector<SmallVector<Value>> paramGrads(params.size());
    taskJoinCount = 0;
    for (uint64_t group : groups) {
      Sweep sw;
      if (failed(sweep(builder, forwardOps, group, sw)))
        return failure();
      for (auto [i, param] : llvm::enumerate(params))
        paramGrads[i].push_back(
            sw.gradientOf(builder, param.getResult(), *this));
    }

    // A strategy that works at the task join would silently do nothing.
    if (!taskJoins.empty() && taskJoinCount == 0)
      return step.emitError()
             << taskJoins
             << " needs a join where distinct tasks' gradients meet (heads "
                "reading one shared value), and this model has none; use "
                "on = \"param\"";
    for (auto [i, param] : llvm::enumerate(params)) {
      SmallVector<std::pair<size_t, Value>> reached;
      for (auto [g, grad] : llvm::enumerate(paramGrads[i]))
        if (grad)
          reached.push_back({g, grad});
      if (reached.empty())
        return param.emitError() << "parameter '" << param.getName()
                                 << "' does not affect any task loss";
      if (reached.size() == 1) {
        builder.create<ParamGradOp>(param.getLoc(), param.getName(),
                                    reached.front().second);
        continue;
      }
      // Shared by several tasks (per-task sweeps): one gradient per task,
      // combined by the runtime's gradient method.
      for (auto [g, grad] : reached) {
        auto op =
            builder.create<ParamGradOp>(param.getLoc(), param.getName(), grad);
        int task = llvm::countr_zero(groups[g]);
        op->setAttr("mtl.task", tasks[task].getNameAttr());
      }
    }
    return success();
  }

  /// The gradients reaching each value in one reverse sweep, and the tasks
  /// each gradient comes from (bit t = task t).
  struct Sweep {
    llvm::MapVector<Value, SmallVector<Value, 2>> contributions;
    DenseMap<Value, uint64_t> taskMask;

    Value gradientOf(OpBuilder &builder, Value v, AutodiffPass &pass) {
      auto it = contributions.find(v);
      if (it == contributions.end())
        return {};
      if (it->second.size() == 1)
        return it->second.front();
      // Several users: their gradients meet here.
      return pass.makeJoin(builder, v, it->second, *this);
    }
  };

  /// A join of `inputs`; with task joins on, one where each input comes
  /// from a single task, several tasks in all, becomes a task join (one
  /// input per task, in task order).
  Value makeJoin(OpBuilder &builder, Value v, ArrayRef<Value> inputs,
                 Sweep &sw) {
    uint64_t mask = 0;
    bool single = true;
    std::map<int, SmallVector<Value>> byTask;
    for (Value in : inputs) {
      uint64_t m = sw.taskMask.lookup(in);
      mask |= m;
      single = single && llvm::popcount(m) == 1;
      if (single)
        byTask[llvm::countr_zero(m)].push_back(in);
    }
    Value result;
    if (!taskJoins.empty() && single && byTask.size() >= 2) {
      SmallVector<Value> perTask;
      SmallVector<int64_t> ids;
      for (auto &[task, values] : byTask) {
        ids.push_back(task);
        perTask.push_back(
            values.size() == 1
                ? values.front()
                : builder.create<JoinOp>(v.getLoc(), v.getType(), values)
                      .getResult());
      }
      auto join = builder.create<JoinOp>(v.getLoc(), v.getType(), perTask);
      join->setAttr("mtl.task_join", builder.getUnitAttr());
      join->setAttr("tasks", builder.getDenseI64ArrayAttr(ids));
      ++taskJoinCount;
      join.emitRemark() << "join of " << perTask.size()
                        << " task gradients kept unfused: " << taskJoins
                        << " needs the per-task gradients there";
      result = join;
    } else {
      result = builder.create<JoinOp>(v.getLoc(), v.getType(), inputs);
    }
    sw.taskMask[result] = mask;
    return result;
  }

  /// Reverse sweep over `forwardOps` seeded by the tasks in `group`.
  LogicalResult sweep(OpBuilder &builder, ArrayRef<Operation *> forwardOps,
                      uint64_t group, Sweep &sw) {
    for (Operation *op : llvm::reverse(forwardOps)) {
      if (isa<TaskOp, ParamOp, InputOp, TargetOp, MaskOp, StateOp, SeedOp,
              StateUpdateOp, LossWeightsOp>(op) ||
          op->getNumResults() != 1 || !activeSet->contains(op->getResult(0)))
        continue;
      Value result = op->getResult(0);
      // The tasks of this sweep whose loss is `result`.
      SmallVector<int> seedTasks;
      auto lt = lossTasks.find(result);
      if (lt != lossTasks.end())
        for (int t : lt->second)
          if (group >> t & 1)
            seedTasks.push_back(t);
      Value resultGrad = sw.gradientOf(builder, result, *this);
      if (!resultGrad && seedTasks.empty())
        continue; // does not reach the objective
      auto rule = autodiff::gradRules().find(op->getName().getStringRef());
      if (rule == autodiff::gradRules().end())
        return op->emitError()
               << "no gradient rule for '" << op->getName() << "'";
      SmallVector<bool> needsGrad;
      for (Value v : op->getOperands())
        needsGrad.push_back(isActive(v));
      double seed = 0.0;
      uint64_t mask = resultGrad ? sw.taskMask.lookup(resultGrad) : 0;
      for (int t : seedTasks) {
        seed += weights ? 1.0 : staticWeights[t];
        mask |= uint64_t(1) << t;
      }
      autodiff::GradContext ctx{builder, op, resultGrad, seed, needsGrad};
      SmallVector<Value> operandGrads(op->getNumOperands());
      rule->second(ctx, operandGrads);
      if (weights && !seedTasks.empty())
        for (Value &g : operandGrads)
          if (g)
            g = scaleByTasks(builder, g, seedTasks);
      for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads))
        if (grad) {
          sw.contributions[operand].push_back(grad);
          sw.taskMask[grad] |= mask;
        }
    }
    return success();
  }

  /// g * w[t], summed over the tasks sharing one loss value.
  Value scaleByTasks(OpBuilder &builder, Value g, ArrayRef<int> seedTasks) {
    SmallVector<Value> scaled;
    for (int t : seedTasks)
      scaled.push_back(builder.create<ScaleTaskOp>(
          g.getLoc(), g.getType(), g, weights, builder.getI64IntegerAttr(t)));
    return scaled.size() == 1
               ? scaled.front()
               : builder.create<JoinOp>(g.getLoc(), g.getType(), scaled)
                     .getResult();
  }

  bool isActive(Value v) { return activeSet->contains(v); }

  DenseMap<Value, SmallVector<int>> lossTasks;
  SmallVector<double> staticWeights;
  Value weights;
  int taskJoinCount = 0;
  const DenseSet<Value> *activeSet = nullptr;
};
} // namespace
