//===- ActivationGrad.cpp - Gradient rules of the activations -------------===//
//
// relu: dx = dy where y > 0. Reading the output y (not x) lets the forward
// buffer of x die early.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void reluGrad(mtl::autodiff::GradContext &ctx,
                     SmallVectorImpl<Value> &grads) {
  auto relu = cast<mtl::ReluOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::ReluGradOp>(
      relu.getLoc(), relu.getType(), ctx.resultGrad, relu.getResult());
}

void mtl::autodiff::registerActivationGradRules(GradRuleMap &rules) {
  rules["mtl.relu"] = reluGrad;
}
