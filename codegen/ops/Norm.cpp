//===- Norm.cpp - layer_norm and its gradients ---------------------------===//
//
// Last-axis statistics (mean, 1/sqrt(var + eps), two passes for accuracy)
// are computed per row inside the output loop, which is vectorized over
// the channels and parallel over the batch (scheduleRowwise). The gamma
// gradient reduces the batch in parallel chunks (reduceLeading).
//
//===----------------------------------------------------------------------===//
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

/// Per-row mean and inverse standard deviation of x over Halide dim 0.
struct RowStats {
  Func mean, inv;
};

RowStats rowStats(OpContext &ctx, Func x, const std::vector<Var> &v, int C,
                  float eps) {
  std::vector<Var> rv(v.begin() + 1, v.end());
  std::vector<Expr> rest = restOf(v);
  RDom r(0, C, ctx.name("r"));
  std::vector<Expr> at = {r};
  at.insert(at.end(), rest.begin(), rest.end());
  Func sum(ctx.name("sum")), sq(ctx.name("sq")), mean(ctx.name("mean")),
      inv(ctx.name("inv"));
  sum(rv) = 0.0f;
  sum(rv) += call(x, at);
  mean(rv) = sum(rv) / float(C);
  Expr d = call(x, at) - mean(rv);
  sq(rv) = 0.0f;
  sq(rv) += d * d;
  inv(rv) = 1.0f / sqrt(sq(rv) / float(C) + eps);
  return {mean, inv};
}

void scheduleStats(OpContext &ctx, Func out, const std::vector<Var> &v,
                   RowStats st, std::vector<Func> extra = {}) {
  // mean and inv are pure over the row; their reductions (sum, sq) are
  // inlined into them as update-free callers would not allow: compute the
  // row stages explicitly.
  std::vector<Func> rows = {st.mean, st.inv};
  rows.insert(rows.end(), extra.begin(), extra.end());
  scheduleRowwise(out, v, ctx.shape, rows, ctx.gpu);
}

Func lowerLayerNorm(OpContext &ctx) {
  requireArity(ctx, 3, "(x, gamma, beta)");
  if (ctx.rank() < 2 || ctx.inputShapes[0] != ctx.shape)
    throw LoweringError{"expects x of rank >= 2 and a result of its shape"};
  const int C = hdim(ctx.shape, 0);
  if (ctx.inputShapes[1] != std::vector<int64_t>{C} ||
      ctx.inputShapes[2] != std::vector<int64_t>{C})
    throw LoweringError{"gamma and beta must be [C]"};
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Var> rv(v.begin() + 1, v.end());
  Func x = ctx.inputs[0], gamma = ctx.inputs[1], beta = ctx.inputs[2];
  RowStats st = rowStats(ctx, x, v, C, eps);
  Func out(ctx.resultName);
  out(v) = (call(x, asExprs(v)) - st.mean(rv)) * st.inv(rv) * gamma(v[0]) +
           beta(v[0]);
  scheduleStats(ctx, out, v, st);
  return out;
}

Func lowerLayerNormGradInput(OpContext &ctx) {
  requireArity(ctx, 3, "(dy, x, gamma)");
  if (ctx.rank() < 2 || ctx.inputShapes[0] != ctx.shape ||
      ctx.inputShapes[1] != ctx.shape)
    throw LoweringError{"expects dy and x of the result's shape"};
  const int C = hdim(ctx.shape, 0);
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Var> rv(v.begin() + 1, v.end());
  std::vector<Expr> rest = restOf(v);
  Func dy = ctx.inputs[0], x = ctx.inputs[1], gamma = ctx.inputs[2];
  RowStats st = rowStats(ctx, x, v, C, eps);
  RDom r(0, C, ctx.name("rg"));
  std::vector<Expr> at = {r};
  at.insert(at.end(), rest.begin(), rest.end());
  Expr g = call(dy, at) * gamma(r);
  Expr xh = (call(x, at) - st.mean(rv)) * st.inv(rv);
  Func a(ctx.name("mean_g")), b(ctx.name("mean_gxh"));
  a(rv) = 0.0f;
  a(rv) += g / float(C);
  b(rv) = 0.0f;
  b(rv) += g * xh / float(C);
  Expr gv = call(dy, asExprs(v)) * gamma(v[0]);
  Expr xhv = (call(x, asExprs(v)) - st.mean(rv)) * st.inv(rv);
  Func out(ctx.resultName);
  out(v) = (gv - a(rv) - xhv * b(rv)) * st.inv(rv);
  scheduleStats(ctx, out, v, st, {a, b});
  return out;
}

Func lowerLayerNormGradGamma(OpContext &ctx) {
  requireArity(ctx, 2, "(dy, x)");
  const auto &s = ctx.inputShapes[1];
  if (s.size() < 2 || ctx.inputShapes[0] != s ||
      ctx.shape != std::vector<int64_t>{s.back()})
    throw LoweringError{"expects dy and x [..., C] and a result [C]"};
  const int C = static_cast<int>(s.back());
  float eps = static_cast<float>(ctx.floatAttr("eps", 1e-5));
  Func dy = ctx.inputs[0], x = ctx.inputs[1];
  // The row statistics once, for every row (compute_root).
  std::vector<Var> v = makeVars(static_cast<int>(s.size()));
  std::vector<Var> rv(v.begin() + 1, v.end());
  RowStats st = rowStats(ctx, x, v, C, eps);
  std::vector<int64_t> restShape(s.begin(), s.end() - 1);
  // Pure row funcs of rank r-1: schedule as elementwise over the rows; the
  // reductions they call are computed per row.
  for (Func f : {st.mean, st.inv}) {
    f.compute_root();
    if (ctx.gpu) {
      std::vector<int> ext;
      for (size_t i = 1; i < v.size(); ++i)
        ext.push_back(hdim(s, static_cast<int>(i)));
      gpuStage(f, std::vector<VarOrRVar>(rv.begin(), rv.end()), ext);
    } else if (rv.size() >= 1 && restShape.front() > 1) {
      f.parallel(rv.back());
    }
  }
  return reduceLeading(ctx, s, [&](const std::vector<Expr> &at) {
    std::vector<Expr> rest(at.begin() + 1, at.end());
    return call(dy, at) * (call(x, at) - call(st.mean, rest)) *
           call(st.inv, rest);
  });
}

} // namespace

void registerNormOps(OpTable &t) {
  t["layer_norm"] = lowerLayerNorm;
  t["layer_norm_grad_input"] = lowerLayerNormGradInput;
  t["layer_norm_grad_gamma"] = lowerLayerNormGradGamma;
}

} // namespace mtl::codegen
