//===- Resample.cpp - avg_pool, global_avg_pool, upsample + gradients ----===//
//
// NHWC tensors are f(c, x, y, n). Windows and upsampling scales are small,
// so each output unrolls its window into one expression; every stage is
// vectorized over channels and parallel over the batch. Gradients are
// gathers (no atomics, GPU friendly): each input position sums the dy of
// the outputs it fed.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

struct Geom {
  int N, H, W, C, Ho, Wo; // input [N,H,W,C], output [N,Ho,Wo,C]
};

Geom nhwcGeom(const std::vector<int64_t> &x, const std::vector<int64_t> &y) {
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[3] != y[3])
    throw LoweringError{"expects NHWC tensors with equal N and C"};
  return {(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)y[1], (int)y[2]};
}

Func lowerAvgPool(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  Geom g = nhwcGeom(ctx.inputShapes[0], ctx.shape);
  auto k = ctx.ints("kernel", 2);
  auto s = ctx.ints("stride", 2, k);
  auto p = ctx.ints("padding", 2, {0, 0});
  const int ph = p[0], pw = p[1];
  if (g.Ho != (g.H + 2 * ph - k[0]) / s[0] + 1 ||
      g.Wo != (g.W + 2 * pw - k[1]) / s[1] + 1)
    throw LoweringError{"inconsistent avg_pool shapes"};
  Func x = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  // Zero padding, counted in the mean (PyTorch's count_include_pad).
  auto at = [&](Expr xx, Expr yy) {
    if (ph == 0 && pw == 0)
      return Expr(x(c, xx, yy, n));
    return select(xx >= 0 && xx < g.W && yy >= 0 && yy < g.H,
                  x(c, clamp(xx, 0, g.W - 1), clamp(yy, 0, g.H - 1), n), 0.0f);
  };
  Expr sum = 0.0f;
  for (int ky = 0; ky < k[0]; ++ky)
    for (int kx = 0; kx < k[1]; ++kx)
      sum += at(u * (int)s[1] + kx - pw, v * (int)s[0] + ky - ph);
  Func out(ctx.resultName);
  out(c, u, v, n) = sum * (1.0f / float(k[0] * k[1]));
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  return out;
}

Func lowerAvgPoolGrad(OpContext &ctx) {
  requireArity(ctx, 1, "(dy)");
  Geom g = nhwcGeom(ctx.shape, ctx.inputShapes[0]);
  auto k = ctx.ints("kernel", 2);
  auto s = ctx.ints("stride", 2, k);
  auto p = ctx.ints("padding", 2, {0, 0});
  const int sh = s[0], sw = s[1], ph = p[0], pw = p[1];
  if (g.Ho != (g.H + 2 * ph - k[0]) / sh + 1 ||
      g.Wo != (g.W + 2 * pw - k[1]) / sw + 1)
    throw LoweringError{"inconsistent avg_pool_grad shapes"};
  Func dy = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  Expr sum = 0.0f;
  for (int ky = 0; ky < k[0]; ++ky)
    for (int kx = 0; kx < k[1]; ++kx) {
      Expr px = u + pw - kx, py = v + ph - ky;
      Expr wx = px / sw, wy = py / sh; // floor division
      Expr valid = px % sw == 0 && py % sh == 0 && wx >= 0 && wx < g.Wo &&
                   wy >= 0 && wy < g.Ho;
      sum += select(valid,
                    dy(c, clamp(wx, 0, g.Wo - 1), clamp(wy, 0, g.Ho - 1), n),
                    0.0f);
    }
  Func out(ctx.resultName);
  out(c, u, v, n) = sum * (1.0f / float(k[0] * k[1]));
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  return out;
}

Func lowerGlobalAvgPool(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  const auto &x = ctx.inputShapes[0];
  if (x.size() != 4 || ctx.shape != std::vector<int64_t>{x[0], x[3]})
    throw LoweringError{"expects x [N,H,W,C] and result [N,C]"};
  const int H = x[1], W = x[2], C = x[3], N = x[0];
  Func in = ctx.inputs[0];
  Var c("c"), n("n");
  RDom r(0, W, 0, H, ctx.name("r"));
  Func acc(ctx.name("acc"));
  acc(c, n) = 0.0f;
  acc(c, n) += in(c, r.x, r.y, n);
  Func out(ctx.resultName);
  out(c, n) = acc(c, n) * (1.0f / float(H * W));
  if (ctx.gpu) {
    out.compute_root();
    gpuStage(out, {c, n}, {C, N});
    acc.compute_root();
    gpuStage(acc, {c, n}, {C, N});
    gpuStage(acc.update(), {c, n}, {C, N});
    return out;
  }
  out.compute_root();
  int w = vectorLanes(C);
  if (w > 1)
    out.vectorize(c, w, TailStrategy::ShiftInwards);
  if (N > 1)
    out.parallel(n);
  acc.compute_at(out, n);
  if (w > 1) {
    acc.vectorize(c, w, TailStrategy::GuardWithIf);
    acc.update()
        .reorder(c, r.x, r.y)
        .vectorize(c, w, TailStrategy::GuardWithIf);
  }
  return out;
}

Func lowerGlobalAvgPoolGrad(OpContext &ctx) {
  requireArity(ctx, 1, "(dy)");
  const auto &s = ctx.shape, &dy = ctx.inputShapes[0];
  if (s.size() != 4 || dy != std::vector<int64_t>{s[0], s[3]})
    throw LoweringError{"expects dy [N,C] and result [N,H,W,C]"};
  Func d = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  Func out(ctx.resultName);
  out(c, u, v, n) = d(c, n) * (1.0f / float(s[1] * s[2]));
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  return out;
}

std::vector<int64_t> scaleOf(OpContext &ctx) {
  auto k = ctx.ints("scale", 2);
  if (k[0] < 1 || k[1] < 1)
    throw LoweringError{"scale must be positive"};
  return k;
}

Func lowerUpsampleNearest(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  Geom g = nhwcGeom(ctx.inputShapes[0], ctx.shape);
  auto k = scaleOf(ctx);
  if (g.Ho != g.H * k[0] || g.Wo != g.W * k[1])
    throw LoweringError{"inconsistent upsample shapes"};
  Func x = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  Func out(ctx.resultName);
  out(c, u, v, n) = x(c, u / (int)k[1], v / (int)k[0], n);
  if (!ctx.inlined) // else recomputed where it is read (Segments.cpp)
    scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  else if (ctx.shared && !ctx.gpu)
    // A conv that reads it zero-padded pads the source instead (Conv2D.cpp).
    (*ctx.shared)[upsampleSourceKey(ctx.node.result)] = x;
  return out;
}

Func lowerUpsampleNearestGrad(OpContext &ctx) {
  requireArity(ctx, 1, "(dy)");
  Geom g = nhwcGeom(ctx.shape, ctx.inputShapes[0]);
  auto k = scaleOf(ctx);
  if (g.Ho != g.H * k[0] || g.Wo != g.W * k[1])
    throw LoweringError{"inconsistent upsample_grad shapes"};
  // Of a grad-input recomputed here: both in one pass (Polyphase.cpp).
  if (Func f = phaseUpsampleGrad(ctx); f.defined())
    return f;
  Func dy = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  Expr sum = 0.0f;
  for (int i = 0; i < k[0]; ++i)
    for (int j = 0; j < k[1]; ++j)
      sum += dy(c, u * (int)k[1] + j, v * (int)k[0] + i, n);
  Func out(ctx.resultName);
  out(c, u, v, n) = sum;
  const int L = isa().lanes;
  if (!ctx.gpu && g.C % L == 0 && g.C > L) {
    // One vector of channels at a time along each row: a dy recomputed
    // here (the decoder's last grad-input, Segments.cpp) keeps its taps'
    // weights for those channels in registers across the row (35 loads per
    // 36 FMAs per output vector instead of 51).
    scheduleChannelRows(out, L);
  } else {
    scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  }
  return out;
}

/// Bilinear sampling along one axis (half-pixel centers, PyTorch
/// align_corners=False): output position `o` of an axis of `in` input
/// pixels upsampled by `s` reads i0 with weight 1 - l and i1 with l.
struct Taps {
  Expr i0, i1, l;
};
Taps taps(Expr o, int s, int in) {
  Expr src = max((cast<float>(o) + 0.5f) / float(s) - 0.5f, 0.0f);
  Expr i0 = min(cast<int>(floor(src)), in - 1);
  Expr i1 = min(i0 + 1, in - 1);
  return {i0, i1, src - cast<float>(i0)};
}

Func lowerUpsampleBilinear(OpContext &ctx) {
  requireArity(ctx, 1, "(x)");
  Geom g = nhwcGeom(ctx.inputShapes[0], ctx.shape);
  auto k = scaleOf(ctx);
  if (g.Ho != g.H * k[0] || g.Wo != g.W * k[1])
    throw LoweringError{"inconsistent upsample shapes"};
  Func x = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  Taps tx = taps(u, k[1], g.W), ty = taps(v, k[0], g.H);
  Expr top =
      (1.0f - tx.l) * x(c, tx.i0, ty.i0, n) + tx.l * x(c, tx.i1, ty.i0, n);
  Expr bot =
      (1.0f - tx.l) * x(c, tx.i0, ty.i1, n) + tx.l * x(c, tx.i1, ty.i1, n);
  Func out(ctx.resultName);
  out(c, u, v, n) = (1.0f - ty.l) * top + ty.l * bot;
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  return out;
}

/// Weight of input pixel `p` in output pixel `o` along one axis.
Expr weight(Expr o, Expr p, int s, int in) {
  Taps t = taps(o, s, in);
  return select(t.i0 == p, 1.0f - t.l, 0.0f) + select(t.i1 == p, t.l, 0.0f);
}

Func lowerUpsampleBilinearGrad(OpContext &ctx) {
  requireArity(ctx, 1, "(dy)");
  Geom g = nhwcGeom(ctx.shape, ctx.inputShapes[0]);
  auto k = scaleOf(ctx);
  const int sy = k[0], sx = k[1];
  if (g.Ho != g.H * sy || g.Wo != g.W * sx)
    throw LoweringError{"inconsistent upsample_grad shapes"};
  Func dy = ctx.inputs[0];
  Var c("c"), u("u"), v("v"), n("n");
  // The adjoint, separably: along x into tmp(c, p, oy, n), then along y.
  // Output pixels reading input p lie in [s (p - 1), s (p + 2)).
  Func tmp(ctx.name("tmp"));
  Expr sx_sum = 0.0f;
  for (int j = 0; j < 3 * sx; ++j) {
    Expr o = u * sx - sx + j;
    Expr ok = o >= 0 && o < g.Wo;
    Expr oc = clamp(o, 0, g.Wo - 1);
    sx_sum += select(ok, weight(oc, u, sx, g.W) * dy(c, oc, v, n), 0.0f);
  }
  tmp(c, u, v, n) = sx_sum;
  Expr sy_sum = 0.0f;
  for (int i = 0; i < 3 * sy; ++i) {
    Expr o = v * sy - sy + i;
    Expr ok = o >= 0 && o < g.Ho;
    Expr oc = clamp(o, 0, g.Ho - 1);
    sy_sum += select(ok, weight(oc, v, sy, g.H) * tmp(c, u, oc, n), 0.0f);
  }
  Func out(ctx.resultName);
  out(c, u, v, n) = sy_sum;
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  scheduleElementwise(tmp, {c, u, v, n}, {g.N, g.Ho, g.W, g.C}, ctx.gpu);
  return out;
}

} // namespace

std::string upsampleSourceKey(int v) {
  return "upsample_nearest.source." + std::to_string(v);
}

void registerResampleOps(OpTable &t) {
  t["avg_pool"] = lowerAvgPool;
  t["avg_pool_grad"] = lowerAvgPoolGrad;
  t["global_avg_pool"] = lowerGlobalAvgPool;
  t["global_avg_pool_grad"] = lowerGlobalAvgPoolGrad;
  t["upsample_nearest"] = lowerUpsampleNearest;
  t["upsample_grad_nearest"] = lowerUpsampleNearestGrad;
  t["upsample_bilinear"] = lowerUpsampleBilinear;
  t["upsample_grad_bilinear"] = lowerUpsampleBilinearGrad;
}

} // namespace mtl::codegen
