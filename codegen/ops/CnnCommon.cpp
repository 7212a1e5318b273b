//===- CnnCommon.cpp - Registration and helpers of the CNN op classes ----===//
#include "codegen/ops/CnnOps.h"

using namespace Halide;

namespace mtl::codegen {

void registerCnnOps(OpTable &t) {
  registerActivationOps(t);
  registerResampleOps(t);
  registerGraphOps(t);
  registerNormOps(t);
  registerConvGeneralOps(t);
}

int vectorLanes(int extent) {
  for (int w : {16, 8, 4})
    if (extent >= w)
      return w;
  return 1;
}

std::vector<Expr> restOf(const std::vector<Var> &v) {
  return std::vector<Expr>(v.begin() + 1, v.end());
}

std::string channelTotalKey(int v) {
  return "channel_total:" + std::to_string(v);
}

int batchChunks(int N) {
  for (int c : {16, 4, 2})
    if (N % c == 0)
      return c;
  return 1;
}

void requireArity(const OpContext &ctx, size_t n, const char *what) {
  if (ctx.inputs.size() != n)
    throw LoweringError{std::string("expects ") + what};
}

void scheduleRowwise(Func out, const std::vector<Var> &v,
                     const std::vector<int64_t> &shape,
                     const std::vector<Func> &rows, bool gpu) {
  const int r = static_cast<int>(v.size());
  std::vector<int> ext;
  for (int i = 0; i < r; ++i)
    ext.push_back(hdim(shape, i));
  std::vector<VarOrRVar> restVars(v.begin() + 1, v.end());
  std::vector<int> restExt(ext.begin() + 1, ext.end());
  if (gpu) {
    for (Func f : rows) {
      f.compute_root();
      gpuStage(f, restVars, restExt);
      for (int u = 0; u < f.num_update_definitions(); ++u)
        gpuStage(f.update(u), restVars, restExt);
    }
    scheduleElementwise(out, v, shape, true);
    return;
  }
  out.compute_root();
  int w = vectorLanes(ext[0]);
  if (w > 1)
    out.vectorize(v[0], w, TailStrategy::ShiftInwards);
  if (r >= 2 && ext[r - 1] > 1)
    out.parallel(v[r - 1]);
  for (Func f : rows)
    f.compute_at(out, v[1]);
}

Func reduceLeading(OpContext &ctx, const std::vector<int64_t> &s,
                   std::function<Expr(const std::vector<Expr> &)> term) {
  const int R = static_cast<int>(s.size());
  Var c("c"), q("q");
  Func out(ctx.resultName);
  const int C = static_cast<int>(s.back());
  if (R == 1) {
    out(c) = term({c});
    scheduleElementwise(out, {c}, {C}, ctx.gpu);
    return out;
  }
  const int N = static_cast<int>(s[0]);
  const int U = N % 4 == 0 ? 4 : N % 2 == 0 ? 2 : 1, chunk = N / U;
  Region ranges;
  for (int i = 1; i + 1 < R; ++i)
    ranges.push_back({0, hdim(s, i)});
  ranges.push_back({0, chunk});
  RDom r(ranges, ctx.name("r"));
  std::vector<Expr> at = {c};
  for (int k = 0; k + 1 < r.dimensions(); ++k)
    at.push_back(r[k]);
  at.push_back(q * chunk + r[r.dimensions() - 1]);
  Func part(ctx.name("part"));
  part(c, q) = 0.0f;
  part(c, q) += term(at);
  Expr sum = part(c, 0);
  for (int k = 1; k < U; ++k)
    sum += part(c, k);
  out(c) = sum;
  part.compute_root();
  if (ctx.gpu) {
    gpuStage(part, {c, q}, {C, U});
    gpuStage(part.update(), {c, q}, {C, U});
  } else {
    std::vector<VarOrRVar> order = {c};
    for (int k = 0; k < r.dimensions(); ++k)
      order.push_back(r[k]);
    order.push_back(q);
    part.update().reorder(order).parallel(q);
    int w = vectorLanes(C);
    if (w > 1)
      part.update().vectorize(c, w, TailStrategy::GuardWithIf);
  }
  scheduleElementwise(out, {c}, {C}, ctx.gpu);
  return out;
}

} // namespace mtl::codegen
