//===- Polyphase.cpp - convs over a nearest upsample, phase by phase ------===//
//
// A stride-1 conv whose input is a nearest upsample by s of a source S
// (a decoder's conv after its upsample, recomputed in the conv:
// Segments.cpp) reads, for the output x = s i + a, the upsampled pixels
// x + kx - p, which are the source pixels i + floor((a + kx - p) / s). So
// each of the s output phases a is a conv over S itself with fewer taps,
// each the sum of the filter taps that land on the same source pixel: for
// 3 x 3 filters at scale 2, 2 x 2 taps per output instead of 3 x 3, 2.25x
// fewer multiplies. The gradients have the same structure:
//  - grad-filter: dw(kx, ky) = sum_{n,x,y} dy(x, y) up(x + kx - p, ...)
//    = sum_{n,i,j} S(i, j) B(s i + p - kx, s j + p - ky), B the s x s box
//    sums of dy (zero outside): over the source's pixels, s^2 fewer;
//  - grad-input with the upsample's gradient: dS(i, j), the sum of the
//    upsampled grad-input over its s x s block, = sum_{ex,ey} dy(s i + ex +
//    e0, s j + ey + e0) M(ex, ey) over (K + s - 1)^2 merged taps: 4 x 4 = 16
//    per source pixel instead of 4 x 9.
// The upsample's result is never formed.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

int floorDiv(int a, int b) { return (a - ((a % b) + b) % b) / b; }

/// The most source taps an output phase reads along an axis: phase a's run
/// from floor((a - p) / s) to floor((a + K - 1 - p) / s).
int phaseTaps(int s, int K, int p) {
  int most = 1;
  for (int a = 0; a < s; ++a)
    most = std::max(most, floorDiv(a + K - 1 - p, s) - floorDiv(a - p, s) + 1);
  return most;
}

/// The source offset of phase a's first tap (a symbolic: Halide's integer
/// division floors; constant once a is, in an unrolled tile).
Expr firstTap(Expr a, int s, int p) { return (a - p) / s; }

} // namespace

std::optional<UpsampledInput> upsampledInputOf(const OpContext &ctx, int v) {
  const kg::Node *up = kg::producerOf(ctx.fn, v);
  if (ctx.gpu || !ctx.shared || !up || up->op != "upsample_nearest" ||
      !ctx.shared->count(upsampleSourceKey(v)) || up->inputs.empty())
    return std::nullopt;
  auto scale = up->ints.find("scale");
  const auto &xs = ctx.fn.values[up->inputs[0]].shape;
  const auto &ys = ctx.fn.values[v].shape;
  if (scale == up->ints.end() || scale->second.size() != 2 || xs.size() != 4 ||
      ys.size() != 4)
    return std::nullopt;
  UpsampledInput in{ctx.shared->at(upsampleSourceKey(v)),
                    static_cast<int>(scale->second[1]),
                    static_cast<int>(scale->second[0]), static_cast<int>(xs[1]),
                    static_cast<int>(xs[2])};
  if (in.sx < 1 || in.sy < 1 || in.Hs * in.sy != ys[1] ||
      in.Ws * in.sx != ys[2])
    return std::nullopt;
  return in;
}

PhaseConv phaseConv(OpContext &ctx, const UpsampledInput &in, Func filt, int Co,
                    int Ci, int KH, int KW, int ph, int pw) {
  PhaseConv pc;
  pc.in = in;
  pc.Kx = phaseTaps(in.sx, KW, pw);
  pc.Ky = phaseTaps(in.sy, KH, ph);
  pc.ph = ph;
  pc.pw = pw;
  // merged(co, ci, a, b, dx, dy): the filter taps of output phase (a, b)
  // that read its (dx, dy)-th source tap.
  Var co("co"), ci("ci"), a("a"), b("b"), dx("dx"), dy("dy");
  Expr sum = 0.0f;
  for (int ky = 0; ky < KH; ++ky)
    for (int kx = 0; kx < KW; ++kx) {
      Expr hitX = (a + kx - pw) / in.sx - firstTap(a, in.sx, pw) == dx;
      Expr hitY = (b + ky - ph) / in.sy - firstTap(b, in.sy, ph) == dy;
      sum += select(hitX && hitY, filt(co, ci, kx, ky), 0.0f);
    }
  pc.merged = Func(ctx.name("phase_filter"));
  pc.merged(co, ci, a, b, dx, dy) = sum;
  pc.merged.compute_root();
  if (int l = dividingLanes(Co); l > 1)
    pc.merged.vectorize(co, l);
  else if (int l = dividingLanes(Ci); l > 1)
    pc.merged.vectorize(ci, l);
  // The source zero-padded: staged per image by the conv.
  Var c("c"), u("u"), v("v"), n("n");
  pc.source = Func(ctx.name("source_pad"));
  pc.source(c, u, v, n) = zeroPadded(in.source, in.Hs, in.Ws, c, u, v, n);
  return pc;
}

Expr PhaseConv::term(Expr co, Expr ci, Expr x, Expr y, Expr n, Expr dx,
                     Expr dy) const {
  Expr a = x % in.sx, b = y % in.sy;
  return merged(co, ci, a, b, dx, dy) *
         source(ci, x / in.sx + firstTap(a, in.sx, pw) + dx,
                y / in.sy + firstTap(b, in.sy, ph) + dy, n);
}

Func boxSums(OpContext &ctx, Func dy, int Ho, int Wo, int sx, int sy) {
  Var c("c"), u("u"), v("v"), n("n");
  Expr sum = 0.0f;
  for (int b = 0; b < sy; ++b)
    for (int a = 0; a < sx; ++a)
      sum += zeroPadded(dy, Ho, Wo, c, u + a, v + b, n);
  Func box(ctx.name("box_sums"));
  box(c, u, v, n) = sum;
  return box;
}

Func phaseUpsampleGrad(OpContext &ctx) {
  // dS = upsample_grad(conv2d_backward_input(dy, w)), the grad-input
  // recomputed here (Segments.cpp) and its operands published by it.
  if (ctx.gpu || !ctx.shared || ctx.node.inputs.size() != 1)
    return Func();
  const int v = ctx.node.inputs[0];
  const kg::Node *gi = kg::producerOf(ctx.fn, v);
  auto dyIt = ctx.shared->find(phaseGradInputKey(v, "dy"));
  auto wIt = ctx.shared->find(phaseGradInputKey(v, "w"));
  if (!gi || gi->op != "conv2d_backward_input" || dyIt == ctx.shared->end() ||
      wIt == ctx.shared->end())
    return Func();
  auto scale = ctx.node.ints.find("scale");
  auto pad = gi->ints.find("padding");
  const auto &dys = ctx.fn.values[gi->inputs[0]].shape; // [N, Ho, Wo, Co]
  const auto &ws = ctx.fn.values[gi->inputs[1]].shape;  // [KH, KW, C, Co]
  const auto &ups = ctx.fn.values[v].shape;             // [N, H, W, C]
  const auto &out = ctx.shape;                          // [N, Hs, Ws, C]
  if (scale == ctx.node.ints.end() || scale->second.size() != 2 ||
      pad == gi->ints.end() || pad->second.size() != 2 || dys.size() != 4 ||
      ws.size() != 4 || ups.size() != 4 || out.size() != 4)
    return Func();
  const int sy = scale->second[0], sx = scale->second[1];
  const int ph = pad->second[0], pw = pad->second[1];
  const int KH = ws[0], KW = ws[1], C = ws[2], Co = ws[3];
  const int Ho = dys[1], Wo = dys[2], Hs = out[1], Ws = out[2];
  const int L = isa().lanes;
  if (sx < 1 || sy < 1 || Hs * sy != ups[1] || Ws * sx != ups[2] ||
      C % L != 0 || out[3] != C)
    return Func();
  Func dy = dyIt->second, w = wIt->second;
  // The upsampled grad-input at x = s i + a: sum_{co,kx} w(co, c, kx) dy(co,
  // x + p - kx), so the block of source pixel i reads dy at s i + e for e
  // in [p - K + 1, s - 1 + p], with merged(c, co, e) the sum of the w(co, c,
  // kx) with a + p - kx = e over the block's phases a.
  const int Ex = sx + KW - 1, Ey = sy + KH - 1, ex0 = pw - KW + 1,
            ey0 = ph - KH + 1;
  Var c("c"), co("co"), ex("ex"), ey("ey"), i("i"), j("j"), n("n");
  Expr msum = 0.0f;
  for (int b = 0; b < sy; ++b)
    for (int ky = 0; ky < KH; ++ky)
      for (int a = 0; a < sx; ++a)
        for (int kx = 0; kx < KW; ++kx)
          msum += select(ex + ex0 == a + pw - kx && ey + ey0 == b + ph - ky,
                         w(co, c, kx, ky), 0.0f);
  Func merged(ctx.name("phase_filter"));
  merged(c, co, ex, ey) = msum;
  merged.compute_root().vectorize(c, L);
  Func dyPad(ctx.name("dy_pad"));
  dyPad(co, i, j, n) = zeroPadded(dy, Ho, Wo, co, i, j, n);
  RDom r(0, Ex, 0, Ey, 0, Co, ctx.name("r"));
  Func acc(ctx.name("acc"));
  acc(c, i, j, n) = 0.0f;
  acc(c, i, j, n) += merged(c, r.z, r.x, r.y) *
                     dyPad(r.z, i * sx + r.x + ex0, j * sy + r.y + ey0, n);
  Func res(ctx.resultName);
  res(c, i, j, n) = acc(c, i, j, n);
  // A row of source pixels at a time, T of them per channel vector: each
  // merged vector is loaded once per T FMAs, the T chains hide the FMA
  // latency; dy (one padded image, small) is read as broadcasts.
  int T = 1;
  for (int t = std::min(Ws, isa().vregs - 3); t >= 1; --t)
    if (Ws % t == 0) {
      T = t;
      break;
    }
  Var co2("co2"), cv("cv"), io("io"), ii("ii");
  res.compute_root()
      .split(c, co2, cv, L)
      .split(i, io, ii, T)
      .reorder(cv, ii, io, co2, j, n)
      .vectorize(cv)
      .parallel(n);
  acc.compute_at(res, io).vectorize(c, L).unroll(i);
  acc.update()
      .reorder(c, i, r.x, r.y, r.z)
      .vectorize(c, L)
      .unroll(i)
      .unroll(r.x)
      .unroll(r.y);
  dyPad.compute_at(res, n);
  if (Wo + Ex >= L)
    dyPad.vectorize(i, L, TailStrategy::GuardWithIf);
  return res;
}

std::string phaseGradInputKey(int v, const char *which) {
  return "phase_grad_input." + std::to_string(v) + "." + which;
}

} // namespace mtl::codegen
