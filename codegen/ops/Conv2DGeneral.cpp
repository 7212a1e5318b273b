//===- Conv2DGeneral.cpp - dilated / grouped conv2d, conv_transpose2d ----===//
//
// NHWC activations are f(c, x, y, n), filters w(co, cig, kx, ky) with
// cig in [0, Ci / groups). Output channel co belongs to group
// co / (Co / groups), which reads input channels [g Cig, (g + 1) Cig).
// Taps are `dilation` apart. Conv2D.cpp keeps the fast path (dilation 1,
// groups 1) and dispatches here otherwise.
//
// Schedules: the same register-tiled contraction as the fast path (tile of
// output-channel vectors x output x, per image, parallel over the batch),
// zero-padded input staged per image; grad-input gathers from dy dilated by
// the stride (staged per image); grad-filter reduces the batch in chunks.
//
// conv_transpose2d(x, w) is conv2d_backward_input(x, w) of the fast path
// (output_padding only resolves the output size), plus the bias.
//
//===----------------------------------------------------------------------===//
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

struct Geom {
  int N, H, W, Ci, KH, KW, Cig, Co, Cog, G, Ho, Wo, sh, sw, ph, pw, dh, dw;
};

Geom geometry(OpContext &ctx, const std::vector<int64_t> &x,
              const std::vector<int64_t> &w, const std::vector<int64_t> &y) {
  if (x.size() != 4 || w.size() != 4 || y.size() != 4)
    throw LoweringError{"expects rank-4 NHWC tensors and an HWIO filter"};
  auto s = ctx.ints("stride", 2, {1, 1});
  auto p = ctx.ints("padding", 2, {0, 0});
  auto d = ctx.ints("dilation", 2, {1, 1});
  int G = static_cast<int>(ctx.ints("groups", 1, {1})[0]);
  Geom g{(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)w[0], (int)w[1],
         (int)w[2], (int)w[3], 0,         G,         (int)y[1], (int)y[2],
         (int)s[0], (int)s[1], (int)p[0], (int)p[1], (int)d[0], (int)d[1]};
  if (G < 1 || g.Co % G || g.Cig * G != g.Ci || y[3] != w[3] || y[0] != x[0] ||
      g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1)
    throw LoweringError{"inconsistent conv2d shapes"};
  g.Cog = g.Co / G;
  int ekh = (g.KH - 1) * g.dh + 1, ekw = (g.KW - 1) * g.dw + 1;
  if (g.Ho != (g.H + 2 * g.ph - ekh) / g.sh + 1 ||
      g.Wo != (g.W + 2 * g.pw - ekw) / g.sw + 1)
    throw LoweringError{"output spatial size does not match "
                        "stride/padding/dilation"};
  return g;
}

void stagePerImage(OpContext &ctx, Func pad, Func out, Var n,
                   const std::vector<Var> &pv, const std::vector<int> &ext,
                   int channels) {
  if (ctx.gpu) {
    pad.compute_root();
    gpuStage(pad, std::vector<VarOrRVar>(pv.begin(), pv.end()), ext);
    return;
  }
  pad.compute_at(out, n);
  if (int w = dividingLanes(channels); w > 1)
    pad.vectorize(pv[0], w);
}

} // namespace

bool isGeneralConv(const OpContext &ctx) { return kg::isGeneralConv(ctx.node); }

Func lowerConv2DGeneral(OpContext &ctx) {
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (x, w) or (x, w, b)"};
  Geom g = geometry(ctx, ctx.inputShapes[0], ctx.inputShapes[1], ctx.shape);
  Func x = ctx.inputs[0], w = ctx.inputs[1];
  Var c("c"), u("u"), v("v"), n("n");
  Func pad(ctx.name("pad"));
  pad(c, u, v, n) = zeroPadded(x, g.H, g.W, c, u, v, n);
  RDom r(0, g.Cig, 0, g.KW, 0, g.KH, ctx.name("r"));
  Expr ci = (c / g.Cog) * g.Cig + r.x;
  Func acc(ctx.name("acc"));
  acc(c, u, v, n) = ctx.inputs.size() == 3 ? ctx.inputs[2](c) : Expr(0.0f);
  acc(c, u, v, n) += w(c, r.x, r.y, r.z) * pad(ci, u * g.sw + r.y * g.dw - g.pw,
                                               v * g.sh + r.z * g.dh - g.ph, n);
  Func out(ctx.resultName);
  out(c, u, v, n) = ctx.applyEpilogue(acc(c, u, v, n), {c, u, v, n});
  scheduleTiledContraction(out, acc, {c, u, v, n}, {g.Co, g.Wo, g.Ho, g.N}, r,
                           TileSpec{0, 1, 3, g.Cig % 4 == 0 ? 4 : 1}, ctx.gpu);
  int Hp = (g.Ho - 1) * g.sh + (g.KH - 1) * g.dh + 1,
      Wp = (g.Wo - 1) * g.sw + (g.KW - 1) * g.dw + 1;
  stagePerImage(ctx, pad, out, n, {c, u, v, n}, {g.Ci, Wp, Hp, g.N}, g.Ci);
  return out;
}

Func lowerConv2DBackwardInputGeneral(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (dy, w)"};
  // ctx.shape is dx = [N,H,W,Ci]; dy = [N,Ho,Wo,Co].
  Geom g = geometry(ctx, ctx.shape, ctx.inputShapes[1], ctx.inputShapes[0]);
  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  Var c("c"), u("u"), v("v"), n("n");
  // dy dilated by the stride: dyz(co, a, b, n) = dy(co, a / sw, b / sh, n)
  // where a, b are multiples of the stride inside the output, else 0.
  Func dyz(ctx.name("dyz"));
  {
    Expr xo = u / g.sw, yo = v / g.sh; // floor division
    Expr inside = u % g.sw == 0 && v % g.sh == 0 && xo >= 0 && xo < g.Wo &&
                  yo >= 0 && yo < g.Ho;
    dyz(c, u, v, n) = select(
        inside, dy(c, clamp(xo, 0, g.Wo - 1), clamp(yo, 0, g.Ho - 1), n), 0.0f);
  }
  // dx(ci, x, y) = sum_{col, kx, ky} w(co, ci % Cig, kx, ky) *
  //                dyz(co, x + pw - kx dw, y + ph - ky dh), co = g Cog + col.
  RDom r(0, g.Cog, 0, g.KW, 0, g.KH, ctx.name("r"));
  Expr co = (c / g.Cig) * g.Cog + r.x;
  Func acc(ctx.name("acc"));
  acc(c, u, v, n) = 0.0f;
  acc(c, u, v, n) += w(co, c % g.Cig, r.y, r.z) *
                     dyz(co, u + g.pw - r.y * g.dw, v + g.ph - r.z * g.dh, n);
  Func out(ctx.resultName);
  out(c, u, v, n) = acc(c, u, v, n);
  scheduleTiledContraction(out, acc, {c, u, v, n}, {g.Ci, g.W, g.H, g.N}, r,
                           TileSpec{0, 1, 3, g.Cog % 4 == 0 ? 4 : 1}, ctx.gpu);
  int Hz = g.H + g.ph + (g.KH - 1) * g.dh, Wz = g.W + g.pw + (g.KW - 1) * g.dw;
  stagePerImage(ctx, dyz, out, n, {c, u, v, n}, {g.Co, Wz, Hz, g.N}, g.Co);
  return out;
}

Func lowerConv2DBackwardFilterGeneral(OpContext &ctx) {
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (x, dy)"};
  Geom g = geometry(ctx, ctx.inputShapes[0], ctx.shape, ctx.inputShapes[1]);
  Func x = ctx.inputs[0], dy = ctx.inputs[1];
  Var c("c"), u("u"), v("v"), n("n");
  Func pad(ctx.name("pad"));
  pad(c, u, v, n) = zeroPadded(x, g.H, g.W, c, u, v, n);
  const int U = g.N % 4 == 0 ? 4 : g.N % 2 == 0 ? 2 : 1, chunk = g.N / U;
  Var co("co"), ci("ci"), kx("kx"), ky("ky"), q("q");
  RDom r(0, g.Wo, 0, g.Ho, 0, chunk, ctx.name("r"));
  Expr nn = q * chunk + r.z;
  Func acc(ctx.name("acc")), part(ctx.name("part"));
  acc(co, ci, kx, ky, q) = 0.0f;
  acc(co, ci, kx, ky, q) +=
      dy(co, r.x, r.y, nn) * pad((co / g.Cog) * g.Cig + ci,
                                 r.x * g.sw + kx * g.dw - g.pw,
                                 r.y * g.sh + ky * g.dh - g.ph, nn);
  part(co, ci, kx, ky, q) = acc(co, ci, kx, ky, q);
  TileSpec spec{0, g.Cig >= 4 ? 1 : 2, 4, 1};
  scheduleTiledContraction(part, acc, {co, ci, kx, ky, q},
                           {g.Co, g.Cig, g.KW, g.KH, U}, r, spec, ctx.gpu);
  Func out(ctx.resultName);
  Expr sum = part(co, ci, kx, ky, 0);
  for (int k = 1; k < U; ++k)
    sum += part(co, ci, kx, ky, k);
  out(co, ci, kx, ky) = sum;
  scheduleElementwise(out, {co, ci, kx, ky}, ctx.shape, ctx.gpu);
  pad.compute_root();
  int Hp = g.H + 2 * g.ph + g.dh * g.KH, Wp = g.W + 2 * g.pw + g.dw * g.KW;
  if (ctx.gpu) {
    gpuStage(pad, {c, u, v, n}, {g.Ci, Wp, Hp, g.N});
  } else {
    pad.parallel(n);
    int w = vectorLanes(g.Ci);
    if (w > 1 && g.Ci % w == 0)
      pad.vectorize(c, w);
  }
  return out;
}

namespace {

Func lowerConvTranspose2D(OpContext &ctx) {
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (x, w) or (x, w, b)"};
  const auto &x = ctx.inputShapes[0], &w = ctx.inputShapes[1];
  if (x.size() != 4 || w.size() != 4 || ctx.rank() != 4 || w[3] != x[3] ||
      ctx.shape[3] != w[2] || ctx.shape[0] != x[0])
    throw LoweringError{"expects x [N,H,W,Ci], w [KH,KW,Co,Ci] and a result "
                        "[N,Ho,Wo,Co]"};
  // The fast path's grad-input with this op's stride and padding.
  kg::Node inner;
  inner.op = "conv2d_backward_input";
  inner.inputs = {ctx.node.inputs[0], ctx.node.inputs[1]};
  inner.result = ctx.node.result;
  inner.ints["stride"] = ctx.ints("stride", 2, {1, 1});
  inner.ints["padding"] = ctx.ints("padding", 2, {0, 0});
  inner.loc = ctx.node.loc;
  OpContext ic{ctx.fn,  inner,     {ctx.inputs[0], ctx.inputs[1]},
               {x, w},  ctx.shape, "",
               ctx.gpu, ctx.target};
  ic.resultName = ctx.resultName;
  // The bias, then any fused epilogue, applied to the register tile.
  ic.epilogue = ctx.epilogue;
  if (ctx.inputs.size() == 3) {
    if (ctx.inputShapes[2] != std::vector<int64_t>{w[2]})
      throw LoweringError{"bias must be [Co]"};
    Func b = ctx.inputs[2];
    auto epi = ctx.epilogue;
    ic.epilogue = [b, epi](Expr v, const std::vector<Expr> &at) {
      Expr y = v + call(b, {at[0]});
      return epi ? epi(y, at) : y;
    };
  }
  return opTable().at("conv2d_backward_input")(ic);
}

} // namespace

void registerConvGeneralOps(OpTable &t) {
  t["conv_transpose2d"] = lowerConvTranspose2D;
}

} // namespace mtl::codegen
