//===- Elementwise.cpp - relu, relu_grad, join, reshape, bias_grad -------===//
//
// Memory-bound ops: one compute_root stage each, vectorized over the
// innermost (channel) dim, parallel over the batch. bias_grad reduces the
// batch in independent chunks so two threads share it.
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

void requireSameShape(OpContext &ctx) {
  for (auto &s : ctx.inputShapes)
    if (s != ctx.shape)
      throw LoweringError{"operands must have the result's shape"};
}

Func elementwise(OpContext &ctx, std::function<Expr(std::vector<Expr>)> f) {
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> ins;
  for (Func &in : ctx.inputs)
    ins.push_back(call(in, asExprs(v)));
  Func out(ctx.resultName);
  out(v) = f(ins);
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Expr reluOf(Expr x) { return max(x, 0.0f); }

Func lowerRelu(OpContext &ctx) {
  if (ctx.inputs.size() != 1)
    throw LoweringError{"expects (x)"};
  requireSameShape(ctx);
  return elementwise(ctx, [](std::vector<Expr> a) { return reluOf(a[0]); });
}

Func lowerReluGrad(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (dy, y)"};
  requireSameShape(ctx);
  return elementwise(
      ctx, [](std::vector<Expr> a) { return select(a[1] > 0.0f, a[0], 0.0f); });
}

Func lowerJoin(OpContext &ctx) {
  if (ctx.inputs.empty())
    throw LoweringError{"expects at least one gradient"};
  requireSameShape(ctx);
  // The heads' grad-inputs left inline by the accumulating join: one GEMM
  // kernel sums them (and the other operands).
  if (Func sum = denseBackwardInputSum(ctx); sum.defined())
    return sum;
  return elementwise(ctx, [](std::vector<Expr> a) {
    Expr s = a[0];
    for (size_t k = 1; k < a.size(); ++k)
      s += a[k];
    return s;
  });
}

Func lowerReshape(OpContext &ctx) {
  if (ctx.inputs.size() != 1)
    throw LoweringError{"expects (x)"};
  const auto &in = ctx.inputShapes[0];
  int64_t a = 1, b = 1;
  for (auto e : in)
    a *= e;
  for (auto e : ctx.shape)
    b *= e;
  if (a != b)
    throw LoweringError{"element counts differ"};
  std::vector<Var> v = makeVars(ctx.rank());
  // Row-major linear index of the result position, re-split for the input.
  Expr lin = 0;
  int stride = 1;
  for (int i = 0; i < ctx.rank(); ++i) {
    lin += v[i] * stride;
    stride *= hdim(ctx.shape, i);
  }
  std::vector<Expr> idx;
  int inRank = static_cast<int>(in.size());
  stride = 1;
  for (int i = 0; i < inRank; ++i) {
    Expr e = lin / stride;
    if (i + 1 < inRank)
      e = e % hdim(in, i);
    idx.push_back(e);
    stride *= hdim(in, i);
  }
  Func out(ctx.resultName);
  out(v) = call(ctx.inputs[0], idx);
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Func lowerBiasGrad(OpContext &ctx) {
  if (ctx.inputs.size() != 1)
    throw LoweringError{"expects (dy)"};
  const auto &s = ctx.inputShapes[0];
  int R = static_cast<int>(s.size());
  if (R < 1 || ctx.shape != std::vector<int64_t>{s.back()})
    throw LoweringError{"result must be [C] for dy [..., C]"};
  Func dy = ctx.inputs[0];
  if (ctx.shared) {
    // A total its producer or a sibling already has (channelTotalKey).
    auto it = ctx.shared->find(channelTotalKey(ctx.node.inputs[0]));
    if (it != ctx.shared->end()) {
      Var c("c");
      Func out(ctx.resultName);
      out(c) = it->second(c);
      scheduleElementwise(out, {c}, ctx.shape, ctx.gpu);
      return out;
    }
  }
  return reduceLeading(
      ctx, s, [&](const std::vector<Expr> &at) { return call(dy, at); });
}

} // namespace

void registerElementwiseEpilogues(EpilogueTable &t) {
  t["relu"] = [](const OpContext &, Expr x, const std::vector<Expr> &) {
    return reluOf(x);
  };
  // In a backward producer (max_pool_grad): the gradient through the relu
  // whose output y (inputs[1]) was computed in the forward.
  t["relu_grad"] = [](const OpContext &c, Expr g, const std::vector<Expr> &at) {
    return select(call(c.inputs[1], at) > 0.0f, g, 0.0f);
  };
}

void registerElementwiseOps(OpTable &t) {
  t["relu"] = lowerRelu;
  t["relu_grad"] = lowerReluGrad;
  t["join"] = lowerJoin;
  t["reshape"] = lowerReshape;
  t["bias_grad"] = lowerBiasGrad;
}

} // namespace mtl::codegen
