//===- EpilogueFusion.cpp - mtl-fuse-epilogue: activations in the product -===//
//
// A product (conv2d, dense, conv_transpose2d; bias already inside; or a
// batch-norm apply, a max pool) followed by an elementwise activation is two
// passes over memory: the product writes its result, the activation reads it
// and writes its own. When the product's only user is the activation, codegen
// applies the activation to the product's register tile before the store
// instead: the pre-activation tensor is never materialized, the activation's
// result is (the backward ops, e.g. relu_grad, read it).
//
// The pass only annotates: the activation gets the unit attribute
// `mtl.fused_epilogue`; its first operand names the producer (or the
// previous fused epilogue of a chain). codegen/Lowering.cpp honours it.
//
// One rewrite makes more products fusable: after mtl-fuse-heads, the heads'
// activations read slices of one wide product. When every slice of a
// product feeds one activation of the same kind, the activation is applied
// once to the wide product and the slices read its result.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"
#include "passes/fusion/FusionUtils.h"

namespace mtl {
#define GEN_PASS_DEF_MTLFUSEEPILOGUE
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

constexpr llvm::StringLiteral kFusedEpilogue = "mtl.fused_epilogue";

/// Products whose codegen applies an epilogue to its register tile, and
/// memory-bound maps whose pass the next op can share: batch-norm apply
/// (training or inference), max_pool (a LeNet's pool -> relu) and, in the
/// backward, max_pool_grad.
bool isProducer(Operation *op) {
  return isa<Conv2DOp, DenseOp, ConvTranspose2DOp, BatchNormTrainOp,
             BatchNormOp, MaxPoolOp, MaxPoolGradOp>(op);
}

/// Elementwise consumers codegen can apply inside a producer (its epilogue
/// table, codegen/Lowering.cpp); their other operands must be defined
/// before the producer (checked below).
bool isEpilogue(Operation *op) {
  if (isa<ReluOp, LeakyReluOp, SigmoidOp, TanhOp, GeluOp>(op))
    return true;
  // Inference batch norm (eval and predict steps), a per-channel affine map,
  // on a product's tile: conv -> batch_norm -> relu is one pass over memory,
  // not three (the eval step's first layer wrote and read 26 MB twice more).
  if (isa<BatchNormOp>(op) && op->getOperand(0).getDefiningOp())
    return isa<Conv2DOp, DenseOp, ConvTranspose2DOp>(
        op->getOperand(0).getDefiningOp());
  // In the backward: max_pool_grad -> relu_grad(., y), y from the forward.
  return isa<ReluGradOp>(op) && op->getOperand(0).getDefiningOp() &&
         isa<MaxPoolGradOp>(op->getOperand(0).getDefiningOp());
}

/// dense -> slice_t -> act_t (every slice, the same act) becomes
/// dense -> act -> slice_t. Returns whether it rewrote.
bool hoistOverSlices(Operation *product) {
  Value result = product->getResult(0);
  SmallVector<Operation *> slices(result.getUsers()), acts;
  // In program order: the wide activation takes the first head's location.
  llvm::sort(slices,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  for (Operation *user : slices) {
    if (!isa<SliceChannelsOp>(user) || !user->hasOneUse())
      return false;
    Operation *act = *user->getUsers().begin();
    if (!isEpilogue(act) || act->getNumOperands() != 1 ||
        (!acts.empty() && !fusion::sameKind(acts.front(), act)))
      return false;
    acts.push_back(act);
  }
  if (slices.size() < 2)
    return false;
  OpBuilder b(product->getContext());
  b.setInsertionPointAfter(product);
  Operation *wide =
      fusion::cloneWith(b, acts.front(), {result}, result.getType());
  result.replaceAllUsesExcept(wide->getResult(0), wide);
  // Slices come after the product (mtl-fuse-heads puts them right behind
  // it), so after `wide` too.
  for (Operation *slice : slices)
    if (slice->isBeforeInBlock(wide))
      slice->moveAfter(wide);
  for (Operation *act : acts) {
    act->getResult(0).replaceAllUsesWith(act->getOperand(0));
    act->erase();
  }
  wide->emitRemark() << "applied the heads' '" << wide->getName().stripDialect()
                     << "' once to the fused product, before its "
                     << slices.size() << " slices";
  return true;
}

/// Whether every operand of `consumer` but the first is defined before
/// `producer` (codegen computes the epilogue inside the producer's loops).
/// The step function's arguments -- parameters, state, inputs -- are ready
/// wherever their ops stand (a batch norm's gamma and running statistics
/// are declared after the conv before it).
bool operandsReady(Operation *consumer, Operation *producer) {
  for (Value v : consumer->getOperands().drop_front()) {
    Operation *def = v.getDefiningOp();
    if (def && isa<ParamOp, StateOp, InputOp, TargetOp, MaskOp>(def))
      continue;
    if (def && def->getBlock() == producer->getBlock() &&
        !def->isBeforeInBlock(producer))
      return false;
  }
  return true;
}

struct FuseEpiloguePass : mtl::impl::MtlFuseEpilogueBase<FuseEpiloguePass> {
  void runOnOperation() override {
    SmallVector<Operation *> products;
    getOperation().walk([&](Operation *op) {
      if (isProducer(op))
        products.push_back(op);
    });
    for (Operation *p : products)
      hoistOverSlices(p);

    getOperation().walk([&](Operation *op) {
      if (!isEpilogue(op) || op->getNumOperands() == 0)
        return;
      Operation *def = op->getOperand(0).getDefiningOp();
      if (!def)
        return;
      // The root of the chain: a product, through fused epilogues.
      Operation *root = def;
      while (root && !isProducer(root) && root->hasAttr(kFusedEpilogue))
        root = root->getOperand(0).getDefiningOp();
      if (!root || !isProducer(root))
        return;
      if (!def->hasOneUse()) {
        op->emitRemark() << "not fused: the '" << def->getName().stripDialect()
                         << "' result it reads has other users";
        return;
      }
      if (!operandsReady(op, root)) {
        op->emitRemark() << "not fused: an operand is defined after the '"
                         << root->getName().stripDialect() << "'";
        return;
      }
      op->setAttr(kFusedEpilogue, UnitAttr::get(op->getContext()));
      op->emitRemark() << "fused '" << op->getName().stripDialect()
                       << "' into the epilogue of '"
                       << root->getName().stripDialect() << "'";
    });
  }
};
} // namespace
