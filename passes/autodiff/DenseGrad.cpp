//===- DenseGrad.cpp - Gradient rule of mtl.dense -------------------------===//
//
// y = x w + b:  dx = dy w^T,  dw = x^T dy,  db = sum_n dy.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void denseGrad(mtl::autodiff::GradContext &ctx,
                      SmallVectorImpl<Value> &grads) {
  auto dense = cast<mtl::DenseOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  Location loc = dense.getLoc();
  Value dy = ctx.resultGrad;
  if (ctx.needsGrad[0])
    grads[0] = b.create<mtl::DenseBackwardInputOp>(
        loc, dense.getInput().getType(), dy, dense.getWeight());
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::DenseBackwardWeightOp>(
        loc, dense.getWeight().getType(), dense.getInput(), dy);
  if (dense.getBias() && ctx.needsGrad[2])
    grads[2] = b.create<mtl::BiasGradOp>(loc, dense.getBias().getType(), dy);
}

void mtl::autodiff::registerDenseGradRules(GradRuleMap &rules) {
  rules["mtl.dense"] = denseGrad;
}
