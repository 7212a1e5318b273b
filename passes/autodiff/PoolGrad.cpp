//===- PoolGrad.cpp - Gradient rules of pooling and upsampling ------------===//
//
// max_pool: each window's gradient goes to the position of its maximum,
// recomputed from the input (no argmax buffer kept from the forward pass).
// avg_pool / global_avg_pool spread it evenly over the window; upsample's
// gradient is its adjoint (a sum over the pixels each input pixel fed).
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
      /*argmax=*/Value(), pool.getKernelAttr(), pool.getStrideAttr(),
      pool.getPaddingAttr());
}

static void avgPoolGrad(mtl::autodiff::GradContext &ctx,
                        SmallVectorImpl<Value> &grads) {
  auto pool = cast<mtl::AvgPoolOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::AvgPoolGradOp>(
      pool.getLoc(), pool.getInput().getType(), ctx.resultGrad,
      pool.getKernelAttr(), pool.getStrideAttr(), pool.getPaddingAttr());
}

static void globalAvgPoolGrad(mtl::autodiff::GradContext &ctx,
                              SmallVectorImpl<Value> &grads) {
  auto pool = cast<mtl::GlobalAvgPoolOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::GlobalAvgPoolGradOp>(
      pool.getLoc(), pool.getInput().getType(), ctx.resultGrad);
}

static void upsampleGrad(mtl::autodiff::GradContext &ctx,
                         SmallVectorImpl<Value> &grads) {
  auto up = cast<mtl::UpsampleOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::UpsampleGradOp>(
      up.getLoc(), up.getInput().getType(), ctx.resultGrad, up.getScaleAttr(),
      up.getModeAttr());
}

void mtl::autodiff::registerPoolGradRules(GradRuleMap &rules) {
  rules["mtl.max_pool"] = maxPoolGrad;
  rules["mtl.avg_pool"] = avgPoolGrad;
  rules["mtl.global_avg_pool"] = globalAvgPoolGrad;
  rules["mtl.upsample"] = upsampleGrad;
}
