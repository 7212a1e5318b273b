//===- GemmGradInput.cpp - a wide filter's grad-input as GEMM + col2im ---===//
//
// dx(ci, x, y) = sum over the taps (kx, ky) and co of w(co, ci, kx, ky)
// dy(co, x - kx + pw, y - ky + ph), where that pixel of dy exists. The
// direct form (Conv2D.cpp) gathers over dy zero-padded by K - 1 - p and
// cuts off only whole filter rows; with a 5 x 5 filter and no padding
// (multi_fashion: 12 x 12 -> 16 x 16) a quarter of its products are by
// zeros. Here each image's products are all useful:
//   T(j, p) = sum_co wp(j, co) dy(co, p),   j = (ky KW + kx) Ci + ci,
// a GEMM of the packed filter (KH KW Ci x Co) by the image's Ho Wo pixels
// (register tile: vectors along j x 6 pixels of a row), then
//   dx(ci, x, y) = sum over the taps that reach (x, y) of T(j, x - kx + pw,
//   y - ky + ph),
// the taps' bounds trimmed per pixel (where-predicates on the loops over
// kx and ky, outside the channel vectors). T is per image (L2-sized).
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

#include <algorithm>

using namespace Halide;

namespace mtl::codegen {

Func gemmGradInput(OpContext &ctx, int H, int W, int Ci, int KH, int KW, int Co,
                   int Ho, int Wo, int ph, int pw) {
  const int L = isa().lanes, M = KH * KW * Ci;
  if (ctx.gpu || Ci % L != 0 || Wo < 2 || Co < 16)
    return Func();
  // Products the direct form makes per image (filter rows cut off at the
  // borders, columns not) against the useful ones.
  const int pyd = KH - 1 - ph, pxd = KW - 1 - pw; // dy's zero padding there
  auto inside = [](int o, int k, int pad, int n) {
    int v = o + k - pad; // index into dy
    return v >= 0 && v < n;
  };
  double direct = 0, useful = 0;
  for (int y = 0; y < H; ++y) {
    int rows = 0;
    for (int ky = 0; ky < KH; ++ky)
      rows += inside(y, ky, pyd, Ho);
    direct += double(rows) * W * KW;
    for (int x = 0; x < W; ++x)
      for (int kx = 0; kx < KW; ++kx)
        useful += rows * inside(x, kx, pxd, Wo);
  }
  // Worth it where the direct form wastes over a fifth; T (M x Ho Wo
  // floats per image) within 1 MB.
  if (useful > 0.8 * direct || int64_t(M) * Ho * Wo * 4 > (1 << 20))
    return Func();

  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  Var j("j"), co("co"), p("p"), q("q"), n("n");
  // wp(j, co): the filter with (tap, ci) contiguous, once per call.
  Func wp(ctx.name("gemm_w"));
  wp(j, co) = w(co, j % Ci, (j / Ci) % KW, j / (Ci * KW));
  wp.compute_root().vectorize(j, L).parallel(co);

  RDom r(0, Co, ctx.name("r"));
  Func acc(ctx.name("gemm_acc")), T(ctx.name("gemm_t"));
  acc(j, p, q, n) = 0.0f;
  acc(j, p, q, n) += wp(j, r) * dy(r, p, q, n);
  T(j, p, q, n) = acc(j, p, q, n);

  // dx: per pixel, the taps whose dy pixel exists.
  Var c("c"), x("x"), y("y");
  RDom k(0, KW, 0, KH, ctx.name("k"));
  Expr u = x - k.x + pw, v = y - k.y + ph; // dy's pixel for tap (kx, ky)
  k.where(u >= 0 && u < Wo && v >= 0 && v < Ho);
  Func sum(ctx.name("col2im"));
  sum(c, x, y, n) = 0.0f;
  // (The clamps only tell bounds inference T's extent: the predicate keeps
  // u and v inside.)
  sum(c, x, y, n) +=
      T((k.y * KW + k.x) * Ci + c, clamp(u, 0, Wo - 1), clamp(v, 0, Ho - 1), n);
  Func out(ctx.resultName);
  out(c, x, y, n) = ctx.applyEpilogue(sum(c, x, y, n), {c, x, y, n});

  // Images in parallel; T per image, its register tile NV vectors of j x IT
  // pixels of a row (AVX2: 2 x 6 = 12 accumulators), each tile's j panel
  // (NV L x Co) kept in L1 while the row tiles sweep dy.
  const int NV = isa().vregs >= 32 ? 4 : 2, JT = NV * L;
  const int IT = std::min(Wo, 6);
  out.compute_root().vectorize(c, L).parallel(n);
  sum.compute_at(out, x).vectorize(c, L);
  sum.update().reorder(c, k.x, k.y).vectorize(c, L);
  Var jo("jo"), ji("ji"), po("po"), pi("pi");
  T.compute_at(out, n)
      .split(j, jo, ji, JT, TailStrategy::ShiftInwards)
      .split(p, po, pi, IT, TailStrategy::ShiftInwards)
      .reorder(ji, pi, po, q, jo)
      .vectorize(ji, L)
      .unroll(ji)
      .unroll(pi);
  acc.compute_at(T, po).vectorize(j, L).unroll(j).unroll(p);
  acc.update().reorder(j, p, r).vectorize(j, L).unroll(j).unroll(p);
  if (Co % 4 == 0)
    acc.update().unroll(r, 4);
  return out;
}

} // namespace mtl::codegen
