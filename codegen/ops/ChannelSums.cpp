//===- ChannelSums.cpp - per-channel sums over the leading dims ----------===//
//
// The reductions of the batch-norm statistics and gradients and of
// bias_grad: sums over N*H*W of a [N, ..., C] tensor, several terms in one
// pass, the batch split into chunks reduced in parallel, then the chunks
// summed.
//
//===----------------------------------------------------------------------===//
#include "codegen/Isa.h"
#include "codegen/Segments.h"
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {

Func channelSums(OpContext &ctx, const std::vector<int64_t> &s,
                 const std::string &nm, const std::vector<ChannelTerm> &terms) {
  const int R = static_cast<int>(s.size());
  const int C = static_cast<int>(s.back()), N = static_cast<int>(s[0]);
  const int U = ctx.gpu ? N : N % 4 == 0 ? 4 : N % 2 == 0 ? 2 : 1;
  const int chunk = N / U;
  Var c("c"), q("q");
  Region ranges;
  for (int i = 1; i + 1 < R; ++i)
    ranges.push_back({0, hdim(s, i)});
  ranges.push_back({0, chunk});
  RDom r(ranges, ctx.name(nm + "_r"));
  std::vector<Expr> at = {c};
  for (int k = 0; k + 1 < r.dimensions(); ++k)
    at.push_back(r[k]);
  at.push_back(q * chunk + r[r.dimensions() - 1]);
  const size_t T = terms.size();
  Func part(ctx.name(nm + "_part"));
  Func sum(ctx.name(nm));
  RDom rq(0, U, ctx.name(nm + "_rq"));
  // One value or a Tuple of them.
  auto define = [](FuncRef f, const std::vector<Expr> &v) {
    if (v.size() == 1)
      f = v[0];
    else
      f = Tuple(v);
  };
  auto element = [&](FuncRef f, size_t k) {
    return T == 1 ? Expr(f) : Expr(f[k]);
  };
  // Pure definitions first: the updates read the Funcs they update.
  define(part(c, q), std::vector<Expr>(T, 0.0f));
  define(sum(c), std::vector<Expr>(T, 0.0f));
  std::vector<Expr> partNext, sumNext;
  for (size_t k = 0; k < T; ++k)
    partNext.push_back(element(part(c, q), k) + terms[k](at));
  define(part(c, q), partNext);
  // Each chunk's sums accumulate in its task's own buffer, copied out once
  // (task): accumulated in place in one compute_root buffer, the chunks'
  // stores shared cache lines between the threads.
  Func task(ctx.name(nm + "_task"));
  task(c, q) = part(c, q);
  for (size_t k = 0; k < T; ++k)
    sumNext.push_back(element(sum(c), k) + element(task(c, rq), k));
  define(sum(c), sumNext);
  sum.compute_root();
  if (ctx.gpu) {
    part.compute_root();
    gpuStage(part, {c, q}, {C, U});
    gpuStage(part.update(), {c, q}, {C, U});
    gpuStage(sum, {c}, {C});
    gpuStage(sum.update(), {c}, {C});
    return sum;
  }
  // Vectors that divide C: Halide 14 miscomputed the guarded tail lanes of
  // these reductions when the term reads another per-channel Func (the
  // variance around the mean gave 0 for the last channel of C = 5).
  // At most the ISA's vector: with 16 lanes on AVX2 (two registers each)
  // the 11 sums of layer 1's gamma pass held 22 accumulators, spilled (165
  // stack accesses per iteration): one register each, layer 1's backward
  // 6.3-7.0 -> 5.1-5.4 ms in-step on one thread (four interleaved pairs).
  const int w = std::min(dividingLanes(C), isa().lanes);
  std::vector<VarOrRVar> order = {c};
  const bool pairs = pixelPairs(s) && C % isa().lanes == 0 && w > 1;
  Var co("co"), cv("cv");
  if (pairs) {
    // 2 x 2 pixels per iteration (scheduleElementwisePixelPairs: a 2 x 2
    // max-pool gradient inlined in a term finds each window's maximum once
    // for the four pixels), a channel vector at a time: the four unrolled
    // pixels in one block share the window's loads and compares (with the
    // channel loop inside them, each pixel had its own loop and evaluated
    // the whole window again).
    RVar xo("xo"), xi("xi"), yo("yo"), yi("yi");
    part.update()
        .split(c, co, cv, w)
        .split(r[0], xo, xi, 2)
        .split(r[1], yo, yi, 2)
        .unroll(xi)
        .unroll(yi);
    order = {cv, xi, yi, co, xo, yo, r[2]};
  } else {
    for (int k = 0; k < r.dimensions(); ++k)
      order.push_back(r[k]);
  }
  order.push_back(q);
  task.compute_root().parallel(q);
  part.compute_at(task, q);
  part.update().reorder(order);
  // An image's recomputed producers are staged at its loop (Staging.h).
  if (ctx.staging && R == 4)
    ctx.staging->readers.push_back(
        {part, LoopLevel(part, r[r.dimensions() - 1])});
  if (w > 1) {
    task.vectorize(c, w);
    part.vectorize(c, w);
    if (pairs)
      part.update().vectorize(cv);
    else
      part.update().vectorize(c, w);
    sum.vectorize(c, w);
    sum.update().vectorize(c, w);
  }
  return sum;
}

Func reduceLeading(OpContext &ctx, const std::vector<int64_t> &s,
                   std::function<Expr(const std::vector<Expr> &)> term) {
  Var c("c");
  Func out(ctx.resultName);
  const int C = static_cast<int>(s.back());
  if (s.size() == 1)
    out(c) = term({c});
  else
    out(c) = channelSums(ctx, s, "sum", {term})(c);
  scheduleElementwise(out, {c}, {C}, ctx.gpu);
  return out;
}

} // namespace mtl::codegen
