//===- JoinFusion.cpp - mtl-fuse-join: the task gradients' sum in one GEMM ===//
//
// At the backbone join, reverse mode sums the heads' input gradients:
//     dX = join(dense_backward_input(dy_1, W_1), ..., (dy_T, W_T))
// which is T thin products and T-1 additions. Since
//     sum_t dy_t W_t^T = [dy_1 ... dy_T] [W_1 ... W_T]^T,
// the sum is one product over operands concatenated along their last axis
// (likewise for conv2d_backward_input over output channels). Strategies
// that need the per-task gradients (PCGrad, MGDA, ...) must see the join
// unfused: this pass is then left out of the pipeline.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"
#include "passes/fusion/FusionUtils.h"

namespace mtl {
#define GEN_PASS_DEF_MTLFUSEJOIN
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

bool isCandidate(Value v) {
  Operation *op = v.getDefiningOp();
  if (!op || !isa<DenseBackwardInputOp, Conv2DBackwardInputOp>(op))
    return false;
  if (auto groups = op->getAttrOfType<IntegerAttr>("groups"))
    if (groups.getInt() != 1)
      return false;
  // Its only user is the join: otherwise the per-task product stays.
  return op->hasOneUse();
}

/// The cost model: the T products write T gradients of the join's size that
/// the join reads back; the fused product copies every dy_t and W_t into
/// the concatenations instead.
bool profitable(JoinOp join, ArrayRef<Operation *> group) {
  int64_t saved =
      static_cast<int64_t>(group.size()) * fusion::byteSize(join.getResult());
  int64_t copied = 0;
  for (Operation *op : group)
    copied += fusion::byteSize(op->getOperand(0)) +
              fusion::byteSize(op->getOperand(1));
  if (saved > copied)
    return true;
  join.emitRemark() << "join of " << group.size()
                    << " task gradients not fused: concatenating their "
                       "operands would copy "
                    << fusion::formatBytes(copied) << " to save "
                    << fusion::formatBytes(saved)
                    << " of gradient traffic (cost model; --fuse-always "
                       "overrides)";
  return false;
}

void fuseJoin(JoinOp join, bool costModel) {
  SmallVector<SmallVector<Operation *>> groups;
  SmallVector<Value> rest;
  for (Value in : join.getInputs()) {
    if (!isCandidate(in)) {
      rest.push_back(in);
      continue;
    }
    Operation *op = in.getDefiningOp();
    auto it = llvm::find_if(
        groups, [&](auto &g) { return fusion::sameKind(g.front(), op); });
    if (it == groups.end())
      groups.push_back({op});
    else
      it->push_back(op);
  }
  OpBuilder b(join);
  SmallVector<Operation *> fusedAway;
  for (auto &g : groups) {
    if (g.size() < 2 || (costModel && !profitable(join, g))) {
      for (Operation *op : g)
        rest.push_back(op->getResult(0));
      continue;
    }
    // The forward's order (that of the weights' definitions): head fusion
    // concatenates the same weights in that order, so after CSE the
    // forward and this product read one concatenated weight.
    llvm::stable_sort(g, [](Operation *a, Operation *b) {
      Operation *wa = a->getOperand(1).getDefiningOp(),
                *wb = b->getOperand(1).getDefiningOp();
      return wa && wb && wa->getBlock() == wb->getBlock() &&
             wa->isBeforeInBlock(wb);
    });
    Location loc = g.front()->getLoc();
    SmallVector<Value> dys, ws;
    for (Operation *op : g) {
      dys.push_back(op->getOperand(0));
      ws.push_back(op->getOperand(1));
    }
    Operation *fused = fusion::cloneWith(
        b, g.front(),
        {fusion::concatLast(b, loc, dys), fusion::concatLast(b, loc, ws)},
        join.getType());
    join.emitRemark() << "fused the join of " << g.size()
                      << " task gradients into one '"
                      << g.front()->getName().stripDialect() << "' product";
    rest.push_back(fused->getResult(0));
    fusedAway.append(g.begin(), g.end());
  }
  if (fusedAway.empty())
    return;
  Value sum =
      rest.size() == 1
          ? rest.front()
          : b.create<JoinOp>(join.getLoc(), join.getType(), rest).getResult();
  join.getResult().replaceAllUsesWith(sum);
  join.erase();
  for (Operation *op : fusedAway) // their only user was the join
    op->erase();
}

struct FuseJoinPass : mtl::impl::MtlFuseJoinBase<FuseJoinPass> {
  using MtlFuseJoinBase::MtlFuseJoinBase;
  void runOnOperation() override {
    SmallVector<JoinOp> joins;
    getOperation().walk([&](JoinOp j) { joins.push_back(j); });
    for (JoinOp j : joins)
      fuseJoin(j, costModel);
  }
};
} // namespace
