//===- NormGrad.cpp - Gradient rules of the normalization layers ----------===//
//
// layer_norm: y = xh * gamma + beta, xh = (x - mean) / sqrt(var + eps) over
// the last axis:
//   dx     = layer_norm_grad_input(dy, x, gamma)  (recomputes mean and var)
//   dgamma = layer_norm_grad_gamma(dy, x)         (sum of dy * xh)
//   dbeta  = bias_grad(dy)
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void layerNormGrad(mtl::autodiff::GradContext &ctx,
                          SmallVectorImpl<Value> &grads) {
  auto ln = cast<mtl::LayerNormOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  Location loc = ln.getLoc();
  Value dy = ctx.resultGrad;
  if (ctx.needsGrad[0])
    grads[0] = b.create<mtl::LayerNormGradInputOp>(
        loc, ln.getInput().getType(), dy, ln.getInput(), ln.getGamma(),
        ln.getEpsAttr());
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::LayerNormGradGammaOp>(
        loc, ln.getGamma().getType(), dy, ln.getInput(), ln.getEpsAttr());
  if (ctx.needsGrad[2])
    grads[2] = b.create<mtl::BiasGradOp>(loc, ln.getBeta().getType(), dy);
}

void mtl::autodiff::registerNormGradRules(GradRuleMap &rules) {
  rules["mtl.layer_norm"] = layerNormGrad;
}
