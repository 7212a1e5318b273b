//===- ActivationGrad.cpp - Gradient rules of the activations -------------===//
//
// relu: dx = dy where y > 0. Reading the output y (not x) lets the forward
// buffer of x die early. sigmoid, tanh and softmax read their output too;
// leaky_relu and gelu (tanh approximation) read their input.
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

/// dx = OpGrad(dy, the op's result): the activations whose derivative is a
/// function of their output (sigmoid, tanh, softmax).
template <typename Op, typename GradOp>
static void fromOutput(mtl::autodiff::GradContext &ctx,
                       SmallVectorImpl<Value> &grads) {
  auto op = cast<Op>(ctx.op);
  grads[0] = ctx.builder.create<GradOp>(op.getLoc(), op.getType(),
                                        ctx.resultGrad, op.getResult());
}

static void leakyReluGrad(mtl::autodiff::GradContext &ctx,
                          SmallVectorImpl<Value> &grads) {
  auto op = cast<mtl::LeakyReluOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::LeakyReluGradOp>(
      op.getLoc(), op.getType(), ctx.resultGrad, op.getInput(),
      op.getAlphaAttr());
}

static void geluGrad(mtl::autodiff::GradContext &ctx,
                     SmallVectorImpl<Value> &grads) {
  auto op = cast<mtl::GeluOp>(ctx.op);
  grads[0] = ctx.builder.create<mtl::GeluGradOp>(op.getLoc(), op.getType(),
                                                 ctx.resultGrad, op.getInput());
}

void mtl::autodiff::registerActivationGradRules(GradRuleMap &rules) {
  rules["mtl.relu"] = reluGrad;
  rules["mtl.leaky_relu"] = leakyReluGrad;
  rules["mtl.sigmoid"] = fromOutput<mtl::SigmoidOp, mtl::SigmoidGradOp>;
  rules["mtl.tanh"] = fromOutput<mtl::TanhOp, mtl::TanhGradOp>;
  rules["mtl.gelu"] = geluGrad;
  rules["mtl.softmax"] = fromOutput<mtl::SoftmaxOp, mtl::SoftmaxGradOp>;
}
