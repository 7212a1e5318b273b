//===- FirstLayerPool.cpp - a first layer's forward in one pass, taps outer
//===//
//
// max_pool(relu(batch_norm_train(conv(image)))) -- or with an inference
// batch_norm, in an eval step -- where the conv is a first layer
// recomputed in its segment (FirstConvMoments.cpp: at most 9 taps
// per output) and the pool's windows tile its input. Evaluated as written,
// each window element is a chain of 9 dependent FMAs, and the window's
// input pixels, shared by every channel vector, are hoisted out of the
// channel loop and spilled: 2.5 ms on one thread for the reference model,
// where a hand-written AVX2 loop of the same nest takes 1.3 (docs/
// performance.md, session 16). Here the batch norm's scale is folded into
// the filter and its shift into the bias (once per call), the relu moves
// after the max (both monotone), and each window's K x K conv outputs
// are one stage whose update runs taps outer: per tap one filter vector,
// K x K independent FMAs.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {

std::string batchNormAffineKey(const kg::Node &bn, const char *what) {
  return bn.op + "." + what + "." + std::to_string(bn.result);
}

namespace {

/// OpContext::shared key of the window stage of the first-layer pool whose
/// result is value v.
std::string windowKey(int v) {
  return "first_pool.window." + std::to_string(v);
}

} // namespace

Func firstLayerPool(OpContext &ctx, int K) {
  if (ctx.gpu || !ctx.shared || ctx.inputs.size() != 1 ||
      ctx.node.inputs.size() != 1)
    return Func();
  // Its input: relu(batch_norm_train(x)) or batch_norm_train(x), x a
  // recomputed first conv.
  int v = ctx.node.inputs[0];
  const kg::Node *act = kg::producerOf(ctx.fn, v);
  bool relu = false;
  if (act && act->op == "relu" && act->inputs.size() == 1) {
    relu = true;
    v = act->inputs[0];
  }
  const kg::Node *bn = kg::producerOf(ctx.fn, v);
  if (!bn || (bn->op != "batch_norm_train" && bn->op != "batch_norm") ||
      bn->inputs.empty())
    return Func();
  // The per-channel affine map its lowering published: training
  // (batch_norm_train's) or inference (the batch_norm epilogue's, fused
  // into the conv: an eval step, Segments.cpp).
  auto scaleIt = ctx.shared->find(batchNormAffineKey(*bn, "scale"));
  auto shiftIt = ctx.shared->find(batchNormAffineKey(*bn, "shift"));
  std::optional<FirstConv> fc = firstConvOf(ctx, bn->inputs[0]);
  const int L = isa().lanes;
  if (!fc || scaleIt == ctx.shared->end() || shiftIt == ctx.shared->end() ||
      fc->Co % L != 0 || fc->Ho % K != 0 || fc->Wo % K != 0 ||
      ctx.shape != std::vector<int64_t>{fc->N, fc->Ho / K, fc->Wo / K, fc->Co})
    return Func();
  Func scale = scaleIt->second, shift = shiftIt->second;

  // The filter and bias with the batch norm folded in.
  Var c("c"), t("t");
  std::vector<Expr> taps;
  for (int q = 0; q < fc->P; ++q)
    taps.push_back(fc->weight(c, q));
  Func w(ctx.name("folded_w")), b(ctx.name("folded_b"));
  w(c, t) = scale(c) * mux(t, taps);
  b(c) = scale(c) * fc->weight(c, fc->P) + shift(c);
  w.compute_root().bound(t, 0, fc->P).vectorize(c, L);
  b.compute_root().vectorize(c, L);

  // win(c, k, u, v, n): window element k = ky K + kx of pooled pixel (u, v).
  Var k("k"), u("u"), y("y"), n("n");
  RDom r(0, fc->P, ctx.name("r"));
  Func win(ctx.name("window"));
  win(c, k, u, y, n) = b(c);
  win(c, k, u, y, n) += w(c, r) * fc->tap(r, u * K + k % K, y * K + k / K, n);
  Expr m = win(c, 0, u, y, n);
  for (int e = 1; e < K * K; ++e)
    m = max(m, win(c, e, u, y, n));
  Func out(ctx.resultName);
  out(c, u, y, n) = ctx.applyEpilogue(relu ? max(m, 0.0f) : m, {c, u, y, n});

  // Per row of pooled pixels and vector of channels (the folded filter's
  // taps for them then stay in registers), per pooled pixel one tap at a
  // time: its filter vector times the K x K window inputs (broadcasts).
  // In-step on one thread (interleaved runs, AVX2): 2.8-3.9 ms as written
  // -> 2.0-2.2 with the taps outer (channels inner) -> 1.8-1.9 with the
  // channel vectors unrolled (spills) -> 1.6-1.8 with them outside the row.
  scheduleChannelRows(out, L);
  win.compute_at(out, u).bound(k, 0, K * K).vectorize(c, L).unroll(k);
  // For a max_pool_argmax of the same windows (mtl-save-pool-argmax).
  (*ctx.shared)[windowKey(ctx.node.result)] = win;
  Var co("co"), ci("ci");
  win.update()
      .split(c, co, ci, L)
      .reorder(ci, k, r, co)
      .vectorize(ci)
      .unroll(k)
      .unroll(r);
  return out;
}

Func firstLayerPoolArgmax(OpContext &ctx, const kg::Node &pool, Func out) {
  auto win = ctx.shared->find(windowKey(pool.result));
  if (ctx.gpu || win == ctx.shared->end())
    return Func();
  // The windows tile the input (firstLayerPool took them); over a relu's
  // outputs, the first maximum of those: of the batch norm's where one is
  // positive, else (all 0 after the relu) the window's first element.
  const int K = static_cast<int>(ctx.ints("kernel", 2)[0]);
  const kg::Node *act = kg::producerOf(ctx.fn, ctx.node.inputs[0]);
  const bool relu = act && act->op == "relu" && act->inputs.size() == 1;
  Func w = win->second;
  Var c("c"), u("u"), y("y"), n("n");
  Expr m = w(c, 0, u, y, n), idx = 0;
  for (int e = 1; e < K * K; ++e) {
    idx = select(w(c, e, u, y, n) > m, e, idx);
    m = max(m, w(c, e, u, y, n));
  }
  Func arg(ctx.resultName);
  arg(c, u, y, n) = cast<int8_t>(relu ? select(m > 0.0f, idx, 0) : idx);
  // The pool's loops, fused with them: the window stage, computed at the
  // pool's pixel, serves both.
  scheduleChannelRows(arg, isa().lanes);
  arg.compute_with(out, u);
  return arg;
}

} // namespace mtl::codegen
