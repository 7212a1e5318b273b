//===- PoolGrad.cpp - Gradient rule of mtl.max_pool -----------------------===//
//
// Each window's gradient goes to the position of its maximum, recomputed
// from the input (no argmax buffer kept from the forward pass).
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void maxPoolGrad(mtl::autodiff::GradContext &ctx,
                        SmallVectorImpl<Value> &grads) {
  auto pool = cast<mtl::MaxPoolOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::MaxPoolGradOp>(
      pool.getLoc(), pool.getInput().getType(), ctx.resultGrad, pool.getInput(),
      pool.getKernelAttr(), pool.getStrideAttr());
}

void mtl::autodiff::registerPoolGradRules(GradRuleMap &rules) {
  rules["mtl.max_pool"] = maxPoolGrad;
}
