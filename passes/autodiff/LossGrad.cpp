//===- LossGrad.cpp - Gradient rules of the task losses -------------------===//
//
// A loss is where the reverse sweep starts: its seed is d objective / d loss
// (the task weight), folded into the gradient op's `scale` so the backward
// pass needs no scalar broadcast. Targets and masks are data: no gradient.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void softmaxCrossEntropyGrad(mtl::autodiff::GradContext &ctx,
                                    SmallVectorImpl<Value> &grads) {
  auto loss = cast<mtl::SoftmaxCrossEntropyOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  grads[0] = b.create<mtl::SoftmaxCrossEntropyGradOp>(
      loss.getLoc(), loss.getLogits().getType(), loss.getLogits(),
      loss.getTarget(), loss.getMask(), b.getF64FloatAttr(ctx.lossSeed));
}

static void mseGrad(mtl::autodiff::GradContext &ctx,
                    SmallVectorImpl<Value> &grads) {
  auto loss = cast<mtl::MseOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  grads[0] = b.create<mtl::MseGradOp>(
      loss.getLoc(), loss.getPrediction().getType(), loss.getPrediction(),
      loss.getTarget(), loss.getMask(), b.getF64FloatAttr(ctx.lossSeed));
}

void mtl::autodiff::registerLossGradRules(GradRuleMap &rules) {
  rules["mtl.softmax_cross_entropy"] = softmaxCrossEntropyGrad;
  rules["mtl.mse"] = mseGrad;
}
