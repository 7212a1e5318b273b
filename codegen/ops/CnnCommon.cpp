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

Expr zeroPadded(Func x, int H, int W, Expr c, Expr u, Expr v, Expr n) {
  Expr inside = u >= 0 && u < W && v >= 0 && v < H;
  return select(inside, x(c, clamp(u, 0, W - 1), clamp(v, 0, H - 1), n), 0.0f);
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

} // namespace mtl::codegen
