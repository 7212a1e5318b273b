//===- ConvGrad.cpp - Gradient rules of conv2d and conv_transpose2d -------===//
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
        conv.getStrideAttr(), conv.getPaddingAttr(), conv.getDilationAttr(),
        conv.getGroupsAttr());
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::Conv2DBackwardFilterOp>(
        loc, conv.getFilter().getType(), conv.getInput(), dy,
        conv.getStrideAttr(), conv.getPaddingAttr(), conv.getDilationAttr(),
        conv.getGroupsAttr());
  if (conv.getBias() && ctx.needsGrad[2])
    grads[2] = b.create<mtl::BiasGradOp>(loc, conv.getBias().getType(), dy);
}

/// y = conv_transpose2d(x, w) + b is conv2d_backward_input(x, w) + b:
///   dx = conv2d(dy, w)                  (same stride and padding)
///   dw = conv2d_backward_filter(dy, x)  (dy plays conv2d's input)
///   db = bias_grad(dy)
static void convTranspose2dGrad(mtl::autodiff::GradContext &ctx,
                                SmallVectorImpl<Value> &grads) {
  auto conv = cast<mtl::ConvTranspose2DOp>(ctx.op);
  OpBuilder &b = ctx.builder;
  Location loc = conv.getLoc();
  Value dy = ctx.resultGrad;
  if (ctx.needsGrad[0])
    grads[0] = b.create<mtl::Conv2DOp>(
        loc, conv.getInput().getType(), dy, conv.getFilter(), Value(),
        conv.getStrideAttr(), conv.getPaddingAttr(), nullptr, nullptr);
  if (ctx.needsGrad[1])
    grads[1] = b.create<mtl::Conv2DBackwardFilterOp>(
        loc, conv.getFilter().getType(), dy, conv.getInput(),
        conv.getStrideAttr(), conv.getPaddingAttr(), nullptr, nullptr);
  if (conv.getBias() && ctx.needsGrad[2])
    grads[2] = b.create<mtl::BiasGradOp>(loc, conv.getBias().getType(), dy);
}

void mtl::autodiff::registerConvGradRules(GradRuleMap &rules) {
  rules["mtl.conv2d"] = conv2dGrad;
  rules["mtl.conv_transpose2d"] = convTranspose2dGrad;
}
