//===- Pool.cpp - max_pool, max_pool_argmax and max_pool_grad ------------===//
//
// Windows are small (2x2, 3x3), so the ops unroll the window into one
// expression. max_pool_argmax (mtl-save-pool-argmax) keeps each window's
// maximum's position for the gradient, which then reads it instead of
// comparing the window again. The gradient is a gather, not a scatter (no
// atomics, GPU friendly): each input position sums dy over the windows that
// contain it and whose first row-major maximum sits at that position. Where
// only the batch-norm gradients below read it, the gradient is not stored but
// computed inline in them (codegen/Segments.cpp, OpContext::inlined).
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

struct PoolGeom {
  int N, H, W, C, kh, kw, sh, sw, Ho, Wo, ph = 0, pw = 0;
};

PoolGeom geometry(OpContext &ctx, const std::vector<int64_t> &x,
                  const std::vector<int64_t> &y) {
  if (x.size() != 4 || y.size() != 4)
    throw LoweringError{"expects rank-4 NHWC tensors"};
  auto k = ctx.ints("kernel", 2);
  auto s = ctx.ints("stride", 2, k);
  auto p = ctx.ints("padding", 2, {0, 0});
  PoolGeom g{(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)k[0], (int)k[1],
             (int)s[0], (int)s[1], (int)y[1], (int)y[2], (int)p[0], (int)p[1]};
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.ph < 0 || g.pw < 0 ||
      g.ph >= g.kh || g.pw >= g.kw || y[0] != x[0] || y[3] != x[3] ||
      g.Ho != (g.H + 2 * g.ph - g.kh) / g.sh + 1 ||
      g.Wo != (g.W + 2 * g.pw - g.kw) / g.sw + 1)
    throw LoweringError{"inconsistent max_pool shapes"};
  return g;
}

/// OpContext::shared key of the generic max_pool whose result is value v.
std::string pooledKey(int v) { return "max_pool.out." + std::to_string(v); }

/// `x` read through a border of `pad` outside [0, H) x [0, W) (padding).
Func padded(OpContext &ctx, const PoolGeom &g, Func x, Expr pad) {
  if (g.ph == 0 && g.pw == 0)
    return x;
  Var c("c"), u("u"), v("v"), n("n");
  Func f(ctx.name("padded"));
  f(c, u, v, n) =
      select(u >= 0 && u < g.W && v >= 0 && v < g.H,
             x(c, clamp(u, 0, g.W - 1), clamp(v, 0, g.H - 1), n), pad);
  return f; // inlined into the window expression
}

Func lowerMaxPool(OpContext &ctx) {
  if (ctx.inputs.size() != 1)
    throw LoweringError{"expects (x)"};
  PoolGeom g = geometry(ctx, ctx.inputShapes[0], ctx.shape);
  // For a max_pool_argmax of the same windows, computed in its loops.
  auto publish = [&](Func f) {
    if (ctx.shared && !ctx.gpu)
      (*ctx.shared)[pooledKey(ctx.node.result)] = f;
    return f;
  };
  // A first layer's conv, batch norm and relu recomputed here, in windows
  // that tile the input.
  if (g.kh == g.kw && g.sh == g.kh && g.sw == g.kw && g.ph == 0 && g.pw == 0)
    if (Func f = firstLayerPool(ctx, g.kh); f.defined())
      return publish(f);
  Func x = padded(ctx, g, ctx.inputs[0], Float(32).min());
  Var c("c"), u("u"), v("v"), n("n");
  Expr m;
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) {
      Expr e = x(c, u * g.sw + kx - g.pw, v * g.sh + ky - g.ph, n);
      m = m.defined() ? max(m, e) : e;
    }
  Func out(ctx.resultName);
  // A fused epilogue (a relu after the pool: mtl-fuse-epilogue) in the
  // same pass.
  out(c, u, v, n) = ctx.applyEpilogue(m, {c, u, v, n});
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  return publish(out);
}

/// Row-major index of the first maximum of window (u, v) of x (a padded
/// position is -inf: never the maximum, since a window holds a real one).
Expr windowArgmax(const PoolGeom &g, Func x, Expr c, Expr u, Expr v, Expr n) {
  Expr best, idx;
  for (int ky = 0; ky < g.kh; ++ky)
    for (int kx = 0; kx < g.kw; ++kx) {
      Expr e = x(c, u * g.sw + kx - g.pw, v * g.sh + ky - g.ph, n);
      if (!best.defined()) {
        best = e;
        idx = 0;
        continue;
      }
      Expr better = e > best;
      idx = select(better, ky * g.kw + kx, idx);
      best = max(best, e);
    }
  return idx;
}

Func lowerMaxPoolArgmax(OpContext &ctx) {
  if (ctx.inputs.size() != 1)
    throw LoweringError{"expects (x)"};
  PoolGeom g = geometry(ctx, ctx.inputShapes[0], ctx.shape);
  // The pool of the same windows, lowered before it in this segment
  // (Segments.cpp keeps them together; CPU only).
  const kg::Node *pool = kg::poolOfArgmax(ctx.fn, ctx.node);
  Func pooled;
  if (pool && ctx.shared && !ctx.gpu)
    if (auto it = ctx.shared->find(pooledKey(pool->result));
        it != ctx.shared->end())
      pooled = it->second;
  // Beside a first layer's pool, in its pass over the windows.
  if (pooled.defined())
    if (Func f = firstLayerPoolArgmax(ctx, *pool, pooled); f.defined())
      return f;
  Func x = padded(ctx, g, ctx.inputs[0], Float(32).min());
  Var c("c"), u("u"), v("v"), n("n");
  Func out(ctx.resultName);
  out(c, u, v, n) = cast<int8_t>(windowArgmax(g, x, c, u, v, n));
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  // In the pool's loop over the images (the same schedule): each image's
  // input is read from cache the second time.
  if (pooled.defined() && g.N > 1)
    out.compute_with(pooled, n);
  return out;
}

Func lowerMaxPoolGrad(OpContext &ctx) {
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (dy, x) or (dy, x, argmax)"};
  PoolGeom g = geometry(ctx, ctx.inputShapes[1], ctx.inputShapes[0]);
  if (ctx.shape != ctx.inputShapes[1])
    throw LoweringError{"result must have the shape of x"};
  const bool saved = ctx.inputs.size() == 3;
  if (saved && ctx.inputShapes[2] != ctx.inputShapes[0])
    throw LoweringError{"argmax must have the shape of dy"};
  Func dy = ctx.inputs[0];
  Func x = padded(ctx, g, ctx.inputs[1], Float(32).min());
  Var c("c"), u("u"), v("v"), n("n");
  Func arg = saved ? ctx.inputs[2] : Func(ctx.name("argmax"));
  if (saved) {
    // For a first layer's gamma pass, which reads dy only at each window's
    // argmax (FirstLayerPoolGrad.cpp).
    if (ctx.shared && !ctx.gpu) {
      (*ctx.shared)[poolGradOperandKey(ctx.node.result, "dy")] = dy;
      (*ctx.shared)[poolGradOperandKey(ctx.node.result, "argmax")] = arg;
    }
  } else
    arg(c, u, v, n) = windowArgmax(g, x, c, u, v, n);

  Expr sum = 0.0f;
  if (g.sh == g.kh && g.sw == g.kw && g.ph == 0 && g.pw == 0) {
    // Windows tile the input (2x2 / stride 2, the usual case): each input
    // position lies in at most one window, so one candidate instead of kh*kw
    // (it matters inlined, where every reader recomputes the gather).
    Expr wx = u / g.kw, wy = v / g.kh;
    Expr valid = wx < g.Wo && wy < g.Ho; // rows/columns no window covers
    Expr cwx = min(wx, g.Wo - 1), cwy = min(wy, g.Ho - 1);
    sum = select(valid && arg(c, cwx, cwy, n) == (v % g.kh) * g.kw + u % g.kw,
                 dy(c, cwx, cwy, n), 0.0f);
  } else
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx = 0; kx < g.kw; ++kx) {
        // Window (wx, wy) covers input u = wx * sw + kx - pw.
        Expr px = u + g.pw - kx, py = v + g.ph - ky;
        Expr wx = px / g.sw, wy = py / g.sh; // floor division
        Expr valid = px % g.sw == 0 && py % g.sh == 0 && wx >= 0 && wx < g.Wo &&
                     wy >= 0 && wy < g.Ho;
        Expr cwx = clamp(wx, 0, g.Wo - 1), cwy = clamp(wy, 0, g.Ho - 1);
        sum += select(valid && arg(c, cwx, cwy, n) == ky * g.kw + kx,
                      dy(c, cwx, cwy, n), 0.0f);
      }
  Func out(ctx.resultName);
  // A fused epilogue (the relu_grad of the layer below) shares the pass.
  out(c, u, v, n) = ctx.applyEpilogue(sum, {c, u, v, n});
  if (ctx.inlined)
    return out; // out and the argmax recomputed where they are read
  scheduleElementwise(out, {c, u, v, n}, ctx.shape, ctx.gpu);
  if (saved) // the argmax comes from the forward pass: nothing to schedule
    return out;
  if (ctx.gpu) {
    scheduleElementwise(arg, {c, u, v, n}, ctx.inputShapes[0], ctx.gpu);
  } else {
    // Per image, inside the pass over the image: the window maxima are read
    // while the image's x is in cache for the epilogue (relu_grad reads it
    // again), and the argmax map never goes to memory.
    arg.compute_at(out, n);
    if (int w = dividingLanes(g.C); w > 1)
      arg.vectorize(c, w);
  }
  return out;
}

} // namespace

void registerPoolOps(OpTable &t) {
  t["max_pool"] = lowerMaxPool;
  t["max_pool_argmax"] = lowerMaxPoolArgmax;
  t["max_pool_grad"] = lowerMaxPoolGrad;
}

} // namespace mtl::codegen
