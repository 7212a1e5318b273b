//===- FirstLayerPoolGrad.cpp - a first layer's gamma pass from the argmax
//===//
//
// The backward of a first layer conv -> batch norm -> relu -> max pool
// (K x K windows at stride K) needs, per channel, the sums of dy and of dy
// times each of the conv's P taps (FirstConvMoments.cpp: with them the
// batch norm's gamma and beta gradients and the conv's grad-filter follow
// per channel), where dy = relu_grad(max_pool_grad(g, x, argmax), x) is g
// at each window's maximum, if positive, and 0 at the window's other
// pixels. Without the argmax every pixel recomputed its window -- the conv
// at its K x K pixels, the batch norm, the comparisons -- to find out
// whether it is the maximum (1.8 ms of the reference model's step on one
// thread, 55 % of the peak for its 0.27 GFLOP). With the argmax that the
// forward pass kept (mtl-save-pool-argmax), each window reads g and the
// argmax once per channel and adds g times each tap of its maximum's pixel,
// chosen per lane among the window's K x K pixels (broadcasts) by blends:
// one FMA per tap. (As K x K masked FMAs per tap, one per pixel, the FMA
// pipes were the bound: 1.58 against 0.98-1.08 ms on one thread; the
// blends run beside the FMAs.) A relu before the pool: the maximum
// is positive unless it is the window's first pixel (any later maximum
// beats it, and the relu's outputs are >= 0), so only that pixel's value is
// recomputed, once per window.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {

std::string poolGradOperandKey(int v, const char *what) {
  return std::string("max_pool_grad.") + what + "." + std::to_string(v);
}

namespace {

/// Whether the pool's input x = relu(batch_norm_train(conv)) is positive at
/// (px, py, n), from the conv's taps (the zero-padded image the segment
/// already holds) and the batch norm's affine map (its lowering publishes
/// it); undefined where x is not that. (Through x as written, its conv read
/// a padded copy of its own: one more pass over the batch's images, 0.94-0.97
/// against 1.04-1.05 ms for the kernel on one thread.)
Expr firstPixelPositive(OpContext &ctx, const FirstConv &fc,
                        const kg::Node &grad, Expr c, Expr px, Expr py,
                        Expr n) {
  const kg::Node *relu = kg::producerOf(ctx.fn, grad.inputs[1]);
  const kg::Node *bn = relu ? kg::producerOf(ctx.fn, relu->inputs[0]) : nullptr;
  if (!bn || bn->op != "batch_norm_train" || bn->inputs.empty() ||
      bn->inputs[0] != fc.node->result)
    return Expr();
  auto scale = ctx.shared->find(batchNormAffineKey(*bn, "scale"));
  auto shift = ctx.shared->find(batchNormAffineKey(*bn, "shift"));
  if (scale == ctx.shared->end() || shift == ctx.shared->end())
    return Expr();
  Expr conv = fc.weight(c, fc.P);
  for (int t = 0; t < fc.P; ++t)
    conv += fc.weight(c, t) * fc.tap(t, px, py, n);
  return conv * scale->second(c) + shift->second(c) > 0.0f;
}

} // namespace

Func firstLayerPoolGradSums(OpContext &ctx, const FirstConv &fc) {
  if (ctx.gpu || !ctx.shared || ctx.node.inputs.empty())
    return Func();
  const kg::Function &fn = ctx.fn;
  // dy = [relu_grad](max_pool_grad(g, x, argmax), x), x a relu's output.
  const kg::Node *d = kg::producerOf(fn, ctx.node.inputs[0]), *grad = d;
  const bool relu = d && d->op == "relu_grad" && d->inputs.size() == 2;
  if (relu)
    grad = kg::producerOf(fn, d->inputs[0]);
  if (!grad || grad->op != "max_pool_grad" || grad->inputs.size() != 3)
    return Func();
  if (relu) {
    const kg::Node *r = kg::producerOf(fn, grad->inputs[1]);
    if (d->inputs[1] != grad->inputs[1] || !r || r->op != "relu")
      return Func();
  }
  auto operand = [&](const char *what) {
    auto it = ctx.shared->find(poolGradOperandKey(grad->result, what));
    return it == ctx.shared->end() ? Func() : it->second;
  };
  Func g = operand("dy"), arg = operand("argmax");
  // Windows that tile the conv's output.
  auto ints = [&](const char *k) {
    auto it = grad->ints.find(k);
    return it == grad->ints.end() ? std::vector<int64_t>{} : it->second;
  };
  const auto kernel = ints("kernel"), pad = ints("padding");
  const int K = kernel.size() == 2 ? static_cast<int>(kernel[0]) : 0;
  const int C = fc.Co, N = fc.N;
  if (!g.defined() || !arg.defined() || K < 1 ||
      kernel != std::vector<int64_t>{K, K} || ints("stride") != kernel ||
      !(pad.empty() || pad == std::vector<int64_t>{0, 0}) || fc.Ho % K ||
      fc.Wo % K ||
      fn.values[grad->inputs[0]].shape !=
          std::vector<int64_t>{N, fc.Ho / K, fc.Wo / K, C} ||
      ctx.inputShapes[0] != std::vector<int64_t>{N, fc.Ho, fc.Wo, C})
    return Func();

  // The batch in U chunks reduced in parallel (as channelSums).
  const int U = N % 4 == 0 ? 4 : N % 2 == 0 ? 2 : 1, chunk = N / U;
  Var c("c"), q("q");
  RDom r(0, fc.Wo / K, 0, fc.Ho / K, 0, chunk, ctx.name("pool_sums_r"));
  Expr u = r[0], v = r[1], n = q * chunk + r[2];
  Expr code = arg(c, u, v, n);
  // g where the maximum passes the relu, else 0.
  Expr active = code != 0;
  if (relu) {
    Expr first = firstPixelPositive(ctx, fc, *grad, c, K * u, K * v, n);
    if (!first.defined())
      return Func();
    active = active || first;
  }
  Expr gv = relu ? select(active, g(c, u, v, n), 0.0f) : g(c, u, v, n);
  const int P = fc.P;
  std::vector<Expr> zeros(P + 1, 0.0f);
  Func part(ctx.name("pool_sums_part")), task(ctx.name("pool_sums_task"));
  Func sums(ctx.name("pool_sums"));
  part(c, q) = Tuple(zeros);
  std::vector<Expr> next;
  for (int t = 0; t < P; ++t) {
    // Tap t of the maximum's pixel: per lane one of the window's K x K.
    Expr tap = fc.tap(t, K * u, K * v, n);
    for (int e = 1; e < K * K; ++e)
      tap = select(code == e, fc.tap(t, K * u + e % K, K * v + e / K, n), tap);
    next.push_back(part(c, q)[t] + gv * tap);
  }
  next.push_back(part(c, q)[P] + gv);
  part(c, q) = Tuple(next);
  task(c, q) = part(c, q);
  RDom rq(0, U, ctx.name("pool_sums_rq"));
  sums(c) = Tuple(zeros);
  std::vector<Expr> total;
  for (int t = 0; t <= P; ++t)
    total.push_back(sums(c)[t] + task(c, rq)[t]);
  sums(c) = Tuple(total);

  // A vector of channels at a time over all of a chunk's windows (its P + 1
  // accumulators stay in registers).
  const int w = std::min(dividingLanes(C), isa().lanes);
  Var co("co"), cv("cv");
  sums.compute_root();
  task.compute_root().parallel(q);
  part.compute_at(task, q);
  part.update().split(c, co, cv, w).reorder(cv, r[0], r[1], r[2], co);
  if (w > 1) {
    part.update().vectorize(cv);
    part.vectorize(c, w);
    task.vectorize(c, w);
    sums.vectorize(c, w);
    sums.update().vectorize(c, w);
  }
  return sums;
}

} // namespace mtl::codegen
