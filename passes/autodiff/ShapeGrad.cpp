//===- ShapeGrad.cpp - Gradient rules of flatten and reshape --------------===//
//
// Both only reinterpret the row-major element order: the gradient is the
// result gradient reshaped back to the input's shape.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void reshapeBack(mtl::autodiff::GradContext &ctx,
                        SmallVectorImpl<Value> &grads) {
  Value input = ctx.op->getOperand(0);
  grads[0] = ctx.builder.create<mtl::ReshapeOp>(
      ctx.op->getLoc(), input.getType(), ctx.resultGrad);
}

void mtl::autodiff::registerShapeGradRules(GradRuleMap &rules) {
  rules["mtl.flatten"] = reshapeBack;
  rules["mtl.reshape"] = reshapeBack;
}
