//===- GraphGrad.cpp - Gradient rules of add and concat -------------------===//
//
// add: every input receives dy unchanged (a value added twice receives it
// twice; the two meet in mtl.join). concat: each input receives its slice of
// dy's channels.
//
//===----------------------------------------------------------------------===//
#include "ir/MtlOps.h"
#include "passes/autodiff/GradRules.h"

using namespace mlir;

static void addGrad(mtl::autodiff::GradContext &ctx,
                    SmallVectorImpl<Value> &grads) {
  for (size_t i = 0; i < grads.size(); ++i)
    if (ctx.needsGrad[i])
      grads[i] = ctx.resultGrad;
}

static void concatGrad(mtl::autodiff::GradContext &ctx,
                       SmallVectorImpl<Value> &grads) {
  auto concat = cast<mtl::ConcatOp>(ctx.op);
  int64_t offset = 0;
  for (auto [i, v] : llvm::enumerate(concat.getInputs())) {
    auto type = cast<RankedTensorType>(v.getType());
    if (ctx.needsGrad[i])
      grads[i] = ctx.builder.create<mtl::SliceChannelsOp>(
          concat.getLoc(), type, ctx.resultGrad,
          ctx.builder.getI64IntegerAttr(offset));
    offset += type.getShape().back();
  }
}

void mtl::autodiff::registerGraphGradRules(GradRuleMap &rules) {
  rules["mtl.add"] = addGrad;
  rules["mtl.concat"] = concatGrad;
}
