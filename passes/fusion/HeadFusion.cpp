//===- HeadFusion.cpp - mtl-fuse-heads: horizontal head fusion ------------===//
//
// Every task head reads the same backbone tensor. The first products of the
// heads that read one tensor X with the same geometry,
//     y_t = dense(X, W_t, b_t)            (forward)
//     dW_t = dense_backward_weight(X, dy_t)   (backward, train step)
// (and the conv2d / conv2d_backward_filter equivalents) become one wider
// product over operands concatenated along their last axis, whose result is
// sliced back per task: one GEMM / conv of width sum(M_t) instead of T thin
// ones. Parameters stay separate (the concatenation is of their values), so
// checkpoints do not change -- and the concatenation and the slices are
// copies on every call: the cost model fuses a group only where they move
// fewer bytes than the T-1 reads of the shared tensor the fusion saves.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"
#include "passes/fusion/FusionUtils.h"

#include "llvm/ADT/MapVector.h"

namespace mtl {
#define GEN_PASS_DEF_MTLFUSEHEADS
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

bool isCandidate(Operation *op) {
  if (!isa<DenseOp, Conv2DOp, DenseBackwardWeightOp, Conv2DBackwardFilterOp>(
          op))
    return false;
  // Grouped convolutions mix channels per group: concatenating filters of
  // two grouped convs is not one grouped conv.
  if (auto groups = op->getAttrOfType<IntegerAttr>("groups"))
    if (groups.getInt() != 1) {
      op->emitRemark("not fused: grouped convolution");
      return false;
    }
  return true;
}

/// Where the fused product can go: after every operand it reads and before
/// every use of the products it replaces. Null if there is no such place.
Operation *insertionPoint(ArrayRef<Operation *> group) {
  Operation *first = group.front();
  // Parameters have no operands and may move up freely.
  for (Operation *op : group)
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp())
        if (def->getNumOperands() == 0 && first->isBeforeInBlock(def))
          def->moveBefore(first);
  Operation *point = first;
  for (Operation *op : group)
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp())
        if (point->isBeforeInBlock(def) || def == point)
          point = def->getNextNode();
  for (Operation *op : group)
    for (Operation *user : op->getUsers())
      if (user->isBeforeInBlock(point))
        return nullptr;
  return point;
}

/// The cost model: fusing saves T-1 reads of the shared operand; it costs
/// writing and re-reading the concatenated operands and the sliced results.
bool profitable(ArrayRef<Operation *> group) {
  Operation *first = group.front();
  int64_t saved = (static_cast<int64_t>(group.size()) - 1) *
                  fusion::byteSize(first->getOperand(0));
  int64_t copied = 0;
  for (Operation *op : group) {
    for (unsigned i = 1; i < op->getNumOperands(); ++i)
      copied += 2 * fusion::byteSize(op->getOperand(i));
    copied += 2 * fusion::byteSize(op->getResult(0));
  }
  if (saved > copied)
    return true;
  first->emitRemark() << "not fused: the " << group.size() << " '"
                      << first->getName().stripDialect()
                      << "' products sharing this operand would copy "
                      << fusion::formatBytes(copied)
                      << " (concatenated operands, sliced results) to save "
                      << fusion::formatBytes(saved)
                      << " of reads (cost model; --fuse-always overrides)";
  return false;
}

void fuse(ArrayRef<Operation *> group) {
  Operation *first = group.front();
  Operation *point = insertionPoint(group);
  if (!point) {
    first->emitRemark() << "not fused: the " << group.size() << " '"
                        << first->getName()
                        << "' products sharing this operand are "
                           "interleaved with their uses";
    return;
  }
  OpBuilder b(point);
  Location loc = first->getLoc();
  SmallVector<Value> operands{first->getOperand(0)};
  for (unsigned i = 1; i < first->getNumOperands(); ++i) {
    SmallVector<Value> perTask;
    for (Operation *op : group)
      perTask.push_back(op->getOperand(i));
    operands.push_back(fusion::concatLast(b, loc, perTask));
  }
  int64_t width = 0;
  for (Operation *op : group)
    width += fusion::lastDim(op->getResult(0));
  Type fusedType = fusion::withLastDim(first->getResult(0).getType(), width);
  Operation *fused = fusion::cloneWith(b, first, operands, fusedType);
  fused->emitRemark() << "fused " << group.size() << " '"
                      << first->getName().stripDialect()
                      << "' products that share an operand into one of width "
                      << width;
  // The insertion point may be one of the replaced products: slice after the
  // fused product, and erase only once every slice exists.
  b.setInsertionPointAfter(fused);
  int64_t offset = 0;
  for (Operation *op : group) {
    Value part = b.create<SliceChannelsOp>(
        op->getLoc(), op->getResult(0).getType(), fused->getResult(0),
        b.getI64IntegerAttr(offset));
    offset += fusion::lastDim(op->getResult(0));
    op->getResult(0).replaceAllUsesWith(part);
  }
  for (Operation *op : group)
    op->erase();
}

struct FuseHeadsPass : mtl::impl::MtlFuseHeadsBase<FuseHeadsPass> {
  using MtlFuseHeadsBase::MtlFuseHeadsBase;
  void runOnOperation() override {
    // Products keyed by their shared operand and their kind (name, operand
    // count, attributes: the same geometry), in program order.
    llvm::MapVector<Value, SmallVector<SmallVector<Operation *>>> byOperand;
    getOperation().walk([&](Operation *op) {
      if (!isCandidate(op))
        return;
      auto &groups = byOperand[op->getOperand(0)];
      for (auto &g : groups)
        if (fusion::sameKind(g.front(), op)) {
          g.push_back(op);
          return;
        }
      groups.push_back({op});
    });
    for (auto &[operand, groups] : byOperand)
      for (auto &g : groups)
        if (g.size() > 1 && (!costModel || profitable(g)))
          fuse(g);
  }
};
} // namespace
