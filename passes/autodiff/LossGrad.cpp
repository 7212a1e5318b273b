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
      loss.getTarget(), loss.getMask(), b.getF64FloatAttr(ctx.lossSeed),
      loss.getLabelSmoothingAttr());
}

static void mseGrad(mtl::autodiff::GradContext &ctx,
                    SmallVectorImpl<Value> &grads) {
  auto loss = cast<mtl::MseOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  grads[0] = b.create<mtl::MseGradOp>(
      loss.getLoc(), loss.getPrediction().getType(), loss.getPrediction(),
      loss.getTarget(), loss.getMask(), b.getF64FloatAttr(ctx.lossSeed));
}

/// Losses of (prediction, target, mask) whose gradient op takes the same
/// operands plus `scale`.
template <typename LossOp, typename GradOp>
static void elementLossGrad(mtl::autodiff::GradContext &ctx,
                            SmallVectorImpl<Value> &grads) {
  auto loss = cast<LossOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  grads[0] = b.create<GradOp>(loss.getLoc(), loss.getPrediction().getType(),
                              loss.getPrediction(), loss.getTarget(),
                              loss.getMask(), b.getF64FloatAttr(ctx.lossSeed));
}

static void smoothL1Grad(mtl::autodiff::GradContext &ctx,
                         SmallVectorImpl<Value> &grads) {
  auto loss = cast<mtl::SmoothL1Op>(ctx.op);
  OpBuilder &b = ctx.builder;
  grads[0] = b.create<mtl::SmoothL1GradOp>(
      loss.getLoc(), loss.getPrediction().getType(), loss.getPrediction(),
      loss.getTarget(), loss.getMask(), b.getF64FloatAttr(ctx.lossSeed),
      loss.getBetaAttr());
}

/// KL(N(mu, exp(lv)) || N(0, I)): d/dmu = mu, d/dlv = (exp(lv) - 1) / 2.
static void klDivergenceGrad(mtl::autodiff::GradContext &ctx,
                             SmallVectorImpl<Value> &grads) {
  auto loss = cast<mtl::KlDivergenceOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  auto scale = b.getF64FloatAttr(ctx.lossSeed);
  if (ctx.needsGrad[0])
    grads[0] = b.create<mtl::KlDivergenceMeanGradOp>(
        loss.getLoc(), loss.getMean().getType(), loss.getMean(),
        loss.getLogvar(), loss.getMask(), scale);
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::KlDivergenceLogvarGradOp>(
        loss.getLoc(), loss.getLogvar().getType(), loss.getMean(),
        loss.getLogvar(), loss.getMask(), scale);
}

void mtl::autodiff::registerLossGradRules(GradRuleMap &rules) {
  rules["mtl.softmax_cross_entropy"] = softmaxCrossEntropyGrad;
  rules["mtl.mse"] = mseGrad;
  rules["mtl.sigmoid_cross_entropy"] =
      elementLossGrad<mtl::SigmoidCrossEntropyOp,
                      mtl::SigmoidCrossEntropyGradOp>;
  rules["mtl.l1"] = elementLossGrad<mtl::L1Op, mtl::L1GradOp>;
  rules["mtl.smooth_l1"] = smoothL1Grad;
  rules["mtl.iou_loss"] = elementLossGrad<mtl::IouLossOp, mtl::IouLossGradOp>;
  rules["mtl.giou_loss"] =
      elementLossGrad<mtl::GiouLossOp, mtl::GiouLossGradOp>;
  rules["mtl.kl_divergence"] = klDivergenceGrad;
}
