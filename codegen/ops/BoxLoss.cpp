//===- BoxLoss.cpp - IoU and GIoU box losses and their gradients ---------===//
//
// Boxes [N, 4] = (x0, y0, x1, y1), Halide b(k, n). Each sample's loss (or
// its 4 gradient entries, a Tuple) is one compute_root stage vectorized
// over the batch; the gradient is written out by an elementwise stage.
//
// Forward, per sample (p predicted, t target, e = 1e-7):
//   wp = max(px1 - px0, 0), hp likewise, Ap = wp hp (At likewise)
//   iw = max(min(px1, tx1) - max(px0, tx0), 0), ih likewise, I = iw ih
//   U = Ap + At - I + e, iou = I / U
//   cw = max(max(px1, tx1) - min(px0, tx0), 0), ch likewise, C = cw ch + e
//   iou_loss = 1 - iou, giou_loss = 1 - iou + (C - U) / C = 2 - iou - U / C
// Backward: adjoints of I, Ap and C, then through the max/min selections
// (the subgradient picks the prediction where it is the selected operand).
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

using namespace Halide;

namespace mtl::codegen {
namespace {

constexpr float kEps = 1e-7f;

struct BoxTerms {
  Expr px0, py0, px1, py1, tx0, ty0, tx1, ty1;
  Expr wp, hp, ap, iw, ih, inter, uni, iou, cw, ch, enc;
};

BoxTerms terms(Func p, Func t, Expr n) {
  BoxTerms b;
  b.px0 = p(0, n), b.py0 = p(1, n), b.px1 = p(2, n), b.py1 = p(3, n);
  b.tx0 = t(0, n), b.ty0 = t(1, n), b.tx1 = t(2, n), b.ty1 = t(3, n);
  b.wp = max(b.px1 - b.px0, 0.0f);
  b.hp = max(b.py1 - b.py0, 0.0f);
  b.ap = b.wp * b.hp;
  Expr at = max(b.tx1 - b.tx0, 0.0f) * max(b.ty1 - b.ty0, 0.0f);
  b.iw = max(min(b.px1, b.tx1) - max(b.px0, b.tx0), 0.0f);
  b.ih = max(min(b.py1, b.ty1) - max(b.py0, b.ty0), 0.0f);
  b.inter = b.iw * b.ih;
  b.uni = b.ap + at - b.inter + kEps;
  b.iou = b.inter / b.uni;
  b.cw = max(max(b.px1, b.tx1) - min(b.px0, b.tx0), 0.0f);
  b.ch = max(max(b.py1, b.ty1) - min(b.py0, b.ty0), 0.0f);
  b.enc = b.cw * b.ch + kEps;
  return b;
}

int checkBoxes(OpContext &ctx) {
  if (ctx.inputs.size() != 3)
    throw LoweringError{"expects (prediction, target, mask)"};
  const auto &p = ctx.inputShapes[0];
  if (p.size() != 2 || p[1] != 4 || ctx.inputShapes[1] != p)
    throw LoweringError{"expects prediction and target boxes [N, 4]"};
  if (ctx.inputShapes[2] != std::vector<int64_t>{p[0]})
    throw LoweringError{"mask must be [N]"};
  return static_cast<int>(p[0]);
}

void schedulePerSample(Func f, Var n, int N, bool gpu) {
  f.compute_root();
  if (gpu) {
    gpuStage(f, {n}, {N});
    return;
  }
  if (N >= 16)
    f.vectorize(n, 16, TailStrategy::ShiftInwards);
  else if (N >= 4)
    f.vectorize(n, 4, TailStrategy::ShiftInwards);
}

Func maskDen(OpContext &ctx, Func mask, int N) {
  RDom rn(0, N, ctx.name("rn"));
  Func den(ctx.name("den"));
  den() = max(sum(mask(rn)), 1.0f);
  den.compute_root();
  if (ctx.gpu)
    den.gpu_single_thread();
  return den;
}

Func lowerBoxLoss(OpContext &ctx, bool generalized) {
  int N = checkBoxes(ctx);
  Func p = ctx.inputs[0], t = ctx.inputs[1], mask = ctx.inputs[2];
  Var n("n");
  BoxTerms b = terms(p, t, n);
  Expr loss = 1.0f - b.iou;
  if (generalized)
    loss += (b.enc - b.uni) / b.enc;
  Func per(ctx.name("per"));
  per(n) = mask(n) * loss;
  schedulePerSample(per, n, N, ctx.gpu);
  Func den = maskDen(ctx, mask, N);
  RDom rn(0, N, ctx.name("rs"));
  Func out(ctx.resultName);
  out() = sum(per(rn)) / den();
  out.compute_root();
  if (ctx.gpu)
    out.gpu_single_thread();
  return out;
}

Func lowerBoxLossGrad(OpContext &ctx, bool generalized) {
  int N = checkBoxes(ctx);
  Func p = ctx.inputs[0], t = ctx.inputs[1], mask = ctx.inputs[2];
  Func den = maskDen(ctx, mask, N);
  const float scale = static_cast<float>(ctx.floatAttr("scale", 1.0));
  Var n("n"), k("k");
  BoxTerms b = terms(p, t, n);
  // Adjoints of the loss with respect to I, Ap and C.
  Expr u2 = b.uni * b.uni;
  Expr gI = -(b.uni + b.inter) / u2, gA = b.inter / u2, gC = Expr(0.0f);
  if (generalized) {
    gI += 1.0f / b.enc;
    gA -= 1.0f / b.enc;
    gC = b.uni / (b.enc * b.enc);
  }
  Expr giw = select(b.iw > 0.0f, gI * b.ih, 0.0f);
  Expr gih = select(b.ih > 0.0f, gI * b.iw, 0.0f);
  Expr gwp = select(b.wp > 0.0f, gA * b.hp, 0.0f);
  Expr ghp = select(b.hp > 0.0f, gA * b.wp, 0.0f);
  Expr gcw = select(b.cw > 0.0f, gC * b.ch, 0.0f);
  Expr gch = select(b.ch > 0.0f, gC * b.cw, 0.0f);
  // d/d p0: the intersection uses max(p0, t0), the enclosure min(p0, t0);
  // d/d p1: the intersection min(p1, t1), the enclosure max(p1, t1).
  auto low = [](Expr p0, Expr t0, Expr gi, Expr gs, Expr gc) {
    return -select(p0 > t0, gi, 0.0f) - gs - select(p0 <= t0, gc, 0.0f);
  };
  auto high = [](Expr p1, Expr t1, Expr gi, Expr gs, Expr gc) {
    return select(p1 < t1, gi, 0.0f) + gs + select(p1 >= t1, gc, 0.0f);
  };
  Expr w = scale * mask(n) / den();
  Func g(ctx.name("g"));
  g(n) = Tuple(w * low(b.px0, b.tx0, giw, gwp, gcw),
               w * low(b.py0, b.ty0, gih, ghp, gch),
               w * high(b.px1, b.tx1, giw, gwp, gcw),
               w * high(b.py1, b.ty1, gih, ghp, gch));
  schedulePerSample(g, n, N, ctx.gpu);
  Func out(ctx.resultName);
  out(k, n) = mux(k, {g(n)[0], g(n)[1], g(n)[2], g(n)[3]});
  scheduleElementwise(out, {k, n}, ctx.shape, ctx.gpu);
  return out;
}

} // namespace

void registerBoxLossOps(OpTable &t) {
  t["iou_loss"] = [](OpContext &c) { return lowerBoxLoss(c, false); };
  t["giou_loss"] = [](OpContext &c) { return lowerBoxLoss(c, true); };
  t["iou_loss_grad"] = [](OpContext &c) { return lowerBoxLossGrad(c, false); };
  t["giou_loss_grad"] = [](OpContext &c) { return lowerBoxLossGrad(c, true); };
}

} // namespace mtl::codegen
