//===- SavePoolArgmax.cpp - mtl-save-pool-argmax
//---------------------------===//
//
// A max pool's gradient finds each window's maximum again in the pool's
// input. For a first layer that input is never stored (codegen recomputes
// the conv, its batch norm and relu wherever they are read), so the search
// costs the conv at every pixel of every window once more, in the backward
// pass; where nothing else reads the input, the search is the backward's
// only reason to read it back. Kept from the forward pass instead --
// computed there in the same pass over the windows as the maximum -- the
// argmax lets the gradient's readers touch one pixel per window. (Where
// the backward reads the input anyway -- a relu's gradient, a batch norm's
// -- it would only add a buffer.)
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace mtl {
#define GEN_PASS_DEF_MTLSAVEPOOLARGMAX
#include "passes/Passes.h.inc"
} // namespace mtl

using namespace mlir;
using namespace mtl;

namespace {

/// Whether `x` is what codegen recomputes rather than stores: [relu of] a
/// training batch norm of a conv2d with at most 9 taps per output, no
/// dilation or groups (codegen/Segments.cpp, firstLayerConv).
bool recomputedFirstLayer(Value x) {
  if (auto relu = x.getDefiningOp<ReluOp>())
    x = relu.getInput();
  auto bn = x.getDefiningOp<BatchNormTrainOp>();
  if (!bn)
    return false;
  auto conv = bn.getInput().getDefiningOp<Conv2DOp>();
  if (!conv || conv.getGroups() != 1 ||
      llvm::any_of(conv.getDilation(), [](int64_t d) { return d != 1; }))
    return false;
  auto w = dyn_cast<RankedTensorType>(conv.getFilter().getType());
  return w && w.hasStaticShape() && w.getRank() == 4 &&
         w.getDimSize(0) * w.getDimSize(1) * w.getDimSize(2) <= 9;
}

/// Whether `x` is kept only for max pools and their gradients: the
/// gradient reading the argmax (1 byte per window) instead of `x` (its
/// window of floats), `x` need not be read again at all (multi_fashion's
/// conv -> max_pool -> relu: 33.5 MB per step at its first pool).
bool onlyPooled(Value x) {
  return llvm::all_of(x.getUsers(), [](Operation *op) {
    return isa<MaxPoolOp, MaxPoolGradOp>(op);
  });
}

/// The max_pool of `grad`'s input with its attributes, before it in its
/// block, if any.
MaxPoolOp forwardOf(MaxPoolGradOp grad) {
  for (Operation *user : grad.getInput().getUsers()) {
    auto pool = dyn_cast<MaxPoolOp>(user);
    if (pool && pool->getBlock() == grad->getBlock() &&
        pool->isBeforeInBlock(grad) &&
        pool.getKernelAttr() == grad.getKernelAttr() &&
        pool.getStrideAttr() == grad.getStrideAttr() &&
        pool.getPaddingAttr() == grad.getPaddingAttr())
      return pool;
  }
  return nullptr;
}

struct SavePoolArgmaxPass
    : mtl::impl::MtlSavePoolArgmaxBase<SavePoolArgmaxPass> {
  using MtlSavePoolArgmaxBase::MtlSavePoolArgmaxBase;

  void runOnOperation() override {
    SmallVector<MaxPoolGradOp> grads;
    getOperation().walk([&](MaxPoolGradOp g) {
      auto k = g.getKernel(); // an i8 argmax: windows of <= 127 elements
      if (!g.getArgmax() && k.size() == 2 && k[0] * k[1] <= 127 &&
          (all || recomputedFirstLayer(g.getInput()) ||
           onlyPooled(g.getInput())))
        grads.push_back(g);
    });
    DenseMap<Operation *, Value> argmaxOf; // max_pool -> its argmax
    for (MaxPoolGradOp grad : grads) {
      MaxPoolOp pool = forwardOf(grad);
      if (!pool)
        continue;
      Value &argmax = argmaxOf[pool];
      if (!argmax) {
        OpBuilder b(pool);
        b.setInsertionPointAfter(pool);
        auto op = b.create<MaxPoolArgmaxOp>(
            pool.getLoc(), UnrankedTensorType::get(b.getIntegerType(8)),
            pool.getInput(), pool.getKernelAttr(), pool.getStrideAttr(),
            pool.getPaddingAttr());
        if (failed(inferResultTypeInPlace(op)))
          return signalPassFailure();
        argmax = op.getResult();
      }
      grad.getArgmaxMutable().assign(argmax);
    }
  }
};
} // namespace
