//===- LossFusion.cpp - mtl-fuse-losses: a loss and its gradient together -===//
//
// In the train step every task loss L(p, t, m) has a gradient op over the
// same operands. Both compute the same per-sample terms: the row
// log-sum-exp of a softmax cross-entropy (the softmax), the mask
// denominator max(sum m, 1). The pass gives a loss and its gradient op(s)
// one `mtl.loss_group` id; codegen (codegen/ops/Loss.cpp) then computes the
// shared terms once per group, and the per-sample stages of all groups with
// the same batch size in one loop over the batch.
//
// The pass only annotates; it never changes what is computed. The shared
// terms depend on the operands only (not on `scale`, label smoothing or
// beta), so a group is the loss and its gradient ops over the same operands.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

namespace mtl {
#define GEN_PASS_DEF_MTLFUSELOSSES
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

constexpr llvm::StringLiteral kLossGroup = "mtl.loss_group";

/// The gradient op names of a loss op (without the dialect prefix).
SmallVector<std::string, 2> gradNames(Operation *loss) {
  std::string name = loss->getName().stripDialect().str();
  if (isa<KlDivergenceOp>(loss))
    return {name + "_mean_grad", name + "_logvar_grad"};
  return {name + "_grad"};
}

bool isLoss(Operation *op) {
  return isa<SoftmaxCrossEntropyOp, MseOp, SigmoidCrossEntropyOp, L1Op,
             SmoothL1Op, KlDivergenceOp>(op);
}

struct FuseLossesPass : mtl::impl::MtlFuseLossesBase<FuseLossesPass> {
  void runOnOperation() override {
    SmallVector<Operation *> losses;
    getOperation().walk([&](Operation *op) {
      if (isLoss(op))
        losses.push_back(op);
    });
    int64_t next = 0;
    for (Operation *loss : losses) {
      auto names = gradNames(loss);
      // Every gradient op over the loss's operands: users of its prediction.
      SmallVector<Operation *> grads;
      for (Operation *user : loss->getOperand(0).getUsers()) {
        if (user == loss || user->getNumOperands() != loss->getNumOperands() ||
            user->getOperands() != loss->getOperands() ||
            !llvm::is_contained(names, user->getName().stripDialect().str()))
          continue;
        grads.push_back(user);
      }
      Builder b(loss->getContext());
      auto id = b.getI64IntegerAttr(next++);
      loss->setAttr(kLossGroup, id);
      for (Operation *g : grads)
        g->setAttr(kLossGroup, id);
      if (grads.empty())
        loss->emitRemark() << "loss group " << id.getInt()
                           << ": no gradient (forward only)";
      else
        loss->emitRemark() << "loss group " << id.getInt() << ": '"
                           << loss->getName().stripDialect() << "' and "
                           << grads.size()
                           << " gradient op(s) computed together";
    }
  }
};
} // namespace
