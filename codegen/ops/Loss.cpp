//===- Loss.cpp - softmax cross-entropy and MSE, with their gradients ----===//
//
// Losses average over the masked-in samples: denominator max(sum(mask), 1).
// Per-sample terms are small compute_root stages; the scalar loss is one
// reduction over the batch (a single GPU thread on CUDA).
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

void rootSmall(Func f, const std::vector<Var> &v, std::vector<int> ext,
               bool gpu) {
  f.compute_root();
  if (gpu)
    gpuStage(f, std::vector<VarOrRVar>(v.begin(), v.end()), ext);
}

/// max(sum(mask), 1) as a scalar stage.
Func maskDenominator(OpContext &ctx, Func mask, int N) {
  RDom rn(0, N, ctx.name("rn"));
  Func den(ctx.name("den"));
  den() = max(sum(mask(rn)), 1.0f);
  rootSmall(den, {}, {}, ctx.gpu);
  return den;
}

int batchOf(OpContext &ctx) {
  const auto &p = ctx.inputShapes[0];
  if (ctx.inputs.size() != 3 || p.empty())
    throw LoweringError{"expects (prediction, target, mask)"};
  if (ctx.inputShapes[2] != std::vector<int64_t>{p[0]})
    throw LoweringError{"mask must be [N]"};
  return static_cast<int>(p[0]);
}

/// Log-sum-exp of each row of logits(c, n), stable (row max subtracted).
Func logSumExp(OpContext &ctx, Func logits, int C, int N) {
  Var n("n");
  RDom rc(0, C, ctx.name("rc"));
  Func mx(ctx.name("rowmax")), lse(ctx.name("lse"));
  mx(n) = maximum(logits(rc, n));
  lse(n) = log(sum(exp(logits(rc, n) - mx(n)))) + mx(n);
  rootSmall(mx, {n}, {N}, ctx.gpu);
  rootSmall(lse, {n}, {N}, ctx.gpu);
  return lse;
}

void checkCE(OpContext &ctx, int &N, int &C) {
  N = batchOf(ctx);
  const auto &l = ctx.inputShapes[0];
  if (l.size() != 2 || ctx.inputShapes[1] != std::vector<int64_t>{N})
    throw LoweringError{"expects logits [N, C] and target [N]"};
  if (ctx.fn.values[ctx.node.inputs[1]].dtype != kg::DType::I32)
    throw LoweringError{"target must be i32"};
  C = static_cast<int>(l[1]);
}

Func lowerSoftmaxCE(OpContext &ctx) {
  int N, C;
  checkCE(ctx, N, C);
  Func logits = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  Func lse = logSumExp(ctx, logits, C, N);
  Func den = maskDenominator(ctx, mask, N);
  Var n("n");
  Func per(ctx.name("per"));
  // Clamp the label so a bad target can never read out of bounds.
  per(n) = mask(n) * (lse(n) - logits(clamp(target(n), 0, C - 1), n));
  rootSmall(per, {n}, {N}, ctx.gpu);
  RDom rn(0, N, ctx.name("rs"));
  Func out(ctx.resultName);
  out() = sum(per(rn)) / den();
  rootSmall(out, {}, {}, ctx.gpu);
  return out;
}

Func lowerSoftmaxCEGrad(OpContext &ctx) {
  int N, C;
  checkCE(ctx, N, C);
  Func logits = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  Func lse = logSumExp(ctx, logits, C, N);
  Func den = maskDenominator(ctx, mask, N);
  float scale = static_cast<float>(ctx.floatAttr("scale", 1.0));
  Var c("c"), n("n");
  Expr onehot = select(c == clamp(target(n), 0, C - 1), 1.0f, 0.0f);
  Func out(ctx.resultName);
  out(c, n) = scale * mask(n) * (exp(logits(c, n) - lse(n)) - onehot) / den();
  scheduleElementwise(out, {c, n}, ctx.shape, ctx.gpu);
  return out;
}

void checkMse(OpContext &ctx, int &N, int &D) {
  N = batchOf(ctx);
  if (ctx.inputShapes[1] != ctx.inputShapes[0])
    throw LoweringError{"target must have the prediction's shape"};
  D = 1;
  for (size_t i = 1; i < ctx.inputShapes[0].size(); ++i)
    D *= static_cast<int>(ctx.inputShapes[0][i]);
}

Func lowerMse(OpContext &ctx) {
  int N, D;
  checkMse(ctx, N, D);
  const auto &s = ctx.inputShapes[0];
  int R = static_cast<int>(s.size());
  Func pred = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  Var n("n");
  std::vector<Expr> at;
  Region ranges;
  for (int i = 0; i + 1 < R; ++i)
    ranges.push_back({0, hdim(s, i)});
  Expr sq;
  if (ranges.empty()) {
    Expr d = pred(n) - target(n);
    sq = d * d;
  } else {
    RDom r(ranges, ctx.name("rj"));
    for (int k = 0; k < r.dimensions(); ++k)
      at.push_back(r[k]);
    at.push_back(n);
    Expr d = call(pred, at) - call(target, at);
    sq = sum(d * d);
  }
  Func per(ctx.name("per"));
  per(n) = mask(n) * sq;
  rootSmall(per, {n}, {N}, ctx.gpu);
  if (!ctx.gpu && N > 1)
    per.parallel(n);
  Func den = maskDenominator(ctx, mask, N);
  RDom rn(0, N, ctx.name("rs"));
  Func out(ctx.resultName);
  out() = sum(per(rn)) / (den() * float(D));
  rootSmall(out, {}, {}, ctx.gpu);
  return out;
}

Func lowerMseGrad(OpContext &ctx) {
  int N, D;
  checkMse(ctx, N, D);
  Func pred = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  Func den = maskDenominator(ctx, mask, N);
  float scale = static_cast<float>(ctx.floatAttr("scale", 1.0));
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> e = asExprs(v);
  Func out(ctx.resultName);
  out(v) = (2.0f * scale) * mask(v.back()) * (call(pred, e) - call(target, e)) /
           (den() * float(D));
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerLossOps(OpTable &t) {
  t["softmax_cross_entropy"] = lowerSoftmaxCE;
  t["softmax_cross_entropy_grad"] = lowerSoftmaxCEGrad;
  t["mse"] = lowerMse;
  t["mse_grad"] = lowerMseGrad;
}

} // namespace mtl::codegen
