//===- ConvGrad.cpp - Gradient rule of mtl.conv2d -------------------------===//
//
// y = conv(x, w) + b:
//   dx = conv2d_backward_input(dy, w)   (transposed convolution)
//   dw = conv2d_backward_filter(x, dy)  (correlation of x with dy)
//   db = bias_grad(dy)                  (sum over N, H, W)
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void conv2dGrad(mtl::autodiff::GradContext &ctx,
                       SmallVectorImpl<Value> &grads) {
  auto conv = cast<mtl::Conv2DOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  Location loc = conv.getLoc();
  Value dy = ctx.resultGrad;
  if (ctx.needsGrad[0])
    grads[0] = b.create<mtl::Conv2DBackwardInputOp>(
        loc, conv.getInput().getType(), dy, conv.getFilter(),
        conv.getStrideAttr(), conv.getPaddingAttr());
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::Conv2DBackwardFilterOp>(
        loc, conv.getFilter().getType(), conv.getInput(), dy,
        conv.getStrideAttr(), conv.getPaddingAttr());
  if (conv.getBias() && ctx.needsGrad[2])
    grads[2] = b.create<mtl::BiasGradOp>(loc, conv.getBias().getType(), dy);
}

void mtl::autodiff::registerConvGradRules(GradRuleMap &rules) {
  rules["mtl.conv2d"] = conv2dGrad;
}
