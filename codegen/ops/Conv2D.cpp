//===- Conv2D.cpp - conv2d and its two gradients -------------------------===//
//
// NHWC activations are f(c, x, y, n), HWIO filters w(co, ci, kx, ky).
// Forward and grad-input are one direct convolution: a register tile of
// (co vectors x output x) per image, the zero-padded (for grad-input: also
// zero-dilated) input staged per image. Grad-input convolves dy with the
// flipped, transposed filter. Grad-filter splits the batch reduction into
// chunks (rfactor by hand, 16 where the batch allows) so two threads have
// work and stay balanced.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Lowering.h"
#include "codegen/ops/CnnOps.h" // dilated / grouped convs: Conv2DGeneral.cpp

#include <algorithm>
#include <optional>

using namespace Halide;

namespace mtl::codegen {
namespace {

using Src = std::function<Expr(Expr, Expr, Expr, Expr)>;

struct ConvGeom {
  int N, H, W, Ci, KH, KW, Co, Ho, Wo, sh, sw, ph, pw;
};

ConvGeom geometry(OpContext &ctx, const std::vector<int64_t> &x,
                  const std::vector<int64_t> &w,
                  const std::vector<int64_t> &y) {
  if (x.size() != 4 || w.size() != 4 || y.size() != 4)
    throw LoweringError{"expects rank-4 NHWC tensors and an HWIO filter"};
  auto s = ctx.ints("stride", 2, {1, 1});
  auto p = ctx.ints("padding", 2, {0, 0});
  ConvGeom g{(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)w[0],
             (int)w[1], (int)w[3], (int)y[1], (int)y[2], (int)s[0],
             (int)s[1], (int)p[0], (int)p[1]};
  if (w[2] != x[3] || y[3] != w[3] || y[0] != x[0] || g.sh < 1 || g.sw < 1)
    throw LoweringError{"inconsistent conv2d shapes"};
  if (g.Ho != (g.H + 2 * g.ph - g.KH) / g.sh + 1 ||
      g.Wo != (g.W + 2 * g.pw - g.KW) / g.sw + 1)
    throw LoweringError{"output spatial size does not match stride/padding"};
  return g;
}

/// x with zeros outside [0,W) x [0,H), as a Src.
Src zeroPadded(Func x, int H, int W) {
  return [=](Expr c, Expr u, Expr v, Expr n) {
    return codegen::zeroPadded(x, H, W, c, u, v, n);
  };
}

/// The zero-padded input of a conv: `in` (value v, H x W) read through
/// zeroPadded; or, where `in` is a nearest upsample recomputed in the conv
/// (Segments.cpp: a decoder's conv after its upsample), the upsample's
/// source zero-padded instead, returned in `sourcePad` for the caller to
/// stage with the conv's own padded copy: floor(u / scale) falls in that
/// source's border exactly where u is outside the upsampled image, so the
/// copy indexes it without a bounds test per element (the selects and
/// clamps per element were 37 % of recon_out's forward in a profile) and
/// the source's border is a quarter of the values at scale 2.
Src paddedInput(OpContext &ctx, Func in, int v, int H, int W,
                std::optional<Func> &sourcePad) {
  std::optional<UpsampledInput> up = upsampledInputOf(ctx, v);
  if (!up)
    return zeroPadded(in, H, W);
  Var c("c"), a("a"), b("b"), n("n");
  Func pad(ctx.name("source_pad"));
  pad(c, a, b, n) = zeroPadded(up->source, up->Hs, up->Ws)(c, a, b, n);
  sourcePad = pad;
  return [pad, sx = up->sx, sy = up->sy](Expr c, Expr u, Expr v, Expr n) {
    return pad(c, u / sx, v / sy, n); // Halide's division floors
  };
}

/// Computes a conv's padded input `pad` (c, x, y, n) at `at` -- and the
/// upsample source it reads, if any (paddedInput), at the same loop before
/// it -- vectorized along the channels by `lanes` where that is over 1; at
/// the root, parallel over the batch as well.
void stagePadded(Func pad, const std::optional<Func> &source, LoopLevel at,
                 bool root, int lanes) {
  for (Func f :
       source ? std::vector<Func>{*source, pad} : std::vector<Func>{pad}) {
    f.compute_at(at);
    if (root)
      f.parallel(f.args()[3]);
    if (lanes > 1)
      f.vectorize(f.args()[0], lanes);
  }
}

/// The product a single-channel conv sums for output (x, y, n), input
/// channel ci and tap (kx, ky).
using TapTerm =
    std::function<Expr(Expr ci, Expr x, Expr y, Expr n, Expr kx, Expr ky)>;

/// A single output channel (a decoder's last layer): a register tile over
/// output channels has nothing to vectorize, so each pixel accumulates one
/// vector of input-channel partial sums (the Ci / L lane blocks and the taps
/// all add into it), a tile of T pixels of a row at a time so each filter
/// vector is loaded once per T FMAs and T independent chains hide the FMA
/// latency; each pixel's vector is then summed across its lanes. (One pixel
/// at a time, a vector per lane block, kept 2 chains of 9 dependent FMAs:
/// ~28 % of the peak.) `term` over KX x KY taps; T is a multiple of
/// `tileStep` (a polyphase conv's phases: constant within the tile) and at
/// most `maxTile`.
Func singleChannelConv(OpContext &ctx, const TapTerm &term,
                       std::optional<Func> bias, int Wo, int Ci, int KX, int KY,
                       int tileStep, int maxTile) {
  const int L = isa().lanes;
  Var c("c"), x("x"), y("y"), n("n");
  RDom k(0, KX, 0, KY, 0, Ci / L, ctx.name("k"));
  Func taps(ctx.name("taps"));
  taps(c, x, y, n) = 0.0f;
  taps(c, x, y, n) += term(c + k.z * L, x, y, n, k.x, k.y);
  RDom rc(0, L, ctx.name("rc"));
  Func acc(ctx.name("acc"));
  acc(c, x, y, n) = bias ? (*bias)(c) : Expr(0.0f);
  acc(c, x, y, n) += taps(rc, x, y, n);
  Func out(ctx.resultName);
  out(c, x, y, n) = ctx.applyEpilogue(acc(c, x, y, n), {c, x, y, n});
  // The largest pixel tile dividing the row that leaves registers for the
  // filter vectors and a temporary.
  int T = tileStep;
  for (int t = std::min(Wo, maxTile); t >= tileStep; --t)
    if (Wo % t == 0 && t % tileStep == 0) {
      T = t;
      break;
    }
  Var xo("xo"), xi("xi");
  out.compute_root().parallel(n);
  acc.compute_at(out, y);
  acc.update().atomic().vectorize(rc, L);
  taps.compute_at(out, y).vectorize(c, L);
  taps.update()
      .split(x, xo, xi, T)
      .reorder(c, xi, k.x, k.y, k.z, xo)
      .vectorize(c, L)
      .unroll(xi)
      .unroll(k.x)
      .unroll(k.y)
      .unroll(k.z);
  return out;
}

/// out(co,x,y,n) = bias(co) + sum_{ci,kx,ky} filt(co,ci,kx,ky) *
///                 src(ci, x*sw+kx-pw, y*sh+ky-ph, n)
/// With `stage`, the padded input is copied per image (with the
/// `sourcePad` it reads, if any: paddedInput). With `srcRows` > 0, src is
/// zero outside rows [0, srcRows): each output row sums only the filter
/// rows that land inside (a predicate on ky that Halide turns into the
/// ky loop's bounds, the y loop being outside it).
Func directConv(OpContext &ctx, Src src, bool stage, Func filt,
                std::optional<Func> bias, int N, int Ho, int Wo, int Co, int Ci,
                int KH, int KW, int sh, int sw, int ph, int pw,
                std::optional<Func> sourcePad = std::nullopt, int srcRows = 0) {
  Var c("c"), x("x"), y("y"), n("n");
  Func pad(ctx.name("pad"));
  pad(c, x, y, n) = src(c, x, y, n);
  RDom r(0, Ci, 0, KW, 0, KH, ctx.name("r"));
  // Only where rows are cut off: the first or last output row's window
  // reaches outside [0, srcRows).
  if (srcRows > 0 && !ctx.gpu && (ph > 0 || (Ho - 1) * sh + KH - ph > srcRows))
    r.where(y * sh + r.z - ph >= 0 && y * sh + r.z - ph < srcRows);
  Func acc(ctx.name("acc"));
  acc(c, x, y, n) = bias ? (*bias)(c) : Expr(0.0f);
  acc(c, x, y, n) += filt(c, r.x, r.y, r.z) *
                     pad(r.x, x * sw + r.y - pw, y * sh + r.z - ph, n);
  if (!ctx.gpu && Co == 1 && Ci % isa().lanes == 0) {
    TapTerm term = [=](Expr ci, Expr x, Expr y, Expr n, Expr kx, Expr ky) {
      return filt(0, ci, kx, ky) *
             pad(ci, x * sw + kx - pw, y * sh + ky - ph, n);
    };
    Func out = singleChannelConv(ctx, term, bias, Wo, Ci, KW, KH, 1,
                                 isa().vregs / 2 - 1);
    if (stage)
      stagePadded(pad, sourcePad, LoopLevel(out, n), false, isa().lanes);
    return out;
  }
  Func out(ctx.resultName);
  // A fused epilogue (activation) is applied to the register tile.
  out(c, x, y, n) = ctx.applyEpilogue(acc(c, x, y, n), {c, x, y, n});
  scheduleTiledContraction(out, acc, {c, x, y, n}, {Co, Wo, Ho, N}, r,
                           TileSpec{0, 1, 3, Ci % 4 == 0 ? 4 : 1}, ctx.gpu);
  if (stage) {
    int Hp = (Ho - 1) * sh + KH, Wp = (Wo - 1) * sw + KW;
    if (ctx.gpu) {
      pad.compute_root();
      gpuStage(pad, {c, x, y, n}, {Ci, Wp, Hp, N});
    } else {
      // Zero padding staged per image, inside the parallel batch loop.
      stagePadded(pad, sourcePad, LoopLevel(out, n), false, dividingLanes(Ci));
    }
  }
  return out;
}

/// A conv of a few taps per output recomputed where it is read
/// (Segments.cpp: a first layer's conv, a decoder's last grad-input): a
/// pure expression, every tap unrolled, out(c, x, y, n) = bias(c) +
/// sum_{ci,kx,ky} filt(c, ci, kx, ky) * in(ci, x sw + kx - pw, y sh + ky -
/// ph, n), over a zero-padded copy of `in` made once per kernel (small: a
/// batch of one-channel images), so the taps are plain loads, not bounds
/// checks.
Func inlineConv(OpContext &ctx, Func in, int H, int W, int Cin,
                std::function<Expr(Expr, Expr, Expr, Expr)> filt,
                std::optional<Func> bias, int KH, int KW, int sh, int sw,
                int ph, int pw) {
  Var c("c"), x("x"), y("y"), n("n");
  const bool padded = ph != 0 || pw != 0; // (a grad-input's may be < 0)
  Src src =
      padded ? zeroPadded(in, H, W) : Src([in](Expr c, Expr u, Expr v, Expr n) {
        return call(in, {c, u, v, n});
      });
  if (padded && !ctx.gpu) {
    Func pad(ctx.name("pad"));
    pad(c, x, y, n) = src(c, x, y, n);
    pad.compute_root().parallel(n);
    if (int w = dividingLanes(Cin); w > 1)
      pad.vectorize(c, w);
    else
      pad.vectorize(x, isa().lanes);
    src = [pad](Expr c, Expr u, Expr v, Expr n) { return pad(c, u, v, n); };
  }
  Expr sum = bias ? (*bias)(c) : Expr(0.0f);
  for (int ky = 0; ky < KH; ++ky)
    for (int kx = 0; kx < KW; ++kx)
      for (int ci = 0; ci < Cin; ++ci)
        sum += filt(c, ci, kx, ky) *
               src(ci, x * sw + kx - pw, y * sh + ky - ph, n);
  Func out(ctx.resultName);
  out(c, x, y, n) = ctx.applyEpilogue(sum, {c, x, y, n});
  return out;
}

Func lowerConv2D(OpContext &ctx) {
  if (isGeneralConv(ctx))
    return lowerConv2DGeneral(ctx);
  if (ctx.inputs.size() != 2 && ctx.inputs.size() != 3)
    throw LoweringError{"expects (x, w) or (x, w, b)"};
  ConvGeom g = geometry(ctx, ctx.inputShapes[0], ctx.inputShapes[1], ctx.shape);
  std::optional<Func> bias;
  if (ctx.inputs.size() == 3)
    bias = ctx.inputs[2];
  if (ctx.inlined) {
    Func filt = ctx.inputs[1];
    Func out = inlineConv(
        ctx, ctx.inputs[0], g.H, g.W, g.Ci,
        [filt](Expr c, Expr ci, Expr kx, Expr ky) {
          return filt(c, ci, kx, ky);
        },
        bias, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw);
    // Readers that would evaluate it several times per element compute it
    // once per image instead (Staging.h).
    if (ctx.staging)
      ctx.staging->producers.push_back({out, g.Co});
    // Its batch norm's statistics and grad-filter can skip it
    // (FirstConvMoments.cpp).
    publishFirstConv(ctx, ctx.inputs[0], filt, bias);
    return out;
  }
  bool padded = g.ph > 0 || g.pw > 0;
  if (winogradApplies(ctx, g.Co, g.Ci, g.KH, g.KW, g.sh, g.sw, g.Ho, g.Wo)) {
    Func w = ctx.inputs[1];
    return winogradConv(
        ctx, zeroPadded(ctx.inputs[0], g.H, g.W),
        [w](Expr co, Expr ci, Expr kx, Expr ky) { return w(co, ci, kx, ky); },
        bias, g.Ho, g.Wo, g.Co, g.Ci, g.ph, g.pw);
  }
  if (!ctx.gpu && g.Co == 1 && g.Ci % isa().lanes == 0 && g.sh == 1 &&
      g.sw == 1)
    if (auto up = upsampledInputOf(ctx, ctx.node.inputs[0])) {
      // Over a recomputed upsample: per output phase, over its source
      // (Polyphase.cpp). The tile holds both phases' filter vectors.
      PhaseConv pc = phaseConv(ctx, *up, ctx.inputs[1], g.Co, g.Ci, g.KH, g.KW,
                               g.ph, g.pw);
      TapTerm term = [pc](Expr ci, Expr x, Expr y, Expr n, Expr dx, Expr dy) {
        return pc.term(0, ci, x, y, n, dx, dy);
      };
      Func out = singleChannelConv(ctx, term, bias, g.Wo, g.Ci, pc.Kx, pc.Ky,
                                   up->sx, isa().vregs - 2);
      stagePadded(pc.source, std::nullopt, LoopLevel(out, out.args()[3]), false,
                  isa().lanes);
      return out;
    }
  std::optional<Func> sourcePad;
  Src src = padded ? paddedInput(ctx, ctx.inputs[0], ctx.node.inputs[0], g.H,
                                 g.W, sourcePad)
                   : Src([x = ctx.inputs[0]](Expr c, Expr u, Expr v, Expr n) {
                       return call(x, {c, u, v, n});
                     });
  return directConv(ctx, src, padded, ctx.inputs[1], bias, g.N, g.Ho, g.Wo,
                    g.Co, g.Ci, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, sourcePad,
                    g.H);
}

/// A strided conv's grad-input (and so conv_transpose2d) by output phase:
/// dx(x) = sum over the taps kx with x + pw - kx = sw xo of w(kx) dy(xo),
/// and for x = sw i + a those taps are the kx = a + pw (mod sw), each at
/// dy(i + (a + pw - kx) / sw): per phase (a, b) a stride-1 conv over dy
/// with only its taps. The form over dy dilated by the stride (zeros
/// between its pixels) multiplies sw sh times as much, all but one in
/// sw sh of the products by a zero (the VAE's encoder conv2, stride 2:
/// 22 % of the peak). Needs the output to divide into the phases; an
/// undefined Func otherwise (CPU only).
Func stridedGradInputByPhase(OpContext &ctx, const ConvGeom &g) {
  const int sh = g.sh, sw = g.sw;
  if (ctx.gpu || (sh == 1 && sw == 1) || g.H % sh != 0 || g.W % sw != 0)
    return Func();
  const int Hp = g.H / sh, Wp = g.W / sw;
  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  Src src = zeroPadded(dy, g.Ho, g.Wo);
  // The taps of phase a along one axis: kx = a + p - s d for consecutive
  // offsets d (dy(i + d)), as (first offset, taps in ascending d).
  struct Taps {
    int dmin = 0;
    std::vector<int> k; // k[t]: the filter tap at offset dmin + t
  };
  auto taps = [](int a, int p, int s, int K) {
    Taps t;
    std::vector<std::pair<int, int>> dk; // (d, k)
    for (int k = 0; k < K; ++k)
      if (((a + p - k) % s + s) % s == 0) // then / is exact
        dk.push_back({(a + p - k) / s, k});
    std::sort(dk.begin(), dk.end());
    if (!dk.empty())
      t.dmin = dk.front().first;
    for (auto [d, k] : dk)
      t.k.push_back(k);
    return t;
  };
  std::vector<Func> phases; // index b * sw + a
  for (int b = 0; b < sh; ++b)
    for (int a = 0; a < sw; ++a) {
      Taps tx = taps(a, g.pw, sw, g.KW), ty = taps(b, g.ph, sh, g.KH);
      if (tx.k.empty() || ty.k.empty()) {
        // No tap lands on this phase: dx is zero there.
        Var c("c"), x("x"), y("y"), n("n");
        Func zero(ctx.name("phase_zero"));
        zero(c, x, y, n) = 0.0f;
        phases.push_back(zero);
        continue;
      }
      const int KWa = static_cast<int>(tx.k.size()),
                KHb = static_cast<int>(ty.k.size());
      // filt(c, co, t, u) = w(co, c, kx(t), ky(u)), the phase's taps.
      Var c("c"), co("co"), t("t"), u("u");
      std::vector<Expr> kxs, kys;
      for (int k : tx.k)
        kxs.push_back(k);
      for (int k : ty.k)
        kys.push_back(k);
      Expr kx = KWa == 1 ? kxs[0] : mux(t, kxs);
      Expr ky = KHb == 1 ? kys[0] : mux(u, kys);
      Func filt(ctx.name("phase_w"));
      filt(c, co, t, u) = w(co, c, kx, ky);
      filt.compute_root().bound(t, 0, KWa).bound(u, 0, KHb);
      filt.vectorize(c, dividingLanes(g.Ci));
      OpContext pc = ctx;
      pc.resultName = ctx.name("phase" + std::to_string(b * sw + a));
      pc.epilogue = nullptr; // applied once, to dx below
      phases.push_back(directConv(pc, src, true, filt, std::nullopt, g.N, Hp,
                                  Wp, g.Ci, g.Co, KHb, KWa, 1, 1, -ty.dmin,
                                  -tx.dmin, std::nullopt, g.Ho));
    }
  // dx interleaves the phases: with x and y split by the strides and the
  // remainders unrolled, each store reads one phase.
  Var c("c"), x("x"), y("y"), n("n");
  std::vector<Expr> at;
  for (const Func &f : phases)
    at.push_back(f(c, x / sw, y / sh, n));
  Expr v = at.size() == 1 ? at[0] : mux((y % sh) * sw + x % sw, at);
  Func out(ctx.resultName);
  out(c, x, y, n) = ctx.applyEpilogue(v, {c, x, y, n});
  Var xo("xo"), xi("xi"), yo("yo"), yi("yi");
  out.compute_root()
      .split(x, xo, xi, sw)
      .split(y, yo, yi, sh)
      .reorder(c, xi, xo, yi, yo, n)
      .unroll(xi)
      .unroll(yi)
      .vectorize(c, dividingLanes(g.Ci))
      .parallel(n);
  return out;
}

Func lowerConv2DBackwardInput(OpContext &ctx) {
  if (isGeneralConv(ctx))
    return lowerConv2DBackwardInputGeneral(ctx);
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (dy, w)"};
  // ctx.shape is dx = [N,H,W,Ci]; dy = [N,Ho,Wo,Co].
  ConvGeom g = geometry(ctx, ctx.shape, ctx.inputShapes[1], ctx.inputShapes[0]);
  Func dy = ctx.inputs[0], w = ctx.inputs[1];
  if (ctx.inlined && g.sh == 1 && g.sw == 1) {
    // Recomputed where it is read (Segments.cpp: a one-channel dy): the
    // conv of dy with the flipped, transposed filter. An upsample's
    // gradient reading it merges its taps instead (Polyphase.cpp).
    if (ctx.shared && !ctx.gpu) {
      (*ctx.shared)[phaseGradInputKey(ctx.node.result, "dy")] = dy;
      (*ctx.shared)[phaseGradInputKey(ctx.node.result, "w")] = w;
    }
    return inlineConv(
        ctx, dy, g.Ho, g.Wo, g.Co,
        [w, g](Expr c, Expr co, Expr kx, Expr ky) {
          return w(co, c, g.KW - 1 - kx, g.KH - 1 - ky);
        },
        std::nullopt, g.KH, g.KW, 1, 1, g.KH - 1 - g.ph, g.KW - 1 - g.pw);
  }
  if (winogradApplies(ctx, g.Ci, g.Co, g.KH, g.KW, g.sh, g.sw, g.H, g.W))
    // dx = dy (zero-padded by K - 1 - p) convolved with the flipped,
    // transposed filter, whose transform is computed from w directly.
    return winogradConv(
        ctx, zeroPadded(dy, g.Ho, g.Wo),
        [w, g](Expr c, Expr co, Expr kx, Expr ky) {
          return w(co, c, g.KW - 1 - kx, g.KH - 1 - ky);
        },
        std::nullopt, g.H, g.W, g.Ci, g.Co, g.KH - 1 - g.ph, g.KW - 1 - g.pw);
  if (Func f = stridedGradInputByPhase(ctx, g); f.defined())
    return f;
  if (g.sh == 1 && g.sw == 1)
    if (Func f = gemmGradInput(ctx, g.H, g.W, g.Ci, g.KH, g.KW, g.Co, g.Ho,
                               g.Wo, g.ph, g.pw);
        f.defined())
      return f;
  Var ci("ci"), co("co"), kx("kx"), ky("ky");
  // Flipped, transposed filter: wt(ci, co, kx, ky).
  Func wt(ctx.name("wt"));
  wt(ci, co, kx, ky) = w(co, ci, g.KW - 1 - kx, g.KH - 1 - ky);
  scheduleElementwise(wt, {ci, co, kx, ky}, {g.KH, g.KW, g.Co, g.Ci}, ctx.gpu);
  // dy dilated by the stride, zero elsewhere.
  int Ho = g.Ho, Wo = g.Wo, sh = g.sh, sw = g.sw;
  Src src = [=](Expr c, Expr u, Expr v, Expr n) {
    Expr xo = u / sw, yo = v / sh; // floor division
    Expr inside =
        u % sw == 0 && v % sh == 0 && xo >= 0 && xo < Wo && yo >= 0 && yo < Ho;
    return select(inside,
                  call(dy, {c, clamp(xo, 0, Wo - 1), clamp(yo, 0, Ho - 1), n}),
                  0.0f);
  };
  return directConv(ctx, src, true, wt, std::nullopt, g.N, g.H, g.W, g.Ci, g.Co,
                    g.KH, g.KW, 1, 1, g.KH - 1 - g.ph, g.KW - 1 - g.pw,
                    std::nullopt, (g.Ho - 1) * g.sh + 1);
}

/// Vectors per register tile of the small-filter grad-filter schedule, and
/// whether they run along Co (else along Ci): the whole filter (Co/L
/// vectors x Ci x the taps) when it fits `budget` accumulators; else, with
/// a few output channels (a decoder's last layer: Co = 1), the most Ci
/// vectors whose tile (vectors x Co x taps) fits `ciBudget` and divides
/// Ci / L, each image swept once per tile; else the most vectors along Co
/// whose tile fits `budget` and divides Co; else (a first layer with a
/// wide filter: 5 x 5 over one channel) the most such vectors times one
/// row of taps (`tapRows`: the filter's rows loop outside the pixels);
/// 0 when none does.
int smallFilterTile(const ConvGeom &g, int L, int budget, int ciBudget,
                    bool &alongCo, bool &tapRows) {
  const int taps = g.KW * g.KH;
  alongCo = true;
  tapRows = false;
  if (g.Co % L == 0 && (g.Co / L) * g.Ci * taps <= budget)
    return g.Co / L;
  if (g.Ci % L == 0 && g.Co * taps <= ciBudget) {
    alongCo = false;
    for (int v = g.Ci / L; v >= 1; --v)
      if ((g.Ci / L) % v == 0 && v * g.Co * taps <= ciBudget)
        return v;
  }
  if (g.Co % L != 0)
    return 0;
  for (int v = std::min(g.Co / L, budget / (g.Ci * taps)); v >= 2; --v)
    if ((g.Co / L) % v == 0)
      return v;
  tapRows = g.KH > 1;
  for (int v = std::min(g.Co / L, budget / (g.Ci * g.KW)); tapRows && v >= 2;
       --v)
    if ((g.Co / L) % v == 0)
      return v;
  tapRows = false;
  return 0;
}

Func lowerConv2DBackwardFilter(OpContext &ctx) {
  if (isGeneralConv(ctx))
    return lowerConv2DBackwardFilterGeneral(ctx);
  if (ctx.inputs.size() != 2)
    throw LoweringError{"expects (x, dy)"};
  ConvGeom g = geometry(ctx, ctx.inputShapes[0], ctx.shape, ctx.inputShapes[1]);
  Func x = ctx.inputs[0], dy = ctx.inputs[1];
  // The first layer's, through a batch norm whose gamma pass summed dy
  // times each tap: from the patches' moments (FirstConvMoments.cpp).
  if (Func f = firstConvFilterGrad(ctx); f.defined())
    return f;
  if (winogradFilterApplies(ctx, g.Co, g.Ci, g.KH, g.KW, g.sh, g.sw, g.Ho,
                            g.Wo))
    return winogradFilterGrad(ctx, zeroPadded(x, g.H, g.W), dy, g.N, g.Ho, g.Wo,
                              g.Co, g.Ci, g.ph, g.pw);
  // Over a recomputed upsample: its source's pixels times dy's box sums
  // (Polyphase.cpp), s^2 fewer products; else over the padded input.
  std::optional<UpsampledInput> up;
  if (!ctx.gpu && g.sh == 1 && g.sw == 1)
    up = upsampledInputOf(ctx, ctx.node.inputs[0]);
  Var c("c"), u("u"), v("v"), n("n");
  Func pad(ctx.name("pad"));
  bool padded = g.ph > 0 || g.pw > 0;
  std::optional<Func> sourcePad;
  if (!up)
    pad(c, u, v, n) = padded ? paddedInput(ctx, x, ctx.node.inputs[0], g.H, g.W,
                                           sourcePad)(c, u, v, n)
                             : x(c, u, v, n);
  // Batch chunks reduced independently (rfactor by hand), then summed.
  const int U = batchChunks(g.N), chunk = g.N / U;
  Var co("co"), ci("ci"), kx("kx"), ky("ky"), q("q");
  RDom r(0, up ? up->Ws : g.Wo, 0, up ? up->Hs : g.Ho, 0, chunk, ctx.name("r"));
  Expr nn = q * chunk + r.z;
  Func acc(ctx.name("acc")), part(ctx.name("part")), box;
  acc(co, ci, kx, ky, q) = 0.0f;
  if (up) {
    box = boxSums(ctx, dy, g.Ho, g.Wo, up->sx, up->sy);
    acc(co, ci, kx, ky, q) +=
        box(co, r.x * up->sx + g.pw - kx, r.y * up->sy + g.ph - ky, nn) *
        up->source(ci, r.x, r.y, nn);
  } else {
    acc(co, ci, kx, ky, q) +=
        dy(co, r.x, r.y, nn) *
        pad(ci, r.x * g.sw + kx - g.pw, r.y * g.sh + ky - g.ph, nn);
  }
  part(co, ci, kx, ky, q) = acc(co, ci, kx, ky, q);
  // Register tiles: AVX-512 has 32 vector registers, AVX2 16. A layer
  // with fewer output channels (recon_conv1: Co = 16) gets fewer co vectors
  // and more input channels per tile, the same 16 (8) accumulators.
  const int L = isa().lanes, maxVecs = isa().vregs >= 32 ? 4 : 2;
  const int coVecs = std::max(1, std::min(maxVecs, g.Co / L));
  // With 16 registers (AVX2) 2 x 4 accumulators are too few to hide the FMA
  // latency (8 chains for 2 pipes x 4 cycles): the filter's columns (kx)
  // join the tile, 2 co vectors x 2 ci x 3 kx = 12 (the big grad-filters
  // 55-73 -> 62-82 % of peak on one thread, interleaved rounds).
  const bool kxTile = isa().vregs < 32 && g.KW <= 3 && g.KW > 1 &&
                      g.Ci % 2 == 0 && coVecs == maxVecs;
  const int ciTile = kxTile ? 2 : 4 * maxVecs / coVecs;
  // The whole-filter tile below may spill a few of AVX2's 16 registers:
  // still far better than the scalar tile a single channel would get. Along
  // Ci it need not be whole: recon_out's (Co = 1, Ci = 16) 2 x 9
  // accumulators spilled on AVX2; two sweeps of 9 each (the second reads
  // the image from L1/L2): 0.95 -> 0.52 ms on one thread, three pairs.
  const int budget = isa().vregs >= 32 ? 24 : 18;
  const int ciBudget = isa().vregs >= 32 ? 24 : 12;
  bool alongCo = true, tapRows = false;
  const int smallVecs =
      ctx.gpu ? 0 : smallFilterTile(g, L, budget, ciBudget, alongCo, tapRows);
  const bool imageBlocked =
      !ctx.gpu && g.Co % (coVecs * L) == 0 && g.Ci % ciTile == 0;
  if (imageBlocked) {
    // Blocked by image: the whole partial filter (Co x Ci x KW x KH, at
    // most a few hundred KB) stays in cache while one image's dy and input
    // (L2-sized) are swept once per (ci tile, kx, ky) with a register tile
    // of 4 co vectors x 4 ci (1 x 16 for Co = 16; AVX2: above). Streaming the
    // whole batch per output tile instead re-read dy from memory 36 times
    // (25-35 GFLOP/s).
    Var coo("coo"), coi("coi"), cov("cov"), cio("cio"), cii("cii");
    part.compute_root().parallel(q).vectorize(co, L);
    acc.compute_at(part, q).vectorize(co, L);
    acc.update()
        .split(co, coo, coi, coVecs * L)
        .split(coi, coi, cov, L)
        .split(ci, cio, cii, ciTile)
        .vectorize(cov)
        .unroll(coi)
        .unroll(cii);
    if (kxTile)
      acc.update()
          .reorder(cov, coi, cii, kx, r.x, r.y, cio, ky, coo, r.z, q)
          .unroll(kx);
    else
      acc.update().reorder(cov, coi, cii, r.x, r.y, cio, kx, ky, coo, r.z, q);
  } else if (smallVecs > 0) {
    // A small filter (first layer: Ci = 1; last: Co = 1): the whole filter
    // is the register tile (vectors along whichever channel dim is a
    // multiple of the lanes, kx and ky unrolled), so dy and x are read once
    // instead of once per filter tap (18 -> ~60 GFLOP/s, memory bound).
    // With AVX2's 16 registers the first layer's 4 x 9 vectors do not fit:
    // its tile is 2 co vectors x 9 taps, and each image's dy and x are
    // swept twice (the generic tile re-read them per tap); the tiles loop
    // inside the image loop, so the second sweep reads dy from L2 (n152:
    // 8.4 / 6.4 -> 8.3 / 5.8 ms on one thread, interleaved). A 5 x 5 filter
    // (multi_fashion's first layer) tiles one row of taps, 2 x 5 vectors,
    // each image swept per filter row and tile from L2 (the generic tile
    // streamed the batch per tap: 22-27 % of the peak).
    Var vec = alongCo ? co : ci, other = alongCo ? ci : co;
    Var vt("vt"), vin("vin"), vo("vo"), vi("vi");
    part.compute_root().parallel(q);
    acc.compute_at(part, q).vectorize(vec, L).unroll(vec).unroll(other);
    acc.update()
        .split(vec, vt, vin, smallVecs * L)
        .split(vin, vo, vi, L)
        .vectorize(vi)
        .unroll(vo)
        .unroll(other)
        .unroll(kx);
    if (tapRows)
      acc.update().reorder(vi, vo, other, kx, r.x, r.y, ky, vt, r.z, q);
    else
      acc.update()
          .reorder(vi, vo, other, kx, ky, r.x, r.y, vt, r.z, q)
          .unroll(ky);
  } else {
    // Tile (co vectors x ci); with a thin input (Ci < 4) tile over kx.
    TileSpec spec{0, g.Ci >= 4 ? 1 : 2, 4, 1};
    scheduleTiledContraction(part, acc, {co, ci, kx, ky, q},
                             {g.Co, g.Ci, g.KW, g.KH, U}, r, spec, ctx.gpu);
  }
  // A dy computed where it is read (the first layer's, Segments.cpp) is
  // made once per image before the tiles sweep it (Staging.h); the generic
  // tile has no image loop of its own: once per call.
  if (ctx.staging)
    ctx.staging->readers.push_back({acc, imageBlocked || smallVecs > 0
                                             ? LoopLevel(acc, r.z)
                                             : LoopLevel::root()});
  Func out(ctx.resultName);
  Expr sum = part(co, ci, kx, ky, 0);
  for (int k = 1; k < U; ++k)
    sum += part(co, ci, kx, ky, k);
  out(co, ci, kx, ky) = sum;
  scheduleElementwise(out, {co, ci, kx, ky}, ctx.shape, ctx.gpu);
  if (up && (imageBlocked || smallVecs > 0)) {
    // dy's box sums per image (small: Co x (Ho + 1) x (Wo + 1)).
    box.compute_at(acc, r.z).vectorize(box.args()[1], isa().lanes,
                                       TailStrategy::GuardWithIf);
  } else if (up) {
    box.compute_root().parallel(box.args()[3]);
  } else if (padded && (imageBlocked || smallVecs > 0)) {
    // One padded image at a time, inside the chunk's image loop (L2-sized),
    // instead of a padded copy of the whole batch written and re-read
    // (conv2's grad-filter 8.2-10.9 -> 7.7-10.3 ms on 2 threads, interleaved;
    // the Co = 1 grad-filter of recon_out 0.86-0.94 -> 0.54-0.65 ms on one
    // thread, a memory-bound kernel whose whole-batch copy was most of it).
    stagePadded(pad, sourcePad, LoopLevel(acc, r.z), false,
                dividingLanes(g.Ci));
  } else if (padded && ctx.gpu) {
    pad.compute_root();
    gpuStage(pad, {c, u, v, n}, {g.Ci, g.W + 2 * g.pw, g.H + 2 * g.ph, g.N});
  } else if (padded) {
    stagePadded(pad, sourcePad, LoopLevel::root(), true, dividingLanes(g.Ci));
  }
  return out;
}

} // namespace

void registerConvOps(OpTable &t) {
  t["conv2d"] = lowerConv2D;
  t["conv2d_backward_input"] = lowerConv2DBackwardInput;
  t["conv2d_backward_filter"] = lowerConv2DBackwardFilter;
}

} // namespace mtl::codegen
