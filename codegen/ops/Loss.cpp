//===- Loss.cpp - element-wise task losses and their gradients -----------===//
//
// softmax cross-entropy (optional label smoothing), MSE, sigmoid
// cross-entropy, L1, smooth L1 and the VAE's KL divergence.
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

/// Loss fusion (mtl-fuse-losses): a loss and its gradient ops carry one
/// `mtl.loss_group`; a stage that depends only on the value `id` is then
/// built once (by whichever op comes first) and shared by the group.
Func sharedStage(OpContext &ctx, const std::string &what, int id,
                 const std::function<Func()> &build) {
  if (!ctx.shared || !ctx.has("mtl.loss_group"))
    return build();
  std::string key = what + ":" + std::to_string(id);
  auto it = ctx.shared->find(key);
  if (it != ctx.shared->end())
    return it->second;
  Func f = build();
  (*ctx.shared)[key] = f;
  return f;
}

/// Schedules a loss's per-sample stage per(n): compute_root, parallel over
/// the batch. With loss fusion the per-sample stages of all the step's
/// losses with the same batch size share one loop over the batch
/// (compute_with the first one): one parallel pass for all task losses.
void perSample(OpContext &ctx, Func per, Var n, int N) {
  rootSmall(per, {n}, {N}, ctx.gpu);
  if (ctx.gpu)
    return;
  if (N > 1)
    per.parallel(n);
  if (!ctx.shared || !ctx.has("mtl.loss_group"))
    return;
  std::string key = "per-sample:" + std::to_string(N);
  auto it = ctx.shared->find(key);
  if (it == ctx.shared->end())
    (*ctx.shared)[key] = per;
  else
    per.compute_with(it->second, n);
}

/// max(sum(mask), 1) as a scalar stage (the mask is input 2).
Func maskDenominator(OpContext &ctx, Func mask, int N) {
  return sharedStage(ctx, "den", ctx.node.inputs[2], [&] {
    RDom rn(0, N, ctx.name("rn"));
    Func den(ctx.name("den"));
    den() = max(sum(mask(rn)), 1.0f);
    rootSmall(den, {}, {}, ctx.gpu);
    return den;
  });
}

int batchOf(OpContext &ctx) {
  const auto &p = ctx.inputShapes[0];
  if (ctx.inputs.size() != 3 || p.empty())
    throw LoweringError{"expects (prediction, target, mask)"};
  if (ctx.inputShapes[2] != std::vector<int64_t>{p[0]})
    throw LoweringError{"mask must be [N]"};
  return static_cast<int>(p[0]);
}

/// Log-sum-exp of each row of logits(c, n) (input 0), stable (row max
/// subtracted).
Func logSumExp(OpContext &ctx, Func logits, int C, int N) {
  return sharedStage(ctx, "lse", ctx.node.inputs[0], [&] {
    Var n("n");
    RDom rc(0, C, ctx.name("rc"));
    Func mx(ctx.name("rowmax")), lse(ctx.name("lse"));
    mx(n) = maximum(logits(rc, n));
    lse(n) = log(sum(exp(logits(rc, n) - mx(n)))) + mx(n);
    rootSmall(mx, {n}, {N}, ctx.gpu);
    rootSmall(lse, {n}, {N}, ctx.gpu);
    return lse;
  });
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
  Expr picked = logits(clamp(target(n), 0, C - 1), n);
  const float eps = static_cast<float>(ctx.floatAttr("label_smoothing", 0.0));
  if (eps != 0.0f) {
    // Target distribution (1 - eps) onehot + eps / C.
    RDom rc(0, C, ctx.name("rsm"));
    picked = (1.0f - eps) * picked + (eps / C) * sum(logits(rc, n));
  }
  per(n) = mask(n) * (lse(n) - picked);
  perSample(ctx, per, n, N);
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
  const float eps = static_cast<float>(ctx.floatAttr("label_smoothing", 0.0));
  Expr onehot =
      select(c == clamp(target(n), 0, C - 1), 1.0f - eps, 0.0f) + eps / C;
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
  perSample(ctx, per, n, N);
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

//===- Element losses: sigmoid cross-entropy, L1, smooth L1 ---------------===//
//
// The per-element loss is one compute_root stage (vectorized over the
// innermost dim, parallel over the batch); a per-sample sum (parallel over
// the batch) and the masked mean follow. Gradients are one elementwise stage.

using ElemFn = std::function<Expr(Expr p, Expr t)>;

Func elementLoss(OpContext &ctx, const ElemFn &f) {
  int N, D;
  checkMse(ctx, N, D);
  const auto &s = ctx.inputShapes[0];
  int R = static_cast<int>(s.size());
  Func pred = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  std::vector<Var> v = makeVars(R);
  std::vector<Expr> e = asExprs(v);
  Func el(ctx.name("elem"));
  el(v) = f(call(pred, e), call(target, e));
  scheduleElementwise(el, v, s, ctx.gpu);
  Var n("n");
  Region ranges;
  for (int i = 0; i + 1 < R; ++i)
    ranges.push_back({0, hdim(s, i)});
  Expr total;
  if (ranges.empty()) {
    total = el(n);
  } else {
    RDom r(ranges, ctx.name("rj"));
    std::vector<Expr> at;
    for (int k = 0; k < r.dimensions(); ++k)
      at.push_back(r[k]);
    at.push_back(n);
    total = sum(call(el, at));
  }
  Func per(ctx.name("per"));
  per(n) = mask(n) * total;
  perSample(ctx, per, n, N);
  Func den = maskDenominator(ctx, mask, N);
  RDom rn(0, N, ctx.name("rs"));
  Func out(ctx.resultName);
  out() = sum(per(rn)) / (den() * float(D));
  rootSmall(out, {}, {}, ctx.gpu);
  return out;
}

Func elementLossGrad(OpContext &ctx, const ElemFn &df) {
  int N, D;
  checkMse(ctx, N, D);
  Func pred = ctx.inputs[0], target = ctx.inputs[1], mask = ctx.inputs[2];
  Func den = maskDenominator(ctx, mask, N);
  float scale = static_cast<float>(ctx.floatAttr("scale", 1.0));
  std::vector<Var> v = makeVars(ctx.rank());
  std::vector<Expr> e = asExprs(v);
  Func out(ctx.resultName);
  out(v) = scale * mask(v.back()) * df(call(pred, e), call(target, e)) /
           (den() * float(D));
  scheduleElementwise(out, v, ctx.shape, ctx.gpu);
  return out;
}

Expr sign(Expr d) { return select(d > 0.0f, 1.0f, d < 0.0f, -1.0f, 0.0f); }

Func lowerSigmoidCE(OpContext &ctx) {
  return elementLoss(ctx, [](Expr x, Expr t) {
    return max(x, 0.0f) - x * t + log(1.0f + exp(-abs(x)));
  });
}
Func lowerSigmoidCEGrad(OpContext &ctx) {
  return elementLossGrad(
      ctx, [](Expr x, Expr t) { return 1.0f / (1.0f + exp(-x)) - t; });
}
Func lowerL1(OpContext &ctx) {
  return elementLoss(ctx, [](Expr p, Expr t) { return abs(p - t); });
}
Func lowerL1Grad(OpContext &ctx) {
  return elementLossGrad(ctx, [](Expr p, Expr t) { return sign(p - t); });
}
Func lowerSmoothL1(OpContext &ctx) {
  float beta = static_cast<float>(ctx.floatAttr("beta", 1.0));
  return elementLoss(ctx, [beta](Expr p, Expr t) {
    Expr a = abs(p - t);
    if (beta == 0.0f)
      return a;
    return select(a < beta, (0.5f / beta) * a * a, a - 0.5f * beta);
  });
}
Func lowerSmoothL1Grad(OpContext &ctx) {
  float beta = static_cast<float>(ctx.floatAttr("beta", 1.0));
  return elementLossGrad(ctx, [beta](Expr p, Expr t) {
    Expr d = p - t;
    if (beta == 0.0f)
      return sign(d);
    return clamp(d / beta, -1.0f, 1.0f);
  });
}

//===- KL divergence of N(mean, exp(logvar)) to N(0, I) -------------------===//

void checkKl(OpContext &ctx, int &N, int &Z) {
  N = batchOf(ctx);
  const auto &m = ctx.inputShapes[0];
  if (m.size() != 2 || ctx.inputShapes[1] != m)
    throw LoweringError{"expects mean and logvar [N, Z]"};
  Z = static_cast<int>(m[1]);
}

Func lowerKl(OpContext &ctx) {
  int N, Z;
  checkKl(ctx, N, Z);
  Func mean = ctx.inputs[0], logvar = ctx.inputs[1], mask = ctx.inputs[2];
  Var z("z"), n("n");
  Func el(ctx.name("elem"));
  el(z, n) = -0.5f * (1.0f + logvar(z, n) - mean(z, n) * mean(z, n) -
                      exp(logvar(z, n)));
  scheduleElementwise(el, {z, n}, {N, Z}, ctx.gpu);
  RDom rz(0, Z, ctx.name("rz"));
  Func per(ctx.name("per"));
  per(n) = mask(n) * sum(el(rz, n));
  perSample(ctx, per, n, N);
  Func den = maskDenominator(ctx, mask, N);
  RDom rn(0, N, ctx.name("rs"));
  Func out(ctx.resultName);
  out() = sum(per(rn)) / den();
  rootSmall(out, {}, {}, ctx.gpu);
  return out;
}

Func lowerKlGrad(OpContext &ctx, bool wrtMean) {
  int N, Z;
  checkKl(ctx, N, Z);
  Func mean = ctx.inputs[0], logvar = ctx.inputs[1], mask = ctx.inputs[2];
  Func den = maskDenominator(ctx, mask, N);
  float scale = static_cast<float>(ctx.floatAttr("scale", 1.0));
  Var z("z"), n("n");
  Expr d = wrtMean ? mean(z, n) : 0.5f * (exp(logvar(z, n)) - 1.0f);
  Func out(ctx.resultName);
  out(z, n) = scale * mask(n) * d / den();
  scheduleElementwise(out, {z, n}, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerLossOps(OpTable &t) {
  t["sigmoid_cross_entropy"] = lowerSigmoidCE;
  t["sigmoid_cross_entropy_grad"] = lowerSigmoidCEGrad;
  t["l1"] = lowerL1;
  t["l1_grad"] = lowerL1Grad;
  t["smooth_l1"] = lowerSmoothL1;
  t["smooth_l1_grad"] = lowerSmoothL1Grad;
  t["kl_divergence"] = lowerKl;
  t["kl_divergence_mean_grad"] = [](OpContext &c) {
    return lowerKlGrad(c, true);
  };
  t["kl_divergence_logvar_grad"] = [](OpContext &c) {
    return lowerKlGrad(c, false);
  };
  t["softmax_cross_entropy"] = lowerSoftmaxCE;
  t["softmax_cross_entropy_grad"] = lowerSoftmaxCEGrad;
  t["mse"] = lowerMse;
  t["mse_grad"] = lowerMseGrad;
}

} // namespace mtl::codegen
